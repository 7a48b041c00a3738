#pragma once

/// @file
/// Checks `options.model` (the default chat model of every worker) and `options.embeddings`
/// (the default embeddings of create_retriever) against what langchain_bridge.py's
/// initialize() accepts: langchain_support/models.py's ModelConfig.parse and
/// langchain_support/retrieval.py's EmbeddingsConfig.parse, key by key. One message per
/// problem, each naming its key ("options.model.temperature must be a number from 0 to 2
/// (got 7)").
///
/// Beyond the parsers, one check the worker cannot make: the variable that holds the API key
/// must reach the workers, whose environment holds only what `env.pass` and `env.set` give
/// them. Otherwise the bridge would start on the offline fake chat model (or the local
/// embedding) and answer every call with placeholder text.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::langchain_plugin {

using json = nlohmann::json;

/// Keys that would carry an API key itself (models.py refuse_keys): refused in options and in
/// requests alike; only the name of the variable that holds the key (api_key_env) is accepted.
inline constexpr const char* kSecretKeys[] = {"api_key", "key", "openai_api_key"};

/// The settings ModelConfig accepts, sorted.
const std::vector<std::string>& model_setting_names();

/// The settings EmbeddingsConfig accepts, sorted.
const std::vector<std::string>& embeddings_setting_names();

/// Problems of `model` (the value of `options.model`; null means "no default model": the
/// offline one). `where` names it in messages ("options.model").
std::vector<std::string> check_model_settings(const json& model, const std::string& where);

/// Problems of `embeddings` (the value of `options.embeddings`: null, a provider name or a
/// map of settings). `where` names it in messages ("options.embeddings").
std::vector<std::string> check_embeddings_settings(const json& embeddings,
                                                   const std::string& where);

/// Problems of `options.endpoints` (langchain_support/endpoints.py): a list of {base_url?,
/// api_key_env} (no base_url: OpenAI itself), each variable one the workers see through `env`.
/// These pairs, and those of options.model and options.embeddings, are where a key may be sent;
/// a request naming a key variable for any other endpoint is refused by the bridge. Null: none.
std::vector<std::string> check_endpoints(const json& endpoints, const json& env);

/// Problems with how the key gets to the workers: `model` (already free of
/// check_model_settings problems) and the bridge's `env` section ({"pass": [...], "set":
/// {...}} or null).
std::vector<std::string> check_model_key_reaches_workers(const json& model, const json& env,
                                                         const std::string& where);

/// The same for `embeddings` (already free of check_embeddings_settings problems).
std::vector<std::string> check_embeddings_key_reaches_workers(const json& embeddings,
                                                              const json& env,
                                                              const std::string& where);

}  // namespace mlbridge::langchain_plugin
