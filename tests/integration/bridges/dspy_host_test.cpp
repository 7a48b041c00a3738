// The DSPy bridge through the Host API: the real libmlbridge_dspy.so, real Python workers
// running python_bridges/dspy_bridge.py. Offline on DSPy's DummyLM, plus the HTTP path against
// the mock OpenAI server (tests/support/openai_server.py) for the provider errors that the
// plugin's rules translate. A planted API key must never come back in any result or error.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "log_capture.hpp"
#include "mlbridge/host.hpp"
#include "openai_server_process.hpp"
#include "refusing_port.hpp"
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

/// The bridge options that pair the mock server with the planted key's variable: the one
/// endpoint the key may be sent to.
std::string key_goes_to(const OpenAIServerProcess& server) {
  return "{endpoints: [{api_base: '" + server.url() + "', api_key_env: " + kKeyVariable + "}]}";
}

/// The chat completions the mock server received for `model`.
std::size_t requests_for(const OpenAIServerProcess& server, const std::string& model) {
  const json log = json::parse(server.get("/_requests"), nullptr, false);
  std::size_t count = 0;
  if (!log.is_array()) return count;
  for (const auto& entry : log) {
    if (entry.value("path", "").find("/chat/completions") == std::string::npos) continue;
    const json& body = entry.contains("json") ? entry["json"] : json();
    if (body.is_object() && body.value("model", "") == model) ++count;
  }
  return count;
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
  std::string deployment(const std::string& options = "", const std::string& extra = "") const {
    std::string yaml = "host:\n  root: " + std::string(MLBRIDGE_SOURCE_DIR) +
                       "\n  python: " + python() + "\n  plugin_dirs: [" + DSPY_PLUGIN_DIR +
                       "]\nbridges:\n  dspy:\n    plugin: dspy\n"
                       "    pool: {size: 1, max_overflow: 0}\n"
                       "    timeouts: {shutdown_ms: 5000}\n"
                       "    env:\n      pass: [" +
                       kKeyVariable +
                       "]\n      set: {DSPY_CACHEDIR: " + (dir_ / "dspy-cache").string() + "}\n";
    if (!options.empty()) yaml += "    options: " + options + "\n";
    return yaml + extra;
  }

  Result<std::unique_ptr<Host>> load(const std::string& yaml) {
    const auto path = dir_ / "mlbridge.yaml";
    std::ofstream(path) << yaml;
    return Host::from_file(path.string());
  }

  Host& start(const std::string& options = "", const std::string& extra = "") {
    auto host = load(deployment(options, extra));
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

TEST_F(DspyHostTest, ExecuteBatchAnswersEveryInputInOrder) {
  start();
  const std::string s = session();
  ok("create_program", {{"program_id", "calc"}, {"signature", "question -> answer: int"}}, s);
  // Distinct answers, several threads: a result out of place would show.
  json inputs = json::array();
  for (int n = 1; n <= 6; ++n) {
    inputs.push_back({{"question", "What is " + std::to_string(n) + "*7?"}});
  }
  const json batch =
      ok("execute_batch", {{"program_id", "calc"}, {"num_threads", 3}, {"inputs", inputs}}, s);
  ASSERT_EQ(batch["results"].size(), 6u) << batch.dump();
  for (int n = 1; n <= 6; ++n) {
    EXPECT_EQ(batch["results"][n - 1]["outputs"]["answer"], 7 * n) << batch["results"][n - 1];
  }
  EXPECT_EQ(batch["program_id"], "calc");
  EXPECT_EQ(batch["succeeded"], 6);
  EXPECT_EQ(batch["failed"], 0);
  EXPECT_EQ(batch["lm"], kOffline);
  EXPECT_EQ(batch["lm_calls"], 6);
  EXPECT_EQ(ok("get_program_info", {{"program_id", "calc"}}, s)["calls"], 6);

  // An item without the program's inputs refuses the whole batch, naming the field.
  const Error missing =
      fails("execute_batch",
            {{"program_id", "calc"}, {"inputs", {{{"question", "1+1"}}, {{"q", "x"}}}}}, s);
  EXPECT_EQ(missing.category, ErrorCategory::kInvalidArgument) << missing.describe();
  EXPECT_TRUE(has(missing.message, "question")) << missing.message;
  EXPECT_EQ(fails("execute_batch", {{"program_id", "calc"}, {"inputs", json::array()}}, s).category,
            ErrorCategory::kInvalidArgument);
  EXPECT_EQ(
      fails("execute_batch", {{"program_id", "calc"}, {"inputs", inputs}, {"num_threads", 0}}, s)
          .category,
      ErrorCategory::kInvalidArgument);
}

TEST_F(DspyHostTest, ExecuteProgramWithTheAsyncOptionThroughExecuteAsync) {
  start();
  const std::string s = session();
  ok("create_program",
     {{"program_id", "cot"},
      {"module", "chain_of_thought"},
      {"signature", "question -> answer: int"}},
     s);
  const json args = {{"program_id", "cot"}, {"inputs", {{"question", "What is 5*5?"}}}};
  const json sync = ok("execute_program", args, s);
  json async_args = args;
  async_args["async"] = true;  // the module's acall under asyncio, in the worker
  auto future = host_->execute_async("dspy", "execute_program", async_args, in(s));
  ASSERT_EQ(future.wait_for(120s), std::future_status::ready) << "hang guard";
  auto async = future.get();
  ASSERT_TRUE(async.ok()) << async.error().describe();
  transcript_ += async->dump() + "\n";
  EXPECT_EQ((*async)["outputs"]["answer"], 25);
  EXPECT_EQ((*async)["outputs"], sync["outputs"]);
  EXPECT_FALSE((*async)["reasoning"].get<std::string>().empty());
  EXPECT_EQ((*async)["lm"], kOffline);
  EXPECT_EQ((*async)["lm_calls"], 1);
  EXPECT_EQ(ok("get_program_info", {{"program_id", "cot"}}, s)["calls"], 2);
}

TEST_F(DspyHostTest, EvaluateProgramScoresADevsetItemByItem) {
  start();
  const std::string s = session();
  ok("create_program", {{"program_id", "ev"}, {"signature", "question -> answer"}}, s);
  // The offline LM computes arithmetic: the second label is wrong on purpose.
  const json devset = {
      {{"question", "What is 2+2?"}, {"answer", "4"}},
      {{"inputs", {{"question", "What is 2+3?"}}}, {"outputs", {{"answer", "6"}}}},
      {{"question", "What is 3*3?"}, {"answer", "9"}},
      {{"question", "What is 10-4?"}, {"answer", "6"}},
  };
  const json evaluation = ok(
      "evaluate_program",
      {{"program_id", "ev"}, {"metric", "exact_match"}, {"num_threads", 2}, {"devset", devset}}, s);
  EXPECT_EQ(evaluation["program_id"], "ev");
  EXPECT_EQ(evaluation["metric"], "exact_match");
  EXPECT_EQ(evaluation["count"], 4);
  EXPECT_DOUBLE_EQ(evaluation["score"].get<double>(), 75.0);  // a percentage, as dspy.Evaluate
  ASSERT_EQ(evaluation["results"].size(), 4u) << evaluation.dump();
  std::vector<double> scores;
  for (const auto& item : evaluation["results"]) scores.push_back(item["score"].get<double>());
  EXPECT_EQ(scores, (std::vector<double>{1.0, 0.0, 1.0, 1.0}));
  const json& wrong = evaluation["results"][1];
  EXPECT_EQ(wrong["inputs"]["question"], "What is 2+3?");
  EXPECT_EQ(wrong["expected"]["answer"], "6");
  EXPECT_EQ(wrong["outputs"]["answer"], "5");
  EXPECT_EQ(evaluation["lm"], kOffline);
  EXPECT_EQ(evaluation["lm_calls"], 4);

  const Error metric =
      fails("evaluate_program", {{"program_id", "ev"}, {"metric", "bleu"}, {"devset", devset}}, s);
  EXPECT_EQ(metric.category, ErrorCategory::kInvalidArgument) << metric.describe();
  EXPECT_TRUE(has(metric.message, "bleu")) << metric.message;
  const Error unlabeled =
      fails("evaluate_program", {{"program_id", "ev"}, {"devset", {{{"question", "2+2"}}}}}, s);
  EXPECT_EQ(unlabeled.category, ErrorCategory::kInvalidArgument) << unlabeled.describe();
}

TEST_F(DspyHostTest, OptimizeProgramReportsTheScoreBeforeAndAfter) {
  start();
  const std::string s = session();
  const json trainset = {
      {{"question", "Capital of France?"}, {"answer", "Paris"}},
      {{"question", "Capital of Japan?"}, {"answer", "Tokyo"}},
      {{"question", "Capital of Italy?"}, {"answer", "Rome"}},
  };
  ok("create_program", {{"program_id", "capitals"}, {"signature", "question -> answer"}}, s);

  // BootstrapFewShot (the default optimizer) into a new program: the offline LM knows no
  // capital (score 0 before), but answers a question it has a demo for as the demo did.
  const json boot = ok("optimize_program",
                       {{"program_id", "capitals"},
                        {"trainset", trainset},
                        {"metric", "exact_match"},
                        {"target_program_id", "boot"}},
                       s);
  EXPECT_EQ(boot["optimizer"], "bootstrap_few_shot");
  EXPECT_EQ(boot["program_id"], "boot");
  EXPECT_EQ(boot["source_program_id"], "capitals");
  EXPECT_DOUBLE_EQ(boot["score_before"].get<double>(), 0.0) << boot.dump();
  EXPECT_DOUBLE_EQ(boot["score_after"].get<double>(), 100.0) << boot.dump();
  EXPECT_EQ(boot["improved"], true);
  EXPECT_EQ(boot["trainset_size"], 3);
  EXPECT_EQ(boot["devset_size"], 3);  // the trainset when no devset is given
  EXPECT_EQ(boot["lm"], kOffline);
  EXPECT_EQ(ok("get_program_info", {{"program_id", "boot"}}, s)["optimized_with"],
            "bootstrap_few_shot");
  EXPECT_EQ(ok("get_program_info", {{"program_id", "capitals"}}, s)["demos"], 0)
      << "the source program is left as it was";

  // LabeledFewShot in place, scored on a devset of its own.
  const json devset = {{{"question", "Capital of Japan?"}, {"answer", "Tokyo"}},
                       {{"question", "Capital of Peru?"}, {"answer", "Lima"}}};
  const json labeled = ok("optimize_program",
                          {{"program_id", "capitals"},
                           {"optimizer", "labeled_few_shot"},
                           {"trainset", trainset},
                           {"devset", devset},
                           {"metric", "exact_match"}},
                          s);
  EXPECT_EQ(labeled["optimizer"], "labeled_few_shot");
  EXPECT_EQ(labeled["program_id"], "capitals");
  EXPECT_DOUBLE_EQ(labeled["score_before"].get<double>(), 0.0) << labeled.dump();
  EXPECT_DOUBLE_EQ(labeled["score_after"].get<double>(), 50.0) << labeled.dump();  // not Peru
  EXPECT_EQ(labeled["improved"], true);
  EXPECT_EQ(labeled["demos"], 3);
  EXPECT_EQ(labeled["devset_size"], 2);
  const json info = ok("get_program_info", {{"program_id", "capitals"}}, s);
  EXPECT_EQ(info["optimized_with"], "labeled_few_shot");
  EXPECT_EQ(info["demos"], 3);
  EXPECT_EQ(ok("execute_program",
               {{"program_id", "capitals"}, {"inputs", {{"question", "Capital of Italy?"}}}},
               s)["outputs"]["answer"],
            "Rome");

  const Error unknown =
      fails("optimize_program",
            {{"program_id", "capitals"}, {"optimizer", "mipro"}, {"trainset", trainset}}, s);
  EXPECT_EQ(unknown.category, ErrorCategory::kInvalidArgument) << unknown.describe();
  EXPECT_TRUE(has(unknown.message, "mipro")) << unknown.message;
}

// ----------------------------------------------------------------------------- HTTP path

TEST_F(DspyHostTest, ProviderErrorsAreTranslatedByThePluginAndTheKeyNeverLeaks) {
  OpenAIServerProcess server(python(), source_path("tests/support/openai_server.py"));
  LogCapture log;
  start(key_goes_to(server));
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
           // DSPy's own engine (the default, engine: auto) names the failures with DSPy's types.
           Case{"fail-429", 30, "dspy.LMRateLimitError", ErrorCategory::kRateLimit, true},
           Case{"fail-401", 30, "dspy.LMAuthError", ErrorCategory::kAuthentication, false},
           Case{"fail-500", 30, "dspy.LMServerError", ErrorCategory::kModelError, true},
           Case{"slow-5000", 0.5, "dspy.LMTransportError", ErrorCategory::kModelError, true},
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
  EXPECT_TRUE(has(logged, "LMAuthError")) << "the workers' stderr was not captured";
  EXPECT_FALSE(has(logged, kPlantedKey)) << "the key reached the host's log";
}

TEST_F(DspyHostTest, SessionsOnOneWorkerEachRunUnderTheirOwnLm) {
  OpenAIServerProcess server(python(), source_path("tests/support/openai_server.py"));
  start(key_goes_to(server));  // pool size 1: every session below is served by the same worker
  const std::string alpha = session();
  const std::string beta = session();
  const std::string gamma = session();  // configures nothing: the bridge default
  const json http = ok("configure_lm",
                       {{"model", "openai/gpt-alpha"},
                        {"api_base", server.url()},
                        {"api_key_env", kKeyVariable},
                        {"num_retries", 0},
                        {"cache", false}},
                       alpha);
  EXPECT_EQ(http["scope"], "session");
  EXPECT_EQ(http["lm"], "openai/gpt-alpha");
  const json offline = ok("configure_lm", {{"offline", true}, {"temperature", 0.5}}, beta);
  EXPECT_EQ(offline["scope"], "session");
  EXPECT_EQ(offline["lm"], kOffline);

  const long pid = ok("get_info", json::object(), alpha)["pid"].get<long>();
  for (const auto& s : {beta, gamma}) {
    EXPECT_EQ(ok("get_info", json::object(), s)["pid"].get<long>(), pid) << "one worker";
  }
  // Each session's get_lm shows its own LM, whatever was configured since in the others.
  const json a = ok("get_lm", json::object(), alpha);
  EXPECT_EQ(a["scope"], "session");
  EXPECT_EQ(a["session_id"], alpha);
  EXPECT_EQ(a["lm"], "openai/gpt-alpha");
  EXPECT_EQ(a["offline"], false);
  EXPECT_EQ(a["settings"]["api_base"], server.url());
  EXPECT_EQ(a["api_key_set"], true);
  const json b = ok("get_lm", json::object(), beta);
  EXPECT_EQ(b["scope"], "session");
  EXPECT_EQ(b["session_id"], beta);
  EXPECT_EQ(b["lm"], kOffline);
  EXPECT_EQ(b["settings"]["temperature"], 0.5);
  EXPECT_FALSE(b["settings"].contains("api_base")) << b.dump();
  const json c = ok("get_lm", json::object(), gamma);
  EXPECT_EQ(c["scope"], "default");
  EXPECT_EQ(c["lm"], kOffline);
  EXPECT_FALSE(c["settings"].contains("temperature")) << c.dump();

  // And each session's calls run under it: the mock server's answer, the offline one.
  const json run = {{"program_id", "p"}, {"inputs", {{"question", "Say hello."}}}};
  for (const auto& s : {alpha, beta, gamma}) {
    ok("create_program", {{"program_id", "p"}, {"signature", "question -> answer"}}, s);
  }
  const json from_alpha = ok("execute_program", run, alpha);
  EXPECT_EQ(from_alpha["lm"], "openai/gpt-alpha");
  EXPECT_EQ(from_alpha["outputs"]["answer"], "mock answer");
  const json from_beta = ok("execute_program", run, beta);
  EXPECT_EQ(from_beta["lm"], kOffline);
  EXPECT_EQ(from_beta["outputs"]["answer"], "offline answer");
  EXPECT_EQ(ok("execute_program", run, gamma)["lm"], kOffline);

  // A reset drops the session's own LM; the other session keeps its own.
  EXPECT_EQ(ok("configure_lm", {{"reset", true}}, alpha)["scope"], "default");
  EXPECT_EQ(ok("get_lm", json::object(), alpha)["lm"], kOffline);
  EXPECT_EQ(ok("get_lm", json::object(), beta)["settings"]["temperature"], 0.5);
  EXPECT_FALSE(has(transcript_, kPlantedKey)) << transcript_;
}

TEST_F(DspyHostTest, BadRequestContextWindowAndARefusedConnectionAreTranslated) {
  OpenAIServerProcess server(python(), source_path("tests/support/openai_server.py"));
  RefusingPort closed;
  start(key_goes_to(server));
  auto lm = [&](const std::string& base, const std::string& model) {
    json settings = {{"model", "openai/" + model}, {"api_base", base},
                     {"num_retries", 0},           {"cache", false},
                     {"temperature", 0.0},         {"timeout_s", 30}};
    if (base == server.url()) settings["api_key_env"] = kKeyVariable;  // the paired endpoint
    return settings;
  };
  // ctx-<n> answers 400 only when the prompt has more than n words: a large n answers.
  const std::string fits = session();
  ok("configure_lm", lm(server.url(), "ctx-100000"), fits);
  ok("create_program", kQa, fits);
  EXPECT_EQ(ok("execute_program", kTwoPlusTwo, fits)["outputs"]["answer"], "4");

  struct Case {
    std::string base;
    const char* model;
    const char* type;  // nullptr: see below
    ErrorCategory category;
    bool retryable;
  };
  for (const Case& c : {
           // The mock's 400 is OpenAI's context_length_exceeded; DSPy names it so.
           Case{server.url(), "fail-400", "dspy.ContextWindowExceededError",
                ErrorCategory::kInvalidArgument, false},
           Case{server.url(), "ctx-5", "dspy.ContextWindowExceededError",
                ErrorCategory::kInvalidArgument, false},
           // A refused connection: DSPy's transport error, naming it.
           Case{closed.url(), "gpt-unreachable", nullptr, ErrorCategory::kModelError, true},
       }) {
    SCOPED_TRACE(c.model);
    const std::string s = session();
    ok("configure_lm", lm(c.base, c.model), s);
    ok("create_program", kQa, s);
    const Error error = fails("execute_program", kTwoPlusTwo, s);
    if (c.type != nullptr) {
      EXPECT_EQ(error.python_type, c.type) << error.describe();
    } else {
      EXPECT_EQ(error.python_type, "dspy.LMTransportError") << error.describe();
      EXPECT_TRUE(has(error.message, "Connection refused")) << error.message;
    }
    EXPECT_EQ(error.category, c.category) << error.describe();
    EXPECT_EQ(error.retryable, c.retryable) << error.describe();
    EXPECT_EQ(error.bridge, "dspy");
    EXPECT_EQ(error.command, "execute_program");
    EXPECT_TRUE(has(error.message, c.model)) << error.message;  // the model is named
  }
  EXPECT_FALSE(has(transcript_, kPlantedKey)) << transcript_;
}

// ------------------------------------------------------------------- keys and retries (issue 20)

TEST_F(DspyHostTest, AKeyGoesOnlyToTheEndpointTheOperatorConfigured) {
  OpenAIServerProcess paired(python(), source_path("tests/support/openai_server.py"));
  OpenAIServerProcess elsewhere(python(), source_path("tests/support/openai_server.py"));
  start(key_goes_to(paired));
  const std::string s = session();
  const json to_elsewhere = {{"model", "openai/gpt-test"},
                             {"api_base", elsewhere.url()},
                             {"api_key_env", kKeyVariable},
                             {"num_retries", 0}};
  const Error refused = fails("configure_lm", to_elsewhere, s);
  EXPECT_EQ(refused.category, ErrorCategory::kInvalidArgument) << refused.describe();
  for (const std::string& part : {elsewhere.url(), paired.url(), std::string(kKeyVariable),
                                  std::string("options.endpoints")}) {
    EXPECT_TRUE(has(refused.message, part)) << part << " not in " << refused.message;
  }
  // The session still runs under the default (offline) LM: nothing reached either server.
  ok("create_program", kQa, s);
  EXPECT_EQ(ok("execute_program", kTwoPlusTwo, s)["lm"], kOffline);
  EXPECT_EQ(elsewhere.get("/_requests"), "[]");
  // Without a session, configure_lm would change every caller's LM: refused.
  const Error shared = fails("configure_lm", {{"offline", true}, {"temperature", 0.5}});
  EXPECT_EQ(shared.category, ErrorCategory::kInvalidArgument) << shared.describe();
  EXPECT_TRUE(has(shared.message, "pass a session")) << shared.message;
  EXPECT_FALSE(ok("get_lm", json::object(), session())["settings"].contains("temperature"));
}

TEST_F(DspyHostTest, AFailedCallCostsOneRetryLayerOfRequests) {
  OpenAIServerProcess server(python(), source_path("tests/support/openai_server.py"));
  start();  // the plugin's defaults: a keyless server, so the old code could run this too
  int host_retries = 0;
  for (const char* model : {"fail-429", "fail-500"}) {
    SCOPED_TRACE(model);
    const std::string s = session();
    ok("configure_lm",
       {{"model", std::string("openai/") + model},
        {"api_base", server.url()},
        {"num_retries", 2},
        {"cache", false}},
       s);
    ok("create_program", kQa, s);
    ExecuteOptions options = in(s);
    options.on_retry = [&](std::uint32_t, const Error&) { ++host_retries; };
    auto result = host_->execute("dspy", "execute_program", kTwoPlusTwo, std::move(options));
    ASSERT_FALSE(result.ok());
    EXPECT_TRUE(result.error().category == ErrorCategory::kRateLimit ||
                result.error().category == ErrorCategory::kModelError)
        << result.error().describe();
    // DSPy's one try and its 2 retries; the host tries once (it used to try 3 times: 9).
    EXPECT_EQ(requests_for(server, model), 3u);
  }
  EXPECT_EQ(host_retries, 0);
}

TEST_F(DspyHostTest, RetriesThatCannotFinishBeforeTheDeadlineAreNotStarted) {
  OpenAIServerProcess server(python(), source_path("tests/support/openai_server.py"));
  start();
  const std::string s = session();
  auto lm = [&](const std::string& model) {
    return json{{"model", "openai/" + model},
                {"api_base", server.url()},
                {"num_retries", 3},
                {"cache", false}};
  };
  // A first call pays DSPy's and LiteLLM's lazy set-up, so that the waits below are the
  // retries' own (the deadline leaves seconds of slack either way; nothing here is timed).
  ok("configure_lm", lm("gpt-test"), s);
  ok("create_program", kQa, s);
  ok("execute_program", kTwoPlusTwo, s);
  // DSPy waits 1 s, 2 s, 4 s before its retries of a 500. With a 6 s deadline the third retry
  // (after 7 s of waits) cannot start; the caller gets the provider's error after 3 requests,
  // not a timeout at the deadline after a wait that could not help.
  ok("configure_lm", lm("fail-500"), s);
  ExecuteOptions options = in(s);
  options.timeout = 6s;
  auto result = host_->execute("dspy", "execute_program", kTwoPlusTwo, std::move(options));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kModelError) << result.error().describe();
  EXPECT_EQ(result.error().python_type, "dspy.LMServerError");
  EXPECT_EQ(requests_for(server, "fail-500"), 3u);
}

// ------------------------------------------------------------------------ the user's own code

/// A package of tools that misbehave, beside the example package: `calculator` (the name the
/// offline LM's ReAct step calls for arithmetic) blocks until the worker ends.
std::string hanging_tools(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir / "badteam");
  std::ofstream(dir / "badteam" / "__init__.py") << "";
  std::ofstream(dir / "badteam" / "tools.py")
      << "import threading\n\n\ndef calculator(expression: str) -> str:\n"
         "    \"\"\"Never answers.\"\"\"\n    threading.Event().wait()\n    return expression\n";
  return "    code:\n      paths: [examples/user_code, " + dir.string() +
         "]\n      modules: [myteam.programs, myteam.tools, myteam.metrics, badteam.tools]\n";
}

TEST_F(DspyHostTest, UserModulesToolsAndMetricsByImportPath) {
  start("{programs: [{program_id: rag, module: 'myteam.programs:RAG', init: {k: 1}}]}",
        hanging_tools(dir_ / "code"));
  // Declared in options.programs: every session (and the anonymous one) has it.
  for (const std::string& s : {std::string(), session()}) {
    const json answer =
        ok("execute_program", {{"program_id", "rag"}, {"inputs", {{"question", "2+3"}}}}, s);
    EXPECT_EQ(answer["outputs"]["answer"], "5") << answer.dump();
    EXPECT_TRUE(answer.contains("cost")) << answer.dump();
  }
  const std::string s = session();
  const json created = ok("create_program",
                          {{"program_id", "mine"},
                           {"module", "myteam.programs:make_rag"},
                           {"init", {{"k", 2}}},
                           {"signature", "question -> answer"}},
                          s);
  EXPECT_EQ(created["module"], "myteam.programs:make_rag");
  const json trainset = {{{"question", "Capital of France?"}, {"answer", "Paris"}},
                         {{"question", "Capital of Japan?"}, {"answer", "Tokyo"}}};
  const json optimized = ok("optimize_program",
                            {{"program_id", "mine"},
                             {"optimizer", "LabeledFewShot"},
                             {"trainset", trainset},
                             {"metric", "myteam.metrics:exact"}},
                            s);
  EXPECT_EQ(optimized["optimizer"], "labeled_few_shot");
  EXPECT_EQ(optimized["demos"], 2);

  const Error undeclared =
      fails("create_program", {{"program_id", "x"}, {"module", "os:system"}}, s);
  EXPECT_EQ(undeclared.category, ErrorCategory::kInvalidArgument) << undeclared.describe();
  EXPECT_TRUE(has(undeclared.message, "myteam.programs")) << undeclared.message;
  const Error function =
      fails("create_program", {{"program_id", "x"}, {"module", "myteam.tools:search"}}, s);
  EXPECT_EQ(function.category, ErrorCategory::kInvalidArgument) << function.describe();
  EXPECT_TRUE(has(function.message, "is a function")) << function.message;
}

TEST_F(DspyHostTest, AHangingUserToolEndsAtTheDeadlineAndTheWorkerGoesOn) {
  start("", hanging_tools(dir_ / "code"));
  const std::string s = session();
  ok("create_program",
     {{"program_id", "agent"},
      {"module", "react"},
      {"signature", "question -> answer"},
      {"tools", {"badteam.tools:calculator"}}},
     s);
  ExecuteOptions short_deadline = in(s);
  short_deadline.timeout = 3s;
  auto hung = host_->execute("dspy", "execute_program",
                             {{"program_id", "agent"}, {"inputs", {{"question", "What is 2+2?"}}}},
                             short_deadline);
  ASSERT_FALSE(hung.ok()) << hung->dump();
  EXPECT_EQ(hung.error().category, ErrorCategory::kTimeout) << hung.error().describe();
  // The tool's thread still blocks; the worker's loop does not.
  ok("create_program", kQa, s);
  EXPECT_EQ(ok("execute_program", kTwoPlusTwo, s)["outputs"]["answer"], "4");
}

}  // namespace
}  // namespace mlbridge::testing
