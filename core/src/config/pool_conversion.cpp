#include <cstdlib>

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
  w.codec = bridge.codec;
  w.max_frame_bytes = bridge.max_frame_bytes;
  w.shared_blob_min_bytes = bridge.shared_blob_min_bytes;
  w.init_options = bridge.options;
  w.startup_timeout = bridge.timeouts.startup;
  w.shutdown_timeout = bridge.timeouts.shutdown;
  w.cancel_grace = bridge.timeouts.cancel_grace;
  // limits.max_memory_mb is an RSS recycle threshold; w.memory_limit_bytes (RLIMIT_AS) stays
  // unset because frameworks reserve far more address space than they use.

  config.size = bridge.pool.size;
  config.max_overflow = bridge.pool.max_overflow;
  config.lazy = bridge.pool.lazy;
  config.queue_limit = bridge.pool.queue_limit;
  config.pipeline_depth = bridge.pool.pipeline_depth;
  config.checkout_timeout = bridge.pool.checkout_timeout;
  config.request_timeout = bridge.timeouts.request;
  config.idle_timeout = bridge.pool.idle_timeout;
  config.shutdown_timeout = bridge.timeouts.shutdown;
  config.max_requests = bridge.pool.max_requests;
  config.max_requests_jitter = bridge.pool.max_requests_jitter;
  config.max_memory_mb = bridge.limits.max_memory_mb;
  config.health_interval = bridge.health.interval;
  config.health_timeout = bridge.health.timeout;
  config.health_max_failures = bridge.health.max_failures;
  config.max_restarts = bridge.restart.max_restarts;
  config.restart_window = bridge.restart.window;
  config.session_ttl = bridge.sessions.ttl;
  config.max_sessions = bridge.sessions.max;
  return config;
}

}  // namespace mlbridge::config
