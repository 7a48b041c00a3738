#pragma once

/// @file
/// One bridge's configuration (a member of `bridges:` in the YAML deployment, or the body of a
/// runtime registration), typed and validated, with a default for every key. Plain values and
/// stateless functions; any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/config/source_map.hpp"
#include "mlbridge/errors/result.hpp"
#include "mlbridge/ops/circuit_breaker.hpp"
#include "mlbridge/ops/retry_policy.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/frame.hpp"
#include "mlbridge/protocol/shared_blobs.hpp"

namespace mlbridge::config {

using json = protocol::json;

/// One entry of `errors:`: Python errors of this type (and/or whose message matches) get this
/// category. Applied before the plugin's own rules.
struct ErrorOverride {
  std::string type;   ///< Python exception class ("RateLimitError" or "openai.RateLimitError").
  std::string match;  ///< ECMAScript regex searched in the message; "" matches any message.
  ErrorCategory category = ErrorCategory::kInternal;
  std::optional<bool> retryable;  ///< Overrides the category's default when set.
};

/// `pool:` — sizing, queueing and recycling of the bridge's workers.
struct PoolSettings {
  std::size_t size = 2;          ///< Workers kept running (0: only overflow workers, on demand).
  std::size_t max_overflow = 0;  ///< Extra workers while calls queue up.
  bool lazy = false;             ///< Start workers on first use.
  std::size_t queue_limit = 1000;
  std::chrono::milliseconds checkout_timeout{5000};
  std::uint64_t max_requests = 0;  ///< Recycle a worker after this many calls (0: never).
  std::uint64_t max_requests_jitter = 0;
  std::chrono::milliseconds idle_timeout{60000};  ///< Overflow workers idle this long stop.
  std::size_t pipeline_depth = 1;  ///< Anonymous calls a busy worker may hold (1: one at a time).
  /// Calls one worker runs at once (its slots); unset: what the worker's hello declares.
  std::optional<std::size_t> max_concurrency;
};

/// `timeouts:`.
struct TimeoutSettings {
  std::chrono::milliseconds request{30000};  ///< Default deadline of a call.
  std::chrono::milliseconds startup{60000};  ///< Spawn to ready.
  std::chrono::milliseconds shutdown{5000};  ///< Graceful stop of a worker, and the drain budget.
  std::chrono::milliseconds cancel_grace{2000};  ///< SIGINT to answer, before SIGKILL.
};

/// `health:`.
struct HealthSettings {
  std::chrono::milliseconds interval{30000};  ///< Ping idle workers this often (0: never).
  std::chrono::milliseconds timeout{5000};
  std::size_t max_failures = 3;  ///< Failed pings in a row before a worker is replaced.
};

/// `restart:` — the crash-loop guard.
struct RestartSettings {
  std::size_t max_restarts = 5;  ///< Failed starts tolerated within `window`.
  std::chrono::seconds window{60};
};

/// `limits:`.
struct LimitSettings {
  /// Recycle a worker whose resident memory passes this (not an address-space rlimit, which
  /// frameworks that map large files would trip over). Unset: no limit.
  std::optional<std::uint64_t> max_memory_mb;
};

/// `sessions:`.
struct SessionSettings {
  std::chrono::seconds ttl{3600};  ///< Idle sessions end after this.
  std::size_t max = 10000;
  /// `sessions.replay`: how sessions are rebuilt on another worker, over the plugin's rules
  /// (session::ReplayRules' JSON form, validated); null when absent.
  json replay;
};

/// `code:` — the user's own Python, served by import path (docs/python-sdk.md, "Your own code").
struct CodeSettings {
  /// Directories put at the front of the workers' sys.path, as written (relative paths resolve
  /// against the host root in to_pool_config; each must be an existing directory).
  std::vector<std::string> paths;
  /// Modules every worker imports at start; requests may name only their objects
  /// ("pkg.mod:attr"). Dotted Python names, checked when read.
  std::vector<std::string> modules;
};

struct BridgeConfig {
  std::string name;
  std::optional<std::string> plugin;  ///< → libmlbridge_<plugin>.so; absent: the generic adapter.
  /// The Python script, as written (relative paths resolve against the host root in
  /// to_pool_config). Required for a bridge without a plugin; a plugin may supply it through its
  /// defaults.
  std::string script;
  std::optional<std::string> python;  ///< Overrides host.python.
  protocol::Codec codec = protocol::Codec::kJson;
  std::size_t max_frame_bytes = protocol::kDefaultMaxFrameBytes;
  /// MessagePack: bytes at least this long go through shared memory; 0 = always the pipe.
  std::size_t shared_blob_min_bytes = protocol::kDefaultSharedBlobMinBytes;
  std::string working_dir;  ///< "" = the host root.

  PoolSettings pool;
  TimeoutSettings timeouts;
  HealthSettings health;
  RestartSettings restart;
  LimitSettings limits;
  SessionSettings sessions;
  CodeSettings code;

  std::vector<std::string> env_pass;           ///< `env.pass`: host variables handed on when set.
  std::map<std::string, std::string> env_set;  ///< `env.set`: variables given these values.
  std::vector<std::string> required_env;       ///< Checked before any worker starts.
  std::vector<std::string> required_packages;  ///< Import names, checked likewise.
  json options = json::object();  ///< Handed to the plugin and to the bridge's initialize().
  std::vector<ErrorOverride> errors;
  std::vector<std::string> idempotent_commands;  ///< `idempotent:`: commands safe to retry.
  ops::RetrySettings retry;                      ///< `retry:`: how idempotent calls retry.
  ops::CircuitBreakerSettings circuit_breaker;   ///< `circuit_breaker:` (off by default).
  json raw = json::object();  ///< The bridge's JSON as given (for plugin validation and merging).
};

/// Types and validates one bridge. `bridge` is the bridge's object (null counts as empty).
/// With a source map, errors carry "FILE:LINE:COL"; `pointer_prefix` is the JSON pointer of
/// `bridge` in its document ("/bridges/dspy") and names keys in messages
/// ("bridges.dspy.pool.size must be a non-negative integer, got -1"). Without a prefix, messages
/// read "bridge 'dspy': pool.size must be ...".
/// Fails with invalid_configuration on the first problem in document order: an invalid bridge
/// name (not [A-Za-z0-9_-]+), an unknown key, a wrong type or a bad value, or no script on a
/// bridge without a plugin.
Result<BridgeConfig> parse_bridge_config(const std::string& name, const json& bridge,
                                         const SourceMap* map = nullptr,
                                         const std::string& pointer_prefix = "");

/// Deep merge for plugin defaults: where both sides hold an object, members merge key by key
/// with `overrides` winning; anything else in `overrides` (scalar, array) replaces the default
/// whole; a null override keeps the default (null means "not set" in configuration).
json merge_defaults(const json& defaults, const json& overrides);

}  // namespace mlbridge::config
