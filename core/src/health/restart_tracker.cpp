#include "mlbridge/health/restart_tracker.hpp"

#include <algorithm>

namespace mlbridge::health {

bool RestartTracker::record_failure(Clock::time_point now) {
  ++consecutive_;
  failures_.push_back(now);
  while (!failures_.empty() && now - failures_.front() > window_) failures_.pop_front();
  return failures_.size() > max_restarts_;
}

std::chrono::milliseconds RestartTracker::backoff() const {
  if (consecutive_ == 0) return std::chrono::milliseconds(0);
  auto delay = initial_;
  for (std::size_t i = 1; i < consecutive_ && delay < max_; ++i) delay *= 2;
  return std::min(delay, max_);
}

void RestartTracker::reset() {
  failures_.clear();
  consecutive_ = 0;
}

}  // namespace mlbridge::health
