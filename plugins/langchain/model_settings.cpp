#include "model_settings.hpp"

#include "json_checks.hpp"

namespace mlbridge::langchain_plugin {
namespace {

// models.py MAX_REPLIES.
constexpr std::size_t kMaxReplies = 1000;
// retrieval.py PROVIDERS.
const std::vector<std::string> kProviders = {"local", "openai"};
// The variable langchain-openai reads when no api_key_env is named.
constexpr const char* kDefaultKeyVariable = "OPENAI_API_KEY";

const json& member(const json& object, const char* key) {
  static const json null_value;
  if (!object.is_object()) return null_value;
  const auto found = object.find(key);
  return found == object.end() ? null_value : *found;
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

bool is_url(const json& value) {
  if (!value.is_string()) return false;
  const std::string url = value.get<std::string>();
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

/// Checks of one settings map, collecting "<where>.<key> must be <wanted> (got <value>)".
class SettingsCheck {
 public:
  SettingsCheck(const json& settings, std::string where)
      : settings_(settings), where_(std::move(where)) {}

  bool given(const char* key) const { return settings_.contains(key); }
  const json& at(const char* key) const { return settings_.at(key); }

  /// Records a problem unless `ok`; `show` repeats the value (never for what may be a key).
  void expect(const char* key, bool ok, const std::string& wanted, bool show = true) {
    if (ok) return;
    std::string problem = where_ + "." + key + " must be " + wanted;
    if (show) problem += " (got " + shown(settings_.at(key)) + ")";
    problems_.push_back(std::move(problem));
  }

  /// A secret under any of kSecretKeys: one message, and nothing else is checked.
  bool refuses_secrets() {
    for (const char* secret : kSecretKeys) {
      if (settings_.contains(secret)) {
        problems_.push_back(where_ + "." + secret +
                            ": API keys never go into the configuration; set " + where_ +
                            ".api_key_env to the name of the environment variable that holds "
                            "the key, and list that name in env.pass");
        return true;
      }
    }
    return false;
  }

  void unknown_keys(const std::vector<std::string>& known, const std::string& what) {
    for (const auto& item : settings_.items()) {
      if (!holds(known, item.key())) {
        problems_.push_back(where_ + "." + item.key() + " is not " + what +
                            " (known: " + listed(known) + ")");
      }
    }
  }

  void optional_text(const char* key) {
    if (given(key)) expect(key, at(key).is_null() || is_text(at(key)), "a non-empty string");
  }
  void optional_url(const char* key) {
    if (!given(key) || at(key).is_null()) return;
    if (!is_text(at(key))) {
      expect(key, false, "a non-empty string");
    } else {
      expect(key, is_url(at(key)), "an http:// or https:// URL");
    }
  }
  void optional_env_name(const char* key) {
    // Never shown: people paste the key itself here.
    if (given(key)) {
      expect(key, at(key).is_null() || is_env_name(at(key)),
             "the name of the environment variable that holds the API key (letters, digits "
             "and '_', e.g. OPENAI_API_KEY), not the key itself",
             false);
    }
  }
  void optional_positive_number(const char* key) {
    if (given(key)) {
      expect(key, at(key).is_null() || (is_number(at(key)) && as_double(at(key)) > 0),
             "a positive number of seconds");
    }
  }
  void retries(const char* key) {
    if (given(key)) {
      expect(key, is_int(at(key)) && as_double(at(key)) >= 0 && as_double(at(key)) <= 10,
             "an integer from 0 to 10");
    }
  }

  std::vector<std::string> take() { return std::move(problems_); }

 private:
  const json& settings_;
  const std::string where_;
  std::vector<std::string> problems_;
};

std::string key_message(const std::string& where, const std::string& name) {
  return where + ".api_key_env names " + name +
         ", which the workers never see: add it to env.pass (a worker's environment holds only "
         "PATH, HOME, LANG, LC_ALL, TZ, TMPDIR and what env.pass and env.set name)";
}

}  // namespace

const std::vector<std::string>& model_setting_names() {
  static const std::vector<std::string> names = {
      "api_key_env", "base_url", "max_retries",  "max_tokens",  "model",
      "offline",     "replies",  "stream_usage", "temperature", "timeout",
  };
  return names;
}

const std::vector<std::string>& embeddings_setting_names() {
  static const std::vector<std::string> names = {
      "api_key_env", "base_url", "dimensions", "max_retries", "model", "provider", "timeout",
  };
  return names;
}

std::vector<std::string> check_model_settings(const json& model, const std::string& where) {
  if (model.is_null()) return {};
  if (!model.is_object()) {
    return {where + " must be a map of model settings, e.g. {model: gpt-4o-mini, " +
            "api_key_env: OPENAI_API_KEY} (got " + shown(model) + ")"};
  }
  SettingsCheck check(model, where);
  if (check.refuses_secrets()) return check.take();
  check.unknown_keys(model_setting_names(), "a model setting");
  // A key absent from the map takes ModelConfig's default, which is always valid.
  check.optional_text("model");
  check.optional_url("base_url");
  check.optional_env_name("api_key_env");
  if (check.given("temperature")) {
    const json& value = check.at("temperature");
    check.expect(
        "temperature",
        value.is_null() || (is_number(value) && as_double(value) >= 0.0 && as_double(value) <= 2.0),
        "a number from 0 to 2");
  }
  if (check.given("max_tokens")) {
    const json& value = check.at("max_tokens");
    check.expect("max_tokens", value.is_null() || (is_int(value) && as_double(value) > 0),
                 "a positive integer");
  }
  check.optional_positive_number("timeout");
  check.retries("max_retries");
  if (check.given("stream_usage")) {
    const json& value = check.at("stream_usage");
    check.expect("stream_usage", value.is_null() || value.is_boolean(), "true, false or null");
  }
  if (check.given("offline"))
    check.expect("offline", check.at("offline").is_boolean(), "true or false");
  bool replies_ok = true;
  if (check.given("replies")) {
    const json& replies = check.at("replies");
    replies_ok = replies.is_array() && replies.size() <= kMaxReplies &&
                 std::all_of(replies.begin(), replies.end(),
                             [](const json& reply) { return reply.is_string(); });
    check.expect("replies", replies_ok,
                 "a list of at most " + std::to_string(kMaxReplies) + " strings");
  }
  auto problems = check.take();
  // models.build: scripted replies belong to the offline model only.
  const json& offline = member(model, "offline");
  const json& replies = member(model, "replies");
  if (replies_ok && replies.is_array() && !replies.empty() &&
      !(offline.is_boolean() && offline.get<bool>())) {
    problems.push_back(where + ".replies are scripted replies of the offline model; set " + where +
                       ".offline: true");
  }
  return problems;
}

std::vector<std::string> check_embeddings_settings(const json& embeddings,
                                                   const std::string& where) {
  if (embeddings.is_null()) return {};
  if (embeddings.is_string()) {
    if (holds(kProviders, embeddings.get<std::string>())) return {};
    return {where + " must be one of " + listed(kProviders) + " (got " + shown(embeddings) + ")"};
  }
  if (!embeddings.is_object()) {
    return {where + " must be a provider name (" + listed(kProviders) +
            ") or a map of embeddings settings, e.g. {provider: openai, model: " +
            "text-embedding-3-small, api_key_env: OPENAI_API_KEY} (got " + shown(embeddings) + ")"};
  }
  SettingsCheck check(embeddings, where);
  if (check.refuses_secrets()) return check.take();
  check.unknown_keys(embeddings_setting_names(), "an embeddings setting");
  if (check.given("provider")) {
    const json& provider = check.at("provider");
    check.expect("provider", provider.is_string() && holds(kProviders, provider.get<std::string>()),
                 "one of " + listed(kProviders));
  }
  check.optional_text("model");
  check.optional_url("base_url");
  check.optional_env_name("api_key_env");
  if (check.given("dimensions")) {
    const json& value = check.at("dimensions");
    check.expect(
        "dimensions",
        value.is_null() || (is_int(value) && as_double(value) >= 1 && as_double(value) <= 8192),
        "an integer from 1 to 8192");
  }
  check.optional_positive_number("timeout");
  check.retries("max_retries");
  return check.take();
}

std::vector<std::string> check_endpoints(const json& endpoints, const json& env) {
  if (endpoints.is_null()) return {};
  if (!endpoints.is_array()) {
    return {
        "options.endpoints must be a list of {base_url: <url>, api_key_env: <VARIABLE>} "
        "(leave out base_url for OpenAI itself) (got " +
        shown(endpoints) + ")"};
  }
  const auto variables = worker_variables(env);
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    const json& entry = endpoints[i];
    const std::string where = "options.endpoints[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      problems.push_back(where + " must be a map {base_url: <url>, api_key_env: <VARIABLE>} (got " +
                         shown(entry) + ")");
      continue;
    }
    SettingsCheck check(entry, where);
    check.unknown_keys({"api_key_env", "base_url"}, "an endpoint setting");
    check.optional_url("base_url");
    const json& name = member(entry, "api_key_env");
    if (!is_env_name(name)) {
      // Never shown: people paste the key itself here.
      check.expect("api_key_env", false,
                   "the name of the environment variable that holds the key sent to this "
                   "endpoint (e.g. OPENAI_API_KEY), not the key itself",
                   false);
    }
    auto entry_problems = check.take();
    if (is_env_name(name) && !holds(variables, name.get<std::string>())) {
      entry_problems.push_back(key_message(where, name.get<std::string>()));
    }
    problems.insert(problems.end(), entry_problems.begin(), entry_problems.end());
  }
  return problems;
}

std::vector<std::string> check_model_key_reaches_workers(const json& model, const json& env,
                                                         const std::string& where) {
  // No settings (null or {}): the offline model, and the bridge says so in every answer.
  if (!model.is_object() || model.empty()) return {};
  const json& offline = member(model, "offline");
  if (offline.is_boolean() && offline.get<bool>()) return {};
  const auto variables = worker_variables(env);
  const json& key_env = member(model, "api_key_env");
  if (key_env.is_string()) {
    const std::string name = key_env.get<std::string>();
    if (holds(variables, name)) return {};
    return {key_message(where, name)};
  }
  if (member(model, "base_url").is_string()) return {};  // a server that may need no key
  if (holds(variables, kDefaultKeyVariable)) return {};
  return {where + " names a model, but no API key reaches the workers, so the bridge would " +
          "answer with its offline fake model: set " + where +
          ".api_key_env: " + kDefaultKeyVariable + " and add " + kDefaultKeyVariable +
          " to env.pass (or set " + where + ".base_url for a server without keys, or " + where +
          ".offline: true for the offline model)"};
}

std::vector<std::string> check_embeddings_key_reaches_workers(const json& embeddings,
                                                              const json& env,
                                                              const std::string& where) {
  const json& provider = embeddings.is_string() ? embeddings : member(embeddings, "provider");
  if (!provider.is_string() || provider.get<std::string>() != "openai") return {};
  const auto variables = worker_variables(env);
  const json& key_env = member(embeddings, "api_key_env");
  if (key_env.is_string()) {
    const std::string name = key_env.get<std::string>();
    if (holds(variables, name)) return {};
    return {key_message(where, name)};
  }
  if (member(embeddings, "base_url").is_string()) return {};
  if (holds(variables, kDefaultKeyVariable)) return {};
  return {where + " asks for OpenAI embeddings, but no API key reaches the workers, so the " +
          "bridge would fall back to its local embedding: set " + where + ".api_key_env: " +
          kDefaultKeyVariable + " and add " + kDefaultKeyVariable + " to env.pass (or set " +
          where + ".base_url for a server without keys, or provider: local)"};
}

}  // namespace mlbridge::langchain_plugin
