#include "mlbridge/calls/in_flight_calls.hpp"

namespace mlbridge::calls {

void InFlightCalls::begin(const std::string& id) {
  std::lock_guard lock(mutex_);
  calls_.try_emplace(id);
  count_.store(calls_.size(), std::memory_order_relaxed);
}

void InFlightCalls::attach(const std::string& id, Canceller cancel) {
  {
    std::lock_guard lock(mutex_);
    const auto it = calls_.find(id);
    if (it == calls_.end()) return;
    if (!it->second.cancel_requested) {
      it->second.cancel = std::move(cancel);
      return;
    }
  }
  cancel();
}

void InFlightCalls::end(const std::string& id) {
  std::lock_guard lock(mutex_);
  calls_.erase(id);
  count_.store(calls_.size(), std::memory_order_relaxed);
}

bool InFlightCalls::cancel(const std::string& id) {
  Canceller cancel;
  {
    std::lock_guard lock(mutex_);
    const auto it = calls_.find(id);
    if (it == calls_.end()) return false;
    if (!it->second.cancel) {
      it->second.cancel_requested = true;
      return true;
    }
    cancel = it->second.cancel;
  }
  cancel();
  return true;
}

}  // namespace mlbridge::calls
