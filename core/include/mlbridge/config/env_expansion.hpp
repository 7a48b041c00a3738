#pragma once

/// @file
/// `${VAR}` and `${VAR:-default}` in configuration values. Stateless; any thread (the default
/// lookup reads the process environment, so do not call it while another thread calls setenv).

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "mlbridge/errors/result.hpp"

namespace mlbridge::config {

/// Looks a variable up; nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// Reads the host's environment (getenv).
EnvLookup process_environment();

/// Replaces every `${NAME}` with the variable's value and every `${NAME:-default}` with the value,
/// or with `default` when the variable is unset or empty (as the shell does). `$${` writes a
/// literal `${`; any other `$` is kept as is. NAME is `[A-Za-z_][A-Za-z0-9_]*`.
/// Fails with invalid_configuration when a variable without default is unset, or when a `${` is
/// malformed; the message names the variable but no location (the caller adds it).
Result<std::string> expand_env(std::string_view text, const EnvLookup& lookup);

/// Whether `text` contains anything `expand_env` would replace.
bool has_env_reference(std::string_view text);

}  // namespace mlbridge::config
