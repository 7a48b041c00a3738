#pragma once

/// @file
/// Checks a `plugin: langchain` bridge's merged config before any worker starts, so that a
/// mistake is a config error naming its key rather than a worker that fails its init (or,
/// worse, starts on the offline model). Mirrors langchain_bridge.py's initialize(): the keys
/// of `options` (_OPTION_KEYS), its integer options (_option_int) and, for `options.model` and
/// `options.embeddings`, langchain_support's parsers (see model_settings.hpp).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::langchain_plugin {

using json = nlohmann::json;

/// The keys of `options` initialize() accepts, sorted.
const std::vector<std::string>& option_names();

/// Every problem of the bridge config `bridge` (YAML keys, plugin defaults merged), each
/// naming its key; empty when the config is fine.
std::vector<std::string> check_bridge_config(const json& bridge);

/// One retry layer per call: the OpenAI client's (`options.model.max_retries` and, for OpenAI
/// embeddings, `options.embeddings.max_retries`, 2 by default, each request) or the host's
/// (`retry.max_attempts`, the whole command), never both, which would multiply the provider
/// requests of one failed call. A problem naming both keys for each settings map that retries
/// while the host does; an absent `retry.max_attempts` is the plugin's default, 1.
std::vector<std::string> check_one_retry_layer(const json& bridge);

}  // namespace mlbridge::langchain_plugin
