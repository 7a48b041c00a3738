// Workers that fail: crashes, kills, protocol violations and start-up failures. Each must give
// the caller a clear error that names what happened, promptly, and leave no process behind.

#include <filesystem>
#include <fstream>

#include "worker_fixture.hpp"

namespace mlbridge::testing {
namespace {

class MisbehavingWorkerTest : public WorkerTest {
 protected:
  WorkerConfig misbehaving(const std::string& mode) {
    auto config = make_config(misbehaving_worker());
    config.extra_args = {"--mode", mode};
    return config;
  }

  Result<std::unique_ptr<WorkerClient>> try_start(WorkerConfig config) {
    return WorkerClient::start(loop_, std::move(config));
  }

  // Starts a worker in `mode`, makes one call, and returns the call's error.
  Error error_of_first_call(const std::string& mode) {
    auto worker = start(misbehaving(mode));
    if (!worker) return Error::make(ErrorCategory::kInternal, "did not start");
    const pid_t pid = worker->pid();
    auto result = worker->call("echo", {{"x", 1}}, with_timeout(10s));
    EXPECT_FALSE(result.ok()) << mode << " should have failed the call";
    EXPECT_TRUE(wait_until_gone(pid)) << "a worker that broke the protocol must be killed";
    return result.ok() ? Error{} : result.error();
  }
};

TEST_F(WorkerTest, WorkerKilledMidRequestFailsTheCallAsCrashed) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  auto pending = worker->call_async("sleep", {{"seconds", 30}});
  std::this_thread::sleep_for(200ms);
  ::kill(worker->pid(), SIGKILL);
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  auto result = pending.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kWorkerCrashed);
  EXPECT_TRUE(contains(result.error().message, "SIGKILL")) << result.error().message;
  EXPECT_TRUE(contains(result.error().message, "'sleep'")) << result.error().message;
  EXPECT_TRUE(result.error().retryable);
}

TEST_F(WorkerTest, NamesTheExitCodeOfACrash) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  auto result = worker->call("crash", {{"exit_code", 3}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kWorkerCrashed);
  EXPECT_TRUE(contains(result.error().message, "exited with code 3")) << result.error().message;
}

TEST_F(WorkerTest, NamesASegfault) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  auto result = worker->call("crash", {{"signal", SIGSEGV}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kWorkerCrashed);
  EXPECT_TRUE(contains(result.error().message, "segmentation fault")) << result.error().message;
}

TEST_F(MisbehavingWorkerTest, ExitBeforeHelloNamesTheExitAndStderr) {
  auto started = try_start(misbehaving("exit_before_hello"));
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(contains(started.error().message, "exited with code 7")) << started.error().message;
  EXPECT_TRUE(contains(started.error().message, "boom")) << started.error().message;
}

// A script that cannot be imported fails the same way at every start: a configuration problem,
// reported once with its traceback in the traceback field, not a crash to retry.
TEST_F(MisbehavingWorkerTest, AScriptThatFailsAtImportIsAConfigurationErrorWithItsTraceback) {
  auto started = try_start(make_config(import_error_bridge()));
  ASSERT_FALSE(started.ok());
  const Error& error = started.error();
  EXPECT_EQ(error.category, ErrorCategory::kInvalidConfiguration) << error.describe();
  EXPECT_FALSE(error.retryable);
  EXPECT_EQ(error.python_type, "ModuleNotFoundError");
  EXPECT_TRUE(contains(error.message,
                       "bridge 'test': the bridge script failed at import: ModuleNotFoundError: "
                       "No module named 'definitely_not_an_installed_module' (traceback below)"))
      << error.message;
  EXPECT_TRUE(contains(error.message, import_error_bridge())) << "names the script to fix";
  EXPECT_FALSE(contains(error.message, "Traceback")) << "not flattened into the message";
  EXPECT_TRUE(contains(error.traceback, "Traceback (most recent call last):")) << error.traceback;
  EXPECT_TRUE(contains(error.traceback, "import definitely_not_an_installed_module"))
      << error.traceback;
  EXPECT_TRUE(contains(error.traceback, "ModuleNotFoundError: No module named")) << error.traceback;
}

// The import error travels to callers (and to HTTP clients, its message): the worker's secrets
// are blanked out of it like out of any other error of the worker.
TEST_F(MisbehavingWorkerTest, AnImportErrorCarriesNoSecretOfTheWorkersEnvironment) {
  const std::string secret = "sk-test-0123456789-do-not-leak";
  const auto script = std::filesystem::temp_directory_path() /
                      ("mlbridge-leaky-import-" + std::to_string(::getpid()) + ".py");
  std::ofstream(script) << "import os\n"
                        << "raise RuntimeError('cannot reach the API with key ' + "
                        << "os.environ['TEST_API_KEY'])\n";
  auto config = make_config(script.string());
  config.env["TEST_API_KEY"] = secret;
  auto started = try_start(config);
  std::filesystem::remove(script);
  ASSERT_FALSE(started.ok());
  const Error& error = started.error();
  EXPECT_EQ(error.category, ErrorCategory::kInvalidConfiguration) << error.describe();
  EXPECT_TRUE(contains(error.message, "RuntimeError: cannot reach the API with key"))
      << error.message;
  EXPECT_FALSE(contains(error.message, secret)) << error.message;
  EXPECT_TRUE(contains(error.traceback, "RuntimeError")) << error.traceback;
  EXPECT_FALSE(contains(error.traceback, secret)) << error.traceback;
}

TEST_F(MisbehavingWorkerTest, NoHelloWithinStartupTimeout) {
  auto config = misbehaving("no_hello");
  config.startup_timeout = 500ms;
  auto started = try_start(config);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(contains(started.error().message, "sent no hello within startup_ms 500 ms"))
      << started.error().message;
}

TEST_F(MisbehavingWorkerTest, BadHelloNamesTheProtocolVersion) {
  auto started = try_start(misbehaving("bad_hello"));
  ASSERT_FALSE(started.ok());
  EXPECT_TRUE(contains(started.error().message, "protocol 99")) << started.error().message;
}

TEST_F(MisbehavingWorkerTest, MissingScriptFailsToStartWithPythonsMessage) {
  auto started = try_start(make_config("/nonexistent/bridge.py"));
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(contains(started.error().message, "/nonexistent/bridge.py"))
      << started.error().message;
}

TEST_F(MisbehavingWorkerTest, MissingInterpreterIsNamed) {
  auto config = make_config();
  config.python = "/nonexistent/python3";
  auto started = try_start(config);
  ASSERT_FALSE(started.ok());
  EXPECT_TRUE(contains(started.error().message, "/nonexistent/python3")) << started.error().message;
}

TEST_F(MisbehavingWorkerTest, ZeroLengthFrameIsAProtocolError) {
  const Error error = error_of_first_call("zero_length");
  EXPECT_EQ(error.category, ErrorCategory::kProtocolError);
  EXPECT_TRUE(contains(error.message, "zero length")) << error.message;
}

TEST_F(MisbehavingWorkerTest, TwoGibibyteLengthIsAProtocolError) {
  const Error error = error_of_first_call("huge_length");
  EXPECT_EQ(error.category, ErrorCategory::kProtocolError);
  EXPECT_TRUE(contains(error.message, "2147483648")) << error.message;
}

TEST_F(MisbehavingWorkerTest, GarbageOnStdoutIsAProtocolError) {
  const Error error = error_of_first_call("garbage");
  EXPECT_EQ(error.category, ErrorCategory::kProtocolError);
  EXPECT_TRUE(contains(error.message, "stdout")) << error.message;
}

TEST_F(MisbehavingWorkerTest, PartialFrameThenEofIsAProtocolError) {
  const Error error = error_of_first_call("partial_then_eof");
  EXPECT_EQ(error.category, ErrorCategory::kProtocolError);
  EXPECT_TRUE(contains(error.message, "middle of a frame")) << error.message;
}

TEST_F(MisbehavingWorkerTest, NonMapFrameIsAProtocolError) {
  const Error error = error_of_first_call("non_map");
  EXPECT_EQ(error.category, ErrorCategory::kProtocolError);
  EXPECT_TRUE(contains(error.message, "array")) << error.message;
}

// A JSON answer in the SDK's layout is passed on as text without a DOM only once its result is
// found to be well-formed JSON: a malformed one is the protocol violation it always was, also for
// a call that wants its result as text (the HTTP API's).
TEST_F(MisbehavingWorkerTest, AMalformedResultInTheSdksJsonLayoutIsAProtocolError) {
  auto worker = start(misbehaving("bad_result_text"));
  ASSERT_TRUE(worker);
  const pid_t pid = worker->pid();
  CallOptions options = with_timeout(10s);
  options.result_as_json_text = true;
  auto result = worker->call("echo", {{"x", 1}}, std::move(options));
  ASSERT_FALSE(result.ok()) << result->dump();
  EXPECT_EQ(result.error().category, ErrorCategory::kProtocolError) << result.error().describe();
  EXPECT_TRUE(wait_until_gone(pid)) << "a worker that broke the protocol must be killed";
}

// The host kills a worker whose protocol pipe closed while it kept running; that SIGKILL is the
// host's, so the report says what happened instead of blaming the out-of-memory killer.
TEST_F(MisbehavingWorkerTest, ClosedStdoutIsReportedAsTheHostStoppingItNotAsTheOomKiller) {
  const Error error = error_of_first_call("close_stdout");
  EXPECT_EQ(error.category, ErrorCategory::kWorkerCrashed) << error.describe();
  EXPECT_TRUE(contains(error.message, "closed its stdout (the protocol pipe)")) << error.message;
  EXPECT_TRUE(contains(error.message, "the host stopped it")) << error.message;
  EXPECT_TRUE(contains(error.message, "'echo'")) << error.message;
  EXPECT_FALSE(contains(error.message, "out-of-memory")) << error.message;
  EXPECT_FALSE(contains(error.message, "possibly")) << error.message;
}

TEST_F(MisbehavingWorkerTest, AnswerForAnUnknownIdIsDroppedNotHandedOn) {
  auto worker = start(misbehaving("unknown_id"));
  ASSERT_TRUE(worker);
  for (int i = 0; i < 3; ++i) {
    auto result = worker->call("echo", {{"i", i}});
    ASSERT_TRUE(result.ok()) << result.error().describe();
    EXPECT_NE(result->dump(), "\"stale\"");
    EXPECT_EQ((*result)["i"], i);
  }
}

TEST_F(MisbehavingWorkerTest, SeedStyleStringErrorIsRead) {
  auto worker = start(misbehaving("string_error"));
  ASSERT_TRUE(worker);
  auto result = worker->call("echo", {{"x", 1}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().python_type, "Error");
  EXPECT_TRUE(contains(result.error().message, "plain string error")) << result.error().message;
}

}  // namespace
}  // namespace mlbridge::testing
