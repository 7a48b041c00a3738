// The DSPy bridge through the Host API: the real libmlbridge_dspy.so, real Python workers
// running python_bridges/dspy_bridge.py. Offline on DSPy's DummyLM, plus the HTTP path against
// the mock OpenAI server (tests/support/openai_server.py) for the provider errors that the
// plugin's rules translate. A planted API key must never come back in any result or error.

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "log_capture.hpp"
#include "mlbridge/host.hpp"
#include "openai_server_process.hpp"
#include "test_paths.hpp"

namespace mlbridge::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kKeyVariable = "MOCK_LLM_KEY";
constexpr const char* kPlantedKey = "sk-test-PLANTED-0123456789";
constexpr const char* kOffline = "offline DummyLM";

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class DspyHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mlbridge-dspy-host-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    ::setenv(kKeyVariable, kPlantedKey, 1);  // env.pass hands it to the workers
  }
  void TearDown() override {
    if (host_) host_->shutdown();
    host_.reset();
    std::filesystem::remove_all(dir_);
  }

  /// A deployment with one `plugin: dspy` bridge; everything else comes from the plugin's
  /// defaults. `options` is YAML for the bridge's options (flow style), "" for none.
  std::string deployment(const std::string& options = "") const {
    std::string yaml = "host:\n  root: " + std::string(MLBRIDGE_SOURCE_DIR) +
                       "\n  python: " + python() + "\n  plugin_dirs: [" + DSPY_PLUGIN_DIR +
                       "]\nbridges:\n  dspy:\n    plugin: dspy\n"
                       "    pool: {size: 1, max_overflow: 0}\n"
                       "    timeouts: {shutdown_ms: 5000}\n"
                       "    env:\n      pass: [" +
                       kKeyVariable +
                       "]\n      set: {DSPY_CACHEDIR: " + (dir_ / "dspy-cache").string() + "}\n";
    if (!options.empty()) yaml += "    options: " + options + "\n";
    return yaml;
  }

  Result<std::unique_ptr<Host>> load(const std::string& yaml) {
    const auto path = dir_ / "mlbridge.yaml";
    std::ofstream(path) << yaml;
    return Host::from_file(path.string());
  }

  Host& start(const std::string& options = "") {
    auto host = load(deployment(options));
    if (!host.ok()) throw std::runtime_error(host.error().describe());
    host_ = std::move(*host);
    auto started = host_->start();
    if (!started.ok()) throw std::runtime_error(started.error().describe());
    return *host_;
  }

  /// Runs a command that must succeed; records the answer for the key check.
  json ok(const std::string& command, const json& args, const std::string& session = "") {
    auto result = host_->execute("dspy", command, args, in(session));
    EXPECT_TRUE(result.ok()) << command << ": " << (result.ok() ? "" : result.error().describe());
    if (!result.ok()) throw std::runtime_error(command + " failed");
    transcript_ += result->dump() + "\n";
    return *result;
  }

  /// Runs a command that must fail; records the error (message, type, traceback).
  Error fails(const std::string& command, const json& args, const std::string& session = "") {
    auto result = host_->execute("dspy", command, args, in(session));
    EXPECT_FALSE(result.ok()) << command
                              << " should have failed: " << (result.ok() ? result->dump() : "");
    if (result.ok()) throw std::runtime_error(command + " succeeded");
    const Error& error = result.error();
    transcript_ += error.describe() + "\n" + error.message + "\n" + error.python_type + "\n" +
                   error.traceback + "\n";
    return error;
  }

  static ExecuteOptions in(const std::string& session) {
    ExecuteOptions options;
    if (!session.empty()) options.session = session;
    options.timeout = 60s;  // a cold LiteLLM import on a busy machine
    return options;
  }

  std::string session() {
    auto id = host_->create_session();
    EXPECT_TRUE(id.ok());
    return id.ok() ? *id : std::string();
  }

  std::filesystem::path dir_;
  std::unique_ptr<Host> host_;
  std::string transcript_;
};

const json kQa = {{"program_id", "qa"}, {"signature", "question -> answer"}};
const json kTwoPlusTwo = {{"program_id", "qa"}, {"inputs", {{"question", "What is 2+2?"}}}};

// ----------------------------------------------------------------------------- offline

TEST_F(DspyHostTest, StartsFromThePluginDefaultsOnTheOfflineLm) {
  Host& host = start();
  auto described = host.bridge("dspy");
  ASSERT_TRUE(described.ok()) << described.error().describe();
  EXPECT_TRUE(has(described->dump(), "\"dspy\"")) << described->dump();
  const json lm = ok("get_lm", json::object());
  EXPECT_EQ(lm["lm"], kOffline);
  EXPECT_EQ(lm["offline"], true);
  EXPECT_EQ(lm["scope"], "default");
  const json tools = ok("list_tools", json::object());
  EXPECT_FALSE(tools["tools"].empty());
}

TEST_F(DspyHostTest, ProgramResourcesCreateExecuteListDelete) {
  Host& host = start();
  const std::string s = session();
  auto created = host.create_resource("dspy", "program", kQa, in(s));
  ASSERT_TRUE(created.ok()) << created.error().describe();
  EXPECT_EQ((*created)["program_id"], "qa");
  EXPECT_EQ((*created)["created"], true);

  auto run = host.execute_resource("dspy", "program", kTwoPlusTwo, in(s));
  ASSERT_TRUE(run.ok()) << run.error().describe();
  EXPECT_EQ((*run)["outputs"]["answer"], "4");
  EXPECT_EQ((*run)["lm"], kOffline);
  EXPECT_EQ((*run)["lm_calls"], 1);

  auto listed = host.list_resources("dspy", "program", in(s));
  ASSERT_TRUE(listed.ok()) << listed.error().describe();
  ASSERT_EQ((*listed)["count"], 1);
  EXPECT_EQ((*listed)["programs"][0]["program_id"], "qa");

  const json info = ok("get_program_info", {{"program_id", "qa"}}, s);  // the "get" verb's command
  EXPECT_EQ(info["calls"], 1);
  EXPECT_EQ(info["signature"], "question: str -> answer: str");

  auto deleted = host.delete_resource("dspy", "program", {{"program_id", "qa"}}, in(s));
  ASSERT_TRUE(deleted.ok()) << deleted.error().describe();
  EXPECT_EQ((*deleted)["deleted"], true);
  auto after = host.list_resources("dspy", "program", in(s));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)["count"], 0);

  auto unknown_kind = host.create_resource("dspy", "chain", kQa, in(s));
  ASSERT_FALSE(unknown_kind.ok());
  EXPECT_EQ(unknown_kind.error().category, ErrorCategory::kNotFound);
  EXPECT_TRUE(has(unknown_kind.error().message, "chain")) << unknown_kind.error().message;
}

TEST_F(DspyHostTest, AnUnknownProgramIsNotFound) {
  Host& host = start();
  const std::string s = session();
  auto missing = host.execute_resource("dspy", "program", kTwoPlusTwo, in(s));
  ASSERT_FALSE(missing.ok());
  const Error& error = missing.error();
  EXPECT_EQ(error.category, ErrorCategory::kNotFound) << error.describe();
  EXPECT_FALSE(error.retryable);
  EXPECT_EQ(error.python_type, "mlbridge.BridgeError");
  EXPECT_EQ(error.bridge, "dspy");
  EXPECT_EQ(error.command, "execute_program");
  EXPECT_TRUE(has(error.message, "'qa'")) << error.message;
  EXPECT_TRUE(has(error.message, "list_programs")) << error.message;
  // A refusal of another kind keeps the bridge's own category.
  ok("create_program", kQa, s);
  const Error duplicate = fails("create_program", kQa, s);
  EXPECT_EQ(duplicate.category, ErrorCategory::kInvalidArgument) << duplicate.describe();
}

TEST_F(DspyHostTest, SessionsDoNotSeeEachOthersPrograms) {
  start();
  const std::string alice = session();
  const std::string bob = session();
  ASSERT_NE(alice, bob);
  ok("create_program", kQa, alice);
  EXPECT_EQ(ok("list_programs", json::object(), bob)["count"], 0);
  EXPECT_EQ(ok("list_programs", json::object())["count"], 0);  // nor does the anonymous one
  EXPECT_EQ(fails("execute_program", kTwoPlusTwo, bob).category, ErrorCategory::kNotFound);
  ok("create_program", {{"program_id", "qa"}, {"signature", "question -> answer: int"}}, bob);
  EXPECT_EQ(ok("execute_program", kTwoPlusTwo, alice)["outputs"]["answer"], "4");
  EXPECT_EQ(ok("execute_program", kTwoPlusTwo, bob)["outputs"]["answer"], 4);  // its own qa

  ASSERT_TRUE(host_->end_session(alice).ok());
  EXPECT_EQ(ok("list_programs", json::object(), bob)["count"], 1);
  // Ending a session drops its programs: the same id starts empty.
  ASSERT_TRUE(host_->create_session(alice).ok());
  EXPECT_EQ(ok("list_programs", json::object(), alice)["count"], 0);
}

TEST_F(DspyHostTest, SavedProgramLoadsIntoAnotherSession) {
  start();
  const std::string a = session();
  const std::string b = session();
  ok("create_program",
     {{"program_id", "cot"},
      {"module", "chain_of_thought"},
      {"signature", "question -> answer: float"},
      {"instructions", "Answer with a number."}},
     a);
  const json before =
      ok("execute_program", {{"program_id", "cot"}, {"inputs", {{"question", "What is 3*4?"}}}}, a);
  EXPECT_EQ(before["outputs"]["answer"], 12.0);

  const json saved = ok("save_program", {{"program_id", "cot"}}, a);
  const json loaded = ok("load_program", {{"data", saved}, {"program_id", "copy"}}, b);
  EXPECT_EQ(loaded["loaded"], true);
  EXPECT_EQ(loaded["program_id"], "copy");

  const json original = ok("get_program_info", {{"program_id", "cot"}}, a);
  const json copy = ok("get_program_info", {{"program_id", "copy"}}, b);
  for (const char* key : {"signature", "module", "instructions", "inputs", "outputs", "demos"}) {
    EXPECT_EQ(copy[key], original[key]) << key;
  }
  const json after = ok("execute_program",
                        {{"program_id", "copy"}, {"inputs", {{"question", "What is 3*4?"}}}}, b);
  EXPECT_EQ(after["outputs"], before["outputs"]);
  EXPECT_EQ(fails("get_program_info", {{"program_id", "copy"}}, a).category,
            ErrorCategory::kNotFound);
}

TEST_F(DspyHostTest, AnApiKeyInArgumentsIsRefusedBeforeAnyWorkerSeesIt) {
  start();
  const Error refused =
      fails("configure_lm", {{"model", "openai/gpt-test"}, {"api_key", kPlantedKey}}, session());
  EXPECT_EQ(refused.category, ErrorCategory::kInvalidArgument) << refused.describe();
  EXPECT_TRUE(refused.python_type.empty()) << "refused by the plugin, not by Python";
  EXPECT_TRUE(has(refused.message, "api_key_env")) << refused.message;
  EXPECT_FALSE(has(transcript_, kPlantedKey));
}

TEST_F(DspyHostTest, BadLmOptionsStopTheBridgeBeforeAnyWorkerStarts) {
  auto host = load(deployment("{lm: {model: openai/gpt-test, temperature: 7}}"));
  ASSERT_TRUE(host.ok()) << host.error().describe();
  host_ = std::move(*host);
  auto started = host_->start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(has(started.error().message, "options.lm.temperature")) << started.error().message;
  EXPECT_TRUE(has(started.error().message, "dspy")) << started.error().message;
}

// ----------------------------------------------------------------------------- HTTP path

TEST_F(DspyHostTest, ProviderErrorsAreTranslatedByThePluginAndTheKeyNeverLeaks) {
  OpenAIServerProcess server(python(), source_path("tests/support/openai_server.py"));
  LogCapture log;
  start();
  auto lm = [&](const std::string& model, double timeout_s = 30) {
    return json{
        {"model", "openai/" + model}, {"api_base", server.url()}, {"api_key_env", kKeyVariable},
        {"num_retries", 0},           {"cache", false},           {"temperature", 0.0},
        {"timeout_s", timeout_s}};
  };

  // A working call first: the key reaches the provider, the answer comes back.
  const std::string web = session();
  const json configured = ok("configure_lm", lm("gpt-test"), web);
  EXPECT_EQ(configured["offline"], false);
  EXPECT_EQ(configured["api_key_set"], true);
  ok("create_program", kQa, web);
  const json answer = ok("execute_program", kTwoPlusTwo, web);
  EXPECT_EQ(answer["outputs"]["answer"], "4");
  EXPECT_EQ(answer["lm"], "openai/gpt-test");

  // The worker's own hints would give the same categories; retryable tells the plugin's
  // rules apply (model_error is not retryable by default, a provider's timeout or 500 is).
  struct Case {
    const char* model;
    double timeout_s;
    const char* type;
    ErrorCategory category;
    bool retryable;
  };
  for (const Case& c : {
           Case{"fail-429", 30, "litellm.RateLimitError", ErrorCategory::kRateLimit, true},
           Case{"fail-401", 30, "litellm.AuthenticationError", ErrorCategory::kAuthentication,
                false},
           Case{"fail-500", 30, "litellm.InternalServerError", ErrorCategory::kModelError, true},
           Case{"slow-5000", 0.5, "litellm.Timeout", ErrorCategory::kModelError, true},
       }) {
    SCOPED_TRACE(c.model);
    const std::string s = session();
    ok("configure_lm", lm(c.model, c.timeout_s), s);
    ok("create_program", kQa, s);
    const Error error = fails("execute_program", kTwoPlusTwo, s);
    EXPECT_EQ(error.python_type, c.type) << error.describe();
    EXPECT_EQ(error.category, c.category) << error.describe();
    EXPECT_EQ(error.retryable, c.retryable) << error.describe();
    EXPECT_EQ(error.bridge, "dspy");
    EXPECT_TRUE(has(error.message, c.model)) << error.message;  // the model is named
  }
  // The 401 answer echoed the bearer token; the bridge redacted it, and nothing else leaked.
  EXPECT_TRUE(has(transcript_, "[REDACTED]")) << transcript_;
  EXPECT_FALSE(has(transcript_, kPlantedKey)) << transcript_;
  ok("get_lm", json::object(), web);
  EXPECT_GT(ok("inspect_history", {{"n", 5}}, web)["count"], 0);
  EXPECT_FALSE(has(transcript_, kPlantedKey)) << "a key in get_lm or inspect_history";

  host_->shutdown();  // every worker's stderr is in the log now
  const std::string logged = log.text();
  EXPECT_TRUE(has(logged, "AuthenticationError")) << "the workers' stderr was not captured";
  EXPECT_FALSE(has(logged, kPlantedKey)) << "the key reached the host's log";
}

}  // namespace
}  // namespace mlbridge::testing
