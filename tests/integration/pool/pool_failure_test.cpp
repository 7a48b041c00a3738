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

TEST_F(PoolTest, ACrashLoopEndsInFailedWithTheImportError) {
  auto c = config(1);
  c.worker.script = source_path("tests/support/workers/import_error_bridge.py");
  c.max_restarts = 3;
  c.restart_backoff_initial = 20ms;
  c.restart_backoff_max = 100ms;
  auto p = Pool::create(loop_, c);
  pools_.push_back(p);
  auto status = p->start_and_wait();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(has(status.error().message, "definitely_not_an_installed_module"))
      << status.error().message;
  auto s = p->stats();
  EXPECT_EQ(s.state, pool::PoolState::kFailed);
  EXPECT_EQ(s.failed_starts, 4u) << "max_restarts 3 means the 4th failure in the window fails it";

  // Calls now fail fast with the cause: no worker is started for them.
  auto refused = p->call(request("ping"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(has(refused.error().message, "ModuleNotFoundError")) << refused.error().message;

  // Nothing is retried while failed: the count stays put.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(p->stats().failed_starts, 4u);
}

TEST_F(PoolTest, RestartClearsTheFailedState) {
  auto c = config(1);
  c.worker.script = source_path("tests/support/workers/import_error_bridge.py");
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
