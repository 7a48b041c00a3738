#include "load_driver.hpp"

#include <map>

namespace mlbridge::chaos {
namespace {

using std::chrono::milliseconds;

// Deadlines of the client calls: far above what the calls need, so that only faults make them
// pass; the chaos thread's stops last up to kLongestStop, longer than these.
constexpr milliseconds kDeadline{5000};
constexpr milliseconds kStreamDeadline{6000};
// A session is ended and a new one begun after this many calls.
constexpr int kCallsPerSession = 20;

int pick(std::mt19937_64& rng, int low, int high) {
  return std::uniform_int_distribution<int>(low, high)(rng);
}

}  // namespace

struct LoadDriver::Session {
  std::string id;
  std::string bridge;
  int calls = 0;
  int serial = 0;
  std::map<std::string, int> stored;  // key -> value, for puts known to have succeeded
  std::string pending_key;            // the key of the put in flight
  int pending_value = 0;
};

LoadDriver::LoadDriver(Host& host, CallTracker& tracker, std::vector<std::string> bridges,
                       std::uint64_t seed, int threads, milliseconds grace)
    : host_(host),
      tracker_(tracker),
      bridges_(std::move(bridges)),
      seed_(seed),
      threads_(threads),
      grace_(grace) {}

LoadDriver::~LoadDriver() { stop_and_join(); }

void LoadDriver::start() {
  for (int i = 0; i < threads_; ++i) workers_.emplace_back([this, i] { run(i); });
}

void LoadDriver::stop_and_join() {
  stop_ = true;
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void LoadDriver::renew(Session& session, std::mt19937_64& rng, int index) {
  if (!session.id.empty()) (void)host_.end_session(session.id);
  session.id = "client" + std::to_string(index) + "-session" + std::to_string(++session.serial);
  session.bridge = bridges_[pick(rng, 0, static_cast<int>(bridges_.size()) - 1)];
  session.calls = 0;
  session.stored.clear();
}

CallSpec LoadDriver::next_call(std::mt19937_64& rng, Session& session, int index) {
  CallSpec spec;
  spec.bridge = bridges_[pick(rng, 0, static_cast<int>(bridges_.size()) - 1)];
  spec.timeout = kDeadline;
  const int roll = pick(rng, 0, 99);
  if (roll < 25) {
    spec.kind = CallKind::kEcho;
    spec.command = "echo";
    spec.args = {{"client", index}, {"nonce", rng()}, {"text", "ünïcode ✓"}};
    spec.expected = spec.args;
  } else if (roll < 40) {
    spec.kind = CallKind::kSleep;
    spec.command = "sleep";
    const double seconds = pick(rng, 10, 400) / 1000.0;
    spec.args = {{"seconds", seconds}};
    spec.expected = {{"slept", seconds}};
  } else if (roll < 55) {
    spec.kind = CallKind::kStream;
    spec.command = "stream";
    spec.timeout = kStreamDeadline;
    spec.expected_chunks = pick(rng, 1, 8);
    spec.args = {{"count", spec.expected_chunks}, {"delay", 0.02}};
    spec.expected = {{"count", spec.expected_chunks}};
  } else if (roll < 85) {
    if (session.id.empty() || session.calls >= kCallsPerSession) renew(session, rng, index);
    ++session.calls;
    spec.bridge = session.bridge;
    spec.session = session.id;
    if (session.stored.empty() || pick(rng, 0, 1) == 0) {
      spec.kind = CallKind::kPut;
      spec.command = "put";
      session.pending_key = "k" + std::to_string(session.calls);
      session.pending_value = pick(rng, 0, 1 << 30);
      spec.args = {{"key", session.pending_key}, {"value", session.pending_value}};
      spec.expected = {{"key", session.pending_key}, {"session_id", session.id}};
    } else {
      auto it = session.stored.begin();
      std::advance(it, pick(rng, 0, static_cast<int>(session.stored.size()) - 1));
      spec.kind = CallKind::kGet;
      spec.command = "get";
      spec.args = {{"key", it->first}};
      spec.expected = {{"key", it->first}, {"value", it->second}};
    }
  } else if (roll < 95) {
    spec.kind = CallKind::kFail;
    spec.command = "fail";
    spec.args = {{"type", "ValueError"}, {"message", "bad input on purpose"}};
  } else {
    spec.kind = CallKind::kRateLimit;
    spec.command = "fail";
    spec.args = {{"type", "openai.RateLimitError"}, {"message", "slow down"}};
  }
  return spec;
}

void LoadDriver::after(const CallTracker::Call& call, Session& session) {
  if (!call.spec.session) return;
  const auto failed = call.failure();
  if (failed == ErrorCategory::kSessionLost) {
    session.calls = kCallsPerSession;  // begin a new session next time
    return;
  }
  if (call.spec.kind == CallKind::kPut && !failed) {
    session.stored[session.pending_key] = session.pending_value;
  }
}

void LoadDriver::run(int index) {
  std::mt19937_64 rng(seed_ * 7919 + static_cast<std::uint64_t>(index) + 1);
  Session session;
  while (!stop_) {
    CallSpec spec = next_call(rng, session, index);
    auto call = tracker_.begin(spec);
    ExecuteOptions options;
    options.session = spec.session;
    options.timeout = spec.timeout;
    if (spec.kind == CallKind::kStream) options.on_chunk = tracker_.chunk_handler(call);
    host_.execute_async(spec.bridge, spec.command, spec.args, std::move(options),
                        tracker_.completion_handler(call));
    // A call that does not complete in time is counted by the tracker (late or lost); this
    // thread moves on after waiting well past that.
    if (call->finished.wait_for(spec.timeout + grace_ + std::chrono::seconds(30)) !=
        std::future_status::ready) {
      session.calls = kCallsPerSession;
      continue;
    }
    after(*call, session);
  }
  if (!session.id.empty()) (void)host_.end_session(session.id);
}

}  // namespace mlbridge::chaos
