#pragma once

/// @file
/// One translation of a Python error into an mlbridge category, at the bridge's edge. Rules are
/// tried in order: the bridge's YAML `errors:` overrides, then the adapter's rules, then (only
/// when the worker gave no category hint) the defaults for Python's builtin exceptions. The
/// original type, message and traceback are always kept.
///
/// Immutable after construction: any thread may call translate() concurrently.

#include <regex>
#include <vector>

#include "mlbridge/errors/error.hpp"
#include "mlbridge/plugin/adapter.hpp"

namespace mlbridge::errors {

class ErrorTranslator {
 public:
  /// Throws std::regex_error for a malformed message pattern (validated earlier, at config time).
  ErrorTranslator(std::vector<plugin::ErrorRule> overrides,
                  std::vector<plugin::ErrorRule> adapter_rules);

  /// Refines `error` when it came from Python (its python_type is set); others pass unchanged.
  Error translate(Error error) const;

  /// The defaults for Python's builtin exceptions (ValueError → invalid_argument, ...).
  static const std::vector<plugin::ErrorRule>& builtin_rules();

  /// Whether `rule` matches an exception of `type` with `message`. A rule type matches the full
  /// wire type or its last dotted part ("RateLimitError" matches "litellm.RateLimitError").
  static bool matches(const plugin::ErrorRule& rule, const std::string& type,
                      const std::string& message);

 private:
  struct CompiledRule {
    plugin::ErrorRule rule;
    std::optional<std::regex> pattern;
  };
  static std::vector<CompiledRule> compile(std::vector<plugin::ErrorRule> rules);
  static const CompiledRule* first_match(const std::vector<CompiledRule>& rules,
                                         const Error& error);

  std::vector<CompiledRule> configured_;  // YAML overrides, then adapter rules
  std::vector<CompiledRule> builtin_;
};

}  // namespace mlbridge::errors
