// pool.pipeline_depth: anonymous calls written to a busy worker behind its running call, and
// what the pool still promises for them (order, cancellation before they run, deadlines, crashes).

#include "pool_fixture.hpp"

namespace mlbridge::testing {
namespace {

PoolConfig pipelined(PoolConfig c, std::size_t depth) {
  c.pipeline_depth = depth;
  return c;
}

CallRequest echo_n(int n) { return request("echo", {{"n", n}}); }

// While one long call runs, the pool writes depth - 1 more to its worker; the rest stay queued.
TEST_F(PoolTest, ABusyWorkerHoldsUpToPipelineDepthCalls) {
  for (const std::size_t depth : {std::size_t{1}, std::size_t{3}}) {
    auto p = start(pipelined(config(1, "echo-depth-" + std::to_string(depth)), depth));
    auto running = p->submit(sleep_for(1));
    std::vector<std::future<Result<json>>> waiting;
    for (int i = 0; i < 10; ++i) waiting.push_back(p->submit(echo_n(i)));
    EXPECT_TRUE(eventually([&] { return p->stats().queue_length == 10 - (depth - 1); }))
        << "depth " << depth << ": " << p->stats().queue_length << " queued";
    EXPECT_TRUE(running.get().ok());
    for (int i = 0; i < 10; ++i) {
      auto result = waiting[i].get();
      ASSERT_TRUE(result.ok()) << result.error().describe();
      EXPECT_EQ((*result)["n"], i) << "every answer reaches its own caller";
    }
  }
}

TEST_F(PoolTest, ACancelledWaitingCallNeverRunsOnTheWorker) {
  auto p = start(pipelined(config(1), 2));
  const pid_t worker = pids(p).front();
  pool::CallHandle running_handle = 0, waiting_handle = 0;
  std::promise<Result<json>> running_done, waiting_done;
  running_handle = p->submit(sleep_for(0.5), [&](Result<json> r) { running_done.set_value(r); });
  // Were it to run, this call would end the worker.
  waiting_handle = p->submit(request("crash", {{"exit_code", 3}}),
                             [&](Result<json> r) { waiting_done.set_value(r); });
  ASSERT_TRUE(eventually([&] { return p->stats().queue_length == 0; }))
      << "the crash call was written to the busy worker";
  p->cancel(waiting_handle);
  auto waiting = waiting_done.get_future().get();
  ASSERT_FALSE(waiting.ok());
  EXPECT_EQ(waiting.error().category, ErrorCategory::kCancelled);
  EXPECT_TRUE(has(waiting.error().message, "had not started")) << waiting.error().message;
  auto running = running_done.get_future().get();
  EXPECT_TRUE(running.ok()) << "the running call was not the one cancelled: "
                            << running.error().describe();
  auto after = p->submit(echo_n(1)).get();
  EXPECT_TRUE(after.ok()) << after.error().describe();
  EXPECT_EQ(pids(p).front(), worker) << "the cancelled crash never ran";
  EXPECT_EQ(p->stats().restarts, 0u);
  (void)running_handle;
}

TEST_F(PoolTest, CancellingTheRunningCallLeavesTheWaitingOneToRun) {
  auto p = start(pipelined(config(1), 2));
  const pid_t worker = pids(p).front();
  std::promise<Result<json>> running_done;
  auto running_handle =
      p->submit(sleep_for(30), [&](Result<json> r) { running_done.set_value(r); });
  auto waiting = p->submit(echo_n(7));
  ASSERT_TRUE(eventually([&] { return p->stats().queue_length == 0; }));
  // Into the sleep: a SIGINT that lands just before Python enters it waits for the sleep to end
  // (CPython runs signal handlers between bytecodes), and the grace period would kill the worker.
  std::this_thread::sleep_for(200ms);
  p->cancel(running_handle);
  auto running = running_done.get_future().get();
  ASSERT_FALSE(running.ok());
  EXPECT_EQ(running.error().category, ErrorCategory::kCancelled);
  auto result = waiting.get();
  ASSERT_TRUE(result.ok()) << "SIGINT reached only the running call: " << result.error().describe();
  EXPECT_EQ((*result)["n"], 7);
  EXPECT_EQ(pids(p).front(), worker) << "the worker stopped the call and kept serving";
}

TEST_F(PoolTest, AWaitingCallsDeadlineLeavesTheRunningCallAlone) {
  auto p = start(pipelined(config(1), 2));
  auto running = p->submit(sleep_for(1));
  auto late = echo_n(1);
  late.timeout = 200ms;
  auto waiting = p->submit(std::move(late));
  auto result = waiting.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kTimeout);
  EXPECT_TRUE(running.get().ok());
  EXPECT_TRUE(p->submit(echo_n(2)).get().ok());
  EXPECT_EQ(p->stats().restarts, 0u);
}

// The waiting call never reached Python, so a crash of the call before it does not fail it: it
// runs on the replacement worker.
TEST_F(PoolTest, ACrashSendsTheWaitingCallBackToTheQueue) {
  auto p = start(pipelined(config(1), 2));
  auto crashing = p->submit(request("crash", {{"exit_code", 3}}));
  auto waiting = p->submit(echo_n(5));
  auto crashed = crashing.get();
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.error().category, ErrorCategory::kWorkerCrashed);
  auto result = waiting.get();
  ASSERT_TRUE(result.ok()) << result.error().describe();
  EXPECT_EQ((*result)["n"], 5);
  EXPECT_EQ(p->stats().restarts, 1u);
}

TEST_F(PoolTest, SessionCallsAreNeverSentEarly) {
  auto p = start(pipelined(config(1), 4));
  auto running = p->submit(sleep_for(0.5));
  auto in_session = p->submit(request("put", {{"key", "k"}, {"value", 1}}, "s1"));
  auto anonymous = p->submit(echo_n(1));
  // The session's call heads the queue: it waits for an idle worker, and so does what follows.
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(p->stats().queue_length, 2u);
  EXPECT_TRUE(running.get().ok());
  EXPECT_TRUE(in_session.get().ok());
  EXPECT_TRUE(anonymous.get().ok());
}

}  // namespace
}  // namespace mlbridge::testing
