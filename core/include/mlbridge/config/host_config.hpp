#pragma once

/// @file
/// The host's whole configuration — the `host:` section and every bridge — loaded from a YAML
/// deployment (`config/mlbridge.yaml`), typed and validated, and turned into pool settings.
/// Plain values and stateless functions; any thread (loading reads the file and the environment).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/config/bridge_config.hpp"
#include "mlbridge/config/source_map.hpp"
#include "mlbridge/errors/result.hpp"
#include "mlbridge/pool/pool_config.hpp"

namespace mlbridge::config {

/// `host.runtime_registration`: whether bridges may be registered, changed, restarted or removed
/// while the host runs (HTTP API and C++ API alike), and what such a registration may name.
/// Runtime registration runs programs, so it is off by default; when on, `mlbridge serve` also
/// requires host.auth_token_env. registry::RegistrationPolicy enforces it.
/// `host.call_results`: how long and how many records of fire-and-forget calls (`cast`, HTTP
/// `"reply": false`) the host keeps for Host::call_record (`GET /v1/calls/{id}`).
struct CallResultsConfig {
  /// `ttl_ms`: kept this long after the call finished. 1 to 7 days in ms; default 10 minutes.
  std::int64_t ttl_ms = 10 * 60 * 1000;
  /// `max`: records at once (oldest finished dropped first). 1 to 10,000,000; default 10,000.
  std::size_t max = 10000;
  bool operator==(const CallResultsConfig&) const = default;
};

struct RuntimeRegistrationConfig {
  /// `enabled` (old spelling: `host.allow_runtime_registration`). Default false.
  bool enabled = false;
  /// `pythons`: interpreters a registration may name besides host.python (which is always
  /// allowed), resolved like host.python. Compared as absolute, lexically normal paths.
  std::vector<std::string> pythons;
  /// `script_dirs`: directories (resolved against root) a registered `script` and `working_dir`
  /// must lie in, compared by real path (symlinks resolved). Default none: a registration can
  /// only use its plugin's default script.
  std::vector<std::string> script_dirs;
  /// `env_pass`: host variables a registration may list under `env.pass`. Default none.
  /// Never host.auth_token_env.
  std::vector<std::string> env_pass;
  bool operator==(const RuntimeRegistrationConfig&) const = default;
};

struct HostConfig {
  /// `host.root`: the project root, absolute. Relative paths of the configuration (python,
  /// plugin_dirs, scripts, working_dir) resolve against it. Default: the working directory.
  std::string root;
  /// `host.python`: the default interpreter, resolved against root when it is a relative path
  /// (a bare name such as "python3" is looked up in PATH). Default: default_python(root).
  std::string python;
  std::vector<std::string> plugin_dirs;   ///< Resolved against root. Default: none.
  std::string listen = "127.0.0.1:8787";  ///< HOST:PORT for `mlbridge serve`.
  std::string auth_token_env;             ///< Variable holding the bearer token; "" = no auth.
  std::string default_bridge;             ///< "" = none; otherwise a configured bridge.
  RuntimeRegistrationConfig runtime_registration;  ///< `host.runtime_registration`.
  /// `host.allowed_origins`: browser origins ("https://ops.example.com") whose requests may
  /// change anything (POST, PUT, PATCH, DELETE). Default none: a mutating request that carries
  /// an `Origin` header is refused.
  std::vector<std::string> allowed_origins;
  /// `host.allowed_hosts`: `Host` header values accepted besides the listen address (and, on a
  /// loopback listener, localhost, 127.0.0.1 and [::1] with its port): "name" (any port) or
  /// "name:port", e.g. the name a load balancer forwards. Guards against DNS rebinding.
  std::vector<std::string> allowed_hosts;
  /// `mlbridge serve` refuses a non-loopback `listen` address without a token unless this is set.
  bool allow_unauthenticated_remote = false;
  std::string log_level = "info";                   ///< trace|debug|info|warn|error|critical|off
  std::string log_format = "text";                  ///< text|json
  std::size_t max_body_bytes = 8u * 1024u * 1024u;  ///< Largest HTTP request body.
  /// `host.session_state_max_bytes`: the largest session state (compact JSON bytes).
  std::size_t session_state_max_bytes = 1024u * 1024u;
  /// `host.max_sessions`: sessions create_session (POST /v1/sessions) keeps at once; one more is
  /// refused with overloaded. Sessions a call creates by naming an id are bounded per bridge
  /// (`sessions.max`). 1 to 10,000,000.
  std::size_t max_sessions = 10000;
  /// `host.session_state_total_max_bytes`: all session states together (compact JSON bytes); a
  /// change past it is refused with overloaded.
  std::size_t session_state_total_max_bytes = 256u * 1024u * 1024u;
  /// `host.loop_spin_us`: how long the event loop polls for more work before it sleeps
  /// (runtime::EventLoop::kDefaultSpin explains the trade); 0 = sleep at once. 0 to 100000.
  int loop_spin_us = 100;
  /// `host.loop_spin_max_calls`: the event loop polls only while at most this many calls are in
  /// flight (runtime::EventLoop::PollingWorthwhile explains why); 0 = however many. Unset: 0 for
  /// a host embedded through the C++ API, the number of cores under `mlbridge serve`, whose
  /// connection threads need the CPU that polling would take. 0 to 1000000.
  std::optional<int> loop_spin_max_calls;
  CallResultsConfig call_results;  ///< `host.call_results`.
  /// `host.session_store`: where session state and journals live: "memory" (this host only) or
  /// "redis://[:PASSWORD@]HOST:PORT[/DB]" (shared by every host that names it; docs/sessions.md,
  /// "Sessions across hosts"). Checked by store::parse_redis_url when the host is built.
  std::string session_store = "memory";
  /// `host.session_lease_ms`: how long this host's claim on a session lasts after its last call
  /// ended (Redis store only). 100 to 3600000.
  std::int64_t session_lease_ms = 2000;
  /// `host.session_claim_wait_ms`: how long a call of a session another host holds waits for that
  /// host's lease to lapse before it fails with session_moved (Redis store only); bounded by the
  /// call's own deadline too. 0 = refuse at once. 0 to 3600000; empty = 2 x session_lease_ms
  /// (effective_claim_wait_ms()).
  std::optional<std::int64_t> session_claim_wait_ms;
  /// session_claim_wait_ms, or its default of 2 x session_lease_ms: a dead or idle host's lease
  /// has at most session_lease_ms left, and the second lease covers the Redis round trips and a
  /// lease renewed by the holder's last call just before it went idle.
  std::int64_t effective_claim_wait_ms() const {
    return session_claim_wait_ms.value_or(2 * session_lease_ms);
  }
  /// `host.id`: this host's name on the leases it holds; "" = `<hostname>-<8 random hex>`, new at
  /// every start, so that a host that rejoins never takes its old leases for its own.
  std::string id;
  std::map<std::string, BridgeConfig> bridges;  ///< By name.
  std::string source;                           ///< The file it came from; "" when built.
};

/// Reads a YAML deployment and types it: load_yaml_file + parse_host_config. Fails with
/// invalid_configuration ("FILE:LINE:COL: key.path ..." where positions are known).
Result<HostConfig> load_host_config(const std::string& path);

/// Types and validates a parsed document (top-level keys `host` and `bridges`). `map` gives
/// positions for messages and `source` (map.file). Errors in document order; the first is
/// returned. Cross-checks (default_bridge names a configured bridge) come last.
Result<HostConfig> parse_host_config(const json& doc, const SourceMap& map);

/// The pool settings of one bridge on this host, worker template included:
/// python (the bridge's, else the host's, resolved against root), script (resolved; its
/// existence is checked elsewhere), environment (minimal_environment(), plus each `env.pass`
/// variable that is set in the host's environment, plus `env.set`, which wins), codec, frame
/// limit, init options, timeouts, working directory (default: root), and the memory limit as an
/// RSS recycle threshold (never RLIMIT_AS). Fails with invalid_configuration when the bridge has
/// no script (a plugin bridge whose plugin supplied none).
Result<pool::PoolConfig> to_pool_config(const BridgeConfig& bridge, const HostConfig& host);

}  // namespace mlbridge::config
