#include "stall_watch.hpp"

namespace mlbridge::chaos {

void StallWatch::start() {
  thread_ = std::thread([this] {
    constexpr std::chrono::milliseconds kTick{100};
    while (!stop_) {
      const auto before = Clock::now();
      std::this_thread::sleep_for(kTick);
      const auto after = Clock::now();
      if (after - before > kTick + kStallThreshold) {
        faults_.record({FaultKind::kStall, "", "", before, after});
      }
    }
  });
}

void StallWatch::stop_and_join() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace mlbridge::chaos
