#include "options_validation.hpp"

#include <algorithm>

#include "json_checks.hpp"
#include "lm_settings.hpp"
#include "mlbridge/sdk/plugin.hpp"
#include "program_options.hpp"

namespace mlbridge::dspy_plugin {
namespace {

// dspy_support/lm.py LMConfig.num_retries.
constexpr long kDefaultNumRetries = 3;

// DSPyBridge._option_int.
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

void check_cache(const json& cache, std::vector<std::string>& problems) {
  if (cache.is_null()) return;
  if (!cache.is_object()) {
    problems.push_back("options.cache must be a map {dir, disk, memory} (got " + shown(cache) +
                       "); to turn DSPy's cache off write cache: {disk: false, memory: false}");
    return;
  }
  for (const auto& item : cache.items()) {
    const std::string& key = item.key();
    if (key == "dir") {
      if (!item.value().is_null() && !item.value().is_string()) {
        problems.push_back("options.cache.dir must be a directory path (got " +
                           shown(item.value()) + ")");
      }
    } else if (key == "disk" || key == "memory") {
      if (!item.value().is_boolean()) {
        problems.push_back("options.cache." + key + " must be true or false (got " +
                           shown(item.value()) + ")");
      }
    } else {
      problems.push_back("options.cache." + key +
                         " is not a cache setting (known: dir, disk, memory)");
    }
  }
}

// `options.lm.num_retries`, or LMConfig's default (3) when not written.
long dspy_retries(const json& options) {
  const auto lm = options.find("lm");
  if (lm == options.end() || !lm->is_object()) return kDefaultNumRetries;
  const auto retries = lm->find("num_retries");
  if (retries == lm->end() || !retries->is_number_integer()) return kDefaultNumRetries;
  return retries->get<long>();
}

}  // namespace

const std::vector<std::string>& option_names() {
  static const std::vector<std::string> names = {"cache",       "endpoints",   "lm",      "lookup",
                                                 "max_history", "num_threads", "programs"};
  return names;
}

std::vector<std::string> check_one_retry_layer(const json& bridge) {
  if (!bridge.is_object()) return {};
  const auto found = bridge.find("options");
  const json options = found == bridge.end() || !found->is_object() ? json::object() : *found;
  // Absent: the plugin's default, 1 (bridge_defaults.cpp).
  const long attempts = sdk::host_retry_attempts(bridge, 1);
  const long retries = dspy_retries(options);
  if (attempts <= 1 || retries <= 0) return {};
  return {"retry.max_attempts is " + std::to_string(attempts) + " and options.lm.num_retries is " +
          std::to_string(retries) +
          (options.contains("lm") && options.at("lm").is_object() &&
                   options.at("lm").contains("num_retries")
               ? ""
               : " (DSPy's default)") +
          ": the host and DSPy would both retry, and one failed call could cost " +
          std::to_string(attempts * (retries + 1)) +
          " requests to the provider. Choose one layer: DSPy's, which retries each LM "
          "request (the default: leave out retry.max_attempts or set it to 1), or the host's, "
          "which retries the whole command (set options.lm.num_retries: 0)"};
}

std::vector<std::string> check_bridge_config(const json& bridge) {
  if (!bridge.is_object()) return {"the bridge config must be a map"};
  const auto found = bridge.find("options");
  // The retry layers are checked with or without options: DSPy retries by default.
  if (found == bridge.end() || found->is_null()) return check_one_retry_layer(bridge);
  const json& options = *found;
  if (!options.is_object()) return {"options must be a map (got " + shown(options) + ")"};

  std::vector<std::string> problems;
  const auto& known = option_names();
  for (const auto& item : options.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      problems.push_back("options." + item.key() +
                         " is not an option of the DSPy bridge (known: " + listed(known) +
                         "; LM settings such as model and temperature go under " + "options.lm)");
    }
  }
  check_int_option(options, "num_threads", 1, 64, problems);
  check_int_option(options, "max_history", 1, 10000, problems);
  if (const auto cache = options.find("cache"); cache != options.end()) {
    check_cache(*cache, problems);
  }
  if (const auto lookup = options.find("lookup");
      lookup != options.end() && !lookup->is_null() && !lookup->is_object()) {
    problems.push_back("options.lookup must be a map of key to text for the lookup tool (got " +
                       shown(*lookup) + ")");
  }
  const auto env = bridge.find("env");
  const json env_section = env == bridge.end() ? json() : *env;
  if (const auto lm = options.find("lm"); lm != options.end()) {
    auto lm_problems = check_lm_settings(*lm, "options.lm");
    if (lm_problems.empty()) {
      lm_problems = check_key_reaches_workers(*lm, env_section, "options.lm");
    }
    problems.insert(problems.end(), lm_problems.begin(), lm_problems.end());
  }
  if (const auto endpoints = options.find("endpoints"); endpoints != options.end()) {
    auto endpoint_problems = check_endpoints(*endpoints, env_section);
    problems.insert(problems.end(), endpoint_problems.begin(), endpoint_problems.end());
  }
  if (const auto declared = options.find("programs"); declared != options.end()) {
    const auto code = bridge.find("code");
    auto program_problems = check_programs(*declared, code == bridge.end() ? json() : *code);
    problems.insert(problems.end(), program_problems.begin(), program_problems.end());
  }
  auto retry_problems = check_one_retry_layer(bridge);
  problems.insert(problems.end(), retry_problems.begin(), retry_problems.end());
  return problems;
}

}  // namespace mlbridge::dspy_plugin
