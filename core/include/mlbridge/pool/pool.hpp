#pragma once

/// @file
/// A supervised pool of Python workers for one bridge: N workers serve N calls at once; a bounded
/// FIFO queue feeds them; sessions stick to their worker; dead workers are replaced with backoff;
/// a crash loop puts the pool in `failed`, and so does at once a start failure that no retry can
/// cure (a bridge script that fails at import: invalid_configuration, with its traceback); idle
/// workers are health-checked and recycled.
///
/// Threading: the dispatcher runs on the EventLoop's thread and never waits on a worker. Every
/// public member function is thread-safe and may be called from any thread; handlers passed in
/// (completion, chunks, telemetry) run on the loop thread and must not block. The blocking
/// helpers (call, stats, sessions, drain_and_wait) must not be called on the loop thread.
///
/// Ownership: created as a shared_ptr. Call drain (or drain_and_wait) before the last reference
/// goes; a pool dropped without draining kills its workers. The EventLoop must outlive the pool.

#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/pool/call.hpp"
#include "mlbridge/pool/pool_config.hpp"
#include "mlbridge/pool/pool_stats.hpp"
#include "mlbridge/process/spawner.hpp"
#include "mlbridge/runtime/event_loop.hpp"
#include "mlbridge/session/session_state.hpp"
#include "mlbridge/session/session_table.hpp"
#include "mlbridge/telemetry/events.hpp"

namespace mlbridge::pool {

class Pool;
using PoolPtr = std::shared_ptr<Pool>;
using CallHandler = std::function<void(Result<json>)>;

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  static PoolPtr create(runtime::EventLoop& loop, PoolConfig config,
                        process::SpawnerPtr spawner = process::default_spawner());
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Starts the workers (all of them in parallel unless lazy). `on_ready` runs once: Ok when at
  /// least one worker is ready (at once when lazy), or the error that put the pool in `failed`.
  void start(std::function<void(Status)> on_ready = {});
  /// Blocking start(): waits for the outcome.
  Status start_and_wait();

  /// Submits a call; `on_done` runs exactly once on the loop thread, with the result or an error:
  /// overloaded (queue full, or no worker within checkout_timeout), timeout, cancelled,
  /// session_lost, bridge_unavailable (failed or draining pool), the cause of a pool that
  /// failed on a configuration problem (invalid_configuration), or what the worker reported.
  CallHandle submit(CallRequest request, CallHandler on_done);
  /// Submits a call; the future completes with the result or the error.
  std::future<Result<json>> submit(CallRequest request);
  /// Submits a call and waits for it.
  Result<json> call(CallRequest request);
  /// Cancels a call: a queued call never reaches Python; a running one is interrupted (SIGINT).
  void cancel(CallHandle handle);

  /// Creates a session (see SessionTable::create). Blocking.
  Result<session::SessionInfo> create_session(const std::string& id);
  /// Ends a session: its worker drops the session's resources (cleanup_session). Blocking.
  Status end_session(const std::string& id);
  std::vector<session::SessionInfo> sessions();
  /// Replaces what this pool holds of a session with a shared store's copy (a session this host
  /// takes over): `journal` in its wire form (the session is rebuilt from it on a worker before
  /// its next call, as after a worker crash), or nullopt to forget the session here (its worker
  /// drops it). Asynchronous: done on the loop thread before any call submitted after it. Any
  /// thread.
  void replace_session(const std::string& id, std::optional<json> journal);
  /// The host-side session state this pool sends to its workers (PoolConfig::session_states, or
  /// the pool's own). Thread-safe.
  session::StateStore& session_states() { return *session_states_; }

  /// A snapshot of the pool. Blocking.
  PoolStats stats();
  /// Clears the `failed` state (and the restart count) and starts workers again; does nothing
  /// to a pool that has not failed. Asynchronous: returns at once. Any thread.
  void restart();

  /// Stops accepting calls, lets queued and running calls finish within shutdown_timeout, cancels
  /// what is left, stops every worker and reaps it; then `on_drained` runs once.
  void drain(std::function<void()> on_drained = {});
  void drain_and_wait();

  /// Applies new settings to the running pool (live reconfiguration), then `on_applied` runs on
  /// the loop thread. Growing starts workers; shrinking stops idle workers first, lets busy ones
  /// finish their call before they stop (never killing one), and stops workers with bound
  /// sessions last (their sessions move to other workers: snapshot/restore or journal replay,
  /// see docs/sessions.md). Changed init options recycle the workers one at a
  /// time, each replacement ready before the next goes. Queue, timeout, health, recycling,
  /// memory and restart settings and the error translator take effect at once. The worker's
  /// program (python, script, env, codec, working dir) must not change: the caller checks.
  void reconfigure(PoolConfig config, std::function<void()> on_applied = {});
  /// Blocking reconfigure(): waits until it is applied (not until workers started or stopped).
  void reconfigure_and_wait(PoolConfig config);

  /// Telemetry of this pool. Subscribers run on the loop thread.
  telemetry::EventBus& events() { return events_; }
  /// A copy of the current settings. Any thread.
  PoolConfig config() const;

 private:
  struct State;
  Pool(runtime::EventLoop& loop, PoolConfig config, process::SpawnerPtr spawner);

  runtime::EventLoop& loop_;
  // Written on the loop thread only (reconfigure), under config_mutex_; the loop thread reads it
  // without the lock, other threads through config(), with it.
  PoolConfig config_;
  mutable std::mutex config_mutex_;
  telemetry::EventBus events_;
  std::atomic<CallHandle> next_handle_{1};
  session::StateStorePtr session_states_;
  std::unique_ptr<State> state_;  // touched on the loop thread only
};

}  // namespace mlbridge::pool
