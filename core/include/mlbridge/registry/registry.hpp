#pragma once

/// @file
/// The bridges of one host by name: registered from YAML at start or at runtime, each validated
/// in full (plugin, config, environment) before it takes calls, each with its own pool.
///
/// Threading: every member function is thread-safe. register/unregister block while they check
/// the environment, start or drain a pool; lookups never wait for them.

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "mlbridge/config/config_diff.hpp"
#include "mlbridge/config/environment_check.hpp"
#include "mlbridge/config/host_config.hpp"
#include "mlbridge/plugin/plugin_loader.hpp"
#include "mlbridge/registry/bridge.hpp"
#include "mlbridge/registry/registration_policy.hpp"
#include "mlbridge/runtime/event_loop.hpp"
#include "mlbridge/session/session_state.hpp"

namespace mlbridge::registry {

/// A bridge checked and completed (adapter loaded, defaults merged, validated), not yet started.
struct PreparedBridge {
  config::BridgeConfig config;
  pool::PoolConfig pool;
  plugin::AdapterPtr adapter;
  /// What the environment check needs for this bridge.
  config::EnvironmentRequirements requirements() const;
};

class Registry {
 public:
  /// `session_states` is the host-side session state every pool shares; the registry makes its
  /// own (bounded by host.session_state_max_bytes) when it is empty.
  Registry(runtime::EventLoop& loop, config::HostConfig host,
           session::StateStorePtr session_states = nullptr);

  /// Runtime registration: validates and starts a bridge, then makes it callable. First of all
  /// the registration policy (policy()) must allow it: runtime registration switched on, and
  /// only the interpreters, scripts and variables the operator allowed; nothing is loaded,
  /// checked or started before that. Fails with invalid_configuration for a refusal, for a bad
  /// plugin, config or environment (naming the bridge, key or package) or for a script that
  /// fails at import (with its traceback), invalid_argument for a duplicate name, or
  /// bridge_unavailable when its workers cannot start for another reason; on failure
  /// nothing is registered and every other bridge is untouched.
  Status register_bridge(const config::BridgeConfig& bridge);
  /// The same from a JSON object with the YAML keys.
  Status register_bridge(const std::string& name, const json& bridge);

  /// Registers the bridges of the host config (all of them when `only` is empty), starting them
  /// in parallel. A bridge whose workers fail to start stays listed in state `failed` (its calls
  /// fail fast with the cause), unless it was named in `only`: then, like any other error (bad
  /// plugin, config or environment, a name in `only` that is not configured), its start failure
  /// is returned, the first one found.
  Status register_all(const std::vector<std::string>& only = {});

  /// Removes a bridge at runtime (the policy must allow it): no new calls reach it; calls in
  /// flight finish or fail cleanly; its workers stop. not_found for an unknown name.
  Status unregister_bridge(const std::string& name);

  /// Starts a `failed` bridge again (Host::restart_bridge), when the policy allows runtime
  /// changes. not_found for an unknown name.
  Status restart_bridge(const std::string& name);

  /// Changes a running bridge, when the policy allows runtime changes and what the patch changes
  /// (RegistrationPolicy::check_change): `patch` holds the YAML keys to change (objects merge key
  /// by key, null resets a key to its default). The result is validated in full (types, ranges, the
  /// adapter's rules) before anything changes: a bad value changes nothing, and the error names
  /// the key. Keys that need new worker programs (config::needs_new_bridge) are refused with
  /// invalid_configuration. Returns the changes applied, each also logged; empty when the patch
  /// changes nothing. Blocking until the pool applied them.
  Result<std::vector<config::KeyChange>> update_bridge(const std::string& name, const json& patch);

  /// Applies a new deployment's bridges (a reloaded YAML file): bridges only in `next` are
  /// registered (a failed start keeps them listed as failed), bridges of `previous` (the names
  /// the file declared before) that are no longer in it drain and go (bridges registered at
  /// runtime are left alone), changed ones are updated in place, or registered again when a key
  /// that needs new workers changed. Every bridge of `next` is validated first; an invalid one
  /// changes nothing. Returns {"added", "removed", "updated": {name: [changes]}, "replaced",
  /// "unchanged", "failed": {name: error}}. The `host:` section is not applied (the caller warns).
  Result<json> apply(const config::HostConfig& next, const std::set<std::string>& previous);

  /// The bridge, or not_found listing the registered names. An empty name means the default.
  Result<BridgePtr> get(const std::string& name) const;
  std::vector<BridgePtr> list() const;
  const config::HostConfig& host_config() const { return host_; }
  /// What runtime changes may do (host.runtime_registration).
  const RegistrationPolicy& policy() const { return policy_; }
  plugin::PluginLoader& plugins() { return loader_; }

  /// Loads the bridge's adapter, merges its defaults, validates everything and builds the pool
  /// settings, without checking the environment or starting anything (`mlbridge check` uses it).
  Result<PreparedBridge> prepare(const config::BridgeConfig& bridge);

  /// Drains every bridge. Blocking.
  void shutdown();

 private:
  Result<BridgePtr> build(const config::BridgeConfig& bridge);
  Status add(const config::BridgeConfig& bridge, bool keep_if_start_fails);
  Status remove(const std::string& name);  // unregister_bridge without the policy (reloads)

  runtime::EventLoop& loop_;
  const config::HostConfig host_;
  const RegistrationPolicy policy_;
  std::mutex update_mutex_;  // one live reconfiguration at a time
  plugin::PluginLoader loader_;
  session::StateStorePtr session_states_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, BridgePtr> bridges_;
  std::map<std::string, bool> reserved_;  // names being registered right now
};

}  // namespace mlbridge::registry
