#pragma once

// Private to core: which sessions this host holds in a shared session store, and the host's side
// of every store operation (docs/sessions.md, "Sessions across hosts").
//
// - A call of a session this host holds, with lease time left, goes at once (begin_call): no
//   store round trip. Otherwise the session is claimed first (claim): when its record changed
//   since this host last had it, its state goes into the StateStore and each pool gets its
//   journal (Pool::replace_session), so the session is rebuilt on a local worker before the call.
// - What a call changed is saved before it answers (save_call_effects, the pools' hook); saves of
//   one session go one at a time (merged while one is out), each compare-and-set on the version.
//   A failed save drops this host's copy, so the next call loads the last saved truth.
// - A timer renews the leases of sessions with calls running, every lease/3, in one batch.
// - A claim that finds the session held by another host's live lease waits for that lease to
//   lapse (a timer on `loop`, no thread blocked) and claims again, until the claim's bound (its
//   call's deadline, at most host.session_claim_wait_ms); only then does it fail with
//   session_moved. Claims of one session made while one is out or waiting join it (one store
//   round trip for all) and are answered in the order they were made.
//
// Threading: every member may be called from any thread; callbacks run on the store's thread.
// The blocking *_and_wait helpers must not run on a pool's loop or the store's thread.
// Ownership: created by the Host (shared: the StateStore holds it as its SessionSync).

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "mlbridge/registry/registry.hpp"
#include "mlbridge/runtime/event_loop.hpp"
#include "mlbridge/session/session_state.hpp"
#include "mlbridge/store/session_store.hpp"

namespace mlbridge::store {

class SessionOwnership : public SessionSync, public std::enable_shared_from_this<SessionOwnership> {
 public:
  using Clock = std::chrono::steady_clock;

  /// Figures for the host's snapshot and /metrics.
  struct Figures {
    std::map<std::string, std::uint64_t> ops;     ///< "op/outcome" -> count.
    std::map<std::string, std::uint64_t> claims;  ///< new, taken_over, renewed, moved, waited.
    std::size_t held = 0;                         ///< Sessions this host has a copy of.
  };

  SessionOwnership(SessionStorePtr store, session::StateStorePtr states,
                   registry::Registry& registry, runtime::EventLoop& loop,
                   std::chrono::milliseconds lease, std::chrono::milliseconds claim_wait);

  /// Starts the lease upkeep timer (on `loop`).
  void start();
  /// Gives up this host's leases (so other hosts take its sessions over at once), stops the
  /// timer and the store. Idempotent.
  void stop();

  /// True when this host holds the session with lease time left: the call may go now, and it
  /// counts as running (its lease is kept) until end_call.
  bool begin_call(const std::string& id);
  /// A number naming one claim() (its `waiter`), known before the claim is made, so that the
  /// call's canceller (abandon) can be registered first.
  std::uint64_t next_waiter() { return next_waiter_++; }
  /// Claims the session (loading it when it changed elsewhere); `done` gets whether the store
  /// had a record of it, and on success the call counts as running until end_call when
  /// `for_call`. While another host's lease lives the claim waits for it to lapse, until
  /// `wait_until` (capped at now + claim_wait). Errors: session_moved (the bound was reached;
  /// Retry-After = that lease's time left, at least 1 s), the store's bridge_unavailable, or
  /// bridge_unavailable when the host shuts down. `done` runs once, on the store's or the loop's
  /// thread (or at once on the caller's when the host is shutting down).
  void claim(const std::string& id, bool for_call, Clock::time_point wait_until,
             std::uint64_t waiter, std::function<void(Result<bool>)> done);
  /// Ends claim `waiter` of session `id` with `why` (a cancelled call): its `done` gets `why` now.
  /// False when that claim was answered already.
  bool abandon(const std::string& id, std::uint64_t waiter, Error why);
  /// Fails every claim that is out or waiting (the host shuts down) and every later one; their
  /// timers are cancelled. Must not run on `loop`'s thread. Idempotent.
  void end_waits();
  void end_call(const std::string& id);

  /// claim() for the host's session API: held already -> true at once, without a round trip.
  Result<bool> claim_and_wait(const std::string& id);
  /// Saves the session's current state (and creates its record when it has none).
  Status save_state_and_wait(const std::string& id);
  /// Removes the session from the store and this host; whether the store had it.
  Result<bool> end_and_wait(const std::string& id);

  void save_call_effects(const std::string& session_id, const std::string& bridge,
                         bool state_changed, std::optional<json> journal,
                         std::function<void(Status)> done) override;

  const SessionStore& store() const { return *store_; }
  Figures figures() const;

 private:
  struct PendingSave {
    bool state_changed = false;
    std::string bridge;
    std::optional<json> journal;
    std::function<void(Status)> done;
  };
  struct Held {
    std::uint64_t version = 0;  // of the record this host's copy matches
    Clock::time_point until{};  // the lease lasts at least until then
    std::size_t running = 0;    // calls under way (their lease is renewed)
    bool saving = false;        // a save is out; later ones wait in `saves`
    std::deque<PendingSave> saves;
  };

  // One claim of a session and the calls that share it.
  struct Waiter {
    std::uint64_t number = 0;
    bool for_call = false;
    Clock::time_point since{};  // when the claim was asked for
    Clock::time_point until{};  // its bound: session_moved once reached
    std::function<void(Result<bool>)> done;
  };
  struct Claiming {
    std::deque<Waiter> waiters;  // in the order they came
    bool out = false;            // a claim is sent to the store; else waiting for `wake`
    Clock::time_point lapses{};  // when the other host's lease lapses (as the store said)
    Clock::time_point wake{};    // when the timer fires: lapses or the first waiter's bound
    std::shared_ptr<boost::asio::steady_timer> timer;  // on loop_'s thread only
  };

  bool held_now(const Held& held, Clock::time_point now) const;
  void send_claim(const std::string& id);
  void on_claimed(const std::string& id, Clock::time_point sent, Result<StoredSession> claimed);
  // Sets the waiting claim's timer to its wake time. On loop_'s thread.
  void arm_wait(const std::string& id);
  void on_wait_over(const std::string& id, const std::shared_ptr<boost::asio::steady_timer>& timer);
  // Puts the store's copy of a session into the StateStore and every pool. Mutex held.
  Status install(const std::string& id, const StoredSession& record,
                 const std::vector<registry::BridgePtr>& bridges);
  // Forgets this host's copy of a session: state, pools, entry. Mutex held.
  void drop_local(const std::string& id, const std::vector<registry::BridgePtr>& bridges);
  // Takes the queued saves of a session as one write, and returns what sends it (to run once
  // the mutex is released). Mutex held.
  std::function<void()> send_saves(const std::string& id, Held& held);
  void on_saved(const std::string& id, Clock::time_point sent, Result<std::uint64_t> saved,
                std::vector<std::function<void(Status)>> dones);
  void count(const std::string& op, const Error* failure);
  void schedule_upkeep();
  void renew_leases();

  SessionStorePtr store_;
  session::StateStorePtr states_;
  registry::Registry& registry_;
  runtime::EventLoop& loop_;
  std::chrono::milliseconds lease_;
  std::chrono::milliseconds claim_wait_;
  boost::asio::steady_timer upkeep_timer_;  // on loop_'s thread only

  mutable std::mutex mutex_;
  std::map<std::string, Held> held_;
  std::map<std::string, std::uint64_t> ops_;
  std::map<std::string, std::uint64_t> claims_;
  std::map<std::string, Claiming> claiming_;  // sessions with a claim out or waiting
  std::atomic<std::uint64_t> next_waiter_{1};
  bool waits_ended_ = false;
  bool stopped_ = false;
};

}  // namespace mlbridge::store
