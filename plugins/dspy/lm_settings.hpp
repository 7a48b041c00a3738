#pragma once

/// @file
/// Checks `options.lm` (the default LM of every worker) and `options.endpoints` (where a key may
/// be sent) against what dspy_bridge.py's initialize() accepts: dspy_support/lm.py's
/// LMConfig.parse and dspy_support/endpoints.py, key by key. One message per problem, each
/// naming its key ("options.lm.model must be a non-empty string (got 42)").
///
/// Beyond LMConfig.parse, one check the worker cannot make: the variable that holds the API key
/// must reach the workers, whose environment holds only what `env.pass` and `env.set` give
/// them. Otherwise the bridge would start on the offline DummyLM and answer every call with
/// placeholder text.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::dspy_plugin {

using json = nlohmann::json;

/// The settings LMConfig accepts, sorted.
const std::vector<std::string>& lm_setting_names();

/// Problems of `lm` (the value of `options.lm`; null means "no default LM": the offline one).
/// `where` names it in messages ("options.lm").
std::vector<std::string> check_lm_settings(const json& lm, const std::string& where);

/// Problems of `options.endpoints` (dspy_support/endpoints.py): a list of {api_base, api_key_env}
/// or {provider, api_key_env}, each variable one the workers see through `env` (the bridge's env
/// section). These pairs, and the default LM's own, are where a key may be sent; a request
/// naming a key variable for any other destination is refused by the bridge. Null: none.
std::vector<std::string> check_endpoints(const json& endpoints, const json& env);

/// Problems with how the key gets to the workers: `lm` (already free of check_lm_settings
/// problems) and the bridge's `env` section ({"pass": [...], "set": {...}} or null).
std::vector<std::string> check_key_reaches_workers(const json& lm, const json& env,
                                                   const std::string& where);

}  // namespace mlbridge::dspy_plugin
