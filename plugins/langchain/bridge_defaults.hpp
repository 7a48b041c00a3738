#pragma once

/// @file
/// What a `plugin: langchain` bridge gets without saying: the script, the packages its
/// environment needs, pool and timeout settings for an I/O-bound LLM bridge, the commands that
/// are safe to retry, and no host retries (`retry.max_attempts: 1`: the OpenAI client's
/// max_retries is the one retry layer). The bridge's YAML overrides any of them key by key.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::langchain_plugin {

using json = nlohmann::json;

/// The bridge script, relative to the host root.
inline constexpr const char* kScript = "python_bridges/langchain_bridge.py";

/// Every command of langchain_bridge.py (not counting the built-ins every bridge answers).
const std::vector<std::string>& bridge_commands();

/// The commands that may run twice with no effect a caller would regret: reads, retrieval,
/// configure_model (the same settings twice give the same model) and clear_history (an empty
/// history stays empty). Not the runs: invoke, stream and chat on a conversation append to its
/// history, so a retry would record the turn twice; nor create (the second one finds the first)
/// or delete (the second one finds nothing).
const std::vector<std::string>& idempotent_commands();

/// The defaults as YAML bridge keys.
json bridge_defaults();

}  // namespace mlbridge::langchain_plugin
