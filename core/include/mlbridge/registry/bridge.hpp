#pragma once

/// @file
/// One framework behind the host: its adapter (plugin or generic), its own isolated worker pool,
/// its error translator and its configuration. A bridge's crash, overload or slow start never
/// touches another bridge.
///
/// Threading: every member function is thread-safe; completion handlers run on the event loop
/// thread. Ownership: shared (BridgePtr); calls in flight keep their bridge alive.

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "mlbridge/config/host_config.hpp"
#include "mlbridge/errors/translator.hpp"
#include "mlbridge/ops/cast_stats.hpp"
#include "mlbridge/ops/circuit_breaker.hpp"
#include "mlbridge/ops/retry_budget.hpp"
#include "mlbridge/ops/retry_policy.hpp"
#include "mlbridge/plugin/adapter.hpp"
#include "mlbridge/pool/pool.hpp"
#include "mlbridge/telemetry/call_metrics.hpp"

namespace mlbridge::registry {

using json = protocol::json;

/// Called on the loop thread before each retry of a call: the attempt about to start (2, 3, ...)
/// and the error that ended the previous one.
using RetryObserver = std::function<void(std::uint32_t next_attempt, const Error& cause)>;

/// The operational state of a bridge: circuit breaker, retry budget, fire-and-forget calls.
struct BridgeOperations {
  ops::CircuitBreaker::Snapshot circuit;
  ops::RetryBudget::Snapshot retry;
  ops::CastStats casts;  ///< Fire-and-forget calls sent, and of those the ones that failed.
};

class Bridge : public std::enable_shared_from_this<Bridge> {
 public:
  /// Builds the bridge (pool not started). `config` already has the adapter's defaults merged.
  Bridge(runtime::EventLoop& loop, config::BridgeConfig config, pool::PoolConfig pool_config,
         plugin::AdapterPtr adapter);

  const std::string& name() const { return name_; }
  /// A copy of the current configuration (it changes with update()).
  config::BridgeConfig config() const;
  const plugin::AdapterPtr& adapter() const { return adapter_; }
  pool::Pool& pool() { return *pool_; }

  /// Starts the pool and waits until a worker is ready (or the pool failed). Blocking.
  Status start();

  /// Shapes the arguments through the adapter and runs the call on the pool, whose errors carry
  /// their translated category (YAML overrides, the adapter's rules, the built-in defaults).
  /// The circuit breaker may fail it fast (bridge_unavailable); an idempotent command that fails
  /// with a retryable category is retried (see ops::RetryPolicy) within its deadline and the
  /// bridge's retry budget, and its final error says how many attempts were made. Streamed calls
  /// are never retried (their chunks would repeat).
  /// `on_done` runs once, on the loop thread (or at once on the calling thread when the adapter
  /// refuses the arguments or the circuit is open). The handle cancels the call (cancel()).
  pool::CallHandle execute(pool::CallRequest request, pool::CallHandler on_done,
                           RetryObserver on_retry = {});
  std::future<Result<json>> execute(pool::CallRequest request);
  /// Cancels a call started with execute(), whichever attempt it is on.
  void cancel(pool::CallHandle handle);

  /// Fire and forget: runs the call like execute() and returns at once. Its outcome counts in
  /// the statistics; a failure is logged (warning) with `call_id`. `on_done` (optional) then
  /// sees the outcome, on the loop thread (the host keeps it as the call's record). The handle
  /// cancels the call (cancel()).
  pool::CallHandle cast(pool::CallRequest request, const std::string& call_id,
                        pool::CallHandler on_done = {});

  /// Applies a new configuration to the running bridge: pool (size, overflow, queue, timeouts,
  /// health, recycling, memory limit, init options), error overrides, idempotent commands, retry
  /// and circuit breaker settings. Both arguments come from Registry::prepare and are valid; the
  /// caller has checked that nothing that needs new workers' programs (script, python, env, ...)
  /// changed. Blocking until the pool applied it (not until workers started or stopped).
  void update(config::BridgeConfig config, pool::PoolConfig pool_config);

  /// The command an adapter maps a resource verb and kind to (e.g. create/program).
  Result<std::string> resource_command(std::string_view verb, std::string_view kind) const;

  /// Name, plugin, framework, state, pool figures, circuit, retries and casts. Blocking.
  json describe();
  BridgeOperations operations() const;

  /// Per-command call metrics (outcomes and latencies), kept since the bridge was registered.
  const telemetry::CallMetrics& call_metrics() const { return *metrics_; }

  /// Stops taking calls, finishes or cancels what is in flight, stops every worker. Blocking.
  void drain();

 private:
  struct Call;
  using CallPtr = std::shared_ptr<Call>;
  void run_attempt(const CallPtr& call);
  void on_attempt_done(const CallPtr& call, bool probe, Result<json> result);
  void complete(const CallPtr& call, Result<json> result);
  void stop_retrying();  // drain: no new attempts; calls waiting to retry end now

  runtime::EventLoop& loop_;
  const std::string name_;
  plugin::AdapterPtr adapter_;
  mutable std::mutex mutex_;  // guards config_ and policy_
  config::BridgeConfig config_;
  std::shared_ptr<const ops::RetryPolicy> policy_;
  pool::PoolPtr pool_;
  ops::CircuitBreaker breaker_;
  ops::RetryBudget budget_;
  std::mt19937_64 rng_{std::random_device{}()};  // loop thread only
  std::mutex calls_mutex_;
  std::map<pool::CallHandle, CallPtr> retriable_calls_;  // by their first pool handle
  std::atomic<bool> draining_{false};
  std::atomic<std::uint64_t> casts_{0};
  std::atomic<std::uint64_t> cast_failures_{0};
  std::shared_ptr<telemetry::CallMetrics> metrics_ = std::make_shared<telemetry::CallMetrics>();
};

using BridgePtr = std::shared_ptr<Bridge>;

}  // namespace mlbridge::registry
