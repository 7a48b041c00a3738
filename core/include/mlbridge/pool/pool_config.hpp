#pragma once

/// @file
/// Settings of one bridge's worker pool: sizing, queueing, recycling, health checks, the
/// crash-loop guard and sessions (the `pool`, `timeouts`, `health`, `restart`, `limits` and
/// `sessions` keys of the YAML schema). Plain value; any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "mlbridge/errors/error.hpp"
#include "mlbridge/session/replay_rules.hpp"
#include "mlbridge/session/session_state.hpp"
#include "mlbridge/worker/worker_config.hpp"

namespace mlbridge::pool {

using namespace std::chrono_literals;

struct PoolConfig {
  /// Template for every worker; the pool fills in `worker_id` ("<bridge>-<n>").
  worker::WorkerConfig worker;

  std::size_t size = 2;            ///< Workers kept running.
  std::size_t max_overflow = 0;    ///< Extra workers started while calls queue up.
  bool lazy = false;               ///< Start workers on first use instead of at start().
  std::size_t queue_limit = 1000;  ///< Calls waiting for a worker, at most.
  /// Anonymous calls a busy worker may hold: above 1, while calls queue and no worker is idle,
  /// the next one is written to a worker behind its running call, so that the worker never waits
  /// for the host between short calls. Only for workers that read the cancel pipe
  /// (Worker::pipelining): a cancelled waiting call is then answered without running. The price
  /// is head-of-line waiting: a call held behind a long one waits for it even if another worker
  /// becomes free. For calls of well under a millisecond; 1 (the default) sends none early.
  std::size_t pipeline_depth = 1;
  std::chrono::milliseconds checkout_timeout = 5s;  ///< Longest wait for a worker.
  std::chrono::milliseconds request_timeout = 30s;  ///< Default deadline of a call.
  std::chrono::milliseconds idle_timeout = 60s;     ///< Overflow workers idle this long stop.
  std::chrono::milliseconds shutdown_timeout = 5s;  ///< Drain budget.

  std::uint64_t max_requests = 0;  ///< Recycle a worker after this many calls (0: never).
  std::uint64_t max_requests_jitter =
      0;  ///< Plus up to this many, so workers do not recycle together.
  std::optional<std::uint64_t> max_memory_mb;  ///< Recycle a worker whose RSS passes this.

  std::chrono::milliseconds health_interval = 30s;  ///< Ping idle workers this often (0: never).
  std::chrono::milliseconds health_timeout = 5s;
  std::size_t health_max_failures = 3;  ///< Failed pings in a row before replacement.

  std::size_t max_restarts = 5;  ///< Failed starts tolerated within restart_window.
  std::chrono::seconds restart_window = 60s;
  std::chrono::milliseconds restart_backoff_initial = 100ms;
  std::chrono::milliseconds restart_backoff_max = 5s;

  std::chrono::seconds session_ttl = 3600s;  ///< Idle sessions end after this.
  std::size_t max_sessions = 10000;
  std::chrono::milliseconds maintenance_interval = 1s;  ///< TTL sweep and overflow idle checks.
  /// Which commands build and remove session objects, to rebuild a session on another worker
  /// (the plugin's session rules under the YAML `sessions.replay`). Empty: sessions keep no
  /// journal and survive the loss of their worker with their host-side state only.
  session::ReplayRules session_rules;
  /// Host-side session state, shared by the host's pools; the pool makes its own when empty.
  session::StateStorePtr session_states;

  /// Gives a failed call its final category (the bridge's error translator) before the pool
  /// counts it, publishes it and hands it back, so statistics, telemetry and callers agree.
  /// Runs on the loop thread; must not block. Empty: errors pass unchanged.
  std::function<Error(Error)> translate_error;
};

}  // namespace mlbridge::pool
