#pragma once

// How long to wait before the next reconnect attempt: from `min`, doubling after every failed
// attempt up to `max`, each wait drawn at random from its upper half so that many hosts that
// lost one Redis together do not all come back in the same millisecond. Private to the Redis
// client; one thread.

#include <algorithm>
#include <chrono>
#include <random>

namespace mlbridge::store {

class ReconnectBackoff {
 public:
  ReconnectBackoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
      : min_(std::max(min, std::chrono::milliseconds{1})),
        max_(std::max(max, min_)),
        next_(min_),
        random_(std::random_device{}()) {}

  /// The wait before the next attempt; each call doubles the one after it, up to max.
  std::chrono::milliseconds next() {
    const auto ceiling = next_;
    next_ = std::min(next_ * 2, max_);
    std::uniform_int_distribution<long long> pick(ceiling.count() / 2, ceiling.count());
    return std::max(std::chrono::milliseconds{pick(random_)}, min_);
  }

  /// After a success: the next wait is `min` again.
  void reset() { next_ = min_; }

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
  std::minstd_rand random_;
};

}  // namespace mlbridge::store
