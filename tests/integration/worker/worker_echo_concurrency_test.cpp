// The real echo bridge made concurrent (`--concurrency 256`, as pool.max_concurrency: 256
// passes it): its async commands run side by side, a cancel stops one of them, and a crash
// answers every call it held once.

#include <signal.h>

#include <future>
#include <vector>

#include "worker_fixture.hpp"

namespace mlbridge::testing {
namespace {

class EchoConcurrencyTest : public WorkerTest {
 protected:
  std::unique_ptr<WorkerClient> start_concurrent_echo() {
    auto config = make_config();
    config.max_concurrency = 256;
    return start(config);
  }
};

TEST_F(EchoConcurrencyTest, RunsTwoHundredFiftySixAsyncSleepsSideBySide) {
  auto client = start_concurrent_echo();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->hello().concurrency, 256);
  EXPECT_EQ(loop_.run_sync([&] { return client->worker()->capacity(); }), 256u);

  // Each sleep outlasts the ping below by far: the ping is answered while all of them run.
  std::vector<std::future<Result<json>>> sleeps;
  std::vector<worker::CallId> ids;
  for (int i = 0; i < 255; ++i) {
    auto promise = std::make_shared<std::promise<Result<json>>>();
    sleeps.push_back(promise->get_future());
    ids.push_back(loop_.run_sync([&] {
      return client->worker()->call(
          "async_sleep", {{"seconds", 30}}, with_timeout(120s),
          [promise](Result<json> r) { promise->set_value(std::move(r)); });
    }));
  }
  auto pong = client->call("ping");
  ASSERT_TRUE(pong.ok()) << pong.error().describe();
  EXPECT_EQ(loop_.run_sync([&] { return client->worker()->in_flight(); }), 255u);

  // Cancel them all: each is stopped by its own cancel message, and the worker keeps serving.
  loop_.run_sync([&] {
    for (const auto id : ids) EXPECT_TRUE(client->worker()->cancel(id));
  });
  for (auto& sleep : sleeps) {
    auto outcome = sleep.get();
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.error().category, ErrorCategory::kCancelled);
    EXPECT_TRUE(contains(outcome.error().message, "kept serving")) << outcome.error().message;
  }
  EXPECT_TRUE(loop_.run_sync([&] { return client->worker()->accepting(); }));

  std::vector<std::future<Result<json>>> short_sleeps;
  for (int i = 0; i < 256; ++i) {
    short_sleeps.push_back(client->call_async("async_sleep", {{"seconds", 0.05}}));
  }
  for (auto& sleep : short_sleeps) {
    auto slept = sleep.get();
    ASSERT_TRUE(slept.ok()) << slept.error().describe();
    EXPECT_DOUBLE_EQ((*slept)["slept"].get<double>(), 0.05);
  }
}

TEST_F(EchoConcurrencyTest, AKilledEchoWorkerAnswersEveryCallItHeldOnce) {
  auto client = start_concurrent_echo();
  ASSERT_TRUE(client);
  std::vector<std::future<Result<json>>> sleeps;
  for (int i = 0; i < 256; ++i) {
    sleeps.push_back(client->call_async("async_sleep", {{"seconds", 3600}}, with_timeout(600s)));
  }
  ASSERT_TRUE(client->call("ping").ok());  // a built-in is answered beside 256 running calls
  ASSERT_EQ(::kill(client->pid(), SIGKILL), 0);
  for (auto& sleep : sleeps) {
    auto outcome = sleep.get();  // a second answer would break its promise: set twice
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.error().category, ErrorCategory::kWorkerCrashed);
  }
}

}  // namespace
}  // namespace mlbridge::testing
