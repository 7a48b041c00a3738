#include "mlbridge/registry/registry.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <mutex>

#include "mlbridge/config/environment_check.hpp"
#include "mlbridge/plugin/generic_adapter.hpp"

namespace mlbridge::registry {
namespace {

Error with_bridge(Error error, const std::string& bridge) {
  error.bridge = bridge;
  if (error.message.find("'" + bridge + "'") == std::string::npos) {
    error.message = "bridge '" + bridge + "': " + error.message;
  }
  return error;
}

}  // namespace

Registry::Registry(runtime::EventLoop& loop, config::HostConfig host,
                   session::StateStorePtr session_states)
    : loop_(loop),
      host_(std::move(host)),
      policy_(host_),
      loader_(host_.plugin_dirs),
      session_states_(session_states
                          ? std::move(session_states)
                          : std::make_shared<session::StateStore>(host_.session_state_max_bytes)) {}

config::EnvironmentRequirements PreparedBridge::requirements() const {
  config::EnvironmentRequirements req;
  req.bridge = config.name;
  req.python = pool.worker.python;
  req.script = pool.worker.script;
  req.required_packages = config.required_packages;
  req.required_env = config.required_env;
  req.env = pool.worker.env;
  req.working_dir = pool.worker.working_dir;
  req.code_paths = pool.worker.code_paths;
  req.code_modules = pool.worker.code_modules;
  req.timeout = pool.worker.startup_timeout;
  return req;
}

Result<PreparedBridge> Registry::prepare(const config::BridgeConfig& given) {
  plugin::AdapterPtr adapter;
  if (given.plugin) {
    auto loaded = loader_.load(*given.plugin);
    if (!loaded) return with_bridge(std::move(loaded).error(), given.name);
    adapter = *loaded;
  } else {
    adapter = std::make_shared<plugin::GenericAdapter>(given.name);
  }
  // The adapter's defaults go under the bridge's own keys; the result is validated in full.
  auto defaults = adapter->defaults();
  if (!defaults) return with_bridge(std::move(defaults).error(), given.name);
  config::BridgeConfig bridge = given;
  if (!defaults->empty()) {
    auto merged =
        config::parse_bridge_config(given.name, config::merge_defaults(*defaults, given.raw));
    if (!merged) return with_bridge(std::move(merged).error(), given.name);
    bridge = std::move(*merged);
  }
  if (auto valid = adapter->validate(bridge.raw); !valid) {
    return with_bridge(std::move(valid).error(), given.name);
  }
  auto pool_config = config::to_pool_config(bridge, host_);
  if (!pool_config) return with_bridge(std::move(pool_config).error(), given.name);
  pool_config->session_rules = adapter->session_rules().merged_with(bridge.sessions.replay);
  pool_config->session_states = session_states_;
  return PreparedBridge{std::move(bridge), std::move(*pool_config), std::move(adapter)};
}

Result<BridgePtr> Registry::build(const config::BridgeConfig& given) {
  auto prepared = prepare(given);
  if (!prepared) return std::move(prepared).error();
  const auto report = config::check_environment(prepared->requirements());
  if (!report.ok()) {
    Error error = Error::make(ErrorCategory::kInvalidConfiguration,
                              "bridge '" + given.name +
                                  "' failed its environment check: " + report.problems() +
                                  " (run `mlbridge check` for the full report)");
    error.bridge = given.name;
    return error;
  }
  return std::make_shared<Bridge>(loop_, std::move(prepared->config), std::move(prepared->pool),
                                  std::move(prepared->adapter));
}

Status Registry::add(const config::BridgeConfig& config, bool keep_if_start_fails) {
  {
    std::unique_lock lock(mutex_);
    if (bridges_.count(config.name) || reserved_.count(config.name)) {
      Error error =
          Error::make(ErrorCategory::kInvalidArgument, "bridge '" + config.name +
                                                           "' is already registered; unregister it "
                                                           "first or choose another name");
      error.bridge = config.name;
      return error;
    }
    reserved_[config.name] = true;
  }
  auto release = [&] {
    std::unique_lock lock(mutex_);
    reserved_.erase(config.name);
  };
  auto bridge = build(config);
  if (!bridge) {
    release();
    return std::move(bridge).error();
  }
  auto started = (*bridge)->start();
  if (!started && !keep_if_start_fails) {
    (*bridge)->drain();
    release();
    return with_bridge(std::move(started).error(), config.name);
  }
  if (!started) {
    const Error& why = started.error();
    spdlog::error("bridge '{}' did not start: {}{}", config.name, why.message,
                  why.traceback.empty() ? "" : "\n" + why.traceback);
  }
  std::unique_lock lock(mutex_);
  reserved_.erase(config.name);
  bridges_[config.name] = std::move(*bridge);
  spdlog::info("bridge '{}' registered", config.name);
  return Ok{};
}

Status Registry::register_bridge(const config::BridgeConfig& bridge) {
  if (auto allowed = policy_.allow_change("register", bridge.name); !allowed) return allowed;
  if (auto allowed = policy_.check_bridge(bridge); !allowed) return allowed;
  return add(bridge, false);
}

Status Registry::register_bridge(const std::string& name, const json& bridge) {
  // Refused before the body is even read when registration is off.
  if (auto allowed = policy_.allow_change("register", name); !allowed) return allowed;
  auto parsed = config::parse_bridge_config(name, bridge);
  if (!parsed) return std::move(parsed).error();
  return register_bridge(*parsed);
}

Status Registry::register_all(const std::vector<std::string>& only) {
  for (const auto& name : only) {
    if (!host_.bridges.count(name)) {
      std::string known;
      for (const auto& [n, b] : host_.bridges) known += (known.empty() ? "" : ", ") + n;
      return fail(ErrorCategory::kNotFound,
                  "no bridge named '" + name + "' in the configuration" +
                      " (configured: " + (known.empty() ? "none" : known) + ")");
    }
  }
  // Bridges start side by side: one framework's slow import never delays another's. A caller that
  // named the bridges it needs gets their start failures; a whole deployment keeps serving the
  // bridges that started and lists the others as failed.
  const bool keep_if_start_fails = only.empty();
  std::vector<std::pair<std::string, std::future<Status>>> starts;
  for (const auto& [name, bridge] : host_.bridges) {
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
    starts.emplace_back(
        name, std::async(std::launch::async, [this, &bridge = bridge, keep_if_start_fails] {
          return add(bridge, keep_if_start_fails);
        }));
  }
  Status first_error = Ok{};
  for (auto& [name, started] : starts) {
    auto status = started.get();
    if (!status && first_error) first_error = std::move(status);
  }
  return first_error;
}

Status Registry::unregister_bridge(const std::string& name) {
  if (auto allowed = policy_.allow_change("remove", name); !allowed) return allowed;
  return remove(name);
}

Status Registry::restart_bridge(const std::string& name) {
  if (auto allowed = policy_.allow_change("restart", name); !allowed) return allowed;
  auto bridge = get(name);
  if (!bridge) return std::move(bridge).error();
  (*bridge)->pool().restart();
  return Ok{};
}

Status Registry::remove(const std::string& name) {
  BridgePtr bridge;
  {
    std::unique_lock lock(mutex_);
    auto it = bridges_.find(name);
    if (it == bridges_.end()) {
      return fail(ErrorCategory::kNotFound, "no bridge named '" + name + "' is registered");
    }
    bridge = std::move(it->second);
    bridges_.erase(it);
  }
  bridge->drain();
  spdlog::info("bridge '{}' unregistered", name);
  return Ok{};
}

Result<BridgePtr> Registry::get(const std::string& name) const {
  const std::string& wanted = name.empty() ? host_.default_bridge : name;
  std::shared_lock lock(mutex_);
  if (wanted.empty()) {
    return fail(ErrorCategory::kInvalidArgument,
                "no bridge named and no host.default_bridge configured");
  }
  auto it = bridges_.find(wanted);
  if (it != bridges_.end()) return it->second;
  std::string known;
  for (const auto& [n, b] : bridges_) known += (known.empty() ? "" : ", ") + n;
  Error error = Error::make(
      ErrorCategory::kNotFound,
      "no bridge named '" + wanted + "' (registered: " + (known.empty() ? "none" : known) + ")");
  error.bridge = wanted;
  return error;
}

std::vector<BridgePtr> Registry::list() const {
  std::shared_lock lock(mutex_);
  std::vector<BridgePtr> out;
  for (const auto& [name, bridge] : bridges_) out.push_back(bridge);
  return out;
}

void Registry::shutdown() {
  std::map<std::string, BridgePtr> bridges;
  {
    std::unique_lock lock(mutex_);
    bridges.swap(bridges_);
  }
  for (auto& [name, bridge] : bridges) bridge->drain();
}

}  // namespace mlbridge::registry
