#pragma once

/// @file
/// What a `plugin: transformers` bridge gets without saying: the script, the packages its
/// environment needs, and pool, timeout and memory settings for a memory-heavy bridge that holds
/// its models in the worker (one worker, no overflow, long start-up and calls, a memory limit),
/// the offline environment, and the commands that are safe to retry. The bridge's YAML overrides
/// any of them key by key.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::transformers_plugin {

using json = nlohmann::json;

/// The bridge script, relative to the host root.
inline constexpr const char* kScript = "python_bridges/transformers_bridge.py";

/// Every command of transformers_bridge.py (not counting the built-ins every bridge answers).
const std::vector<std::string>& bridge_commands();

/// The commands that may run twice with no effect a caller would regret: reads, runs of a loaded
/// model, and load_model (a second load of the same model shares the first). Not unload_model
/// (the second one would drop another session's reference... or fail) and not generate_stream
/// (a retry would send the chunks again).
const std::vector<std::string>& idempotent_commands();

/// The defaults as YAML bridge keys.
json bridge_defaults();

}  // namespace mlbridge::transformers_plugin
