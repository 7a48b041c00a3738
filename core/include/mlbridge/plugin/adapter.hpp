#pragma once

/// @file
/// The host's view of a framework adapter: what a plugin (a shared library loaded through the C
/// ABI of sdk/include/mlbridge/sdk/plugin_abi.h) or the built-in generic adapter provides to the
/// registry. Structured data is JSON with the keys of the YAML schema.
///
/// Threading: an Adapter is immutable after loading; every method may be called from any thread
/// concurrently. Ownership: shared (AdapterPtr); the shared library behind a plugin adapter stays
/// loaded until the host exits.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/session/replay_rules.hpp"

namespace mlbridge::plugin {

using json = protocol::json;

/// Who the adapter is.
struct AdapterInfo {
  std::string name;         ///< Plugin name: libmlbridge_<name>.so ("generic" for the built-in).
  std::string version;      ///< The plugin's own version.
  std::string framework;    ///< The framework it adapts, e.g. "dspy".
  std::string description;  ///< One line for `mlbridge plugins`.
  int abi_major = 0;        ///< ABI the plugin was built against (0 for the built-in).
  int abi_minor = 0;
  std::string path;  ///< The shared library's path; empty for the built-in.
};

/// One error translation rule: a Python exception type (exact class name as sent on the wire,
/// e.g. "litellm.RateLimitError", or its last dotted part "RateLimitError") and an optional
/// ECMAScript regex searched in the message; the first matching rule wins.
struct ErrorRule {
  std::string type;             ///< Empty matches any type.
  std::string message_pattern;  ///< Empty matches any message.
  ErrorCategory category = ErrorCategory::kInternal;
  std::optional<bool> retryable;  ///< Overrides the category's default when set.
};

class Adapter {
 public:
  virtual ~Adapter() = default;

  virtual const AdapterInfo& info() const = 0;

  /// Defaults for the bridge config, as a JSON object with YAML keys (e.g. `script`,
  /// `required_packages`, `pool: {size: 1}`); the bridge's own YAML overrides them key by key.
  virtual Result<json> defaults() const = 0;

  /// Checks the bridge's merged config (JSON object, YAML keys). Fails with
  /// invalid_configuration naming the key (e.g. "options.lm.model must be a string").
  virtual Status validate(const json& bridge_config) const = 0;

  /// The adapter's error rules, applied after the YAML `errors:` overrides and before the
  /// built-in defaults.
  virtual std::vector<ErrorRule> error_rules() const = 0;

  /// The command for a resource verb ("create", "execute", "list", "delete", "get") on a kind
  /// (e.g. "program" → "create_program"). not_found when the adapter has no such mapping.
  virtual Result<std::string> resource_command(std::string_view verb,
                                               std::string_view kind) const = 0;

  /// Lets the adapter rewrite a command's arguments before they are sent (e.g. fill defaults).
  /// Returns the args unchanged when it has nothing to do; invalid_argument to refuse the call.
  virtual Result<json> shape_args(std::string_view command, json args) const = 0;
  /// False when shape_args returns every args unchanged, so that args encoded before the call
  /// (pool::CallRequest::encoded_args) need not become a DOM for it. Default: true.
  virtual bool shapes_args() const { return true; }

  /// How the bridge's sessions are rebuilt on another worker (setup/undo commands, snapshot);
  /// the YAML `sessions.replay` overrides them. Default: none.
  virtual session::ReplayRules session_rules() const { return {}; }
};

using AdapterPtr = std::shared_ptr<const Adapter>;

}  // namespace mlbridge::plugin
