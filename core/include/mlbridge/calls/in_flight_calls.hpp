#pragma once

/// @file
/// The calls in flight by call id, each with the way to cancel it (Host::cancel_call,
/// `DELETE /v1/calls/{id}`). A call registers its id before it is submitted and unregisters when
/// it is done; its canceller is attached once the bridge returned its handle. A cancel that
/// arrives before that is remembered and applied on attach.
///
/// Threading: every member function is thread-safe; cancellers run on the calling thread,
/// outside the lock.

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mlbridge::calls {

class InFlightCalls {
 public:
  using Canceller = std::function<void()>;

  /// The call `id` is about to be submitted.
  void begin(const std::string& id);
  /// Its canceller, once known. Ignored when the call is already done; runs it at once when a
  /// cancel came first.
  void attach(const std::string& id, Canceller cancel);
  /// The call is done (its handler ran).
  void end(const std::string& id);
  /// Cancels the call; false when no call `id` is in flight.
  bool cancel(const std::string& id);
  /// How many calls are in flight. Lock-free (the host's event loop asks it between polls).
  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    Canceller cancel;
    bool cancel_requested = false;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> calls_;
  std::atomic<std::size_t> count_{0};  // calls_.size(), kept under mutex_
};

}  // namespace mlbridge::calls
