#include "options_validation.hpp"

#include "json_checks.hpp"
#include "mlbridge/sdk/plugin.hpp"
#include "model_settings.hpp"

namespace mlbridge::langchain_plugin {
namespace {

// langchain_support/models.py ModelConfig.max_retries and retrieval.py EmbeddingsConfig's.
constexpr long kDefaultMaxRetries = 2;

// LangChainBridge._option_int: an int (not a bool) from low to high.
void check_int_option(const json& options, const char* key, long low, long high,
                      std::vector<std::string>& problems) {
  const auto found = options.find(key);
  if (found == options.end()) return;
  if (!is_int(*found) || as_double(*found) < low || as_double(*found) > high) {
    problems.push_back(std::string("options.") + key + " must be an integer from " +
                       std::to_string(low) + " to " + std::to_string(high) + " (got " +
                       shown(*found) + ")");
  }
}

// options.vector_store: {directory: PATH} (langchain_support/persistent.py VectorStoreConfig).
void check_vector_store(const json& store, std::vector<std::string>& problems) {
  if (!store.is_object()) {
    problems.push_back("options.vector_store must be a map {directory: PATH} (got " + shown(store) +
                       ")");
    return;
  }
  for (const auto& item : store.items()) {
    if (item.key() != "directory") {
      problems.push_back("options.vector_store." + item.key() +
                         " is not a vector store setting (known: directory)");
    }
  }
  const auto directory = store.find("directory");
  if (directory == store.end() || !is_text(*directory)) {
    problems.push_back(
        "options.vector_store.directory must be a non-empty path (relative to the workers' "
        "working directory, host.root by default)");
  }
}

// options.chains: {CHAIN_ID: {create_chain arguments}}, built by each worker at init; the
// worker checks the arguments themselves (and imports a `runnable`).
void check_declared_chains(const json& chains, std::vector<std::string>& problems) {
  if (!chains.is_object()) {
    problems.push_back("options.chains must be a map of chain id to create_chain arguments (got " +
                       shown(chains) + ")");
    return;
  }
  for (const auto& item : chains.items()) {
    if (!item.value().is_object()) {
      problems.push_back("options.chains." + item.key() +
                         " must be a map of create_chain arguments (got " + shown(item.value()) +
                         ")");
    }
  }
}

void append(std::vector<std::string>& to, std::vector<std::string> from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

// `max_retries` of a model or embeddings settings map, or the client's default when not written;
// -1 for settings that never reach a client (the offline model, the local embedding).
long client_retries(const json& options, const char* key) {
  const auto found = options.find(key);
  if (found == options.end() || found->is_null()) {
    return std::string(key) == "model" ? kDefaultMaxRetries : -1;  // local embedding by default
  }
  if (found->is_string()) return found->get<std::string>() == "openai" ? kDefaultMaxRetries : -1;
  if (!found->is_object()) return -1;
  const auto offline = found->find("offline");
  if (offline != found->end() && offline->is_boolean() && offline->get<bool>()) return -1;
  const auto provider = found->find("provider");
  if (std::string(key) == "embeddings" && (provider == found->end() || !provider->is_string() ||
                                           provider->get<std::string>() != "openai")) {
    return -1;
  }
  const auto retries = found->find("max_retries");
  if (retries == found->end() || !retries->is_number_integer()) return kDefaultMaxRetries;
  return retries->get<long>();
}

}  // namespace

const std::vector<std::string>& option_names() {
  static const std::vector<std::string> names = {"chains",    "embeddings",      "endpoints",
                                                 "max_batch", "max_concurrency", "max_history",
                                                 "model",     "vector_store"};
  return names;
}

std::vector<std::string> check_one_retry_layer(const json& bridge) {
  if (!bridge.is_object()) return {};
  const auto found = bridge.find("options");
  const json options = found == bridge.end() || !found->is_object() ? json::object() : *found;
  // Absent: the plugin's default, 1 (bridge_defaults.cpp).
  const long attempts = sdk::host_retry_attempts(bridge, 1);
  if (attempts <= 1) return {};
  std::vector<std::string> problems;
  for (const char* key : {"model", "embeddings"}) {
    const long retries = client_retries(options, key);
    if (retries <= 0) continue;
    problems.push_back(
        "retry.max_attempts is " + std::to_string(attempts) + " and options." + key +
        ".max_retries is " + std::to_string(retries) +
        ": the host and the OpenAI client would both retry, and one failed call could cost " +
        std::to_string(attempts * (retries + 1)) +
        " requests to the provider. Choose one layer: the client's, which retries each request "
        "(the default: leave out retry.max_attempts or set it to 1), or the host's, which "
        "retries the whole command (set options." +
        key + ".max_retries: 0)");
  }
  return problems;
}

std::vector<std::string> check_bridge_config(const json& bridge) {
  if (!bridge.is_object()) return {"the bridge config must be a map"};
  const auto found = bridge.find("options");
  // The retry layers are checked with or without options: the client retries by default.
  if (found == bridge.end() || found->is_null()) return check_one_retry_layer(bridge);
  const json& options = *found;
  if (!options.is_object()) return {"options must be a map (got " + shown(options) + ")"};

  std::vector<std::string> problems;
  const auto& known = option_names();
  for (const auto& item : options.items()) {
    if (!holds(known, item.key())) {
      problems.push_back("options." + item.key() +
                         " is not an option of the LangChain bridge (known: " + listed(known) +
                         "; chat model settings such as temperature go under options.model)");
    }
  }
  check_int_option(options, "max_concurrency", 1, 64, problems);
  check_int_option(options, "max_batch", 1, 100000, problems);
  check_int_option(options, "max_history", 2, 10000, problems);
  if (const auto store = options.find("vector_store"); store != options.end()) {
    check_vector_store(*store, problems);
  }
  if (const auto chains = options.find("chains"); chains != options.end()) {
    check_declared_chains(*chains, problems);
  }

  const auto env_found = bridge.find("env");
  const json env = env_found == bridge.end() ? json() : *env_found;
  if (const auto model = options.find("model"); model != options.end()) {
    auto model_problems = check_model_settings(*model, "options.model");
    if (model_problems.empty()) {
      model_problems = check_model_key_reaches_workers(*model, env, "options.model");
    }
    append(problems, std::move(model_problems));
  }
  if (const auto embeddings = options.find("embeddings"); embeddings != options.end()) {
    auto embeddings_problems = check_embeddings_settings(*embeddings, "options.embeddings");
    if (embeddings_problems.empty()) {
      embeddings_problems =
          check_embeddings_key_reaches_workers(*embeddings, env, "options.embeddings");
    }
    append(problems, std::move(embeddings_problems));
  }
  if (const auto endpoints = options.find("endpoints"); endpoints != options.end()) {
    append(problems, check_endpoints(*endpoints, env));
  }
  append(problems, check_one_retry_layer(bridge));
  return problems;
}

}  // namespace mlbridge::langchain_plugin
