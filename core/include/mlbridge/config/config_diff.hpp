#pragma once

/// @file
/// Differences between two versions of a bridge's configuration (the YAML keys as JSON), for
/// live reconfiguration: what a PATCH or a reloaded file changes, said key by key in the log.
/// Stateless functions; any thread.

#include <string>
#include <vector>

#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::config {

using json = protocol::json;

/// One changed key: its dotted path ("pool.size") and both values (null when absent).
struct KeyChange {
  std::string key;
  json before;
  json after;
  /// "pool.size: 1 -> 3"; an absent side reads "(default)". Values under a secret-looking name
  /// (telemetry::Redactor::is_secret_name: `env.set.OPENAI_API_KEY`, `options.lm.api_key`, at
  /// any depth) read "[REDACTED]", so the description is safe to log and to return.
  std::string describe() const;
};

/// The keys whose values differ, in key order. Objects are compared member by member; arrays
/// and scalars as a whole.
std::vector<KeyChange> diff_keys(const json& before, const json& after);

/// JSON Merge Patch (RFC 7386): objects merge member by member, a null member removes the key
/// (back to its default), anything else replaces the target's value.
json merge_patch(json target, const json& patch);

/// Whether the change is to a key a running bridge cannot take without new worker programs (the
/// keys bridge_keys() marks not live: plugin, script, python, codec, max_frame_bytes,
/// shared_blob_min_bytes, working_dir, env.*, required_env, required_packages, sessions.max),
/// to something inside such a key, or to a whole section none of whose keys is live (env).
/// Changing them means registering the bridge again.
bool needs_new_bridge(const KeyChange& change);

}  // namespace mlbridge::config
