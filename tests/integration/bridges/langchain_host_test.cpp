// The LangChain bridge end to end, in two parts:
//
// - LangChainPluginTest: the plugin's hooks through the real libmlbridge_langchain.so loaded by
//   the host's PluginLoader (defaults, config validation, the resource map, error rules,
//   argument checks). No Python runs there.
// - LangChainHostTest: the Host API with real Python workers running
//   python_bridges/langchain_bridge.py. Offline on LangChain's fake chat model, plus the HTTP
//   path against the mock OpenAI server (tests/support/openai_server.py) for the provider errors
//   the plugin's rules translate. A planted API key must never come back in any result, chunk,
//   error or line of the host's log. One host (and one mock server) serves the whole suite.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cancel_on_first_chunk.hpp"
#include "log_capture.hpp"
#include "mlbridge/config/bridge_config.hpp"
#include "mlbridge/config/host_config.hpp"
#include "mlbridge/config/yaml_loader.hpp"
#include "mlbridge/errors/translator.hpp"
#include "mlbridge/host.hpp"
#include "mlbridge/plugin/plugin_loader.hpp"
#include "mlbridge/sdk/plugin_abi.h"
#include "openai_server_process.hpp"
#include "refusing_port.hpp"
#include "test_paths.hpp"

namespace mlbridge::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kKeyVariable = "MOCK_LLM_KEY";
constexpr const char* kPlantedKey = "sk-test-PLANTED-0123456789";
constexpr const char* kOffline = "offline GenericFakeChatModel";

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> strings(const json& list) {
  std::vector<std::string> out;
  for (const auto& item : list) out.push_back(item.get<std::string>());
  return out;
}

// =============================================================================== plugin hooks

class LangChainPluginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    static plugin::PluginLoader loader({LANGCHAIN_PLUGIN_DIR});
    auto loaded = loader.load("langchain");
    ASSERT_TRUE(loaded.ok()) << loaded.error().describe();
    adapter_ = *loaded;
  }

  static Status validate(const json& bridge) { return adapter_->validate(bridge); }

  /// The verdict on `options`, with `env` as the bridge's env section.
  static Status validate_options(const json& options, const json& env = nullptr) {
    json bridge = {{"plugin", "langchain"}, {"options", options}};
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

plugin::AdapterPtr LangChainPluginTest::adapter_;

TEST_F(LangChainPluginTest, ReportsItsIdentityAndAbi) {
  const auto& info = adapter_->info();
  EXPECT_EQ(info.name, "langchain");
  EXPECT_EQ(info.framework, "langchain");
  EXPECT_FALSE(info.version.empty());
  EXPECT_TRUE(has(info.description, "LangChain")) << info.description;
  EXPECT_EQ(info.abi_major, MLBRIDGE_PLUGIN_ABI_MAJOR);
  EXPECT_TRUE(has(info.path, "libmlbridge_langchain.so")) << info.path;
}

TEST_F(LangChainPluginTest, DefaultsNameTheScriptAndPackagesForAnIoBoundBridge) {
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok()) << defaults.error().describe();
  EXPECT_EQ(defaults->at("script"), "python_bridges/langchain_bridge.py");
  EXPECT_EQ(defaults->at("required_packages"),
            json::array({"langchain", "langchain_core", "langchain_openai"}));
  EXPECT_GE(defaults->at("pool").at("size").get<int>(), 1);
  EXPECT_GE(defaults->at("pool").at("max_overflow").get<int>(), 1);  // bursts of slow calls
  EXPECT_GE(defaults->at("timeouts").at("request_ms").get<int>(), 60000);
  EXPECT_GE(defaults->at("timeouts").at("startup_ms").get<int>(), 60000);
}

TEST_F(LangChainPluginTest, IdempotentCommandsAreReadsOnly) {
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok());
  const auto idempotent = strings(defaults->at("idempotent"));
  auto listed = [&](const std::string& command) {
    return std::find(idempotent.begin(), idempotent.end(), command) != idempotent.end();
  };
  for (const char* command : {"get_model", "get_chain_info", "list_chains", "get_history",
                              "retrieve", "list_retrievers", "list_tools"}) {
    EXPECT_TRUE(listed(command)) << command;
  }
  // A retried chat or invoke of a conversation would record the turn twice.
  for (const char* command : {"invoke", "stream", "batch", "chat", "create_chain", "create_agent",
                              "create_retriever", "delete_chain", "delete_retriever"}) {
    EXPECT_FALSE(listed(command)) << command;
  }
}

TEST_F(LangChainPluginTest, DefaultsMergeIntoAValidBridgeConfig) {
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok());
  const json given = {{"plugin", "langchain"}, {"pool", {{"size", 1}}}, {"env", {{"pass", {"K"}}}}};
  auto bridge = config::parse_bridge_config("langchain", config::merge_defaults(*defaults, given));
  ASSERT_TRUE(bridge.ok()) << bridge.error().describe();
  EXPECT_EQ(bridge->script, "python_bridges/langchain_bridge.py");
  EXPECT_EQ(bridge->pool.size, 1u);          // the YAML wins
  EXPECT_GE(bridge->pool.max_overflow, 1u);  // the default fills in the rest
  EXPECT_EQ(bridge->env_pass, std::vector<std::string>{"K"});
  EXPECT_EQ(bridge->required_packages,
            (std::vector<std::string>{"langchain", "langchain_core", "langchain_openai"}));
  EXPECT_TRUE(validate(bridge->raw).ok());
}

// ----------------------------------------------------------------------------- validation

TEST_F(LangChainPluginTest, AcceptsWhatInitializeAccepts) {
  EXPECT_TRUE(validate({{"plugin", "langchain"}}).ok());
  EXPECT_TRUE(validate_options(nullptr).ok());
  EXPECT_TRUE(validate_options(json::object()).ok());
  EXPECT_TRUE(validate_options({{"model", nullptr}}).ok());
  EXPECT_TRUE(validate_options({{"model", json::object()}}).ok());  // the offline default
  EXPECT_TRUE(validate_options({{"model", {{"offline", true}}}}).ok());
  EXPECT_TRUE(validate_options({{"model", {{"offline", true}, {"replies", {"one", "two"}}}}}).ok());
  const json full = {{"model", "gpt-4o-mini"},
                     {"base_url", "https://api.example.com/v1"},
                     {"api_key_env", "OPENAI_API_KEY"},
                     {"temperature", 0},
                     {"max_tokens", 512},
                     {"timeout", 2.5},
                     {"max_retries", 3},
                     {"stream_usage", nullptr},
                     {"offline", false},
                     {"replies", json::array()}};
  const json embeddings = {{"provider", "openai"},
                           {"model", "text-embedding-3-small"},
                           {"base_url", "http://h:1/v1"},
                           {"api_key_env", "OPENAI_API_KEY"},
                           {"dimensions", 256},
                           {"timeout", 30},
                           {"max_retries", 0}};
  auto ok = validate_options({{"model", full},
                              {"embeddings", embeddings},
                              {"max_concurrency", 8},
                              {"max_batch", 100},
                              {"max_history", 2}},
                             {{"pass", {"OPENAI_API_KEY"}}});
  EXPECT_TRUE(ok.ok()) << ok.error().describe();
  // A local server needs no key.
  EXPECT_TRUE(
      validate_options({{"model", {{"model", "llama"}, {"base_url", "http://h:1/v1"}}}}).ok());
  // OpenAI's usual variable, passed through or set.
  EXPECT_TRUE(
      validate_options({{"model", {{"model", "gpt-4o-mini"}}}}, {{"pass", {"OPENAI_API_KEY"}}})
          .ok());
  EXPECT_TRUE(validate_options({{"model", {{"model", "gpt-4o-mini"}}}},
                               {{"set", {{"OPENAI_API_KEY", "from-env-set"}}}})
                  .ok());
  EXPECT_TRUE(validate_options({{"embeddings", "local"}}).ok());
  EXPECT_TRUE(validate_options({{"embeddings", {{"dimensions", 64}}}}).ok());
  // The endpoints a key may be sent to: a server, or OpenAI itself (no base_url).
  auto endpoints = validate_options(
      {{"endpoints",
        {{{"base_url", "https://gateway.internal/v1"}, {"api_key_env", "GATEWAY_KEY"}},
         {{"api_key_env", "OPENAI_API_KEY"}}}}},
      {{"pass", {"GATEWAY_KEY", "OPENAI_API_KEY"}}});
  EXPECT_TRUE(endpoints.ok()) << endpoints.error().describe();
  EXPECT_TRUE(validate_options({{"vector_store", {{"directory", "var/vectors"}}}}).ok());
  EXPECT_TRUE(
      validate_options({{"chains", {{"sum", {{"runnable", "myteam.chains:summarize"}}}}}}).ok());
}

TEST_F(LangChainPluginTest, DefaultsLeaveRetriesToTheOpenAIClient) {
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->at("retry").at("max_attempts"), 1);
  EXPECT_TRUE(validate(config::merge_defaults(*defaults, {{"plugin", "langchain"}})).ok());
}

TEST_F(LangChainPluginTest, RefusesTwoRetryLayers) {
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok());
  // The host's retries on top of the client's default max_retries (2): refused, naming both.
  const json both = config::merge_defaults(
      *defaults, {{"plugin", "langchain"}, {"retry", {{"max_attempts", 3}}}});
  auto refused = validate(both);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kInvalidConfiguration);
  for (const char* part : {"retry.max_attempts is 3", "options.model.max_retries is 2",
                           "9 requests", "options.model.max_retries: 0"}) {
    EXPECT_TRUE(has(refused.error().message, part))
        << part << " not in " << refused.error().message;
  }
  EXPECT_FALSE(has(refused.error().message, "options.embeddings")) << "the local embedding";
  // OpenAI embeddings retry too.
  json embeddings = both;
  embeddings["options"] = {{"model", {{"base_url", "http://h/v1"}, {"max_retries", 0}}},
                           {"embeddings", {{"provider", "openai"}, {"base_url", "http://h/v1"}}}};
  auto also = validate(embeddings);
  ASSERT_FALSE(also.ok());
  EXPECT_TRUE(has(also.error().message, "options.embeddings.max_retries is 2"))
      << also.error().message;
  // The host's layer alone is fine, and so is the client's alone.
  embeddings["options"]["embeddings"]["max_retries"] = 0;
  auto host_only = validate(embeddings);
  EXPECT_TRUE(host_only.ok()) << host_only.error().describe();
  EXPECT_TRUE(
      validate(config::merge_defaults(
                   *defaults,
                   {{"plugin", "langchain"},
                    {"options", {{"model", {{"base_url", "http://h/v1"}, {"max_retries", 5}}}}}}))
          .ok());
}

struct BadConfig {
  const char* name;
  json options;
  json env;
  std::vector<std::string> expected;  // every part must be in the message
};

class LangChainValidationTest : public LangChainPluginTest,
                                public ::testing::WithParamInterface<BadConfig> {};

TEST_P(LangChainValidationTest, NamesTheKey) {
  const BadConfig& bad = GetParam();
  auto status = validate_options(bad.options, bad.env);
  ASSERT_FALSE(status.ok()) << bad.name;
  EXPECT_EQ(status.error().category, ErrorCategory::kInvalidConfiguration);
  for (const auto& part : bad.expected) {
    EXPECT_TRUE(has(status.error().message, part))
        << bad.name << ": '" << part << "' not in: " << status.error().message;
  }
  EXPECT_TRUE(has(status.error().message, "plugin 'langchain'")) << status.error().message;
}

const json kPassKey = {{"pass", {"OPENAI_API_KEY"}}};

INSTANTIATE_TEST_SUITE_P(
    Options, LangChainValidationTest,
    ::testing::Values(
        BadConfig{"model_string",
                  {{"model", "gpt-4o-mini"}},
                  nullptr,
                  {"options.model must be a map of model settings"}},
        BadConfig{"model_name_number",
                  {{"model", {{"model", 42}, {"offline", true}}}},
                  nullptr,
                  {"options.model.model must be a non-empty string", "42"}},
        BadConfig{
            "model_name_empty", {{"model", {{"model", ""}}}}, nullptr, {"options.model.model"}},
        BadConfig{"unknown_model_key",
                  {{"model", {{"modle", "x"}}}},
                  nullptr,
                  {"options.model.modle is not a model setting", "temperature"}},
        BadConfig{"temperature_string",
                  {{"model", {{"temperature", "hot"}, {"offline", true}}}},
                  nullptr,
                  {"options.model.temperature must be a number", "\"hot\""}},
        BadConfig{"temperature_high",
                  {{"model", {{"temperature", 3}, {"offline", true}}}},
                  nullptr,
                  {"options.model.temperature must be a number from 0 to 2"}},
        BadConfig{"temperature_bool",
                  {{"model", {{"temperature", true}, {"offline", true}}}},
                  nullptr,
                  {"options.model.temperature"}},
        BadConfig{"max_tokens_float",
                  {{"model", {{"max_tokens", 10.5}}}},
                  nullptr,
                  {"options.model.max_tokens must be a positive integer"}},
        BadConfig{"max_tokens_zero", {{"model", {{"max_tokens", 0}}}}, nullptr, {"max_tokens"}},
        BadConfig{"timeout_negative",
                  {{"model", {{"timeout", -1}}}},
                  nullptr,
                  {"options.model.timeout must be a positive number"}},
        BadConfig{"retries_high",
                  {{"model", {{"max_retries", 11}}}},
                  nullptr,
                  {"options.model.max_retries must be an integer from 0 to 10"}},
        BadConfig{"retries_null",
                  {{"model", {{"max_retries", nullptr}}}},
                  nullptr,
                  {"options.model.max_retries"}},
        BadConfig{"stream_usage_string",
                  {{"model", {{"stream_usage", "yes"}}}},
                  nullptr,
                  {"options.model.stream_usage must be true, false or null"}},
        BadConfig{"offline_number",
                  {{"model", {{"offline", 1}}}},
                  nullptr,
                  {"options.model.offline must be true or false"}},
        BadConfig{"replies_not_strings",
                  {{"model", {{"offline", true}, {"replies", {1, 2}}}}},
                  nullptr,
                  {"options.model.replies must be a list of at most 1000 strings"}},
        BadConfig{
            "replies_online",
            {{"model", {{"replies", {"scripted"}}}}},
            nullptr,
            {"options.model.replies are scripted replies of the offline model", "offline: true"}},
        BadConfig{"base_url_not_http",
                  {{"model", {{"base_url", "localhost:8000/v1"}}}},
                  nullptr,
                  {"options.model.base_url must be an http:// or https:// URL"}},
        BadConfig{"api_key_env_bad_name",
                  {{"model", {{"api_key_env", "MY-KEY"}}}},
                  nullptr,
                  {"options.model.api_key_env must be the name of the environment variable"}},
        BadConfig{"several_problems",
                  {{"model", {{"model", 1}, {"temperature", 9}}}},
                  nullptr,
                  {"options.model.model", "options.model.temperature"}},
        BadConfig{"key_not_passed",
                  {{"model", {{"model", "gpt-4o-mini"}, {"api_key_env", "MY_KEY"}}}},
                  kPassKey,
                  {"options.model.api_key_env names MY_KEY", "env.pass"}},
        BadConfig{"no_key_reaches_the_workers",
                  {{"model", {{"model", "gpt-4o-mini"}}}},
                  nullptr,
                  {"options.model", "offline fake model", "OPENAI_API_KEY", "env.pass", "base_url",
                   "offline: true"}},
        BadConfig{"embeddings_provider",
                  {{"embeddings", {{"provider", "magic"}}}},
                  nullptr,
                  {"options.embeddings.provider must be one of local, openai"}},
        BadConfig{"embeddings_name", {{"embeddings", "magic"}}, nullptr, {"options.embeddings"}},
        BadConfig{"embeddings_dimensions",
                  {{"embeddings", {{"dimensions", 0}}}},
                  nullptr,
                  {"options.embeddings.dimensions must be an integer from 1 to 8192"}},
        BadConfig{"embeddings_unknown",
                  {{"embeddings", {{"size", 3}}}},
                  nullptr,
                  {"options.embeddings.size is not an embeddings setting"}},
        BadConfig{"embeddings_key_not_passed",
                  {{"embeddings", {{"provider", "openai"}}}},
                  nullptr,
                  {"options.embeddings", "local embedding", "env.pass"}},
        BadConfig{
            "unknown_option",
            {{"temperature", 0.0}},
            nullptr,
            {"options.temperature is not an option of the LangChain bridge", "options.model"}},
        BadConfig{"max_concurrency_zero",
                  {{"max_concurrency", 0}},
                  nullptr,
                  {"options.max_concurrency must be an integer from 1 to 64"}},
        BadConfig{"max_batch_string",
                  {{"max_batch", "10"}},
                  nullptr,
                  {"options.max_batch must be an integer from 1 to 100000"}},
        BadConfig{"max_history_one",
                  {{"max_history", 1}},
                  nullptr,
                  {"options.max_history must be an integer from 2 to 10000"}},
        BadConfig{"options_list", json::array({1}), nullptr, {"options must be a map"}},
        BadConfig{"endpoints_map",
                  {{"endpoints", {{"api_key_env", "OPENAI_API_KEY"}}}},
                  kPassKey,
                  {"options.endpoints must be a list"}},
        BadConfig{"endpoint_not_a_url",
                  {{"endpoints", {{{"base_url", "h:1/v1"}, {"api_key_env", "OPENAI_API_KEY"}}}}},
                  kPassKey,
                  {"options.endpoints[0].base_url must be an http:// or https:// URL"}},
        BadConfig{"endpoint_without_key",
                  {{"endpoints", {{{"base_url", "http://h/v1"}}}}},
                  kPassKey,
                  {"options.endpoints[0].api_key_env must be the name of the environment"}},
        BadConfig{"endpoint_key_not_passed",
                  {{"endpoints", {{{"base_url", "http://h/v1"}, {"api_key_env", "OTHER_KEY"}}}}},
                  kPassKey,
                  {"options.endpoints[0].api_key_env names OTHER_KEY", "env.pass"}},
        BadConfig{
            "endpoint_unknown_key",
            {{"endpoints", {{{"api_base", "http://h/v1"}, {"api_key_env", "OPENAI_API_KEY"}}}}},
            kPassKey,
            {"options.endpoints[0].api_base is not an endpoint setting", "base_url"}},
        BadConfig{"vector_store_string",
                  {{"vector_store", "var/v"}},
                  nullptr,
                  {"options.vector_store must be a map {directory: PATH}"}},
        BadConfig{"vector_store_without_directory",
                  {{"vector_store", {{"dir", "var/v"}}}},
                  nullptr,
                  {"options.vector_store.dir is not a vector store setting",
                   "options.vector_store.directory must be a non-empty path"}},
        BadConfig{"chains_list",
                  {{"chains", {"myteam.chains:summarize"}}},
                  nullptr,
                  {"options.chains must be a map of chain id to create_chain arguments"}},
        BadConfig{"chain_string",
                  {{"chains", {{"sum", "myteam.chains:summarize"}}}},
                  nullptr,
                  {"options.chains.sum must be a map of create_chain arguments"}}),
    [](const ::testing::TestParamInfo<BadConfig>& info) { return std::string(info.param.name); });

TEST_F(LangChainPluginTest, NeverRepeatsAKeyWrittenIntoTheConfig) {
  const std::string key = "sk-proj-SECRET-do-not-echo-123456";
  for (const char* where : {"model", "embeddings"}) {
    for (const json& settings : {json{{"api_key", key}}, json{{"key", key}},
                                 json{{"openai_api_key", key}}, json{{"api_key_env", key}}}) {
      auto status = validate_options({{where, settings}});
      ASSERT_FALSE(status.ok()) << where << " " << settings.begin().key();
      EXPECT_FALSE(has(status.error().message, key)) << status.error().message;
      EXPECT_TRUE(has(status.error().message, "api_key_env")) << status.error().message;
    }
  }
}

TEST_F(LangChainPluginTest, ValidatesYamlAsTheConfigLoaderTypesIt) {
  const std::string yaml =
      "plugin: langchain\n"
      "env: {pass: [MOCK_LLM_KEY]}\n"
      "options:\n"
      "  max_concurrency: 2\n"
      "  model: {model: gpt-test, base_url: 'http://127.0.0.1:8000/v1', api_key_env: "
      "MOCK_LLM_KEY,\n"
      "          temperature: 0.0, max_tokens: 200, timeout: 30, max_retries: 0}\n"
      "  embeddings: local\n";
  config::SourceMap map;
  auto doc = config::parse_yaml(yaml, "langchain.yaml", map);
  ASSERT_TRUE(doc.ok()) << doc.error().describe();
  auto status = validate(*doc);
  EXPECT_TRUE(status.ok()) << status.error().describe();

  auto quoted = config::parse_yaml("options: {model: {max_tokens: \"200\"}}\n", "q.yaml", map);
  ASSERT_TRUE(quoted.ok());
  EXPECT_FALSE(validate(*quoted).ok());  // a quoted number is a string to Python, too
}

TEST_F(LangChainPluginTest, ShippedExampleDeploymentIsValid) {
  auto host = config::load_host_config(std::string(MLBRIDGE_SOURCE_DIR) +
                                       "/config/examples/langchain.yaml");
  ASSERT_TRUE(host.ok()) << host.error().describe();
  EXPECT_EQ(host->default_bridge, "langchain");
  const config::BridgeConfig& given = host->bridges.at("langchain");
  EXPECT_EQ(given.plugin, "langchain");
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok());
  auto merged =
      config::parse_bridge_config("langchain", config::merge_defaults(*defaults, given.raw));
  ASSERT_TRUE(merged.ok()) << merged.error().describe();
  EXPECT_EQ(merged->script, "python_bridges/langchain_bridge.py");
  auto status = validate(merged->raw);
  EXPECT_TRUE(status.ok()) << status.error().describe();
  EXPECT_TRUE(config::to_pool_config(*merged, *host).ok());
}

TEST_F(LangChainPluginTest, SettingNamesMatchTheBridgesParsers) {
  // The plugin's lists of accepted keys (read back from its messages) against the Python
  // sources of truth: initialize()'s _OPTION_KEYS and the two settings parsers' _KEYS.
  const std::string command =
      python() + " -c \"import json, sys; sys.path.insert(0, '" + source_path("python_bridges") +
      "'); import langchain_bridge as b; from langchain_support import models, retrieval; "
      "print(json.dumps([sorted(b._OPTION_KEYS), sorted(models._KEYS), "
      "sorted(retrieval._KEYS)]))\" 2>/dev/null";
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) out += buffer.data();
    ::pclose(pipe);
  }
  const json python_keys = json::parse(out, nullptr, false);
  ASSERT_TRUE(python_keys.is_array() && python_keys.size() == 3) << out;
  auto known = [](const Status& status) {
    const std::string& message = status.error().message;
    const auto start = message.find("(known: ") + 8;
    const auto end = message.find_first_of(";)", start);
    std::vector<std::string> names;
    std::stringstream list(message.substr(start, end - start));
    for (std::string name; std::getline(list, name, ',');) {
      names.push_back(name.substr(name.find_first_not_of(' ')));
    }
    return names;
  };
  auto options = adapter_->validate({{"options", {{"zz", 1}}}});
  auto model = adapter_->validate({{"options", {{"model", {{"zz", 1}, {"offline", true}}}}}});
  auto embeddings = adapter_->validate({{"options", {{"embeddings", {{"zz", 1}}}}}});
  ASSERT_FALSE(options.ok());
  ASSERT_FALSE(model.ok());
  ASSERT_FALSE(embeddings.ok());
  EXPECT_EQ(known(options), strings(python_keys[0])) << options.error().message;
  EXPECT_EQ(known(model), strings(python_keys[1])) << model.error().message;
  EXPECT_EQ(known(embeddings), strings(python_keys[2])) << embeddings.error().message;
}

// ----------------------------------------------------------------------------- resources

TEST_F(LangChainPluginTest, MapsEachKindsVerbsToTheBridgesCommands) {
  struct Route {
    const char* kind;
    const char* verb;
    const char* command;
  };
  for (const Route& r : {
           Route{"chain", "create", "create_chain"},
           Route{"chain", "get", "get_chain_info"},
           Route{"chain", "list", "list_chains"},
           Route{"chain", "execute", "invoke"},
           Route{"chain", "delete", "delete_chain"},
           Route{"conversation", "create", "create_conversation"},
           Route{"conversation", "get", "get_history"},
           Route{"conversation", "list", "list_chains"},
           Route{"conversation", "execute", "chat"},
           Route{"conversation", "delete", "delete_chain"},
           Route{"retriever", "create", "create_retriever"},
           Route{"retriever", "list", "list_retrievers"},
           Route{"retriever", "execute", "retrieve"},
           Route{"retriever", "delete", "delete_retriever"},
           Route{"agent", "create", "create_agent"},
           Route{"agent", "get", "get_chain_info"},
           Route{"agent", "list", "list_chains"},
           Route{"agent", "execute", "invoke"},
           Route{"agent", "delete", "delete_chain"},
       }) {
    auto mapped = adapter_->resource_command(r.verb, r.kind);
    ASSERT_TRUE(mapped.ok()) << r.kind << "/" << r.verb << ": " << mapped.error().describe();
    EXPECT_EQ(*mapped, r.command) << r.kind << "/" << r.verb;
  }
}

TEST_F(LangChainPluginTest, UnmappedKindsAndVerbsAreNotFound) {
  for (const auto& [verb, kind] : std::vector<std::pair<std::string, std::string>>{
           {"get", "retriever"},  // the bridge has no get_retriever: list_retrievers describes
           {"create", "program"},
           {"stream", "chain"},
           {"create", "chains"},
           {"", "chain"}}) {
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

class LangChainErrorRuleTest : public LangChainPluginTest,
                               public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(LangChainErrorRuleTest, MapsTheTypeThatReachesTheHost) {
  const ErrorCase& c = GetParam();
  // The bridge's own hint (langchain_support/errors.py) must not matter: the rules decide.
  for (ErrorCategory hint : {ErrorCategory::kInternal, ErrorCategory::kModelError}) {
    const Error error = translate(c.type, c.message, hint);
    EXPECT_EQ(to_string(error.category), to_string(c.expected)) << c.type;
    EXPECT_EQ(error.retryable, c.retryable) << c.type;
    EXPECT_EQ(error.python_type, c.type);
    EXPECT_EQ(error.message, c.message);
  }
}

constexpr const char* kMissingVariable =
    "invoke 'two': \"Input to PromptTemplate is missing variables {'b'}.  Expected: ['a', 'b'] "
    "Received: ['a']\"";

INSTANTIATE_TEST_SUITE_P(
    Types, LangChainErrorRuleTest,
    ::testing::Values(
        ErrorCase{"openai.RateLimitError", "x", ErrorCategory::kRateLimit, true},
        ErrorCase{"openai.AuthenticationError", "x", ErrorCategory::kAuthentication, false},
        ErrorCase{"openai.PermissionDeniedError", "x", ErrorCategory::kAuthentication, false},
        ErrorCase{"openai.BadRequestError", "x", ErrorCategory::kInvalidArgument, false},
        ErrorCase{"openai.NotFoundError", "x", ErrorCategory::kInvalidArgument, false},
        ErrorCase{"openai.APITimeoutError", "x", ErrorCategory::kModelError, true},
        ErrorCase{"openai.APIConnectionError", "x", ErrorCategory::kModelError, true},
        ErrorCase{"openai.InternalServerError", "x", ErrorCategory::kModelError, true},
        ErrorCase{"openai.APIStatusError", "x", ErrorCategory::kModelError, false},
        ErrorCase{"langchain_core.OutputParserException", "x", ErrorCategory::kModelError, false},
        ErrorCase{"langchain_core.ModelRateLimitError", "x", ErrorCategory::kRateLimit, true},
        ErrorCase{"langchain_core.ModelAuthenticationError", "x", ErrorCategory::kAuthentication,
                  false},
        ErrorCase{"langchain_core.ContextOverflowError", "x", ErrorCategory::kInvalidArgument,
                  false},
        ErrorCase{"langchain_core.ModelTimeoutError", "x", ErrorCategory::kModelError, true},
        ErrorCase{"langgraph.GraphRecursionError", "x", ErrorCategory::kModelError, false},
        ErrorCase{"KeyError", kMissingVariable, ErrorCategory::kInvalidArgument, false}),
    [](const ::testing::TestParamInfo<LangChainErrorRuleTest::ParamType>& info) {
      std::string name = info.param.type;
      for (char& c : name) {
        if (c == '.') c = '_';
      }
      return name;
    });

TEST_F(LangChainPluginTest, OnlyLangChainsMissingVariableKeyErrorIsInvalidArgument) {
  // Any other KeyError keeps the host's builtin default (not_found).
  EXPECT_EQ(translate("KeyError", "'chain_id'").category, ErrorCategory::kNotFound);
}

TEST_F(LangChainPluginTest, BridgeRefusalsKeepTheWorkersCategory) {
  const Error missing = translate("mlbridge.BridgeError",
                                  "chain 'qa' not found in session 's1'; list_chains shows its "
                                  "chains",
                                  ErrorCategory::kNotFound);
  EXPECT_EQ(missing.category, ErrorCategory::kNotFound);
  const Error exists = translate("mlbridge.BridgeError",
                                 "chain 'qa' already exists; pass replace: true to overwrite it",
                                 ErrorCategory::kInvalidArgument);
  EXPECT_EQ(exists.category, ErrorCategory::kInvalidArgument);
}

TEST_F(LangChainPluginTest, RulesAreQualifiedSoLookalikeTypesFallThrough) {
  EXPECT_EQ(translate("mytools.RateLimitError", "x").category, ErrorCategory::kInternal);
  EXPECT_EQ(translate("RateLimitError", "x").category, ErrorCategory::kInternal);
  EXPECT_EQ(translate("httpx.APITimeoutError", "x").category, ErrorCategory::kInternal);
  EXPECT_EQ(translate("ValueError", "x").category, ErrorCategory::kInvalidArgument);
}

// ----------------------------------------------------------------------------- arguments

TEST_F(LangChainPluginTest, RefusesAnApiKeyInAnySettingsWithoutRepeatingIt) {
  const std::string key = "sk-test-PLANTED-0123456789";
  struct Case {
    std::string command;
    json args;
  };
  std::vector<Case> cases;
  for (const char* name : {"api_key", "key", "openai_api_key"}) {
    const json settings = {{"model", "gpt-test"}, {name, key}};
    cases.push_back({"configure_model", settings});
    cases.push_back({"langchain:configure_model", settings});
    cases.push_back({"create_chain", {{"chain_id", "c"}, {"prompt", "{q}"}, {"model", settings}}});
    cases.push_back({"create_agent", {{"agent_id", "a"}, {"model", settings}}});
    cases.push_back({"create_conversation", {{"conversation_id", "t"}, {"model", settings}}});
    cases.push_back({"create_retriever",
                     {{"texts", {"x"}}, {"embeddings", {{"provider", "openai"}, {name, key}}}}});
  }
  for (const auto& c : cases) {
    auto shaped = adapter_->shape_args(c.command, c.args);
    ASSERT_FALSE(shaped.ok()) << c.command << " " << c.args.dump();
    EXPECT_EQ(shaped.error().category, ErrorCategory::kInvalidArgument);
    EXPECT_TRUE(has(shaped.error().message, "api_key_env")) << shaped.error().message;
    EXPECT_FALSE(has(shaped.error().message, key)) << shaped.error().message;
  }
}

TEST_F(LangChainPluginTest, AgentAndConversationIdsAddressRunsAsChainIds) {
  for (const std::string command :
       {"invoke", "stream", "batch", "get_chain_info", "langchain:invoke"}) {
    auto agent = adapter_->shape_args(command, {{"agent_id", "math"}, {"input", "6*7"}});
    ASSERT_TRUE(agent.ok()) << command;
    EXPECT_EQ(*agent, (json{{"chain_id", "math"}, {"input", "6*7"}})) << command;
    auto talk = adapter_->shape_args(command, {{"conversation_id", "talk"}});
    ASSERT_TRUE(talk.ok()) << command;
    EXPECT_EQ(*talk, (json{{"chain_id", "talk"}})) << command;
    auto same = adapter_->shape_args(command, {{"chain_id", "a"}, {"agent_id", "a"}});
    ASSERT_TRUE(same.ok()) << command;
    EXPECT_EQ(*same, (json{{"chain_id", "a"}}));
    auto clash = adapter_->shape_args(command, {{"chain_id", "a"}, {"agent_id", "b"}});
    ASSERT_FALSE(clash.ok()) << command;
    EXPECT_EQ(clash.error().category, ErrorCategory::kInvalidArgument);
    EXPECT_TRUE(has(clash.error().message, "agent_id")) << clash.error().message;
  }
}

TEST_F(LangChainPluginTest, PassesOtherArgumentsUnchanged) {
  const json args = {{"chain_id", "qa"}, {"input", {{"question", "2+2?"}}}};
  for (const std::string command : {"invoke", "create_chain", "list_chains", "chat"}) {
    auto shaped = adapter_->shape_args(command, args);
    ASSERT_TRUE(shaped.ok()) << command;
    EXPECT_EQ(*shaped, args);
  }
  // chat, get_history and delete_chain take conversation_id themselves.
  const json talk = {{"conversation_id", "t"}, {"message", "hi"}};
  for (const std::string command : {"chat", "get_history", "delete_chain", "clear_history"}) {
    auto shaped = adapter_->shape_args(command, talk);
    ASSERT_TRUE(shaped.ok()) << command;
    EXPECT_EQ(*shaped, talk);
  }
  const json model = {{"model", "gpt-test"}, {"api_key_env", "MOCK_LLM_KEY"}};
  auto shaped = adapter_->shape_args("configure_model", model);
  ASSERT_TRUE(shaped.ok());
  EXPECT_EQ(*shaped, model);
  auto not_a_map = adapter_->shape_args("invoke", json::array({1}));
  ASSERT_TRUE(not_a_map.ok());  // the bridge answers that one with its own message
  EXPECT_EQ(*not_a_map, json::array({1}));
}

// ================================================================================ Host API

/// A deployment with one `plugin: langchain` bridge; everything else comes from the plugin's
/// defaults. `options` is YAML for the bridge's options (flow style), "" for none.
std::string deployment(const std::string& options = "") {
  std::string yaml = "host:\n  root: " + std::string(MLBRIDGE_SOURCE_DIR) +
                     "\n  python: " + python() + "\n  plugin_dirs: [" + LANGCHAIN_PLUGIN_DIR +
                     "]\nbridges:\n  langchain:\n    plugin: langchain\n"
                     "    pool: {size: 1, max_overflow: 0}\n"
                     "    timeouts: {shutdown_ms: 5000}\n"
                     "    env: {pass: [" +
                     kKeyVariable + "]}\n";
  if (!options.empty()) yaml += "    options: " + options + "\n";
  return yaml;
}

Result<std::unique_ptr<Host>> load(const std::filesystem::path& dir, const std::string& yaml) {
  std::filesystem::create_directories(dir);
  const auto path = dir / "mlbridge.yaml";
  std::ofstream(path) << yaml;
  return Host::from_file(path.string());
}

class LangChainHostTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::setenv(kKeyVariable, kPlantedKey, 1);  // env.pass hands it to the workers
    log_ = new LogCapture();
    dir_ = std::filesystem::temp_directory_path() /
           ("mlbridge-langchain-host-" + std::to_string(::getpid()));
    try {
      server_ = new OpenAIServerProcess(python(), source_path("tests/support/openai_server.py"));
    } catch (const std::exception& e) {
      setup_error_ = std::string("mock server: ") + e.what();
      return;
    }
    // The mock server is the one endpoint the planted key may be sent to.
    auto host = load(dir_, deployment("{endpoints: [{base_url: '" + server_->url() +
                                      "', api_key_env: " + kKeyVariable + "}]}"));
    if (!host.ok()) {
      setup_error_ = host.error().describe();
      return;
    }
    host_ = host->release();
    auto started = host_->start();
    if (!started.ok()) setup_error_ = started.error().describe();
  }

  static void TearDownTestSuite() {
    if (host_ != nullptr) host_->shutdown();
    delete host_;
    host_ = nullptr;
    delete server_;
    server_ = nullptr;
    delete log_;
    log_ = nullptr;
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_NE(host_, nullptr);
  }

  void TearDown() override {
    // Whatever a test got back: never the key.
    EXPECT_FALSE(has(transcript_, kPlantedKey)) << transcript_;
  }

  static ExecuteOptions in(const std::string& session) {
    ExecuteOptions options;
    if (!session.empty()) options.session = session;
    options.timeout = 60s;  // the first call may wait for a cold import on a busy machine
    return options;
  }

  std::string session() {
    auto id = host_->create_session();
    EXPECT_TRUE(id.ok());
    return id.ok() ? *id : std::string();
  }

  void record(const Result<json>& result) {
    if (result.ok()) {
      transcript_ += result->dump() + "\n";
    } else {
      const Error& e = result.error();
      transcript_ +=
          e.describe() + "\n" + e.message + "\n" + e.python_type + "\n" + e.traceback + "\n";
    }
  }

  /// Runs a command that must succeed; records the answer for the key check.
  json ok(const std::string& command, const json& args, const std::string& s = "") {
    auto result = host_->execute("langchain", command, args, in(s));
    record(result);
    EXPECT_TRUE(result.ok()) << command << ": " << (result.ok() ? "" : result.error().describe());
    if (!result.ok()) throw std::runtime_error(command + " failed");
    return *result;
  }

  /// Runs a command that must fail; records the error (message, type, traceback).
  Error fails(const std::string& command, const json& args, const std::string& s = "") {
    auto result = host_->execute("langchain", command, args, in(s));
    record(result);
    EXPECT_FALSE(result.ok()) << command
                              << " should have failed: " << (result.ok() ? result->dump() : "");
    if (result.ok()) throw std::runtime_error(command + " succeeded");
    return result.error();
  }

  /// A resource verb that must succeed.
  json resource(Result<json> result, const char* what) {
    record(result);
    EXPECT_TRUE(result.ok()) << what << ": " << (result.ok() ? "" : result.error().describe());
    if (!result.ok()) throw std::runtime_error(std::string(what) + " failed");
    return *result;
  }

  /// The settings of a model on the mock server, with the planted key's variable.
  static json mock_model(const std::string& model, double timeout_s = 30) {
    return {{"model", model},   {"base_url", server_->url()}, {"api_key_env", kKeyVariable},
            {"max_retries", 0}, {"temperature", 0.0},         {"timeout", timeout_s}};
  }

  static inline Host* host_ = nullptr;
  static inline OpenAIServerProcess* server_ = nullptr;
  static inline LogCapture* log_ = nullptr;
  static inline std::filesystem::path dir_;
  static inline std::string setup_error_;
  std::string transcript_;
};

const std::vector<std::string> kDocuments = {
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    "Mount Fuji is the highest mountain in Japan, at 3776 metres.",
    "The Amazon river carries more water than any other river on Earth.",
};
const json kMetadatas =
    json::array({{{"source", "paris.txt"}}, {{"source", "japan.txt"}}, {{"source", "amazon.txt"}}});

// ----------------------------------------------------------------------------- offline

TEST_F(LangChainHostTest, StartsFromThePluginDefaultsOnTheOfflineModel) {
  auto described = host_->bridge("langchain");
  ASSERT_TRUE(described.ok()) << described.error().describe();
  EXPECT_TRUE(has(described->dump(), "\"langchain\"")) << described->dump();
  const json model = ok("get_model", json::object());
  EXPECT_EQ(model["model"], kOffline);
  EXPECT_EQ(model["offline"], true);
  EXPECT_EQ(model["scope"], "default");
  std::vector<std::string> tools;
  const json listed = ok("list_tools", json::object());
  for (const auto& tool : listed["tools"]) tools.push_back(tool["name"].get<std::string>());
  EXPECT_EQ(tools, (std::vector<std::string>{"calculator", "retriever"}));
}

TEST_F(LangChainHostTest, CreateChainAndInvoke) {
  const std::string s = session();
  const json created = ok("create_chain",
                          {{"chain_id", "qa"},
                           {"prompt",
                            {{{"role", "system"}, {"template", "You are a {persona}."}},
                             {{"role", "user"}, {"template", "{question}"}}}}},
                          s);
  EXPECT_EQ(created["chain_id"], "qa");
  EXPECT_EQ(created["type"], "llm");
  EXPECT_EQ(created["input_variables"], json::array({"persona", "question"}));
  const json result =
      ok("invoke",
         {{"chain_id", "qa"}, {"input", {{"persona", "tutor"}, {"question", "What is 6*7?"}}}}, s);
  EXPECT_EQ(result["output"], "42");
  EXPECT_EQ(result["model"], kOffline);
  EXPECT_EQ(result["offline"], true);
  EXPECT_EQ(result["llm_calls"], 1);
  EXPECT_EQ(ok("get_chain_info", {{"chain_id", "qa"}}, s)["calls"], 1);

  // A prompt variable the input lacks: LangChain's KeyError, translated by the plugin's rule.
  const Error missing = fails("invoke", {{"chain_id", "qa"}, {"input", {{"persona", "x"}}}}, s);
  EXPECT_EQ(missing.python_type, "KeyError") << missing.describe();
  EXPECT_EQ(missing.category, ErrorCategory::kInvalidArgument) << missing.describe();
  EXPECT_TRUE(has(missing.message, "missing variables")) << missing.message;
  EXPECT_EQ(missing.bridge, "langchain");
  EXPECT_EQ(missing.command, "invoke");
}

TEST_F(LangChainHostTest, StreamDeliversTokenChunksBeforeTheResult) {
  const std::string s = session();
  const std::string reply = "Streaming works one token at a time.";
  ok("configure_model", {{"offline", true}, {"replies", {reply}}}, s);
  ok("create_chain", {{"chain_id", "s"}, {"prompt", "{topic}"}}, s);

  std::mutex mutex;
  std::vector<json> chunks;
  ExecuteOptions options = in(s);
  options.on_chunk = [&](json chunk) {
    std::lock_guard lock(mutex);
    chunks.push_back(std::move(chunk));
  };
  auto result =
      host_->execute("langchain", "stream", {{"chain_id", "s"}, {"input", "anything"}}, options);
  record(result);
  ASSERT_TRUE(result.ok()) << result.error().describe();
  std::lock_guard lock(mutex);
  // Every chunk was delivered before the result was: the result counts them all.
  ASSERT_EQ((*result)["chunks"], chunks.size());
  ASSERT_EQ(chunks.size(), 7u);
  std::string joined;
  for (const auto& chunk : chunks) {
    ASSERT_TRUE(chunk.contains("token")) << chunk.dump();
    joined += chunk["token"].get<std::string>();
  }
  EXPECT_EQ(chunks.front()["token"], "Streaming");
  EXPECT_EQ(joined, reply);
  EXPECT_EQ((*result)["output"], reply);
}

TEST_F(LangChainHostTest, BatchAnswersEveryInputInOrder) {
  const std::string s = session();
  ok("create_chain", {{"chain_id", "calc"}, {"prompt", "{question}"}}, s);
  // Distinct answers, run three at a time: a result out of place would show.
  json inputs = json::array();
  for (int n = 1; n <= 6; ++n) inputs.push_back("What is " + std::to_string(n) + "*7?");
  const json batch =
      ok("batch", {{"chain_id", "calc"}, {"inputs", inputs}, {"max_concurrency", 3}}, s);
  ASSERT_EQ(batch["results"].size(), 6u) << batch.dump();
  for (int n = 1; n <= 6; ++n) {
    EXPECT_EQ(batch["results"][n - 1]["output"], std::to_string(7 * n)) << batch["results"][n - 1];
  }
  EXPECT_EQ(batch["chain_id"], "calc");
  EXPECT_EQ(batch["succeeded"], 6);
  EXPECT_EQ(batch["failed"], 0);
  EXPECT_EQ(batch["max_concurrency"], 3);
  EXPECT_EQ(batch["model"], kOffline);
  EXPECT_EQ(batch["runs"].size(), 6u);  // one root run per input
  EXPECT_EQ(ok("get_chain_info", {{"chain_id", "calc"}}, s)["calls"], 6);

  // max_concurrency also comes from the call's config, and is capped at 64.
  const json configured =
      ok("batch", {{"chain_id", "calc"}, {"inputs", {"1+1"}}, {"config", {{"max_concurrency", 2}}}},
         s);
  EXPECT_EQ(configured["max_concurrency"], 2);
  EXPECT_EQ(configured["results"][0]["output"], "2");
  EXPECT_EQ(ok("batch", {{"chain_id", "calc"}, {"inputs", {"1+1"}}, {"max_concurrency", 1000}},
               s)["max_concurrency"],
            64);
  const Error zero =
      fails("batch", {{"chain_id", "calc"}, {"inputs", {"1+1"}}, {"max_concurrency", 0}}, s);
  EXPECT_EQ(zero.category, ErrorCategory::kInvalidArgument) << zero.describe();
  EXPECT_TRUE(has(zero.message, "max_concurrency")) << zero.message;
  EXPECT_EQ(fails("batch", {{"chain_id", "calc"}, {"inputs", json::array()}}, s).category,
            ErrorCategory::kInvalidArgument);
}

TEST_F(LangChainHostTest, AStreamCancelledFromItsFirstChunkEndsCancelled) {
  const std::string s = session();
  // The offline model streams one chunk per word, as fast as it can: 100000 words take it
  // seconds, far longer than the cancellation below needs to reach it.
  constexpr int kWords = 100000;
  std::string reply;
  for (int i = 0; i < kWords; ++i) reply += (i == 0 ? "w" : " w") + std::to_string(i);
  ok("configure_model", {{"offline", true}, {"replies", {reply}}}, s);
  ok("create_chain", {{"chain_id", "long"}, {"prompt", "{topic}"}}, s);

  const CancelledStream cancelled = cancel_on_first_chunk(
      *host_, "langchain", "stream", {{"chain_id", "long"}, {"input", "anything"}}, in(s), 120s);
  ASSERT_TRUE(cancelled.finished) << "hang guard";
  const Result<json>& result = cancelled.result;
  record(result);
  ASSERT_FALSE(result.ok()) << "the stream ran to its end before the cancel reached it: "
                            << result->dump().substr(0, 200);
  EXPECT_EQ(result.error().category, ErrorCategory::kCancelled) << result.error().describe();
  EXPECT_EQ(result.error().command, "stream");
  // The worker stopped the model and answered: it was not killed for ignoring the cancel. (A
  // SIGINT raised in the bridge's loop over chain.stream closes that generator, and
  // langchain_core then drains the model's stream to its end for tracing; the bridge's
  // StreamStopper ends the model's stream at its next token instead.)
  EXPECT_TRUE(has(result.error().message, "kept serving")) << result.error().describe();
  EXPECT_GE(cancelled.chunks, 1u);
  EXPECT_EQ(cancelled.first, (json{{"token", "w0"}})) << cancelled.first.dump();
  ok("configure_model", {{"reset", true}}, s);
  EXPECT_EQ(ok("invoke", {{"chain_id", "long"}, {"input", "What is 2+3?"}}, s)["output"], "5");
  EXPECT_EQ(ok("get_model", json::object(), s)["model"], kOffline);
}

TEST_F(LangChainHostTest, ConversationHistoryIsIsolatedPerSession) {
  const std::string alice = session();
  const std::string bob = session();
  ASSERT_NE(alice, bob);
  for (const auto& user : {alice, bob}) {
    const json created =
        resource(host_->create_resource(
                     "langchain", "conversation",
                     {{"conversation_id", "talk"}, {"system_prompt", "Be terse."}}, in(user)),
                 "create conversation");
    EXPECT_EQ(created["conversation_id"], "talk");
    EXPECT_EQ(created["type"], "conversation");
  }
  auto chat = [&](const std::string& user, const std::string& message) {
    return resource(
        host_->execute_resource("langchain", "conversation",
                                {{"conversation_id", "talk"}, {"message", message}}, in(user)),
        "chat");
  };
  EXPECT_EQ(chat(alice, "I am Alice.")["turns"], 1);
  const json second = chat(alice, "What is 2+5?");
  EXPECT_EQ(second["reply"], "7");
  EXPECT_EQ(second["turns"], 2);
  EXPECT_EQ(chat(bob, "I am Bob.")["turns"], 1);

  auto contents = [&](const std::string& user) {
    std::vector<std::string> out;
    const json history = ok("get_history", {{"conversation_id", "talk"}}, user);
    for (const auto& m : history["messages"]) out.push_back(m["content"].get<std::string>());
    return out;
  };
  EXPECT_EQ(contents(alice),
            (std::vector<std::string>{"I am Alice.", "offline answer", "What is 2+5?", "7"}));
  EXPECT_EQ(contents(bob), (std::vector<std::string>{"I am Bob.", "offline answer"}));
  // A session that never made one, and the anonymous session, do not see it.
  EXPECT_EQ(fails("get_history", {{"conversation_id", "talk"}}, session()).category,
            ErrorCategory::kNotFound);
  EXPECT_EQ(fails("get_history", {{"conversation_id", "talk"}}).category, ErrorCategory::kNotFound);

  // Ending a session drops its conversation; the other one's stays.
  ASSERT_TRUE(host_->end_session(alice).ok());
  EXPECT_EQ(contents(bob).size(), 2u);
}

TEST_F(LangChainHostTest, RetrieverAndRagChainAnswerFromTheRightSource) {
  const std::string s = session();
  const json created = resource(
      host_->create_resource(
          "langchain", "retriever",
          {{"retriever_id", "kb"}, {"texts", kDocuments}, {"metadatas", kMetadatas}, {"k", 2}},
          in(s)),
      "create retriever");
  EXPECT_EQ(created["documents"], 3);
  EXPECT_EQ(created["offline"], true);

  const json found =
      resource(host_->execute_resource(
                   "langchain", "retriever",
                   {{"retriever_id", "kb"}, {"query", "highest mountain in Japan"}}, in(s)),
               "retrieve");
  ASSERT_EQ(found["count"], 2);
  EXPECT_EQ(found["documents"][0]["metadata"]["source"], "japan.txt");

  ok("create_chain", {{"chain_id", "rag"}, {"type", "rag"}, {"retriever_id", "kb"}}, s);
  const json answer =
      ok("invoke", {{"chain_id", "rag"}, {"input", "When was the Eiffel Tower completed?"}}, s);
  ASSERT_FALSE(answer["sources"].empty()) << answer.dump();
  EXPECT_EQ(answer["sources"][0]["metadata"]["source"], "paris.txt");
  EXPECT_EQ(answer["sources"][0]["text"], kDocuments[0]);
  EXPECT_TRUE(has(answer["output"].get<std::string>(), "1889")) << answer["output"];
}

TEST_F(LangChainHostTest, AgentCallsTheCalculatorTool) {
  const std::string s = session();
  const json created =
      resource(host_->create_resource("langchain", "agent",
                                      {{"agent_id", "math"}, {"tools", {"calculator"}}}, in(s)),
               "create agent");
  EXPECT_EQ(created["type"], "agent");
  EXPECT_EQ(created["agent_id"], "math");
  // The plugin renames agent_id to invoke's chain_id: the same id addresses the agent.
  const json result =
      resource(host_->execute_resource("langchain", "agent",
                                       {{"agent_id", "math"}, {"input", "What is 6*7?"}}, in(s)),
               "run agent");
  EXPECT_EQ(result["output"], "The answer is 42.");
  ASSERT_EQ(result["tool_calls"].size(), 1u) << result.dump();
  const json& call = result["tool_calls"][0];
  EXPECT_EQ(call["name"], "calculator");
  EXPECT_EQ(call["args"], (json{{"expression", "6*7"}}));
  EXPECT_EQ(call["result"], "42");
  EXPECT_EQ(result["steps"], 2);
  const json info = ok("get_chain_info", {{"agent_id", "math"}}, s);
  EXPECT_EQ(info["calls"], 1);
}

TEST_F(LangChainHostTest, ResourceRoutesListAndDeleteEachKind) {
  const std::string s = session();
  auto count = [&](const char* kind) {
    return resource(host_->list_resources("langchain", kind, in(s)), "list")["count"].get<int>();
  };
  resource(
      host_->create_resource("langchain", "chain", {{"chain_id", "c"}, {"prompt", "{x}"}}, in(s)),
      "create chain");
  resource(host_->create_resource("langchain", "agent", {{"agent_id", "a"}}, in(s)),
           "create agent");
  resource(host_->create_resource("langchain", "conversation", {{"conversation_id", "t"}}, in(s)),
           "create conversation");
  resource(host_->create_resource("langchain", "retriever",
                                  {{"retriever_id", "r"}, {"texts", {"one text"}}}, in(s)),
           "create retriever");
  const json chains = resource(host_->list_resources("langchain", "chain", in(s)), "list chains");
  ASSERT_EQ(chains["count"], 3);  // chains, agents and conversations share one store
  std::vector<std::string> ids;
  for (const auto& chain : chains["chains"]) ids.push_back(chain["chain_id"].get<std::string>());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "c", "t"}));
  EXPECT_EQ(count("agent"), 3);
  EXPECT_EQ(count("conversation"), 3);
  EXPECT_EQ(count("retriever"), 1);
  const json chain_run =
      resource(host_->execute_resource("langchain", "chain",
                                       {{"chain_id", "c"}, {"input", "What is 1+2?"}}, in(s)),
               "run chain");
  EXPECT_EQ(chain_run["output"], "3");

  EXPECT_EQ(resource(host_->delete_resource("langchain", "chain", {{"chain_id", "c"}}, in(s)),
                     "delete chain")["deleted"],
            true);
  EXPECT_EQ(resource(host_->delete_resource("langchain", "agent", {{"agent_id", "a"}}, in(s)),
                     "delete agent")["type"],
            "agent");
  EXPECT_EQ(resource(host_->delete_resource("langchain", "conversation", {{"conversation_id", "t"}},
                                            in(s)),
                     "delete conversation")["type"],
            "conversation");
  EXPECT_EQ(
      resource(host_->delete_resource("langchain", "retriever", {{"retriever_id", "r"}}, in(s)),
               "delete retriever")["deleted"],
      true);
  EXPECT_EQ(count("chain"), 0);
  EXPECT_EQ(count("retriever"), 0);

  // Deleted is gone (the bridge's not_found), and a kind the plugin does not map is not_found.
  auto gone =
      host_->execute_resource("langchain", "chain", {{"chain_id", "c"}, {"input", "x"}}, in(s));
  record(gone);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().category, ErrorCategory::kNotFound) << gone.error().describe();
  EXPECT_EQ(gone.error().python_type, "mlbridge.BridgeError");
  auto unknown = host_->create_resource("langchain", "program", json::object(), in(s));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().category, ErrorCategory::kNotFound);
  EXPECT_TRUE(has(unknown.error().message, "program")) << unknown.error().message;
}

TEST_F(LangChainHostTest, AnApiKeyInArgumentsIsRefusedBeforeAnyWorkerSeesIt) {
  const Error refused =
      fails("configure_model", {{"model", "gpt-test"}, {"api_key", kPlantedKey}}, session());
  EXPECT_EQ(refused.category, ErrorCategory::kInvalidArgument) << refused.describe();
  EXPECT_TRUE(refused.python_type.empty()) << "refused by the plugin, not by Python";
  EXPECT_TRUE(has(refused.message, "api_key_env")) << refused.message;
}

// ----------------------------------------------------------------------------- HTTP path

TEST_F(LangChainHostTest, HttpModelAnswersAndStreamsWithTheKeyFromTheEnvironment) {
  const std::string s = session();
  const json configured = ok("configure_model", mock_model("gpt-test"), s);
  EXPECT_EQ(configured["offline"], false);
  EXPECT_EQ(configured["api_key_set"], true);
  ok("create_chain", {{"chain_id", "qa"}, {"prompt", "{question}"}}, s);
  const json answer = ok("invoke", {{"chain_id", "qa"}, {"input", "What is 2+2?"}}, s);
  EXPECT_EQ(answer["output"], "4");
  EXPECT_EQ(answer["model"], "gpt-test");
  EXPECT_EQ(answer["offline"], false);

  std::mutex mutex;
  std::vector<json> chunks;
  ExecuteOptions options = in(s);
  options.on_chunk = [&](json chunk) {
    std::lock_guard lock(mutex);
    chunks.push_back(std::move(chunk));
  };
  auto streamed = host_->execute("langchain", "stream",
                                 {{"chain_id", "qa"}, {"input", "Tell me something."}}, options);
  record(streamed);
  ASSERT_TRUE(streamed.ok()) << streamed.error().describe();
  std::lock_guard lock(mutex);
  EXPECT_EQ((*streamed)["output"], "mock answer");
  EXPECT_EQ((*streamed)["chunks"], chunks.size());
  std::string joined;
  for (const auto& chunk : chunks) joined += chunk.value("token", "");
  EXPECT_EQ(joined, "mock answer");
  EXPECT_GE(chunks.size(), 2u);  // the server sends one word per event
}

TEST_F(LangChainHostTest, ProviderErrorsAreTranslatedByThePluginAndTheKeyNeverLeaks) {
  // retryable tells the plugin's rules apply: model_error is not retryable by default, a
  // provider's 500 or timeout is.
  struct Case {
    const char* model;
    double timeout_s;
    const char* type;
    ErrorCategory category;
    bool retryable;
  };
  const std::string question = "Please explain why the sky is blue.";
  for (const Case& c : {
           Case{"fail-429", 30, "openai.RateLimitError", ErrorCategory::kRateLimit, true},
           Case{"fail-401", 30, "openai.AuthenticationError", ErrorCategory::kAuthentication,
                false},
           Case{"fail-400", 30, "openai.BadRequestError", ErrorCategory::kInvalidArgument, false},
           Case{"fail-500", 30, "openai.InternalServerError", ErrorCategory::kModelError, true},
           Case{"slow-5000", 0.5, "openai.APITimeoutError", ErrorCategory::kModelError, true},
       }) {
    SCOPED_TRACE(c.model);
    const std::string s = session();
    ok("configure_model", mock_model(c.model, c.timeout_s), s);
    ok("create_chain", {{"chain_id", "p"}, {"prompt", "{question}"}}, s);
    for (const char* command : {"invoke", "stream"}) {
      const Error error = fails(command, {{"chain_id", "p"}, {"input", question}}, s);
      EXPECT_EQ(error.python_type, c.type) << command << ": " << error.describe();
      EXPECT_EQ(error.category, c.category) << command << ": " << error.describe();
      EXPECT_EQ(error.retryable, c.retryable) << command << ": " << error.describe();
      EXPECT_EQ(error.bridge, "langchain");
      EXPECT_EQ(error.command, command);
    }
  }
  // The 401 answer echoed the bearer token; the bridge redacted it, and nothing else leaked
  // (TearDown checks the whole transcript once more).
  EXPECT_TRUE(has(transcript_, "[REDACTED]")) << transcript_;
  EXPECT_FALSE(has(transcript_, kPlantedKey));

  // The worker logged the 401's original error, redacted, to its stderr, which the host logs.
  // Wait for that line (it travels through the worker's stderr pipe), then look for the key.
  std::string logged;
  for (int i = 0; i < 300 && !has(logged, "original error (redacted)"); ++i) {
    std::this_thread::sleep_for(100ms);
    logged = log_->text();
  }
  EXPECT_TRUE(has(logged, "original error (redacted)")) << "the workers' stderr was not captured";
  EXPECT_FALSE(has(logged, kPlantedKey)) << "the key reached the host's log";
}

TEST_F(LangChainHostTest, ARefusedConnectionIsARetryableModelError) {
  RefusingPort closed;
  const std::string s = session();
  json model = mock_model("gpt-unreachable");
  model["base_url"] = closed.url();
  model.erase("api_key_env");  // not a configured endpoint: no key goes there
  ok("configure_model", model, s);
  ok("create_chain", {{"chain_id", "p"}, {"prompt", "{question}"}}, s);
  for (const char* command : {"invoke", "stream"}) {
    const Error error = fails(command, {{"chain_id", "p"}, {"input", "Are you there?"}}, s);
    EXPECT_EQ(error.python_type, "openai.APIConnectionError")
        << command << ": " << error.describe();
    EXPECT_EQ(error.category, ErrorCategory::kModelError) << command << ": " << error.describe();
    EXPECT_TRUE(error.retryable) << command << ": " << error.describe();
    EXPECT_EQ(error.bridge, "langchain");
    EXPECT_EQ(error.command, command);
  }
  // The same session answers again once its model points at a server that listens.
  ok("configure_model", mock_model("gpt-test"), s);
  EXPECT_EQ(ok("invoke", {{"chain_id", "p"}, {"input", "What is 2+2?"}}, s)["output"], "4");
}

TEST_F(LangChainHostTest, AKeyGoesOnlyToTheEndpointTheOperatorConfigured) {
  RefusingPort elsewhere;
  const std::string s = session();
  json model = mock_model("gpt-test");
  model["base_url"] = elsewhere.url();
  const Error refused = fails("configure_model", model, s);
  EXPECT_EQ(refused.category, ErrorCategory::kInvalidArgument) << refused.describe();
  for (const std::string& part : {elsewhere.url(), server_->url(), std::string(kKeyVariable),
                                  std::string("options.endpoints")}) {
    EXPECT_TRUE(has(refused.message, part)) << part << " not in " << refused.message;
  }
  // The default model is the operator's: no caller changes it without a session.
  const Error shared = fails("configure_model", mock_model("gpt-test"));
  EXPECT_EQ(shared.category, ErrorCategory::kInvalidArgument) << shared.describe();
  EXPECT_TRUE(has(shared.message, "pass a session")) << shared.message;
  EXPECT_EQ(ok("get_model", json::object(), s)["model"], kOffline);
}

// ----------------------------------------------------------------------------- config refusal

TEST(LangChainHostConfigTest, BadModelOptionsStopTheBridgeBeforeAnyWorkerStarts) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mlbridge-langchain-config-" + std::to_string(::getpid()));
  auto host = load(dir, deployment("{model: {model: gpt-test, temperature: hot, offline: true}}"));
  ASSERT_TRUE(host.ok()) << host.error().describe();
  auto started = (*host)->start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(has(started.error().message, "options.model.temperature must be a number"))
      << started.error().message;
  EXPECT_TRUE(has(started.error().message, "langchain")) << started.error().message;
  (*host)->shutdown();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mlbridge::testing
