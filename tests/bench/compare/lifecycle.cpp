#include "lifecycle.hpp"

#include <signal.h>
#include <spawn.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "bench_host.hpp"
#include "measure.hpp"
#include "test_paths.hpp"

extern char** environ;

namespace mlbridge::bench {
namespace {

// What each bridge imports before it can answer (its plugin's required_packages, and the SDK).
const std::map<std::string, std::string> kImports = {
    {"echo", "mlbridge"},
    {"dspy", "mlbridge, dspy"},
    {"langchain", "mlbridge, langchain, langchain_core, langchain_openai"},
    {"transformers", "mlbridge, transformers, torch, tokenizers"},
};

/// Remembers when the host logged the first worker spawn ("... started as pid N", debug).
class SpawnSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::optional<Clock::time_point> spawned() {
    std::lock_guard lock(mutex_);
    return spawned_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    if (!spawned_ && text.find("started as pid") != std::string_view::npos) {
      spawned_ = Clock::now();
    }
    if (msg.level >= spdlog::level::warn) {
      std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
    }
  }
  void flush_() override {}

 private:
  std::optional<Clock::time_point> spawned_;
};

double ms(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

/// Wall time of `python -c pass`: the interpreter's own start-up and exit.
double interpreter_start_ms() {
  const std::string python = testing::python();
  char* argv[] = {const_cast<char*>(python.c_str()), const_cast<char*>("-c"),
                  const_cast<char*>("pass"), nullptr};
  const auto start = Clock::now();
  pid_t pid = -1;
  if (::posix_spawn(&pid, python.c_str(), nullptr, nullptr, argv, environ) != 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return ms(start, Clock::now());
}

/// The bridge's imports, timed by a fresh interpreter itself (milliseconds).
double imports_ms(const std::string& kind) {
  const std::string command = testing::python() +
                              " -c 'import time; t = time.perf_counter(); import " +
                              kImports.at(kind) + "; print((time.perf_counter() - t) * 1000)'";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return -1;
  double value = -1;
  if (std::fscanf(pipe, "%lf", &value) != 1) value = -1;
  ::pclose(pipe);
  return value;
}

}  // namespace

void run_cold_start(const std::string& kind) {
  if (!kImports.contains(kind)) {
    std::fprintf(stderr, "compare_bench: no bridge kind %s\n", kind.c_str());
    std::exit(2);
  }
  auto sink = std::make_shared<SpawnSink>();
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("compare_bench", sink));
  spdlog::set_level(spdlog::level::debug);
  emit("memory", {{"bridge", "(none)"}, {"process", "host"}, {"memory", memory_of(::getpid())}});

  auto host = make_host({{kind, kind, "msgpack", 1}});
  const auto start = Clock::now();
  if (auto status = host->start(); !status) {
    std::fprintf(stderr, "compare_bench: %s did not start: %s\n", kind.c_str(),
                 status.error().message.c_str());
    std::exit(3);
  }
  const auto ready = Clock::now();
  auto answer = host->execute(kind, "ping");
  const auto first = Clock::now();
  if (!answer) {
    std::fprintf(stderr, "compare_bench: %s ping failed: %s\n", kind.c_str(),
                 answer.error().message.c_str());
    std::exit(3);
  }
  const auto spawned = sink->spawned().value_or(start);
  const auto pids = worker_pids(*host, kind);
  emit("coldstart", {{"bridge", kind},
                     {"start_to_spawn_ms", ms(start, spawned)},
                     {"spawn_to_ready_ms", ms(spawned, ready)},
                     {"ready_to_first_answer_ms", ms(ready, first)},
                     {"start_to_first_answer_ms", ms(start, first)},
                     {"interpreter_start_ms", interpreter_start_ms()},
                     {"imports_ms", imports_ms(kind)},
                     {"imports", kImports.at(kind)}});
  emit("memory", {{"bridge", kind}, {"process", "host"}, {"memory", memory_of(::getpid())}});
  for (int pid : pids) {
    emit("memory", {{"bridge", kind}, {"process", "worker"}, {"memory", memory_of(pid)}});
  }
  host->shutdown();
  spdlog::set_default_logger(previous);
}

void run_recovery(int workers, int callers) {
  auto host = make_host({{"echo", "echo", "msgpack", workers}});
  if (!host->start()) std::exit(3);
  std::atomic<bool> stop{false};
  std::atomic<long> failed_after_kill{0};
  // When the worker was killed (steady-clock ticks; 0 = not yet).
  std::atomic<Clock::rep> kill_ticks{0};
  std::atomic<int> in_flight{0};
  std::mutex mutex;
  std::condition_variable changed;
  std::optional<Clock::time_point> first_ok_after_kill;  // of a call submitted after the kill
  std::function<void()> submit = [&] {
    in_flight.fetch_add(1);
    const auto submitted = Clock::now();
    host->execute_async("echo", "echo", json::object(), {}, [&, submitted](Result<json> result) {
      const auto killed_at = kill_ticks.load();
      if (killed_at != 0 && !result) failed_after_kill.fetch_add(1);
      if (killed_at != 0 && result && submitted.time_since_epoch().count() > killed_at) {
        std::lock_guard lock(mutex);
        if (!first_ok_after_kill) first_ok_after_kill = Clock::now();
      }
      if (!stop.load()) submit();
      if (in_flight.fetch_sub(1) == 1) {
        std::lock_guard lock(mutex);
        changed.notify_all();
      }
    });
  };
  for (int i = 0; i < callers; ++i) submit();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto before = worker_pids(*host, "echo");
  const std::set<int> old(before.begin(), before.end());
  for (int pid : before) {
    emit("memory", {{"bridge", "echo ×" + std::to_string(workers)},
                    {"process", "worker"},
                    {"memory", memory_of(pid)}});
  }
  emit("memory", {{"bridge", "echo ×" + std::to_string(workers)},
                  {"process", "host"},
                  {"memory", memory_of(::getpid())}});
  // Kill the worker; failures from there on count, and the next answer is that of the first call
  // submitted after the kill.
  const auto kill_time = Clock::now();
  kill_ticks.store(kill_time.time_since_epoch().count());
  ::kill(before.front(), SIGKILL);
  // Back to full strength: as many live workers as configured, none of them the killed one.
  std::optional<double> replaced_ms;
  while (seconds_since(kill_time) < 30) {
    const auto now = worker_pids(*host, "echo");
    const bool gone = std::find(now.begin(), now.end(), before.front()) == now.end();
    if (gone && static_cast<int>(now.size()) == workers) {
      auto described = host->bridge("echo");
      int serving = 0;
      for (const auto& w : (*described)["workers"]) {
        const auto state = w.value("state", "");
        serving += state == "idle" || state == "busy";
      }
      if (serving == workers) {
        replaced_ms = ms(kill_time, Clock::now());
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop.store(true);
  std::optional<Clock::time_point> next_answer;
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return in_flight.load() == 0; });
    next_answer = first_ok_after_kill;
  }
  emit("recovery", {{"workers", workers},
                    {"callers", callers},
                    {"kill_to_next_answer_ms", next_answer ? ms(kill_time, *next_answer) : -1.0},
                    {"kill_to_full_strength_ms", replaced_ms.value_or(-1.0)},
                    {"failed_calls", failed_after_kill.load()}});
  host->shutdown();
}

}  // namespace mlbridge::bench
