#pragma once

/// @file
/// Many deadlines on one Asio timer. A pool arms a checkout deadline for every queued call and a
/// worker a deadline for every request it sent; with one steady_timer each, every call paid for
/// a timer object, a wait operation and, when the call ended in time, a cancelled handler run
/// through the loop. Here a deadline is a map entry: arming and disarming touch the timer only
/// when the earliest deadline moves earlier, and an expiry it no longer holds costs one wake-up
/// that finds nothing due.
///
/// Loop-thread only: construct, arm, disarm and destroy it on the thread that runs the
/// io_context. The owner owns the queue; `on_expired` runs on the loop thread, once per expired
/// ticket, after that ticket was removed (so the callback must not disarm it). It may arm, disarm
/// other tickets (due ones included) or destroy the queue.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>

namespace mlbridge::runtime {

class DeadlineQueue {
 public:
  using Clock = std::chrono::steady_clock;
  using Key = std::uint64_t;
  using Entries = std::multimap<Clock::time_point, Key>;
  /// What arm() returns, to disarm that deadline later; valid until it expired or was disarmed.
  using Ticket = Entries::iterator;

  DeadlineQueue(boost::asio::io_context& io, std::function<void(Key)> on_expired);
  ~DeadlineQueue();
  DeadlineQueue(const DeadlineQueue&) = delete;
  DeadlineQueue& operator=(const DeadlineQueue&) = delete;

  /// Calls on_expired(key) at `when` (at once, through the loop, if it already passed) unless
  /// disarmed first. A key may be armed more than once; each ticket expires on its own.
  Ticket arm(Clock::time_point when, Key key);
  /// Forgets a deadline that has not expired yet.
  void disarm(Ticket ticket);
  /// The same for a ticket an owner keeps while it is armed: disarms it if set, then clears it.
  void disarm(std::optional<Ticket>& ticket);

  /// Deadlines armed and not yet expired or disarmed.
  std::size_t size() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace mlbridge::runtime
