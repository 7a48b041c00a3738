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
    : config_(std::move(config)),
      adapter_(std::move(adapter)),
      pool_(pool::Pool::create(loop, with_translator(std::move(pool_config), config_, *adapter_))) {
  pool_->events().subscribe(
      [metrics = metrics_](const telemetry::Event& event) { metrics->record(event); });
}

Status Bridge::start() { return pool_->start_and_wait(); }

pool::CallHandle Bridge::execute(pool::CallRequest request, pool::CallHandler on_done) {
  auto shaped = adapter_->shape_args(request.command, std::move(request.args));
  if (!shaped) {
    Error error = std::move(shaped).error();
    error.bridge = name();
    error.command = request.command;
    on_done(std::move(error));
    return 0;
  }
  request.args = std::move(*shaped);
  return pool_->submit(std::move(request), std::move(on_done));
}

std::future<Result<json>> Bridge::execute(pool::CallRequest request) {
  auto promise = std::make_shared<std::promise<Result<json>>>();
  auto future = promise->get_future();
  execute(std::move(request),
          [promise](Result<json> result) { promise->set_value(std::move(result)); });
  return future;
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
  for (const auto& w : stats.workers) {
    workers.push_back({{"id", w.id},
                       {"pid", w.pid},
                       {"state", w.state},
                       {"calls", w.calls},
                       {"errors", w.errors},
                       {"sessions", w.sessions},
                       {"rss_bytes", w.rss_bytes}});
  }
  const auto& info = adapter_->info();
  json out = {{"name", name()},
              {"plugin", info.name},
              {"framework", info.framework},
              {"state", std::string(pool::to_string(stats.state))},
              {"ready", stats.idle + stats.busy > 0 ||
                            (pool_->config().lazy && stats.state == pool::PoolState::kRunning)},
              {"workers", workers},
              {"queue_length", stats.queue_length},
              {"calls", stats.calls},
              {"errors", stats.errors},
              {"restarts", stats.restarts},
              {"sessions", stats.sessions}};
  if (!stats.last_error.empty()) out["last_error"] = stats.last_error;
  return out;
}

void Bridge::drain() { pool_->drain_and_wait(); }

}  // namespace mlbridge::registry
