#include "mlbridge/registry/bridge.hpp"

namespace mlbridge::registry {
namespace {

std::vector<plugin::ErrorRule> overrides_of(const config::BridgeConfig& config) {
  std::vector<plugin::ErrorRule> rules;
  for (const auto& o : config.errors) rules.push_back({o.type, o.match, o.category, o.retryable});
  return rules;
}

pool::PoolConfig with_translator(pool::PoolConfig pool, const config::BridgeConfig& config,
                                 const plugin::Adapter& adapter) {
  auto translator =
      std::make_shared<const errors::ErrorTranslator>(overrides_of(config), adapter.error_rules());
  pool.translate_error = [translator](Error error) {
    return translator->translate(std::move(error));
  };
  return pool;
}

}  // namespace

Bridge::Bridge(runtime::EventLoop& loop, config::BridgeConfig config, pool::PoolConfig pool_config,
               plugin::AdapterPtr adapter)
    : loop_(loop),
      name_(config.name),
      adapter_(std::move(adapter)),
      config_(std::move(config)),
      policy_(std::make_shared<const ops::RetryPolicy>(config_.retry, config_.idempotent_commands)),
      pool_(pool::Pool::create(loop, with_translator(std::move(pool_config), config_, *adapter_))),
      breaker_(config_.circuit_breaker),
      budget_(config_.retry) {
  pool_->events().subscribe(
      [metrics = metrics_](const telemetry::Event& event) { metrics->record(event); });
}

config::BridgeConfig Bridge::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

Status Bridge::start() { return pool_->start_and_wait(); }

void Bridge::update(config::BridgeConfig config, pool::PoolConfig pool_config) {
  auto pool_settings = with_translator(std::move(pool_config), config, *adapter_);
  breaker_.configure(config.circuit_breaker);
  budget_.configure(config.retry);
  {
    std::lock_guard lock(mutex_);
    policy_ = std::make_shared<const ops::RetryPolicy>(config.retry, config.idempotent_commands);
    config_ = std::move(config);
  }
  pool_->reconfigure_and_wait(std::move(pool_settings));
  // A changed configuration is a reason to try a failed bridge again: what changed may be what
  // made its workers fail to start.
  pool_->restart();
}

Result<std::string> Bridge::resource_command(std::string_view verb, std::string_view kind) const {
  auto command = adapter_->resource_command(verb, kind);
  if (!command) {
    Error error = std::move(command).error();
    error.bridge = name();
    if (error.message.find(name()) == std::string::npos) {
      error.message = "bridge '" + name() + "': " + error.message;
    }
    return error;
  }
  return command;
}

json Bridge::describe() {
  const auto stats = pool_->stats();
  json workers = json::array();
  for (const auto& w : stats.workers) workers.push_back(pool::to_json(w));
  const auto& info = adapter_->info();
  json out = {{"name", name()},
              {"plugin", info.name},
              {"framework", info.framework},
              {"state", std::string(pool::to_string(stats.state))},
              {"ready", stats.idle + stats.busy > 0 ||
                            (pool_->config().lazy && stats.state == pool::PoolState::kRunning)},
              {"workers", workers},
              {"queue_length", stats.queue_length},
              {"in_flight", stats.in_flight},
              {"calls", stats.calls},
              {"errors", stats.errors},
              {"restarts", stats.restarts},
              {"sessions", stats.sessions}};
  if (!stats.last_error.empty()) out["last_error"] = stats.last_error;
  const auto ops = operations();
  out["circuit"] = ops::stats_json(ops.circuit);
  if (!ops.circuit.opened_at.empty()) {
    out["circuit"]["opened_at"] = ops.circuit.opened_at;
    out["circuit"]["last_error"] = ops.circuit.last_error;
  }
  out["retries"] = ops::stats_json(ops.retry);
  out["casts"] = ops::stats_json(ops.casts);
  return out;
}

BridgeOperations Bridge::operations() const {
  return {breaker_.snapshot(ops::CircuitBreaker::Clock::now()),
          budget_.snapshot(),
          {casts_.load(), cast_failures_.load()}};
}

void Bridge::drain() {
  stop_retrying();
  pool_->drain_and_wait();
}

}  // namespace mlbridge::registry
