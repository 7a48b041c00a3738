#pragma once

/// @file
/// A snapshot of a pool's state and counters, declared once as X-macro lists that generate the
/// structs, their JSON and their `/metrics` families. Plain value, copied out of the event loop;
/// any thread may read a copy.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mlbridge/errors/error.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/telemetry/histogram.hpp"
#include "mlbridge/telemetry/stat_spec.hpp"

namespace mlbridge::pool {

using json = protocol::json;

/// running: serving (or starting); failed: crash loop, calls fail fast; draining; stopped.
enum class PoolState { kRunning, kFailed, kDraining, kStopped };
std::string_view to_string(PoolState state);

/// A worker's figures: `KIND(member, family, state, help)` (telemetry/stat_spec.hpp). Each is a
/// member of WorkerStats and a key of its JSON (Bridge::describe); in_flight, capacity and
/// rss_bytes are also `/metrics`' per-worker gauges.
#define MLBRIDGE_WORKER_STATS(COUNTER, GAUGE, HISTOGRAM)                    \
  COUNTER(calls, "", "", "Calls the worker completed.")                     \
  COUNTER(errors, "", "", "Calls the worker completed with an error.")      \
  COUNTER(health_checks, "", "", "Health pings the worker answered.")       \
  GAUGE(sessions, "", "", "Sessions bound to the worker.")                  \
  GAUGE(in_flight, "mlbridge_worker_calls_in_flight", "",                   \
        "Calls a worker holds now (running, or rebuilding their session).") \
  GAUGE(capacity, "mlbridge_worker_capacity", "",                           \
        "Calls a worker runs at once (its hello's concurrency, clamped).")  \
  GAUGE(rss_bytes, "mlbridge_worker_resident_memory_bytes", "", "Resident memory of a worker.")

/// A pool's figures, in the order `/metrics` lists their families. Each is a member of
/// PoolStats and a key of Host::stats(); those with a family are also `/metrics` series with a
/// `bridge` label (and `state` where given). calls, errors, queue_wait and execution are on
/// `/metrics` per command instead (telemetry/call_metrics.hpp).
#define MLBRIDGE_POOL_STATS(COUNTER, GAUGE, HISTOGRAM)                                            \
  GAUGE(queue_length, "mlbridge_queue_length", "", "Calls waiting for a worker.")                 \
  GAUGE(in_flight, "mlbridge_calls_in_flight", "", "Calls the bridge's workers hold now.")        \
  GAUGE(busy, "mlbridge_workers", "busy", "Workers by state (busy, idle, starting).")             \
  GAUGE(idle, "mlbridge_workers", "idle", "Workers by state (busy, idle, starting).")             \
  GAUGE(starting, "mlbridge_workers", "starting", "Workers by state (busy, idle, starting).")     \
  COUNTER(restarts, "mlbridge_worker_restarts_total", "",                                         \
          "Workers started to replace others that exited.")                                       \
  COUNTER(recycled, "mlbridge_workers_recycled_total", "",                                        \
          "Workers retired for max_requests or the memory limit.")                                \
  COUNTER(failed_starts, "mlbridge_worker_failed_starts_total", "", "Worker starts that failed.") \
  GAUGE(sessions, "mlbridge_sessions", "", "Live sessions.")                                      \
  COUNTER(sessions_replayed, "mlbridge_sessions_replayed_total", "",                              \
          "Sessions rebuilt on another worker (journal replay or snapshot restore).")             \
  COUNTER(sessions_moved, "mlbridge_sessions_moved_total", "",                                    \
          "Sessions moved off a retiring worker before it stopped.")                              \
  COUNTER(sessions_lost, "mlbridge_sessions_lost_total", "",                                      \
          "Sessions whose objects could not be rebuilt (session_lost).")                          \
  HISTOGRAM(replay_time, "mlbridge_session_replay_seconds", "",                                   \
            "Time to rebuild a session on another worker.")                                       \
  COUNTER(calls, "", "", "Completed calls.")                                                      \
  COUNTER(errors, "", "", "Completed calls that failed.")                                         \
  HISTOGRAM(queue_wait, "", "", "Time from submission until a worker started the call.")          \
  HISTOGRAM(execution, "", "", "Time a worker spent on the call.")

struct WorkerStats {
  std::string id;
  pid_t pid = -1;
  /// starting, idle, busy (holds at least one call), checking, retiring
  std::string state;
  bool overflow = false;
  MLBRIDGE_GENERATE_STAT_MEMBERS(MLBRIDGE_WORKER_STATS)
};

struct PoolStats {
  std::string bridge;
  PoolState state = PoolState::kRunning;
  std::string last_error;  ///< The last start failure, when the pool failed.
  std::vector<WorkerStats> workers;
  std::map<ErrorCategory, std::uint64_t> errors_by_category;
  MLBRIDGE_GENERATE_STAT_MEMBERS(MLBRIDGE_POOL_STATS)
};

/// The declarations of MLBRIDGE_WORKER_STATS and MLBRIDGE_POOL_STATS, in list order.
inline constexpr telemetry::StatSpec kWorkerStatSpecs[] =
    MLBRIDGE_GENERATE_STAT_SPECS(MLBRIDGE_WORKER_STATS);
inline constexpr telemetry::StatSpec kPoolStatSpecs[] =
    MLBRIDGE_GENERATE_STAT_SPECS(MLBRIDGE_POOL_STATS);

/// Calls visit(const telemetry::StatSpec&, value) for each declared figure of `stats`, in list
/// order; the value is a std::uint64_t, std::size_t or telemetry::LatencyHistogram.
template <typename Visit>
void visit_stats(const WorkerStats& stats, Visit&& visit) {
  MLBRIDGE_GENERATE_STAT_VISIT(MLBRIDGE_WORKER_STATS, kWorkerStatSpecs);
}
template <typename Visit>
void visit_stats(const PoolStats& stats, Visit&& visit) {
  MLBRIDGE_GENERATE_STAT_VISIT(MLBRIDGE_POOL_STATS, kPoolStatSpecs);
}

/// A worker's figures as JSON: id, pid, state and each declared stat by member name (the workers
/// of Bridge::describe).
json to_json(const WorkerStats& stats);
/// A pool's figures as JSON (one bridge of Host::stats()): state, errors_by_category, and each
/// declared stat by member name; histograms as {count, sum_s, p50_s, p99_s}.
json to_json(const PoolStats& stats);

}  // namespace mlbridge::pool
