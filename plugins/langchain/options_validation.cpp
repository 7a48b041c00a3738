#include "options_validation.hpp"

#include "json_checks.hpp"
#include "model_settings.hpp"

namespace mlbridge::langchain_plugin {
namespace {

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

void append(std::vector<std::string>& to, std::vector<std::string> from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

const std::vector<std::string>& option_names() {
  static const std::vector<std::string> names = {"embeddings", "max_batch", "max_concurrency",
                                                 "max_history", "model"};
  return names;
}

std::vector<std::string> check_bridge_config(const json& bridge) {
  if (!bridge.is_object()) return {"the bridge config must be a map"};
  const auto found = bridge.find("options");
  if (found == bridge.end() || found->is_null()) return {};
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
  return problems;
}

}  // namespace mlbridge::langchain_plugin
