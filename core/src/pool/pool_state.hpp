#pragma once

/// @file
/// Private to core/src/pool: the loop-thread state of a Pool, shared by the files that implement
/// it (workers, dispatch, sessions, maintenance, drain, snapshot). Every member runs on the pool's
/// EventLoop thread only; nothing here is locked.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "mlbridge/health/restart_tracker.hpp"
#include "mlbridge/pool/pool.hpp"
#include "mlbridge/runtime/deadline_queue.hpp"
#include "mlbridge/session/bridge_journal.hpp"
#include "mlbridge/store/session_store.hpp"
#include "mlbridge/worker/worker.hpp"

namespace mlbridge::pool {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline std::string ms_text(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(d).count()) + " ms";
}

enum class SlotState { kStarting, kIdle, kBusy, kChecking, kRetiring };

inline std::string_view to_string(SlotState state) {
  switch (state) {
    case SlotState::kStarting:
      return "starting";
    case SlotState::kIdle:
      return "idle";
    case SlotState::kBusy:
      return "busy";
    case SlotState::kChecking:
      return "checking";
    case SlotState::kRetiring:
      return "retiring";
  }
  return "unknown";
}

struct PendingCall {
  enum class Phase { kQueued, kRunning, kDone };
  CallHandle handle = 0;
  std::uint64_t seq = 0;
  CallRequest request;
  CallHandler on_done;
  Clock::time_point submitted;
  Clock::time_point deadline;
  Clock::time_point started;
  // Its checkout deadline in State::waits while it is queued.
  std::optional<runtime::DeadlineQueue::Ticket> wait_ticket;
  Phase phase = Phase::kQueued;
  std::uint64_t slot = 0;
  worker::CallId worker_call = 0;
  /// A session move: rebuilds the session's objects on a worker and runs no command.
  bool restore_only = false;
  std::optional<json> journal_args;  // the args sent, kept for the journal of setup commands
  json state_change;                 // the response's session_state
  json journal_entries;              // the response's session_journal
  // What the call changed of its session, for a shared session store (saved before it answers).
  bool state_changed = false;
  bool journal_changed = false;
  // Running on its worker's books, but waiting until that worker applied the bridge journal.
  bool awaiting_journal = false;
};
using PendingPtr = std::shared_ptr<PendingCall>;

// The steps that rebuild a session on a worker: a snapshot restore, or the journal in order.
struct RestorePlan {
  struct Step {
    std::string command;
    json args;
    std::string object;
  };
  std::vector<Step> steps;
  std::size_t next = 0;
  bool from_snapshot = false;
  Clock::time_point started;
};
using RestorePlanPtr = std::shared_ptr<RestorePlan>;

// A worker replaying the bridge journal (resources created without a session): a new one the
// whole journal before it is ready, a running one the changes it missed before its next call.
struct JournalCatchUp {
  std::uint64_t slot = 0;
  bool starting = false;                       // a new worker: ready once up to date
  std::vector<session::JournalEntry> initial;  // a new worker's copy of the entries in effect
  std::size_t next_initial = 0;
  std::size_t replayed = 0;
  std::string step;                 // the step under way, for messages
  std::vector<CallHandle> waiting;  // calls that run on the worker once it is up to date
  Clock::time_point started;
};
using JournalCatchUpPtr = std::shared_ptr<JournalCatchUp>;

struct Slot {
  std::uint64_t number = 0;
  worker::WorkerPtr worker;
  SlotState state = SlotState::kStarting;
  bool overflow = false;
  bool retire_when_replaced = false;  // the last ready worker, to retire once another is ready
  // Stops once its calls end, and takes no new ones meanwhile: beyond a reduced pool size, or (a
  // worker holding many calls) due for recycling or condemned. `retire_reason` says which.
  bool retire_when_idle = false;
  std::string retire_reason;
  std::uint64_t generation = 0;  // the options_generation it was started with
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  // The pool's calls this worker holds: more than 1 when pipelined, or up to its capacity when it
  // runs many at once.
  std::size_t in_flight = 0;
  bool exclusive = false;  // it holds a session's call or a session move: nothing sent early
  // Sessions with a call or a move running on this worker (at most one each): their next calls
  // wait in `affinity`, and their cleanups until it ended.
  std::set<std::string> running_sessions;
  bool health_pending = false;      // a ping is out to this worker (concurrent workers: while busy)
  std::uint64_t recycle_after = 0;  // 0: never
  std::size_t health_failures = 0;
  std::uint64_t health_checks = 0;  // pings it answered
  Clock::time_point idle_since;
  std::deque<PendingPtr> affinity;  // calls of sessions bound to this worker, oldest first
  // Sessions this worker must drop (ended or lost ones), sent one at a time while it is idle (a
  // concurrent worker: as soon as the session has no call running there).
  std::deque<std::string> cleanups;
  // The position of the bridge journal this worker has applied, and its replay while one runs.
  std::uint64_t journal_position = 0;
  JournalCatchUpPtr catch_up;
};

// A worker that runs many calls at once (its hello's concurrency above 1): a set of slots that the
// pool fills call by call. Capacity-1 workers keep the one-call path (idle/busy, pipelining).
inline bool is_concurrent(const Slot& slot) { return slot.worker && slot.worker->capacity() > 1; }

inline bool remove_from(std::deque<PendingPtr>& queue, CallHandle handle) {
  auto it = std::find_if(queue.begin(), queue.end(),
                         [handle](const PendingPtr& call) { return call->handle == handle; });
  if (it == queue.end()) return false;
  queue.erase(it);
  return true;
}

// Puts a call into a queue by submission order (seq), behind every older call.
inline void insert_in_order(std::deque<PendingPtr>& queue, PendingPtr call) {
  auto pos = std::find_if(queue.begin(), queue.end(),
                          [&](const PendingPtr& c) { return c->seq > call->seq; });
  queue.insert(pos, std::move(call));
}

struct Pool::State {
  State(Pool& owner, asio::io_context& io, process::SpawnerPtr spawner)
      : pool(owner),
        io(io),
        spawner(std::move(spawner)),
        sessions(owner.config_.max_sessions),
        states(owner.session_states_),
        owns_states(!owner.config_.session_states),
        restarts(owner.config_.max_restarts, owner.config_.restart_window,
                 owner.config_.restart_backoff_initial, owner.config_.restart_backoff_max),
        maintenance_timer(io),
        health_timer(io),
        restart_timer(io),
        drain_timer(io),
        waits(io, [this](CallHandle handle) { on_wait_expired(handle); }),
        rng(std::random_device{}()) {}

  Pool& pool;
  asio::io_context& io;
  process::SpawnerPtr spawner;
  PoolState pool_state = PoolState::kRunning;
  bool started = false;
  std::string last_error;
  // While failed: what every call gets, the cause with its type and traceback when it has them.
  Error failure;

  std::map<std::uint64_t, std::unique_ptr<Slot>> slots;
  std::uint64_t next_slot = 1;
  std::deque<PendingPtr> queue;  // anonymous calls and calls of unbound sessions
  std::size_t queued = 0;        // in `queue` and in every slot's affinity queue
  std::unordered_map<CallHandle, PendingPtr> calls;  // queued or running
  std::uint64_t next_seq = 1;
  std::uint64_t options_generation = 0;  // bumped when the workers' init options change

  session::SessionTable sessions;
  session::BridgeJournal bridge_journal;  // resources created without a session
  session::StateStorePtr states;
  bool owns_states;  // a standalone pool's own store: its sessions' states end with them
  health::RestartTracker restarts;
  asio::steady_timer maintenance_timer;
  asio::steady_timer health_timer;
  asio::steady_timer restart_timer;
  asio::steady_timer drain_timer;
  runtime::DeadlineQueue waits;  // queued calls' deadlines and checkout timeouts
  bool restart_pending = false;
  std::mt19937_64 rng;

  std::vector<std::function<void(Status)>> on_ready;
  std::vector<std::function<void()>> on_drained;

  PoolStats counters;  // the counting fields only; the rest is filled in by snapshot()

  const PoolConfig& config() const { return pool.config_; }
  const std::string& bridge() const { return pool.config_.worker.bridge; }
  std::weak_ptr<Pool> weak() { return pool.weak_from_this(); }

  // Runs `fn` on this state if the pool still exists: for handlers that may outlive it.
  template <typename Fn>
  static auto guarded(std::weak_ptr<Pool> weak, Fn fn) {
    return [weak = std::move(weak), fn = std::move(fn)](auto&&... args) mutable {
      if (auto pool = weak.lock()) fn(*pool->state_, std::forward<decltype(args)>(args)...);
    };
  }

  Error error(ErrorCategory category, std::string message, const std::string& command = {}) const {
    Error e = Error::make(category, std::move(message));
    e.bridge = bridge();
    e.command = command;
    return e;
  }

  void publish(telemetry::Event event) {
    event.bridge = bridge();
    pool.events_.publish(event);
  }

  // Counted towards the pool's size: not stopping, and not waiting to stop.
  static bool is_live(const Slot& slot) {
    return slot.state != SlotState::kRetiring && !slot.retire_when_replaced &&
           !slot.retire_when_idle;
  }

  std::size_t live_slots() const {
    return static_cast<std::size_t>(std::count_if(
        slots.begin(), slots.end(), [](const auto& entry) { return is_live(*entry.second); }));
  }

  std::size_t slots_in(SlotState state) const {
    return static_cast<std::size_t>(
        std::count_if(slots.begin(), slots.end(),
                      [state](const auto& entry) { return entry.second->state == state; }));
  }

  // ---- workers (pool_workers.cpp) ----------------------------------------------------------

  void spawn_worker(bool overflow);

  void on_worker_started(std::uint64_t number, Result<protocol::Hello> hello);

  // A started worker that applied the bridge journal: idle, and the pool's start completes.
  void worker_ready(Slot& slot);

  void on_worker_exit(std::uint64_t number, const worker::WorkerExit& exit);

  // Brings the pool back to `size` workers, after the crash-loop backoff.
  void schedule_replacement();

  bool started_any() const { return !slots.empty() || counters.restarts > 0 || counters.calls > 0; }

  // A start failure that starting again cannot cure: the bridge's configuration (its script
  // fails at import, say). The pool fails at once instead of retrying in a loop.
  static bool is_configuration_failure(const Error& failure) {
    return failure.category == ErrorCategory::kInvalidConfiguration && !failure.retryable;
  }

  // Fails the pool with `cause`: no more starts until restart(), and every queued or later call
  // fails with it. Logged here unless someone waits for the start (they report it).
  void enter_failed(Error cause);

  // The crash-loop guard tripped: restart.max_restarts starts failed within restart.window_s.
  Error crash_loop_error() const;

  void fail_all_queued(ErrorCategory category, const std::string& message);
  void fail_all_queued(const Error& cause);

  // Retires a worker on purpose (recycling, idle overflow, drain).
  void retire(Slot& slot, const std::string& reason);

  void stop_slot(Slot& slot);

  // Retires a worker that served pool.max_requests calls or grew past limits.max_memory_mb.
  void recycle_if_due(Slot& slot);

  // The worker's RSS in bytes when limits.max_memory_mb is set and the RSS is above it (from
  // /proc); nullopt otherwise.
  std::optional<std::uint64_t> rss_above_limit(const Slot& slot) const;

  // ---- calls (pool_dispatch.cpp) -----------------------------------------------------------

  void enqueue(PendingPtr call);

  // Arms the deadline that fails a call still queued at its deadline or checkout_timeout (in
  // `waits`; run() and finish() disarm it).
  void arm_wait_timer(const PendingPtr& call, Clock::time_point now);

  // A call a worker's exit stranded in its stdin, never started: back to its place in the queue.
  void requeue(const PendingPtr& call);

  // Removes a queued call from whichever queue holds it.
  void unqueue(const PendingPtr& call);

  void on_wait_expired(CallHandle handle);

  void cancel(CallHandle handle);

  // The next call for an idle slot: the older of its own session queue's head and the shared
  // queue's head.
  PendingPtr next_call_for(Slot& slot);

  // The shared queue's head is a call of session `s`, bound to a worker (`s.worker`) while the
  // call waited: moves it to that worker's session queue in submission order, or fails it with
  // session_lost when that worker is gone.
  void send_head_to_session_worker(const session::Session& s);

  void pump();

  // pool.pipeline_depth above 1: writes queued anonymous calls to busy workers behind their
  // running call, one more per worker per round, up to the depth.
  void pipeline();

  // A busy worker that may be sent an anonymous call now: it reads the cancel pipe, holds fewer
  // than pipeline_depth calls, none of them a session's, and nothing is due on it (cleanups,
  // recycling, retirement) that needs it idle first.
  bool takes_early_call(const Slot& slot) const;

  void grow_if_needed();

  // ---- workers that hold many calls (pool_concurrent.cpp) ----------------------------------

  // Fills the free slots of concurrent workers: each worker's own session calls first (one
  // running per session, in order), then the shared queue, each call to the least-loaded worker
  // with a free slot.
  void dispatch_concurrent();

  // Starts the calls waiting in a concurrent worker's affinity queue whose session has no call
  // running there, in order, while it has free slots.
  void run_bound_calls(Slot& slot);

  // The least-loaded concurrent worker that takes `call` now, or null. A call of a session not yet
  // bound (its first) binds the session there for its life: fewest bound sessions first, then
  // fewest calls in flight. Any other call: fewest calls in flight, then fewest bound sessions. A
  // retry avoids the worker its last attempt failed on.
  Slot* least_loaded_for(const PendingCall& call);

  // A concurrent worker that takes one more call now: ready, accepting (not condemned), a free
  // slot, and not marked to stop.
  bool takes_concurrent_call(const Slot& slot) const;

  // After a call on a concurrent worker ended: retires it once its calls end when it was
  // condemned or passed limits.max_memory_mb; sends the cleanups its sessions allow now.
  void after_concurrent_call(Slot& slot);

  // Marks a worker to take no new calls and stop once its calls ended; a replacement starts now.
  void retire_after_calls(Slot& slot, const std::string& reason);

  // Sends every queued cleanup of a concurrent worker whose session has no call running there.
  void send_free_cleanups(Slot& slot);

  void run(Slot& slot, PendingPtr call);

  // A call on its worker, once the worker is up to date with the bridge journal: rebuilds its
  // session there first when it has to, then sends it.
  void continue_call(Slot& slot, const PendingPtr& call);

  // Sends a call's command to its worker (after its session was rebuilt, if it had to be).
  void start_call(Slot& slot, const PendingPtr& call);

  void on_call_done(CallHandle handle, Result<json> result);

  // Completes a call exactly once: counters, session bookkeeping, telemetry, then the caller.
  void finish(const PendingPtr& call, Result<json> result);

  // ---- sessions (pool_sessions.cpp) --------------------------------------------------------

  Result<session::SessionInfo> create_session(const std::string& id);

  Status end_session(const std::string& id, const std::string& why);

  session::SessionInfo info(const session::Session& s) const;

  // ---- sessions that outlive their worker (pool_session_moves.cpp) -------------------------

  // The request's session_state: the version, with the data when the worker lacks it.
  json state_for(session::Session& s);

  // Stores what a successful call changed: journal entries and the session state. May turn the
  // result into an error (an oversize state).
  void apply_session_effects(const PendingPtr& call, Result<json>& result);

  // Unbinds the sessions of a worker that is gone or going; their queued calls go back to the
  // shared queue (or fail with session_lost when the session cannot be rebuilt).
  session::Released release_sessions(Slot& slot, const std::string& cause, bool planned);

  // Retires a worker now, moving its sessions first (snapshot on it, then restore elsewhere).
  void retire_now(Slot& slot, const std::string& reason);

  // Once the snapshots of a retiring worker's sessions are in: releases them, stops the worker
  // and queues their moves.
  void finish_move_off(std::uint64_t number, const std::string& cause,
                       const std::map<std::string, std::string>& failed);

  // Queues one restore-only call per session, so each is rebuilt before its next call.
  void enqueue_moves(const std::vector<std::string>& ids);

  // ---- sessions in a shared store (pool_session_sync.cpp) ----------------------------------

  // A successful call that changed its session: writes the change to the shared store
  // (StateStore::sync), then completes the call, with the store's error if the write failed.
  void save_then_finish(const PendingPtr& call, Result<json> result);

  // Replaces what this pool holds of a session with the store's copy: the journal in its wire
  // form (the session is rebuilt from it before its next call), or none (forgotten here).
  void replace_session(const std::string& id, const std::optional<json>& journal);

  // ---- rebuilding a session on a worker (pool_restore.cpp) ---------------------------------

  RestorePlanPtr plan_restore(const session::Session& s, bool use_snapshot) const;

  void restore_then_run(Slot& slot, const PendingPtr& call, session::Session& s);

  void next_restore_step(std::uint64_t slot_number, CallHandle handle, RestorePlanPtr plan);

  void on_restore_step(std::uint64_t slot_number, CallHandle handle, RestorePlanPtr plan,
                       Result<json> result);

  // Marks a session lost and fails its calls waiting on its worker; `cleanup_on` is a worker
  // that may hold part of it (a failed replay): it is told to drop the session.
  void lose_session(session::Session& s, const std::string& why,
                    std::optional<std::uint64_t> cleanup_on = std::nullopt);
  // Tells the worker of `slot_number` (if it still exists) to drop what it holds of a session,
  // now: for a restore running on that worker, whose next steps must find the session empty.
  void discard_session_on(std::uint64_t slot_number, const std::string& session_id);
  // The same for a session that ended or was lost, once the worker is idle (queue_cleanup), and
  // holding it meanwhile (run_cleanups): no caller's call ever waits behind the cleanup on the
  // worker, so a worker that hangs on it and is killed takes no one else's call with it.
  void queue_cleanup(Slot& slot, const std::string& session_id);
  // The `cleanup_session` call itself, with the health-check timeout.
  void send_cleanup(Slot& slot, const std::string& session_id, worker::Worker::CallHandler on_done);
  void run_cleanups(Slot& slot);
  // A slot whose call, health check or cleanup ended: idle again, then its cleanups, then
  // recycling when due.
  void became_idle(Slot& slot);

  // ---- resources of the whole bridge (pool_bridge_journal.cpp) -----------------------------

  // Ok, or resource_exhausted for an anonymous setup call the bridge journal has no room for.
  Status admit_bridge_resource(const CallRequest& request) const;

  // A call's args as a DOM, for the journals: its encoded args decoded (as the HTTP front door
  // sends them, with `args` left empty), else its args.
  static json args_of(const CallRequest& request);

  // Records a successful anonymous call of a journaled command that ran on `slot_number`.
  void record_bridge_resource(const PendingPtr& call, std::uint64_t slot_number,
                              const Result<json>& result);

  // The worker has not applied every change of the bridge journal (or is applying them).
  bool behind_journal(const Slot& slot) const;

  // Runs `call` on `slot` once the worker applied the changes it missed.
  void catch_up_then_run(Slot& slot, const PendingPtr& call);

  // A worker that just started: replays the entries in effect, then worker_ready.
  void replay_journal_on_start(Slot& slot);

  void next_journal_step(const JournalCatchUpPtr& catch_up);

  void on_journal_step(const JournalCatchUpPtr& catch_up, std::uint64_t position,
                       Result<json> result);

  // The worker is up to date: ready (a new one), and its waiting calls continue.
  void finish_catch_up(Slot& slot);

  // A step failed: logs it with the entry and restarts the worker; its waiting calls go back to
  // the queue (they never reached Python).
  void journal_replay_failed(Slot& slot, const JournalCatchUpPtr& catch_up, const Error& failure);

  // Requeues the calls that waited for a catch-up (`slot`: their worker, when it still exists).
  void give_back_waiting(Slot* slot, JournalCatchUp& catch_up);

  // Cancels a call that waits for its worker's catch-up: it never reached Python.
  void cancel_awaiting(const PendingPtr& call);

  // Drops the changes every worker applied.
  void forget_applied_changes();

  // ---- periodic work (pool_maintenance.cpp) ------------------------------------------------

  void schedule_maintenance();

  void maintain();

  void schedule_health_check();

  void check_health();

  void on_health_result(std::uint64_t number, Result<json> result);

  // ---- drain (pool_drain.cpp) --------------------------------------------------------------

  void drain();

  void cancel_running(const PendingPtr& call);

  void check_drained();

  void stop_all_workers();

  // ---- live reconfiguration (pool_resize.cpp) ----------------------------------------------

  void reconfigure(PoolConfig next);

  // Stops live workers beyond `keep` among the regular (or the overflow) ones: idle ones first,
  // then starting ones, then busy ones once their call ends; workers with bound sessions last.
  void trim(bool overflow, std::size_t keep);

  // Recycles one worker started with older init options, if no replacement is under way.
  void recycle_outdated();

  // A worker whose call just ended (or whose health check passed) and that was marked to stop:
  // stops it and returns true.
  bool stop_if_marked(Slot& slot);

  // ---- stats (pool_snapshot.cpp) -----------------------------------------------------------

  PoolStats snapshot() const;
};

}  // namespace mlbridge::pool
