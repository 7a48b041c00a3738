#pragma once

/// @file
/// The crash-loop guard: counts failed starts in a sliding window and computes the backoff
/// before the next attempt. Owned by a pool; event-loop thread only.

#include <chrono>
#include <cstddef>
#include <deque>

namespace mlbridge::health {

class RestartTracker {
 public:
  using Clock = std::chrono::steady_clock;

  RestartTracker(std::size_t max_restarts, std::chrono::seconds window,
                 std::chrono::milliseconds backoff_initial, std::chrono::milliseconds backoff_max)
      : max_restarts_(max_restarts),
        window_(window),
        initial_(backoff_initial),
        max_(backoff_max) {}

  /// Records a failed start; true when the failures within the window now exceed the limit.
  bool record_failure(Clock::time_point now);
  /// A successful start resets the backoff (not the window).
  void record_success() { consecutive_ = 0; }
  /// How long to wait before the next start: initial * 2^(consecutive failures - 1), capped.
  std::chrono::milliseconds backoff() const;
  void reset();
  std::size_t failures_in_window() const { return failures_.size(); }

 private:
  std::size_t max_restarts_;
  std::chrono::seconds window_;
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::deque<Clock::time_point> failures_;
  std::size_t consecutive_ = 0;
};

}  // namespace mlbridge::health
