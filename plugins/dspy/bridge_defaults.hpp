#pragma once

/// @file
/// What a `plugin: dspy` bridge gets without saying: the script, the packages its environment
/// needs, pool and timeout settings for an I/O-bound LLM bridge, the commands that are safe
/// to retry, and no host retries (`retry.max_attempts: 1`: DSPy's own num_retries is the one
/// retry layer). The bridge's YAML overrides any of them key by key.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::dspy_plugin {

using json = nlohmann::json;

/// The bridge script, relative to the host root.
inline constexpr const char* kScript = "python_bridges/dspy_bridge.py";

/// Every command of dspy_bridge.py (not counting the built-ins every bridge answers).
const std::vector<std::string>& bridge_commands();

/// The commands that may run twice with no effect a caller would regret: reads, runs of an
/// existing program (which change nothing but counters and history) and configure_lm (setting
/// the same LM again changes nothing). Not create/load (the second one finds the first),
/// delete or optimize (which compiles the already compiled program again).
const std::vector<std::string>& idempotent_commands();

/// The defaults as YAML bridge keys.
json bridge_defaults();

}  // namespace mlbridge::dspy_plugin
