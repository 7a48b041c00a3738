#pragma once

// The chaos thread: at random intervals it SIGKILLs workers, SIGSTOPs them (and SIGCONTs them
// later), and sends commands that make handlers crash, hang (with or without heeding SIGINT or
// their cancel), print to stdout or raise. On the concurrent bridge it signals the worker that
// holds the most calls. Everything it does goes into the fault log before it happens.
// start() and stop_and_join() from one controlling thread.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "call_tracker.hpp"
#include "fault_log.hpp"
#include "mlbridge/host.hpp"

namespace mlbridge::chaos {

class ChaosMonkey {
 public:
  /// `async_bridge`: the bridge (one of `bridges`) whose workers hold many calls at once; empty
  /// when there is none.
  ChaosMonkey(Host& host, CallTracker& tracker, FaultLog& faults, std::vector<std::string> bridges,
              std::uint64_t seed, std::string async_bridge = {});
  ~ChaosMonkey();

  void start();
  /// Stops injecting, resumes every worker it stopped, and joins its thread. Command faults
  /// already sent complete on their own (the tracker follows them).
  void stop_and_join();

 private:
  struct Stopped {
    pid_t pid;
    std::string worker_id;
    std::size_t fault;
    Clock::time_point resume_at;
  };

  void run();
  void act();
  void signal_worker(FaultKind kind, const std::string& bridge);
  void command(FaultKind kind, const std::string& bridge);
  void resume(bool all);

  Host& host_;
  CallTracker& tracker_;
  FaultLog& faults_;
  const std::vector<std::string> bridges_;
  const std::string async_bridge_;
  std::mt19937_64 rng_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<Stopped> stopped_;  // chaos thread only
};

}  // namespace mlbridge::chaos
