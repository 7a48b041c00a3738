#include "chaos_monkey.hpp"

#include <signal.h>

#include <algorithm>

#include "chaos_host.hpp"

namespace mlbridge::chaos {
namespace {

using std::chrono::milliseconds;

// Between two faults.
constexpr int kMinPauseMs = 100;
constexpr int kMaxPauseMs = 700;
// A stopped worker is resumed after this long at most: longer than the clients' deadlines, so
// that some calls time out and some stopped workers miss health checks and are replaced.
constexpr int kLongestStopMs = 8000;

}  // namespace

ChaosMonkey::ChaosMonkey(Host& host, CallTracker& tracker, FaultLog& faults,
                         std::vector<std::string> bridges, std::uint64_t seed,
                         std::string async_bridge)
    : host_(host),
      tracker_(tracker),
      faults_(faults),
      bridges_(std::move(bridges)),
      async_bridge_(std::move(async_bridge)),
      rng_(seed) {}

ChaosMonkey::~ChaosMonkey() { stop_and_join(); }

void ChaosMonkey::start() {
  thread_ = std::thread([this] { run(); });
}

void ChaosMonkey::stop_and_join() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ChaosMonkey::run() {
  auto next = Clock::now();
  while (!stop_) {
    resume(false);
    if (Clock::now() >= next) {
      act();
      next = Clock::now() +
             milliseconds(std::uniform_int_distribution<int>(kMinPauseMs, kMaxPauseMs)(rng_));
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  resume(true);
}

void ChaosMonkey::act() {
  const std::string& bridge =
      bridges_[std::uniform_int_distribution<std::size_t>(0, bridges_.size() - 1)(rng_)];
  const int roll = std::uniform_int_distribution<int>(0, 99)(rng_);
  if (roll < 25) {
    signal_worker(FaultKind::kKill, bridge);
  } else if (roll < 45) {
    signal_worker(FaultKind::kStop, bridge);
  } else if (roll < 60) {
    command(FaultKind::kCrash, bridge);
  } else if (roll < 70) {
    command(FaultKind::kHang, bridge);
  } else if (roll < 75) {
    command(FaultKind::kHangStubborn, bridge);
  } else if (roll < 87) {
    command(FaultKind::kPrint, bridge);
  } else {
    command(FaultKind::kRaise, bridge);
  }
}

void ChaosMonkey::signal_worker(FaultKind kind, const std::string& bridge) {
  std::vector<WorkerInfo> targets;
  for (auto& w : workers(host_)) {
    const bool serving = w.state == "idle" || w.state == "busy" || w.state == "checking";
    const bool already_stopped = std::any_of(stopped_.begin(), stopped_.end(),
                                             [&](const Stopped& s) { return s.pid == w.pid; });
    if (w.bridge == bridge && serving && w.pid > 0 && !already_stopped) targets.push_back(w);
  }
  if (targets.empty()) return;
  WorkerInfo target =
      targets[std::uniform_int_distribution<std::size_t>(0, targets.size() - 1)(rng_)];
  if (bridge == async_bridge_) {
    // The worker holding the most calls: every one of them must be answered exactly once.
    target = *std::max_element(targets.begin(), targets.end(), [](const auto& a, const auto& b) {
      return a.in_flight < b.in_flight;
    });
  }
  const auto now = Clock::now();
  if (kind == FaultKind::kKill) {
    // Drawn even when the worker turns out to be gone, so that a seed replays the same choices.
    if (!is_our_worker(target.pid, target.id)) return;
    faults_.record({kind, bridge, target.id, now, now, target.in_flight});
    ::kill(target.pid, SIGKILL);
    return;
  }
  const int stop_ms = std::uniform_int_distribution<int>(200, kLongestStopMs)(rng_);
  if (!is_our_worker(target.pid, target.id)) return;
  const std::size_t fault =
      faults_.record({kind, bridge, target.id, now, Clock::time_point::max(), target.in_flight});
  ::kill(target.pid, SIGSTOP);
  stopped_.push_back({target.pid, target.id, fault, now + milliseconds(stop_ms)});
}

void ChaosMonkey::resume(bool all) {
  const auto now = Clock::now();
  auto due = std::stable_partition(stopped_.begin(), stopped_.end(),
                                   [&](const Stopped& s) { return !all && s.resume_at > now; });
  for (auto it = due; it != stopped_.end(); ++it) {
    // A worker killed while stopped (deadline or health check) is gone; its pid may be reused.
    if (is_our_worker(it->pid, it->worker_id)) ::kill(it->pid, SIGCONT);
    faults_.finish(it->fault, Clock::now());
  }
  stopped_.erase(due, stopped_.end());
}

void ChaosMonkey::command(FaultKind kind, const std::string& bridge) {
  CallSpec spec;
  spec.bridge = bridge;
  spec.timeout = milliseconds(5000);
  switch (kind) {
    case FaultKind::kCrash: {
      spec.kind = CallKind::kChaosCrash;
      spec.command = "crash";
      const int how = std::uniform_int_distribution<int>(0, 2)(rng_);
      spec.args = how == 0   ? json{{"exit_code", 3}}
                  : how == 1 ? json{{"signal", SIGKILL}}
                             : json{{"signal", SIGTERM}};
      spec.timeout = milliseconds(10000);
      break;
    }
    case FaultKind::kHang:
      // On the concurrent bridge a plain `def` runs in a thread, which a cancel cannot stop;
      // the task of async_sleep ends at its cancel, as a SIGINT ends `sleep` elsewhere.
      spec.kind = CallKind::kChaosHang;
      spec.command = bridge == async_bridge_ ? "async_sleep" : "sleep";
      spec.args = {{"seconds", 60}};
      spec.timeout = milliseconds(std::uniform_int_distribution<int>(500, 2000)(rng_));
      break;
    case FaultKind::kHangStubborn:
      // On the concurrent bridge: a thread the cancel cannot stop, so the worker is condemned.
      spec.kind = CallKind::kChaosHangStubborn;
      spec.command = "spin";
      spec.args = {{"seconds", 60}, {"swallow_interrupt", true}};
      spec.timeout = milliseconds(std::uniform_int_distribution<int>(500, 2000)(rng_));
      break;
    case FaultKind::kPrint:
      spec.kind = CallKind::kChaosPrint;
      spec.command = "print";
      // Text that looks like a frame header would corrupt the stream if it reached the pipe.
      spec.args = {{"text", std::string("\x00\x00\x00\x07{\"id\":1}chaos on stdout", 27)}};
      spec.expected = {{"printed", true}};
      break;
    case FaultKind::kRaise:
      spec.kind = CallKind::kFail;
      spec.command = "fail";
      spec.args = {{"type", "ValueError"}, {"message", "chaos raised this"}};
      break;
    default:
      return;
  }
  spec.fault = faults_.record({kind, bridge, "", Clock::now(), Clock::time_point::max()});
  auto call = tracker_.begin(spec);
  host_.execute_async(
      spec.bridge, spec.command, spec.args,
      ExecuteOptions{.session = std::nullopt, .timeout = spec.timeout, .on_chunk = {}},
      tracker_.completion_handler(call));
}

}  // namespace mlbridge::chaos
