// The DSPy plugin's hooks, through the real libmlbridge_dspy.so loaded by the host's
// PluginLoader: defaults, config validation, the program resource map, error rules and the
// argument check. No Python runs here.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "mlbridge/config/bridge_config.hpp"
#include "mlbridge/config/host_config.hpp"
#include "mlbridge/config/yaml_loader.hpp"
#include "mlbridge/errors/translator.hpp"
#include "mlbridge/plugin/plugin_loader.hpp"
#include "mlbridge/sdk/plugin_abi.h"

namespace mlbridge::testing {
namespace {

using json = protocol::json;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class DspyPluginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    static plugin::PluginLoader loader({DSPY_PLUGIN_DIR});
    auto loaded = loader.load("dspy");
    ASSERT_TRUE(loaded.ok()) << loaded.error().describe();
    adapter_ = *loaded;
  }

  /// The plugin's verdict on a bridge config given as JSON (YAML keys).
  static Status validate(const json& bridge) { return adapter_->validate(bridge); }

  /// The verdict on `options`, with `env` as the bridge's env section.
  static Status validate_options(const json& options, const json& env = nullptr) {
    json bridge = {{"plugin", "dspy"}, {"options", options}};
    if (!env.is_null()) bridge["env"] = env;
    return validate(bridge);
  }

  /// The error a bridge error from Python becomes after the plugin's rules.
  static Error translate(const std::string& type, const std::string& message,
                         ErrorCategory worker_hint = ErrorCategory::kInternal) {
    errors::ErrorTranslator translator({}, adapter_->error_rules());
    Error error = Error::make(worker_hint, message);
    error.python_type = type;
    return translator.translate(error);
  }

  static plugin::AdapterPtr adapter_;
};

plugin::AdapterPtr DspyPluginTest::adapter_;

// ----------------------------------------------------------------------------- identity

TEST_F(DspyPluginTest, ReportsItsIdentityAndAbi) {
  const auto& info = adapter_->info();
  EXPECT_EQ(info.name, "dspy");
  EXPECT_EQ(info.framework, "dspy");
  EXPECT_FALSE(info.version.empty());
  EXPECT_FALSE(info.description.empty());
  EXPECT_EQ(info.abi_major, MLBRIDGE_PLUGIN_ABI_MAJOR);
  EXPECT_TRUE(has(info.path, "libmlbridge_dspy.so")) << info.path;
}

// ----------------------------------------------------------------------------- defaults

TEST_F(DspyPluginTest, DefaultsNameTheBridgeScriptAndDspy) {
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok()) << defaults.error().describe();
  EXPECT_EQ(defaults->at("script"), "python_bridges/dspy_bridge.py");
  EXPECT_EQ(defaults->at("required_packages"), json::array({"dspy"}));
  EXPECT_GE(defaults->at("pool").at("size").get<int>(), 1);
  EXPECT_GE(defaults->at("pool").at("max_overflow").get<int>(), 1);  // bursts of slow LLM calls
  // LLM calls outlast the host's 30 s default; DSPy's import outlasts a few seconds.
  EXPECT_GE(defaults->at("timeouts").at("request_ms").get<int>(), 60000);
  EXPECT_GE(defaults->at("timeouts").at("startup_ms").get<int>(), 60000);
  EXPECT_EQ(defaults->at("env").at("set").at("LITELLM_LOCAL_MODEL_COST_MAP"), "True");
}

TEST_F(DspyPluginTest, IdempotentCommandsAreReadsAndRunsOnly) {
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok());
  const auto idempotent = defaults->at("idempotent").get<std::vector<std::string>>();
  for (const std::string command :
       {"get_lm", "list_programs", "get_program_info", "execute_program", "list_tools"}) {
    EXPECT_NE(std::find(idempotent.begin(), idempotent.end(), command), idempotent.end())
        << command;
  }
  for (const std::string command :
       {"create_program", "delete_program", "load_program", "optimize_program"}) {
    EXPECT_EQ(std::find(idempotent.begin(), idempotent.end(), command), idempotent.end())
        << command;
  }
}

TEST_F(DspyPluginTest, DefaultsMergeIntoAValidBridgeConfig) {
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok());
  const json given = {{"plugin", "dspy"}, {"pool", {{"size", 1}}}, {"env", {{"pass", {"K"}}}}};
  auto bridge = config::parse_bridge_config("dspy", config::merge_defaults(*defaults, given));
  ASSERT_TRUE(bridge.ok()) << bridge.error().describe();
  EXPECT_EQ(bridge->script, "python_bridges/dspy_bridge.py");
  EXPECT_EQ(bridge->pool.size, 1u);          // the YAML wins
  EXPECT_GE(bridge->pool.max_overflow, 1u);  // the default fills in the rest
  EXPECT_EQ(bridge->env_pass, std::vector<std::string>{"K"});
  EXPECT_EQ(bridge->env_set.at("LITELLM_TELEMETRY"), "False");
  EXPECT_EQ(bridge->required_packages, std::vector<std::string>{"dspy"});
  EXPECT_TRUE(validate(bridge->raw).ok());
}

// ----------------------------------------------------------------------------- validation

TEST_F(DspyPluginTest, AcceptsWhatInitializeAccepts) {
  EXPECT_TRUE(validate({{"plugin", "dspy"}}).ok());
  EXPECT_TRUE(validate_options(nullptr).ok());
  EXPECT_TRUE(validate_options(json::object()).ok());
  EXPECT_TRUE(validate_options({{"lm", nullptr}}).ok());
  EXPECT_TRUE(validate_options({{"lm", {{"offline", true}}}}).ok());
  EXPECT_TRUE(
      validate_options({{"lm", {{"model", "openai/gpt-4o-mini"}, {"offline", true}}}}).ok());
  const json full = {{"model", "openai/gpt-4o-mini"},
                     {"api_base", "http://127.0.0.1:8000/v1"},
                     {"api_key_env", "OPENAI_API_KEY"},
                     {"temperature", 0},
                     {"max_tokens", 1000},
                     {"cache", false},
                     {"num_retries", 3},
                     {"timeout_s", 2.5},
                     {"engine", "litellm"},
                     {"adapter", "json"},
                     {"model_type", "chat"},
                     {"offline", false}};
  auto ok = validate_options({{"lm", full},
                              {"num_threads", 8},
                              {"max_history", 50},
                              {"cache", {{"dir", "/tmp/x"}, {"disk", false}, {"memory", true}}},
                              {"lookup", {{"mlbridge", "a host for Python ML"}}}},
                             {{"pass", {"OPENAI_API_KEY"}}});
  EXPECT_TRUE(ok.ok()) << ok.error().describe();
  // A local server needs no key.
  EXPECT_TRUE(
      validate_options({{"lm", {{"model", "openai/llama"}, {"api_base", "http://h:1/v1"}}}}).ok());
  // The provider's usual variable, passed through.
  EXPECT_TRUE(validate_options({{"lm", {{"model", "anthropic/claude-3-haiku"}}}},
                               {{"pass", {"ANTHROPIC_API_KEY"}}})
                  .ok());
  EXPECT_TRUE(validate_options({{"lm", {{"model", "gpt-4o-mini"}}}},
                               {{"set", {{"OPENAI_API_KEY", "from-env-set"}}}})
                  .ok());
  // The endpoints a key may be sent to: a server, or a provider's own endpoint.
  auto endpoints = validate_options(
      {{"endpoints",
        {{{"api_base", "https://gateway.internal/v1"}, {"api_key_env", "GATEWAY_KEY"}},
         {{"provider", "anthropic"}, {"api_key_env", "ANTHROPIC_API_KEY"}}}}},
      {{"pass", {"GATEWAY_KEY", "ANTHROPIC_API_KEY"}}});
  EXPECT_TRUE(endpoints.ok()) << endpoints.error().describe();
  EXPECT_TRUE(validate_options({{"endpoints", json::array()}}).ok());
}

TEST_F(DspyPluginTest, DefaultsLeaveRetriesToDspy) {
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->at("retry").at("max_attempts"), 1);
  auto merged = config::merge_defaults(*defaults, {{"plugin", "dspy"}});
  EXPECT_TRUE(validate(merged).ok());
}

TEST_F(DspyPluginTest, RefusesTwoRetryLayers) {
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok());
  // The host's retries on top of DSPy's default num_retries (3): refused, naming both keys.
  const json both =
      config::merge_defaults(*defaults, {{"plugin", "dspy"}, {"retry", {{"max_attempts", 3}}}});
  auto refused = validate(both);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kInvalidConfiguration);
  for (const char* part : {"retry.max_attempts is 3", "options.lm.num_retries is 3", "12 requests",
                           "options.lm.num_retries: 0"}) {
    EXPECT_TRUE(has(refused.error().message, part))
        << part << " not in " << refused.error().message;
  }
  // The host's layer alone is fine, and so is DSPy's alone.
  json host_only = both;
  host_only["options"] = {{"lm", {{"num_retries", 0}}}};
  EXPECT_TRUE(validate(host_only).ok());
  json dspy_only = config::merge_defaults(
      *defaults, {{"plugin", "dspy"}, {"options", {{"lm", {{"num_retries", 5}}}}}});
  EXPECT_TRUE(validate(dspy_only).ok());
}

struct BadConfig {
  const char* name;
  json options;
  json env;
  std::vector<std::string> expected;  // every part must be in the message
};

class DspyValidationTest : public DspyPluginTest,
                           public ::testing::WithParamInterface<BadConfig> {};

TEST_P(DspyValidationTest, NamesTheKey) {
  const BadConfig& bad = GetParam();
  auto status = validate_options(bad.options, bad.env);
  ASSERT_FALSE(status.ok()) << bad.name;
  EXPECT_EQ(status.error().category, ErrorCategory::kInvalidConfiguration);
  for (const auto& part : bad.expected) {
    EXPECT_TRUE(has(status.error().message, part))
        << bad.name << ": '" << part << "' not in: " << status.error().message;
  }
  EXPECT_TRUE(has(status.error().message, "plugin 'dspy'")) << status.error().message;
}

const json kPassKey = {{"pass", {"OPENAI_API_KEY"}}};

INSTANTIATE_TEST_SUITE_P(
    Options, DspyValidationTest,
    ::testing::Values(
        BadConfig{
            "lm_string", {{"lm", "openai/gpt-4o-mini"}}, nullptr, {"options.lm must be a map"}},
        BadConfig{"model_number",
                  {{"lm", {{"model", 42}}}},
                  nullptr,
                  {"options.lm.model must be a non-empty string", "42"}},
        BadConfig{"model_empty", {{"lm", {{"model", ""}}}}, nullptr, {"options.lm.model"}},
        BadConfig{"api_base_list",
                  {{"lm", {{"api_base", json::array()}}}},
                  nullptr,
                  {"options.lm.api_base must be a non-empty string"}},
        BadConfig{"unknown_lm_key",
                  {{"lm", {{"modle", "x"}}}},
                  nullptr,
                  {"options.lm.modle is not an LM setting", "model"}},
        BadConfig{"temperature_high",
                  {{"lm", {{"temperature", 3}}}},
                  nullptr,
                  {"options.lm.temperature must be a number from 0 to 2"}},
        BadConfig{"temperature_bool",
                  {{"lm", {{"temperature", true}}}},
                  nullptr,
                  {"options.lm.temperature"}},
        BadConfig{"max_tokens_float",
                  {{"lm", {{"max_tokens", 10.5}}}},
                  nullptr,
                  {"options.lm.max_tokens must be a positive integer"}},
        BadConfig{
            "max_tokens_zero", {{"lm", {{"max_tokens", 0}}}}, nullptr, {"options.lm.max_tokens"}},
        BadConfig{"timeout_negative",
                  {{"lm", {{"timeout_s", -1}}}},
                  nullptr,
                  {"options.lm.timeout_s must be a positive number"}},
        BadConfig{"retries_high",
                  {{"lm", {{"num_retries", 11}}}},
                  nullptr,
                  {"options.lm.num_retries must be an integer from 0 to 10"}},
        BadConfig{"retries_null",
                  {{"lm", {{"num_retries", nullptr}}}},
                  nullptr,
                  {"options.lm.num_retries"}},
        BadConfig{"cache_string",
                  {{"lm", {{"cache", "yes"}}}},
                  nullptr,
                  {"options.lm.cache must be true or false"}},
        BadConfig{"offline_number",
                  {{"lm", {{"offline", 1}}}},
                  nullptr,
                  {"options.lm.offline must be true or false"}},
        BadConfig{"engine",
                  {{"lm", {{"engine", "vllm"}}}},
                  nullptr,
                  {"options.lm.engine must be one of litellm, auto, lm15"}},
        BadConfig{"adapter",
                  {{"lm", {{"adapter", "xml"}}}},
                  nullptr,
                  {"options.lm.adapter must be one of chat, json"}},
        BadConfig{"model_type",
                  {{"lm", {{"model_type", "embedding"}}}},
                  nullptr,
                  {"options.lm.model_type must be one of chat, responses, text"}},
        BadConfig{"api_key_env_bad_name",
                  {{"lm", {{"api_key_env", "MY-KEY"}}}},
                  nullptr,
                  {"options.lm.api_key_env must be the name of the environment variable"}},
        BadConfig{"several_problems",
                  {{"lm", {{"model", 1}, {"temperature", 9}}}},
                  nullptr,
                  {"options.lm.model", "options.lm.temperature"}},
        BadConfig{"key_not_passed",
                  {{"lm", {{"model", "openai/gpt-4o-mini"}, {"api_key_env", "MY_KEY"}}}},
                  kPassKey,
                  {"options.lm.api_key_env names MY_KEY", "env.pass"}},
        BadConfig{"provider_key_not_passed",
                  {{"lm", {{"model", "anthropic/claude-3-haiku"}}}},
                  kPassKey,
                  {"options.lm.model anthropic/claude-3-haiku needs an API key",
                   "ANTHROPIC_API_KEY", "env.pass"}},
        BadConfig{"unknown_option",
                  {{"temperature", 0.0}},
                  nullptr,
                  {"options.temperature is not an option of the DSPy bridge", "options.lm"}},
        BadConfig{"num_threads_zero",
                  {{"num_threads", 0}},
                  nullptr,
                  {"options.num_threads must be an integer from 1 to 64"}},
        BadConfig{"max_history_string",
                  {{"max_history", "100"}},
                  nullptr,
                  {"options.max_history must be an integer from 1 to 10000"}},
        BadConfig{"cache_false",
                  {{"cache", false}},
                  nullptr,
                  {"options.cache must be a map", "disk: false, memory: false"}},
        BadConfig{"cache_disk_string",
                  {{"cache", {{"disk", "no"}}}},
                  nullptr,
                  {"options.cache.disk must be true or false"}},
        BadConfig{"cache_unknown",
                  {{"cache", {{"size", 1}}}},
                  nullptr,
                  {"options.cache.size is not a cache setting"}},
        BadConfig{"lookup_list",
                  {{"lookup", json::array({"a"})}},
                  nullptr,
                  {"options.lookup must be a map"}},
        BadConfig{"options_list", json::array({1}), nullptr, {"options must be a map"}},
        BadConfig{"endpoints_map",
                  {{"endpoints", {{"api_base", "http://h/v1"}, {"api_key_env", "OPENAI_API_KEY"}}}},
                  kPassKey,
                  {"options.endpoints must be a list"}},
        BadConfig{"endpoint_both",
                  {{"endpoints",
                    {{{"api_base", "http://h/v1"},
                      {"provider", "openai"},
                      {"api_key_env", "OPENAI_API_KEY"}}}}},
                  kPassKey,
                  {"options.endpoints[0] needs exactly one of api_base", "provider"}},
        BadConfig{"endpoint_neither",
                  {{"endpoints", {{{"api_key_env", "OPENAI_API_KEY"}}}}},
                  kPassKey,
                  {"options.endpoints[0] needs exactly one of api_base"}},
        BadConfig{"endpoint_not_a_url",
                  {{"endpoints", {{{"api_base", "h:1/v1"}, {"api_key_env", "OPENAI_API_KEY"}}}}},
                  kPassKey,
                  {"options.endpoints[0].api_base must be an http:// or https:// URL"}},
        BadConfig{"endpoint_provider_upper",
                  {{"endpoints", {{{"provider", "OpenAI"}, {"api_key_env", "OPENAI_API_KEY"}}}}},
                  kPassKey,
                  {"options.endpoints[0].provider must be a LiteLLM provider name"}},
        BadConfig{"endpoint_without_key",
                  {{"endpoints", {{{"api_base", "http://h/v1"}}}}},
                  kPassKey,
                  {"options.endpoints[0].api_key_env must be the name of the environment"}},
        BadConfig{"endpoint_key_not_passed",
                  {{"endpoints", {{{"api_base", "http://h/v1"}, {"api_key_env", "OTHER_KEY"}}}}},
                  kPassKey,
                  {"options.endpoints[0].api_key_env names OTHER_KEY", "env.pass"}},
        BadConfig{
            "endpoint_unknown_key",
            {{"endpoints", {{{"base_url", "http://h/v1"}, {"api_key_env", "OPENAI_API_KEY"}}}}},
            kPassKey,
            {"options.endpoints[0].base_url is not an endpoint setting", "api_base"}},
        BadConfig{"programs_not_a_list",
                  {{"programs", {{"qa", "question -> answer"}}}},
                  nullptr,
                  {"options.programs must be a list"}},
        BadConfig{"program_without_id",
                  {{"programs", {{{"signature", "question -> answer"}}}}},
                  nullptr,
                  {"options.programs[0].program_id"}},
        BadConfig{"program_declared_twice",
                  {{"programs",
                    {{{"program_id", "qa"}, {"signature", "q -> a"}},
                     {{"program_id", "qa"}, {"signature", "q -> a"}}}}},
                  nullptr,
                  {"options.programs[1].program_id 'qa' is declared twice"}},
        BadConfig{"program_without_signature",
                  {{"programs", {{{"program_id", "qa"}, {"module", "predict"}}}}},
                  nullptr,
                  {"options.programs[0] needs 'signature'"}},
        BadConfig{
            "program_unknown_module",
            {{"programs", {{{"program_id", "qa"}, {"module", "rag"}, {"signature", "q -> a"}}}}},
            nullptr,
            {"options.programs[0].module 'rag'", "import path"}},
        BadConfig{"program_unknown_key",
                  {{"programs", {{{"program_id", "qa"}, {"signature", "q -> a"}, {"k", 2}}}}},
                  nullptr,
                  {"options.programs[0].k is not an argument of create_program"}},
        BadConfig{"program_module_not_declared",
                  {{"programs", {{{"program_id", "rag"}, {"module", "myteam.programs:RAG"}}}}},
                  nullptr,
                  {"options.programs[0].module 'myteam.programs:RAG'", "code.modules"}},
        BadConfig{"program_init_not_a_map",
                  {{"programs",
                    {{{"program_id", "rag"},
                      {"module", "predict"},
                      {"signature", "q -> a"},
                      {"init", 3}}}}},
                  nullptr,
                  {"options.programs[0].init must be a map"}}),
    [](const ::testing::TestParamInfo<BadConfig>& info) { return std::string(info.param.name); });

TEST_F(DspyPluginTest, AcceptsProgramsOfTheDeclaredUserCode) {
  const json programs = {
      {{"program_id", "qa"}, {"signature", "question -> answer"}},
      {{"program_id", "rag"}, {"module", "myteam.programs:RAG"}, {"init", {{"k", 2}}}},
      {{"program_id", "agent"},
       {"module", "react"},
       {"signature", "myteam.programs:AnswerWithCitations"},
       {"tools", {"calculator", "myteam.tools:search"}}}};
  const json bridge = {
      {"plugin", "dspy"},
      {"code",
       {{"paths", {"examples/user_code"}}, {"modules", {"myteam.programs", "myteam.tools"}}}},
      {"options", {{"programs", programs}}}};
  auto status = validate(bridge);
  EXPECT_TRUE(status.ok()) << status.error().message;
  json undeclared = bridge;
  undeclared["code"]["modules"] = {"myteam.programs"};
  status = validate(undeclared);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(has(status.error().message, "options.programs[2].tools[1] 'myteam.tools:search'"))
      << status.error().message;
}

TEST_F(DspyPluginTest, NeverRepeatsAKeyWrittenIntoTheConfig) {
  const std::string key = "sk-proj-SECRET-do-not-echo-123456";
  for (const json& lm : {json{{"api_key", key}}, json{{"key", key}}, json{{"api_key_env", key}}}) {
    auto status = validate_options({{"lm", lm}});
    ASSERT_FALSE(status.ok()) << lm.begin().key();
    EXPECT_FALSE(has(status.error().message, key)) << status.error().message;
    EXPECT_TRUE(has(status.error().message, "api_key_env")) << status.error().message;
  }
}

TEST_F(DspyPluginTest, ValidatesYamlAsTheConfigLoaderTypesIt) {
  const std::string yaml =
      "plugin: dspy\n"
      "env: {pass: [MOCK_LLM_KEY]}\n"
      "options:\n"
      "  num_threads: 2\n"
      "  lm: {model: openai/gpt-test, api_key_env: MOCK_LLM_KEY, temperature: 0.0,\n"
      "       max_tokens: 200, cache: false, timeout_s: 30, num_retries: 0}\n";
  config::SourceMap map;
  auto doc = config::parse_yaml(yaml, "dspy.yaml", map);
  ASSERT_TRUE(doc.ok()) << doc.error().describe();
  auto status = validate(*doc);
  EXPECT_TRUE(status.ok()) << status.error().describe();

  auto quoted = config::parse_yaml("options: {lm: {max_tokens: \"200\"}}\n", "q.yaml", map);
  ASSERT_TRUE(quoted.ok());
  EXPECT_FALSE(validate(*quoted).ok());  // a quoted number is a string to Python, too
}

TEST_F(DspyPluginTest, ShippedExampleDeploymentIsValid) {
  auto host =
      config::load_host_config(std::string(MLBRIDGE_SOURCE_DIR) + "/config/examples/dspy.yaml");
  ASSERT_TRUE(host.ok()) << host.error().describe();
  EXPECT_EQ(host->default_bridge, "dspy");
  const config::BridgeConfig& given = host->bridges.at("dspy");
  EXPECT_EQ(given.plugin, "dspy");
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok());
  auto merged = config::parse_bridge_config("dspy", config::merge_defaults(*defaults, given.raw));
  ASSERT_TRUE(merged.ok()) << merged.error().describe();
  EXPECT_EQ(merged->script, "python_bridges/dspy_bridge.py");
  auto status = validate(merged->raw);
  EXPECT_TRUE(status.ok()) << status.error().describe();
  EXPECT_TRUE(config::to_pool_config(*merged, *host).ok());
}

// ----------------------------------------------------------------------------- resources

TEST_F(DspyPluginTest, MapsProgramVerbsToBridgeCommands) {
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"create", "create_program"},   {"get", "get_program_info"},  {"list", "list_programs"},
      {"execute", "execute_program"}, {"delete", "delete_program"},
  };
  for (const auto& [verb, command] : expected) {
    auto mapped = adapter_->resource_command(verb, "program");
    ASSERT_TRUE(mapped.ok()) << verb;
    EXPECT_EQ(*mapped, command) << verb;
  }
}

TEST_F(DspyPluginTest, UnknownKindsAndVerbsAreNotFound) {
  for (const auto& [verb, kind] : std::vector<std::pair<std::string, std::string>>{
           {"create", "chain"}, {"optimize", "program"}, {"get", "programs"}, {"", "program"}}) {
    auto mapped = adapter_->resource_command(verb, kind);
    ASSERT_FALSE(mapped.ok()) << verb << "/" << kind;
    EXPECT_EQ(mapped.error().category, ErrorCategory::kNotFound);
  }
}

// ----------------------------------------------------------------------------- error rules

struct ErrorCase {
  const char* type;
  const char* message;
  ErrorCategory expected;
  bool retryable;
};

class DspyErrorRuleTest : public DspyPluginTest, public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(DspyErrorRuleTest, MapsTheTypeThatReachesTheHost) {
  const ErrorCase& c = GetParam();
  // The bridge's own hint (dspy_support/errors.py) must not matter: the plugin's rules decide.
  for (ErrorCategory hint : {ErrorCategory::kInternal, ErrorCategory::kModelError}) {
    const Error error = translate(c.type, c.message, hint);
    EXPECT_EQ(to_string(error.category), to_string(c.expected)) << c.type;
    EXPECT_EQ(error.retryable, c.retryable) << c.type;
    EXPECT_EQ(error.python_type, c.type);
    EXPECT_EQ(error.message, c.message);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, DspyErrorRuleTest,
    ::testing::Values(
        ErrorCase{"litellm.RateLimitError", "x", ErrorCategory::kRateLimit, true},
        ErrorCase{"openai.RateLimitError", "x", ErrorCategory::kRateLimit, true},
        ErrorCase{"dspy.LMRateLimitError", "x", ErrorCategory::kRateLimit, true},
        ErrorCase{"litellm.AuthenticationError", "x", ErrorCategory::kAuthentication, false},
        ErrorCase{"litellm.PermissionDeniedError", "x", ErrorCategory::kAuthentication, false},
        ErrorCase{"dspy.LMAuthError", "x", ErrorCategory::kAuthentication, false},
        ErrorCase{"litellm.ContextWindowExceededError", "x", ErrorCategory::kInvalidArgument,
                  false},
        ErrorCase{"litellm.BadRequestError", "x", ErrorCategory::kInvalidArgument, false},
        ErrorCase{"litellm.ContentPolicyViolationError", "x", ErrorCategory::kInvalidArgument,
                  false},
        ErrorCase{"litellm.Timeout", "x", ErrorCategory::kModelError, true},
        ErrorCase{"litellm.APIConnectionError", "x", ErrorCategory::kModelError, true},
        ErrorCase{"litellm.InternalServerError", "x", ErrorCategory::kModelError, true},
        ErrorCase{"litellm.ServiceUnavailableError", "x", ErrorCategory::kModelError, true},
        ErrorCase{"dspy.LMTimeoutError", "x", ErrorCategory::kModelError, true},
        ErrorCase{"dspy.AdapterParseError", "x", ErrorCategory::kModelError, false},
        ErrorCase{"dspy.LMBillingError", "x", ErrorCategory::kResourceExhausted, false},
        ErrorCase{"mlbridge.BridgeError",
                  "program 'qa' not found in session 's1'; list_programs shows its programs",
                  ErrorCategory::kNotFound, false}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) {
      std::string name = info.param.type;
      for (char& c : name) {
        if (c == '.') c = '_';
      }
      return name;
    });

TEST_F(DspyPluginTest, OtherBridgeErrorsKeepTheWorkersCategory) {
  const Error refused = translate("mlbridge.BridgeError", "program_id (a string) is required",
                                  ErrorCategory::kInvalidArgument);
  EXPECT_EQ(refused.category, ErrorCategory::kInvalidArgument);
  const Error exists = translate("mlbridge.BridgeError",
                                 "program 'qa' already exists; pass replace: true to overwrite it",
                                 ErrorCategory::kInvalidArgument);
  EXPECT_EQ(exists.category, ErrorCategory::kInvalidArgument);
}

TEST_F(DspyPluginTest, RulesAreQualifiedSoLookalikeTypesFallThrough) {
  // A user's own exception named like LiteLLM's is not LiteLLM's.
  EXPECT_EQ(translate("mytools.Timeout", "x").category, ErrorCategory::kInternal);
  EXPECT_EQ(translate("RateLimitError", "x").category, ErrorCategory::kInternal);
  // Python's builtins still get the host's defaults after the plugin's rules.
  EXPECT_EQ(translate("ValueError", "x").category, ErrorCategory::kInvalidArgument);
}

// ----------------------------------------------------------------------------- arguments

TEST_F(DspyPluginTest, RefusesAnApiKeyInConfigureLmWithoutRepeatingIt) {
  const std::string key = "sk-test-PLANTED-0123456789";
  for (const std::string command : {"configure_lm", "dspy:configure_lm"}) {
    for (const char* name : {"api_key", "key"}) {
      auto shaped = adapter_->shape_args(command, {{"model", "openai/x"}, {name, key}});
      ASSERT_FALSE(shaped.ok()) << command << " " << name;
      EXPECT_EQ(shaped.error().category, ErrorCategory::kInvalidArgument);
      EXPECT_TRUE(has(shaped.error().message, "api_key_env")) << shaped.error().message;
      EXPECT_FALSE(has(shaped.error().message, key)) << shaped.error().message;
    }
  }
}

TEST_F(DspyPluginTest, PassesOtherArgumentsUnchanged) {
  const json args = {{"program_id", "qa"}, {"inputs", {{"question", "2+2?"}}}};
  for (const std::string command : {"execute_program", "create_program", "list_programs"}) {
    auto shaped = adapter_->shape_args(command, args);
    ASSERT_TRUE(shaped.ok()) << command;
    EXPECT_EQ(*shaped, args);
  }
  const json lm = {{"model", "openai/gpt-test"}, {"api_key_env", "MOCK_LLM_KEY"}};
  auto shaped = adapter_->shape_args("configure_lm", lm);
  ASSERT_TRUE(shaped.ok());
  EXPECT_EQ(*shaped, lm);
}

}  // namespace
}  // namespace mlbridge::testing
