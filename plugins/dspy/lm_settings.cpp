#include "lm_settings.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <string_view>

#include "json_checks.hpp"

namespace mlbridge::dspy_plugin {
namespace {

// The choices of dspy_support/lm.py (ENGINES, ADAPTERS, MODEL_TYPES).
const std::vector<std::string> kEngines = {"litellm", "auto", "lm15"};
const std::vector<std::string> kAdapters = {"chat", "json"};
const std::vector<std::string> kModelTypes = {"chat", "responses", "text"};

bool one_of(const json& value, const std::vector<std::string>& choices) {
  return value.is_string() &&
         std::find(choices.begin(), choices.end(), value.get<std::string>()) != choices.end();
}

// Python's `_ENV_NAME`: [A-Za-z_][A-Za-z0-9_]*.
bool is_env_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool is_optional_string(const json& value) {
  return value.is_null() || (value.is_string() && !value.get<std::string>().empty());
}

// The variables a worker will have besides the minimal ones (PATH, HOME, ...).
std::vector<std::string> worker_variables(const json& env) {
  std::vector<std::string> names;
  if (!env.is_object()) return names;
  if (const auto pass = env.find("pass"); pass != env.end() && pass->is_array()) {
    for (const auto& name : *pass) {
      if (name.is_string()) names.push_back(name.get<std::string>());
    }
  }
  if (const auto set = env.find("set"); set != env.end() && set->is_object()) {
    for (const auto& item : set->items()) names.push_back(item.key());
  }
  return names;
}

// dspy_support/lm.py `_provider_key_variable`: "anthropic/claude" → ANTHROPIC_API_KEY, and a
// model with no provider prefix is OpenAI's.
std::string provider_key_variable(const std::string& model) {
  const auto slash = model.find('/');
  if (slash == std::string::npos) return "OPENAI_API_KEY";
  std::string provider = model.substr(0, slash);
  std::transform(provider.begin(), provider.end(), provider.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return provider + "_API_KEY";
}

const json& member(const json& object, const char* key) {
  static const json null_value;
  const auto found = object.find(key);
  return found == object.end() ? null_value : *found;
}

bool is_http_url(const json& value) {
  if (!value.is_string()) return false;
  const std::string url = value.get<std::string>();
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

// endpoints.py `_PROVIDER`: a LiteLLM provider name such as openai, anthropic, hosted_vllm.
bool is_provider_name(const json& value) {
  if (!value.is_string()) return false;
  const std::string name = value.get<std::string>();
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// Problems of one entry of options.endpoints (dspy_support/endpoints.py `_parse_entry`).
std::vector<std::string> check_endpoint(const json& entry, const std::string& where,
                                        const std::vector<std::string>& variables) {
  if (!entry.is_object()) {
    return {where + " must be a map {api_base: <url>, api_key_env: <VARIABLE>} or {provider: " +
            "<name>, api_key_env: <VARIABLE>} (got " + shown(entry) + ")"};
  }
  std::vector<std::string> problems;
  for (const auto& item : entry.items()) {
    if (item.key() != "api_base" && item.key() != "provider" && item.key() != "api_key_env") {
      problems.push_back(where + "." + item.key() +
                         " is not an endpoint setting (known: api_base, api_key_env, provider)");
    }
  }
  const json& name = member(entry, "api_key_env");
  if (!name.is_string() || !is_env_name(name.get<std::string>())) {
    // Never shown: people paste the key itself here.
    problems.push_back(where +
                       ".api_key_env must be the name of the environment variable that holds "
                       "the key sent to this endpoint (e.g. OPENAI_API_KEY), not the key itself");
  } else if (std::find(variables.begin(), variables.end(), name.get<std::string>()) ==
             variables.end()) {
    problems.push_back(where + ".api_key_env names " + name.get<std::string>() +
                       ", which the workers never see: add it to env.pass");
  }
  const bool has_base = entry.contains("api_base");
  const bool has_provider = entry.contains("provider");
  if (has_base == has_provider) {
    problems.push_back(where +
                       " needs exactly one of api_base (a server) and provider (the provider's "
                       "own endpoint, where a model such as anthropic/... goes without an "
                       "api_base)");
  } else if (has_base && !is_http_url(entry.at("api_base"))) {
    problems.push_back(where + ".api_base must be an http:// or https:// URL (got " +
                       shown(entry.at("api_base")) + ")");
  } else if (has_provider && !is_provider_name(entry.at("provider"))) {
    problems.push_back(where +
                       ".provider must be a LiteLLM provider name in lower case, such as "
                       "openai or anthropic (got " +
                       shown(entry.at("provider")) + ")");
  }
  return problems;
}

}  // namespace

const std::vector<std::string>& lm_setting_names() {
  static const std::vector<std::string> names = {
      "adapter", "api_base",   "api_key_env", "cache",   "engine",      "max_tokens",
      "model",   "model_type", "num_retries", "offline", "temperature", "timeout_s",
  };
  return names;
}

std::vector<std::string> check_lm_settings(const json& lm, const std::string& where) {
  if (lm.is_null()) return {};
  if (!lm.is_object()) {
    return {where + " must be a map of LM settings, e.g. {model: openai/gpt-4o-mini, " +
            "api_key_env: OPENAI_API_KEY} (got " + shown(lm) + ")"};
  }
  // The key itself is refused without being repeated: the message ends up in logs.
  for (const char* secret : {"api_key", "key"}) {
    if (lm.contains(secret)) {
      return {where + "." + secret + ": API keys never go into the configuration; set " + where +
              ".api_key_env to the name of the environment variable that holds the key, and " +
              "list that name in env.pass"};
    }
  }
  std::vector<std::string> problems;
  const auto& known = lm_setting_names();
  for (const auto& item : lm.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      problems.push_back(where + "." + item.key() +
                         " is not an LM setting (known: " + listed(known) + ")");
    }
  }
  auto check = [&](const char* key, bool ok, const std::string& wanted, bool show = true) {
    if (ok) return;
    std::string problem = where + "." + key + " must be " + wanted;
    if (show) problem += " (got " + shown(lm.at(key)) + ")";
    problems.push_back(std::move(problem));
  };
  // A key absent from the map takes LMConfig's default, which is always valid.
  auto given = [&](const char* key) { return lm.contains(key); };

  for (const char* key : {"model", "api_base"}) {
    if (given(key)) check(key, is_optional_string(lm.at(key)), "a non-empty string");
  }
  if (given("api_key_env")) {
    const json& name = lm.at("api_key_env");
    // Never shown: people paste the key itself here.
    check("api_key_env",
          name.is_null() || (name.is_string() && is_env_name(name.get<std::string>())),
          "the name of the environment variable that holds the API key (letters, digits and "
          "'_', e.g. OPENAI_API_KEY), not the key itself",
          false);
  }
  if (given("temperature")) {
    const json& value = lm.at("temperature");
    check(
        "temperature",
        value.is_null() || (is_number(value) && as_double(value) >= 0.0 && as_double(value) <= 2.0),
        "a number from 0 to 2");
  }
  if (given("max_tokens")) {
    const json& value = lm.at("max_tokens");
    check("max_tokens", value.is_null() || (is_int(value) && as_double(value) > 0),
          "a positive integer");
  }
  if (given("timeout_s")) {
    const json& value = lm.at("timeout_s");
    check("timeout_s", value.is_null() || (is_number(value) && as_double(value) > 0),
          "a positive number of seconds");
  }
  if (given("num_retries")) {
    const json& value = lm.at("num_retries");
    check("num_retries", is_int(value) && as_double(value) >= 0 && as_double(value) <= 10,
          "an integer from 0 to 10");
  }
  for (const char* key : {"cache", "offline"}) {
    if (given(key)) check(key, lm.at(key).is_boolean(), "true or false");
  }
  if (given("engine"))
    check("engine", one_of(lm.at("engine"), kEngines), "one of " + listed(kEngines));
  if (given("adapter")) {
    check("adapter", one_of(lm.at("adapter"), kAdapters), "one of " + listed(kAdapters));
  }
  if (given("model_type")) {
    check("model_type", one_of(lm.at("model_type"), kModelTypes), "one of " + listed(kModelTypes));
  }
  return problems;
}

std::vector<std::string> check_endpoints(const json& endpoints, const json& env) {
  if (endpoints.is_null()) return {};
  if (!endpoints.is_array()) {
    return {
        "options.endpoints must be a list of {api_base: <url>, api_key_env: <VARIABLE>} "
        "(or {provider: <name>, api_key_env: <VARIABLE>}) (got " +
        shown(endpoints) + ")"};
  }
  const auto variables = worker_variables(env);
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    auto entry =
        check_endpoint(endpoints[i], "options.endpoints[" + std::to_string(i) + "]", variables);
    problems.insert(problems.end(), entry.begin(), entry.end());
  }
  return problems;
}

std::vector<std::string> check_key_reaches_workers(const json& lm, const json& env,
                                                   const std::string& where) {
  if (!lm.is_object()) return {};
  const json& model = member(lm, "model");
  const json& offline = member(lm, "offline");
  if (!model.is_string() || (offline.is_boolean() && offline.get<bool>())) {
    return {};  // the offline DummyLM needs no key
  }
  const auto variables = worker_variables(env);
  auto reaches = [&](const std::string& name) {
    return std::find(variables.begin(), variables.end(), name) != variables.end();
  };
  const json& key_env = member(lm, "api_key_env");
  if (key_env.is_string()) {
    const std::string name = key_env.get<std::string>();
    if (reaches(name)) return {};
    return {where + ".api_key_env names " + name +
            ", which the workers never see: add it to env.pass (a worker's environment holds "
            "only PATH, HOME, LANG, LC_ALL, TZ, TMPDIR and what env.pass and env.set name)"};
  }
  if (member(lm, "api_base").is_string()) return {};  // a server that may need no key
  const std::string name = provider_key_variable(model.get<std::string>());
  if (reaches(name)) return {};
  return {where + ".model " + model.get<std::string>() + " needs an API key, and no variable " +
          "the workers see holds one: set " + where + ".api_key_env: " + name + " and add " + name +
          " to env.pass (or set " + where + ".api_base for a server " + "without keys, or " +
          where + ".offline: true for the offline DummyLM)"};
}

}  // namespace mlbridge::dspy_plugin
