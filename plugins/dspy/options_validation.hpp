#pragma once

/// @file
/// Checks a `plugin: dspy` bridge's merged config before any worker starts, so that a mistake
/// is a config error naming its key rather than a worker that fails its init (or, worse,
/// starts on the offline LM). Mirrors dspy_bridge.py's initialize() and, for `options.lm`,
/// dspy_support/lm.py (see lm_settings.hpp). Deliberately stricter than initialize() in one
/// place: `options.cache` must be a map of known keys with the right types, because
/// initialize() quietly ignores `cache: false` and `cache: {disk: "no"}` (caching stays on).
/// And one check that is no option's own: the host and DSPy must not both retry.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::dspy_plugin {

using json = nlohmann::json;

/// The keys of `options` initialize() accepts, sorted.
const std::vector<std::string>& option_names();

/// Every problem of the bridge config `bridge` (YAML keys, plugin defaults merged), each
/// naming its key; empty when the config is fine.
std::vector<std::string> check_bridge_config(const json& bridge);

/// One retry layer per call: DSPy's (`options.lm.num_retries`, LMConfig's default 3, each LM
/// request) or the host's (`retry.max_attempts`, the whole command), never both, which would
/// multiply the provider requests of one failed call. A problem naming both keys when both
/// retry; an absent `retry.max_attempts` is the plugin's default, 1.
std::vector<std::string> check_one_retry_layer(const json& bridge);

}  // namespace mlbridge::dspy_plugin
