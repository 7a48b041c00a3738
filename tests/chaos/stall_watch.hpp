#pragma once

// Notices when this process (the host under test) got no CPU for a while: a thread that sleeps
// 100 ms at a time records every wake-up that came kStallThreshold late as a `machine_stall`
// fault. On a machine shared with other work every process can stall for seconds; a stall takes
// capacity from every bridge at once (like a SIGSTOP of everything, the host's own loop too), and
// it explains the same failures. start() and stop_and_join() from one controlling thread.

#include <atomic>
#include <chrono>
#include <thread>

#include "fault_log.hpp"

namespace mlbridge::chaos {

class StallWatch {
 public:
  /// A wake-up this much later than asked is a stall.
  static constexpr std::chrono::milliseconds kStallThreshold{700};

  explicit StallWatch(FaultLog& faults) : faults_(faults) {}
  ~StallWatch() { stop_and_join(); }

  void start();
  void stop_and_join();

 private:
  FaultLog& faults_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mlbridge::chaos
