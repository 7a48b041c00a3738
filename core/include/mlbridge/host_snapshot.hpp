#pragma once

/// @file
/// `HostSnapshot`: every figure the host reports, copied out in one typed value. Host::snapshot()
/// makes it; Host::bridges(), Host::bridge(), Host::stats(), `/metrics` (server/src/prometheus.cpp)
/// and the OpenAPI document (server/src/openapi.cpp) are all built from it, so a reader of the
/// host's figures never reaches into the registry or the pools. The figures themselves are
/// declared once, as X-macro lists (pool/pool_stats.hpp, telemetry/call_metrics.hpp,
/// ops/ops_stats.hpp); this file only groups them. Plain value; any thread may read a copy.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/ops/cast_stats.hpp"
#include "mlbridge/ops/circuit_breaker.hpp"
#include "mlbridge/ops/retry_budget.hpp"
#include "mlbridge/pool/pool_stats.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/telemetry/call_metrics.hpp"

namespace mlbridge {

/// One command a bridge's workers declared (their `list_commands` reply): what OpenAPI and
/// Host::bridge() show. Schemas are JSON Schema objects, or null when the command declares none.
struct CommandDescription {
  std::string name;        ///< Bare name ("echo").
  std::string namespace_;  ///< "common" for a built-in, else the framework.
  std::string description;
  protocol::json args_schema = nullptr;
  protocol::json result_schema = nullptr;
};

/// One bridge's figures.
struct BridgeSnapshot {
  std::string name;
  std::string plugin;     ///< The adapter's name ("generic" for the built-in).
  std::string framework;  ///< The adapter's framework.
  /// A worker is ready (idle or busy), or the pool is lazy and running (a call starts one).
  bool ready = false;
  pool::PoolStats pool;  ///< State, workers, queue, in flight, errors by category, latencies.
  ops::CircuitBreaker::Snapshot circuit;
  ops::RetryBudget::Snapshot retry;
  ops::CastStats casts;
  /// Per command label (a declared command, or "_unknown"): outcomes and latency histograms.
  std::map<std::string, telemetry::CommandMetrics> calls;
  /// The commands the bridge's workers declared, in their order; empty until a worker answered
  /// `list_commands` (see Host::snapshot).
  std::vector<CommandDescription> commands;
};

/// Every bridge's figures, in registry order, and the host's own.
/// Where the host keeps sessions (host.session_store) and how that store is doing.
struct SessionStoreSnapshot {
  std::string kind = "memory";  ///< "memory" or "redis".
  std::string address;          ///< "redis 127.0.0.1:6379/0" (never a password); "" for memory.
  bool connected = true;        ///< Always true for memory.
  std::string host_id;          ///< This host's name on its leases.
  std::size_t held = 0;         ///< Sessions this host holds a copy of.
  /// mlbridge_session_store_ops_total: "op/outcome" (claim|save|end|extend / ok|moved|error).
  std::map<std::string, std::uint64_t> ops;
  /// mlbridge_session_claims_total: new, taken_over, renewed, moved.
  std::map<std::string, std::uint64_t> claims;
};

struct HostSnapshot {
  std::vector<BridgeSnapshot> bridges;
  std::chrono::nanoseconds event_loop_cpu_time{0};
  SessionStoreSnapshot session_store;
};

/// The session store as JSON (for /readyz and stats): {kind, address?, connected, host_id, held}.
protocol::json to_json(const SessionStoreSnapshot& store);

/// A bridge's description (an element of `GET /v1/bridges`): name, plugin, framework, state,
/// ready, workers, queue_length, in_flight, calls, errors, restarts, sessions, last_error (when
/// failed), circuit, retries, casts.
protocol::json describe_json(const BridgeSnapshot& bridge);
/// The same with the bridge's declared commands under "commands" (`GET /v1/bridges/{name}`).
protocol::json detail_json(const BridgeSnapshot& bridge);
/// `{bridge: pool figures}` (Host::stats(); pool::to_json of each bridge's PoolStats).
protocol::json stats_json(const HostSnapshot& snapshot);
/// A command description as JSON: {name, namespace, description, args_schema?, result_schema?}.
protocol::json to_json(const CommandDescription& command);
/// Reads one element of a `list_commands` reply; nullopt when it has no string "name".
std::optional<CommandDescription> command_from_json(const protocol::json& entry);

}  // namespace mlbridge
