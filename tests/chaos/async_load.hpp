#pragma once

// The async load of the chaos test: one thread keeps many calls in flight at once on the
// concurrent bridge (workers that hold up to pool.max_concurrency calls as asyncio tasks):
// anonymous `async_sleep` and `async_stream` calls, session-bound bursts of `async_turn` whose
// calls must run one at a time and succeed in the order they were sent, calls cancelled in flight
// through Host::cancel, and calls that sleep past their deadline. It never waits for a call:
// completions arrive on the host's loop thread (the tracker judges them). start() and
// stop_and_join() from one controlling thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "call_tracker.hpp"
#include "mlbridge/host.hpp"

namespace mlbridge::chaos {

class AsyncLoad {
 public:
  /// Keeps `target_in_flight` calls in flight on `bridge`.
  AsyncLoad(Host& host, CallTracker& tracker, std::string bridge, std::uint64_t seed,
            int target_in_flight);
  ~AsyncLoad();

  void start();
  /// Stops sending calls, sends every cancel still due at once (so no call waits for one), ends
  /// the sessions that have no call in flight, and joins the thread. Calls still in flight
  /// complete on their own; the tracker follows them.
  void stop_and_join();

  /// Counts for the report (after stop_and_join).
  std::size_t cancels_sent() const { return cancels_sent_; }
  int peak_in_flight() const { return peak_in_flight_; }

 private:
  struct Session;
  struct PendingCancel {
    CallTicket ticket;
    Clock::time_point at;
  };

  void run();
  void send_due_cancels(bool all);
  /// Sends one call (or one session's burst); returns how many calls it sent.
  int send_next(std::mt19937_64& rng);
  int send_burst(std::mt19937_64& rng, Session& session);
  /// Sends `spec`; `cancel_after` schedules Host::cancel that long after sending. `on_done`
  /// runs after the tracker heard of the completion (on the loop thread).
  void send(CallSpec spec, std::optional<std::chrono::milliseconds> cancel_after,
            std::function<void()> on_done = {});

  Host& host_;
  CallTracker& tracker_;
  const std::string bridge_;
  const std::uint64_t seed_;
  const int target_in_flight_;
  std::atomic<bool> stop_{false};
  std::atomic<int> in_flight_{0};
  int peak_in_flight_ = 0;
  std::size_t cancels_sent_ = 0;
  std::vector<std::shared_ptr<Session>> sessions_;  // this driver's thread only
  std::vector<PendingCancel> cancels_;              // this driver's thread only
  std::thread thread_;
};

}  // namespace mlbridge::chaos
