#pragma once

/// @file
/// One framework behind the host: its adapter (plugin or generic), its own isolated worker pool,
/// its error translator and its configuration. A bridge's crash, overload or slow start never
/// touches another bridge.
///
/// Threading: every member function is thread-safe; completion handlers run on the event loop
/// thread. Ownership: shared (BridgePtr); calls in flight keep their bridge alive.

#include <future>
#include <memory>

#include "mlbridge/config/host_config.hpp"
#include "mlbridge/errors/translator.hpp"
#include "mlbridge/plugin/adapter.hpp"
#include "mlbridge/pool/pool.hpp"
#include "mlbridge/telemetry/call_metrics.hpp"

namespace mlbridge::registry {

using json = protocol::json;

class Bridge : public std::enable_shared_from_this<Bridge> {
 public:
  /// Builds the bridge (pool not started). `config` already has the adapter's defaults merged.
  Bridge(runtime::EventLoop& loop, config::BridgeConfig config, pool::PoolConfig pool_config,
         plugin::AdapterPtr adapter);

  const std::string& name() const { return config_.name; }
  const config::BridgeConfig& config() const { return config_; }
  const plugin::AdapterPtr& adapter() const { return adapter_; }
  pool::Pool& pool() { return *pool_; }

  /// Starts the pool and waits until a worker is ready (or the pool failed). Blocking.
  Status start();

  /// Shapes the arguments through the adapter and runs the call on the pool, whose errors carry
  /// their translated category (YAML overrides, the adapter's rules, the built-in defaults).
  /// `on_done` runs once, on the loop thread (or at once on the calling thread when the adapter
  /// refuses the arguments).
  pool::CallHandle execute(pool::CallRequest request, pool::CallHandler on_done);
  std::future<Result<json>> execute(pool::CallRequest request);

  /// The command an adapter maps a resource verb and kind to (e.g. create/program).
  Result<std::string> resource_command(std::string_view verb, std::string_view kind) const;

  /// Name, plugin, framework, state and pool figures, for listings. Blocking.
  json describe();

  /// Per-command call metrics (outcomes and latencies), kept since the bridge was registered.
  const telemetry::CallMetrics& call_metrics() const { return *metrics_; }

  /// Stops taking calls, finishes or cancels what is in flight, stops every worker. Blocking.
  void drain();

 private:
  config::BridgeConfig config_;
  plugin::AdapterPtr adapter_;
  pool::PoolPtr pool_;
  std::shared_ptr<telemetry::CallMetrics> metrics_ = std::make_shared<telemetry::CallMetrics>();
};

using BridgePtr = std::shared_ptr<Bridge>;

}  // namespace mlbridge::registry
