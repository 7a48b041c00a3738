// Pools under failure: errors and crashes stay local, the pool heals, and a crash loop ends in
// `failed` with the cause.

#include <filesystem>
#include <fstream>

#include "pool_fixture.hpp"

namespace mlbridge::testing {
namespace {

TEST_F(PoolTest, AFailingCallDoesNotDisturbCallsBesideIt) {
  auto p = start(config(2));
  auto slow = p->submit(request("sleep", {{"seconds", 0.3}}));
  auto failing = p->call(request("fail", {{"type", "ValueError"}, {"message", "nope"}}));
  ASSERT_FALSE(failing.ok());
  EXPECT_EQ(failing.error().python_type, "ValueError");
  EXPECT_TRUE(slow.get().ok());
  EXPECT_TRUE(p->call(request("ping")).ok());
}

TEST_F(PoolTest, ACrashLeavesTheOtherWorkersServingAndThePoolHeals) {
  auto p = start(config(2));
  const auto before = pids(p);
  auto beside = p->submit(sleep_for(0.5));
  auto crashed = p->call(request("crash", {{"exit_code", 9}}));
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.error().category, ErrorCategory::kWorkerCrashed);
  EXPECT_TRUE(has(crashed.error().message, "exited with code 9")) << crashed.error().message;
  EXPECT_TRUE(beside.get().ok()) << "the other worker keeps serving";
  EXPECT_TRUE(eventually([&] { return ready_workers(p) == 2; })) << "the pool returns to full size";
  EXPECT_GE(p->stats().restarts, 1u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(p->call(request("ping")).ok());
}

TEST_F(PoolTest, ACrashLoopEndsInFailedWithTheLastError) {
  auto c = config(1);
  c.worker.script = misbehaving_worker();
  c.worker.extra_args = {"--mode", "exit_before_hello"};  // exits 7, no traceback: a crash
  c.max_restarts = 3;
  c.restart_backoff_initial = 20ms;
  c.restart_backoff_max = 100ms;
  auto p = Pool::create(loop_, c);
  pools_.push_back(p);
  auto status = p->start_and_wait();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(has(status.error().message, "boom: failing on purpose")) << status.error().message;
  auto s = p->stats();
  EXPECT_EQ(s.state, pool::PoolState::kFailed);
  EXPECT_EQ(s.failed_starts, 4u) << "max_restarts 3 means the 4th failure in the window fails it";

  // Calls now fail fast with the cause: no worker is started for them.
  auto refused = p->call(request("ping"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(has(refused.error().message, "exited with code 7")) << refused.error().message;

  // Nothing is retried while failed: the count stays put.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(p->stats().failed_starts, 4u);
}

// Found in real use: a script that failed at import was started 6 times in 3.3 s and its
// traceback printed 15 times, flattened. Starting it again cannot help: one start, one error.
TEST_F(PoolTest, AScriptThatFailsAtImportFailsThePoolAtOnceWithItsTraceback) {
  auto c = config(1);
  c.worker.script = import_error_bridge();
  c.max_restarts = 5;
  c.restart_backoff_initial = 20ms;
  c.restart_backoff_max = 100ms;
  auto p = Pool::create(loop_, c);
  pools_.push_back(p);
  auto status = p->start_and_wait();
  ASSERT_FALSE(status.ok());
  const Error& error = status.error();
  EXPECT_EQ(error.category, ErrorCategory::kInvalidConfiguration) << error.describe();
  EXPECT_FALSE(error.retryable);
  EXPECT_EQ(error.python_type, "ModuleNotFoundError");
  EXPECT_TRUE(has(error.message,
                  "bridge 'echo': the bridge script failed at import: ModuleNotFoundError: No "
                  "module named 'definitely_not_an_installed_module' (traceback below)"))
      << error.message;
  EXPECT_FALSE(has(error.message, "Traceback")) << error.message;
  EXPECT_TRUE(has(error.traceback, "Traceback (most recent call last):")) << error.traceback;
  auto s = p->stats();
  EXPECT_EQ(s.state, pool::PoolState::kFailed);
  EXPECT_EQ(s.failed_starts, 1u) << "an import error is not retried";
  EXPECT_EQ(s.restarts, 0u);

  // Calls fail fast with the same error, traceback included; no worker is started for them.
  auto refused = p->call(request("ping"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_EQ(refused.error().message, error.message);
  EXPECT_EQ(refused.error().traceback, error.traceback);
  EXPECT_EQ(refused.error().command, "ping");
  std::this_thread::sleep_for(300ms);  // longer than every backoff of this config
  EXPECT_EQ(p->stats().failed_starts, 1u);
}

TEST_F(PoolTest, AnImportErrorInEveryWorkerOfAPoolStartsNoReplacement) {
  auto c = config(3);
  c.worker.script = import_error_bridge();
  c.restart_backoff_initial = 20ms;
  c.restart_backoff_max = 100ms;
  auto p = Pool::create(loop_, c);
  pools_.push_back(p);
  auto status = p->start_and_wait();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().category, ErrorCategory::kInvalidConfiguration);
  // The three workers started side by side; none is replaced.
  EXPECT_TRUE(eventually([&] { return p->stats().failed_starts == 3; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(p->stats().failed_starts, 3u);
  EXPECT_EQ(p->stats().state, pool::PoolState::kFailed);
}

TEST_F(PoolTest, RestartClearsTheFailedState) {
  auto c = config(1);
  c.worker.script = import_error_bridge();
  c.max_restarts = 0;
  auto p = Pool::create(loop_, c);
  pools_.push_back(p);
  ASSERT_FALSE(p->start_and_wait().ok());
  EXPECT_EQ(p->stats().failed_starts, 1u);
  p->restart();
  EXPECT_TRUE(eventually([&] { return p->stats().failed_starts == 2; }));
  EXPECT_EQ(p->stats().state, pool::PoolState::kFailed) << "the cause is still there";
}

TEST_F(PoolTest, RestartAfterTheCauseIsFixedServesAgain) {
  // A script that cannot import until the test fixes it.
  const auto script = std::filesystem::temp_directory_path() /
                      ("mlbridge-fixable-" + std::to_string(::getpid()) + ".py");
  std::ofstream(script) << "import definitely_not_an_installed_module  # noqa: F401\n";
  auto c = config(1);
  c.worker.script = script.string();
  c.max_restarts = 0;
  auto p = Pool::create(loop_, c);
  pools_.push_back(p);
  ASSERT_FALSE(p->start_and_wait().ok());
  ASSERT_EQ(p->stats().state, pool::PoolState::kFailed);
  std::ofstream(script) << "import runpy\nrunpy.run_path(" << json(echo_bridge()).dump()
                        << ", run_name='__main__')\n";
  p->restart();
  EXPECT_TRUE(eventually([&] { return p->stats().idle == 1; }));
  EXPECT_EQ(p->stats().state, pool::PoolState::kRunning);
  auto pong = p->call(request("echo", {{"back", true}}));
  ASSERT_TRUE(pong.ok()) << pong.error().describe();
  EXPECT_EQ(*pong, (json{{"back", true}}));
  std::filesystem::remove(script);
}

// Found by the chaos test: the worker killed for ignoring SIGINT was still "ready" when its
// caller heard of the timeout, so the pool handed it the next call, which then failed with
// worker_crashed although it had nothing to do with the stuck one.
TEST_F(PoolTest, AWorkerKilledForIgnoringCancellationTakesNoFurtherCall) {
  auto p = start(config(1));
  auto spin = request("spin", {{"seconds", 60}, {"swallow_interrupt", true}});
  spin.timeout = 300ms;
  auto stuck = p->submit(std::move(spin));
  auto next = request("echo", {{"n", 1}});
  next.timeout = 60s;
  auto queued = p->submit(std::move(next));
  auto stuck_result = stuck.get();
  ASSERT_FALSE(stuck_result.ok());
  EXPECT_EQ(stuck_result.error().category, ErrorCategory::kTimeout);
  auto queued_result = queued.get();
  ASSERT_TRUE(queued_result.ok()) << "the queued call runs on the replacement worker, not the "
                                     "killed one: "
                                  << queued_result.error().describe();
  EXPECT_EQ((*queued_result)["n"], 1);
}

TEST_F(PoolTest, AKilledBusyWorkerFailsOnlyItsCall) {
  auto p = start(config(2));
  auto victim = p->submit(sleep_for(5));
  auto bystander = p->submit(sleep_for(0.5));
  std::this_thread::sleep_for(200ms);
  pid_t target = -1;
  for (const auto& w : p->stats().workers) {
    if (w.state == "busy" && target < 0) target = w.pid;
  }
  ASSERT_GT(target, 0);
  // Kill whichever worker runs the long call: it is the one still busy after the short one ends.
  std::this_thread::sleep_for(500ms);
  for (const auto& w : p->stats().workers) {
    if (w.state == "busy") target = w.pid;
  }
  ::kill(target, SIGKILL);
  auto result = victim.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kWorkerCrashed);
  EXPECT_TRUE(has(result.error().message, "SIGKILL")) << result.error().message;
  EXPECT_TRUE(bystander.get().ok());
  EXPECT_TRUE(eventually([&] { return ready_workers(p) == 2; }));
}

}  // namespace
}  // namespace mlbridge::testing
