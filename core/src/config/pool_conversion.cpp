#include <cstdlib>

#include "mlbridge/config/bridge_keys.hpp"
#include "mlbridge/config/host_config.hpp"
#include "mlbridge/config/paths.hpp"
#include "mlbridge/config/python_locator.hpp"
#include "mlbridge/worker/worker_config.hpp"

namespace mlbridge::config {
namespace {

std::map<std::string, std::string> worker_environment(const BridgeConfig& bridge) {
  auto env = worker::minimal_environment();
  for (const auto& name : bridge.env_pass) {
    if (const char* value = std::getenv(name.c_str())) env[name] = value;
  }
  for (const auto& [name, value] : bridge.env_set) env[name] = value;
  return env;
}

}  // namespace

Result<pool::PoolConfig> to_pool_config(const BridgeConfig& bridge, const HostConfig& host) {
  if (bridge.script.empty()) {
    Error error = Error::make(
        ErrorCategory::kInvalidConfiguration,
        "bridge '" + bridge.name + "' has no script: set bridges." + bridge.name +
            ".script to the Python file that runs it" +
            (bridge.plugin ? " (plugin '" + *bridge.plugin + "' does not provide one)" : ""));
    error.bridge = bridge.name;
    return error;
  }
  // A HostConfig built in code may leave root and python empty; they mean what the loader's
  // defaults mean.
  const std::string root = resolve_path("", host.root.empty() ? "." : host.root);
  const std::string host_python = host.python.empty() ? default_python(root) : host.python;

  pool::PoolConfig config;
  worker::WorkerConfig& w = config.worker;
  w.bridge = bridge.name;
  w.python = resolve_program(root, bridge.python.value_or(host_python));
  w.script = resolve_path(root, bridge.script);
  w.env = worker_environment(bridge);
  w.working_dir = bridge.working_dir.empty() ? root : resolve_path(root, bridge.working_dir);
  for (const auto& path : bridge.code.paths) w.code_paths.push_back(resolve_path(root, path));
  w.code_modules = bridge.code.modules;
  // limits.max_memory_mb is an RSS recycle threshold; w.memory_limit_bytes (RLIMIT_AS) stays
  // unset because frameworks reserve far more address space than they use.

  // Every key whose value goes into the pool's settings as it is (bridge_keys.cpp says where).
  for (const KeySpec& key : bridge_keys()) {
    std::visit(
        [&](const auto& field) {
          if (field.to_pool) field.to_pool(field.get(bridge), config);
        },
        key.field);
  }
  return config;
}

}  // namespace mlbridge::config
