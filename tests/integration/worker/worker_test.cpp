// A real echo-bridge worker through the worker API: calls, codecs, streaming, sessions,
// deadlines, cancellation and shutdown.

#include <atomic>
#include <vector>

#include "worker_fixture.hpp"

namespace mlbridge::testing {
namespace {

class WorkerCodecTest : public WorkerTest, public ::testing::WithParamInterface<protocol::Codec> {};

TEST_P(WorkerCodecTest, SendsHelloAndAnswersPing) {
  auto worker = start_echo(GetParam());
  ASSERT_TRUE(worker);
  EXPECT_EQ(worker->hello().framework, "echo");
  EXPECT_EQ(worker->hello().protocol, 1);
  EXPECT_EQ(worker->hello().pid, worker->pid());
  auto pong = worker->call("ping");
  ASSERT_TRUE(pong.ok()) << pong.error().describe();
  EXPECT_EQ((*pong)["status"], "ok");
  EXPECT_EQ((*pong)["worker_id"], "test-1");
}

TEST_P(WorkerCodecTest, EchoesNestedValuesAndBytes) {
  auto worker = start_echo(GetParam());
  ASSERT_TRUE(worker);
  std::vector<std::uint8_t> blob(1 << 20);
  for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<std::uint8_t>(i * 7);
  const json args = {
      {"n", 42}, {"f", 0.5}, {"list", {1, "two", nullptr}}, {"blob", json::binary(blob)}};
  auto echoed = worker->call("echo", args);
  ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
  EXPECT_EQ(*echoed, args);
  ASSERT_TRUE((*echoed)["blob"].is_binary());
}

TEST_P(WorkerCodecTest, AcceptsNamespacedCommands) {
  auto worker = start_echo(GetParam());
  ASSERT_TRUE(worker);
  EXPECT_TRUE(worker->call("common:ping").ok());
  auto echoed = worker->call("echo:echo", {{"x", 1}});
  ASSERT_TRUE(echoed.ok());
  EXPECT_EQ((*echoed)["x"], 1);
}

INSTANTIATE_TEST_SUITE_P(BothCodecs, WorkerCodecTest,
                         ::testing::Values(protocol::Codec::kJson, protocol::Codec::kMsgpack),
                         [](const auto& info) {
                           return std::string(protocol::to_string(info.param));
                         });

TEST_F(WorkerTest, ReportsAPythonExceptionWithTypeAndTraceback) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  auto failed = worker->call("fail", {{"type", "ValueError"}, {"message", "bad input 42"}});
  ASSERT_FALSE(failed.ok());
  const Error& error = failed.error();
  EXPECT_EQ(error.python_type, "ValueError");
  EXPECT_TRUE(contains(error.message, "bad input 42")) << error.message;
  EXPECT_TRUE(contains(error.message, "'fail'")) << error.message;
  EXPECT_TRUE(contains(error.traceback, "Traceback")) << error.traceback;
  EXPECT_EQ(error.bridge, "test");
  EXPECT_EQ(error.worker_id, "test-1");
  EXPECT_TRUE(worker->call("ping").ok()) << "the worker must survive a handler exception";
}

TEST_F(WorkerTest, NamesAnUnknownCommand) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  auto failed = worker->call("no_such_command");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().category, ErrorCategory::kNotFound);
  EXPECT_TRUE(contains(failed.error().message, "no_such_command")) << failed.error().message;
  auto bad_namespace = worker->call("nope:echo");
  ASSERT_FALSE(bad_namespace.ok());
  EXPECT_EQ(bad_namespace.error().category, ErrorCategory::kNotFound);
}

TEST_F(WorkerTest, PrintingToStdoutDoesNotDisturbTheProtocol) {
  auto worker = start_echo(protocol::Codec::kMsgpack);
  ASSERT_TRUE(worker);
  auto printed = worker->call("print", {{"text", "\x00\x00\x00\x05hello not a frame"}});
  ASSERT_TRUE(printed.ok()) << printed.error().describe();
  auto echoed = worker->call("echo", {{"still", "fine"}});
  ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
  EXPECT_EQ((*echoed)["still"], "fine");
}

TEST_F(WorkerTest, StreamsChunksInOrderBeforeTheResult) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  std::vector<json> chunks;  // touched on the loop thread only, read after the call completed
  CallOptions options;
  options.on_chunk = [&chunks](json chunk) { chunks.push_back(std::move(chunk)); };
  auto result = worker->call("stream", {{"count", 5}, {"delay", 0.0}}, options);
  ASSERT_TRUE(result.ok()) << result.error().describe();
  EXPECT_EQ((*result)["count"], 5);
  ASSERT_EQ(chunks.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(chunks[i]["index"], i);
}

TEST_F(WorkerTest, KeepsSessionResourcesApart) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  CallOptions alice, bob;
  alice.session_id = "alice";
  bob.session_id = "bob";
  ASSERT_TRUE(worker->call("put", {{"key", "k"}, {"value", "A"}}, alice).ok());
  ASSERT_TRUE(worker->call("put", {{"key", "k"}, {"value", "B"}}, bob).ok());
  auto a = worker->call("get", {{"key", "k"}}, alice);
  auto b = worker->call("get", {{"key", "k"}}, bob);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->dump().find("\"A\"") != std::string::npos, true) << a->dump();
  EXPECT_EQ(b->dump().find("\"B\"") != std::string::npos, true) << b->dump();
  ASSERT_TRUE(worker->call("cleanup_session", {{"session_id", "alice"}}).ok());
  EXPECT_FALSE(worker->call("get", {{"key", "k"}}, alice).ok());
  EXPECT_TRUE(worker->call("get", {{"key", "k"}}, bob).ok());
}

TEST_F(WorkerTest, DeadlineInterruptsPythonAndTheWorkerSurvives) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  const pid_t pid = worker->pid();
  auto slow = worker->call("sleep", {{"seconds", 30}}, with_timeout(300ms));
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().category, ErrorCategory::kTimeout);
  EXPECT_TRUE(contains(slow.error().message, "300 ms")) << slow.error().message;
  EXPECT_TRUE(contains(slow.error().message, "kept serving")) << slow.error().message;
  auto pong = worker->call("ping");
  ASSERT_TRUE(pong.ok()) << pong.error().describe();
  EXPECT_EQ(worker->pid(), pid);
  EXPECT_TRUE(process_alive(pid));
}

TEST_F(WorkerTest, AHandlerThatSwallowsCancellationGetsItsWorkerKilled) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  const pid_t pid = worker->pid();
  auto stuck =
      worker->call("spin", {{"seconds", 60}, {"swallow_interrupt", true}}, with_timeout(300ms));
  ASSERT_FALSE(stuck.ok());
  EXPECT_EQ(stuck.error().category, ErrorCategory::kTimeout);
  EXPECT_TRUE(contains(stuck.error().message, "ignored SIGINT")) << stuck.error().message;
  EXPECT_TRUE(wait_until_gone(pid));
  EXPECT_TRUE(wait_for_state(*worker, worker::WorkerState::kExited)) << to_string(worker->state());
  auto after = worker->call("ping");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().category, ErrorCategory::kBridgeUnavailable);
}

TEST_F(WorkerTest, CallerCanCancelARunningCall) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  std::promise<Result<json>> done;
  std::promise<worker::CallId> id;
  loop_.post([&] {
    id.set_value(worker->worker()->call("sleep", {{"seconds", 30}}, {},
                                        [&done](Result<json> r) { done.set_value(std::move(r)); }));
  });
  const auto call_id = id.get_future().get();
  std::this_thread::sleep_for(200ms);  // let Python enter the handler
  loop_.post([&] { worker->worker()->cancel(call_id); });
  auto result = done.get_future().get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kCancelled);
  EXPECT_TRUE(worker->call("ping").ok());
}

TEST_F(WorkerTest, AsyncCallsCompleteIndependently) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  std::vector<std::future<Result<json>>> futures;
  for (int i = 0; i < 20; ++i) futures.push_back(worker->call_async("echo", {{"i", i}}));
  for (int i = 0; i < 20; ++i) {
    auto result = futures[i].get();
    ASSERT_TRUE(result.ok());
    EXPECT_EQ((*result)["i"], i) << "replies must be matched by id";
  }
}

TEST_F(WorkerTest, GivesTheWorkerOnlyTheConfiguredEnvironment) {
  ::setenv("MLBRIDGE_PLANTED_SECRET", "sk-test-should-not-leak", 1);
  auto config = make_config();
  config.env["ALLOWED_VAR"] = "yes";
  auto worker = start(config);
  ASSERT_TRUE(worker);
  auto allowed = worker->call("env", {{"name", "ALLOWED_VAR"}});
  auto secret = worker->call("env", {{"name", "MLBRIDGE_PLANTED_SECRET"}});
  ASSERT_TRUE(allowed.ok() && secret.ok());
  EXPECT_EQ(*allowed, "yes");
  EXPECT_TRUE(secret->is_null()) << secret->dump();
}

TEST_F(WorkerTest, StopsGracefullyAndReaps) {
  auto worker = start_echo();
  ASSERT_TRUE(worker);
  const pid_t pid = worker->pid();
  worker->stop();
  EXPECT_FALSE(process_alive(pid));
  EXPECT_EQ(::kill(pid, 0), -1) << "the worker must have been reaped, not left a zombie";
}

TEST_F(WorkerTest, LeaksNoFileDescriptors) {
  auto count_fds = [] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
      ++n;
    return n;
  };
  { auto warm_up = start_echo(); }
  const std::size_t before = count_fds();
  for (int i = 0; i < 3; ++i) {
    auto worker = start_echo();
    ASSERT_TRUE(worker);
    ASSERT_TRUE(worker->call("ping").ok());
    EXPECT_FALSE(worker->call("crash", {{"exit_code", 3}}).ok());
  }
  EXPECT_EQ(count_fds(), before);
}

}  // namespace
}  // namespace mlbridge::testing
