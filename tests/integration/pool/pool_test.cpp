// Pools of real workers: parallelism, a dispatcher that never waits, FIFO queueing, overflow,
// recycling, health checks, drain and telemetry.

#include <atomic>
#include <mutex>
#include <set>

#include "pool_fixture.hpp"

namespace mlbridge::testing {
namespace {

// One sleep as its worker reported it: which process ran it, and when (wall clock, seconds).
struct Slept {
  std::int64_t pid = 0;
  double started = 0;
  double ended = 0;
};

// Submits `calls` sleeps of `each` seconds at once and returns what each worker reported.
std::vector<Slept> sleep_at_once(const PoolPtr& p, int calls, double each) {
  std::vector<std::future<Result<json>>> futures;
  for (int i = 0; i < calls; ++i) {
    futures.push_back(p->submit(request("sleep", {{"seconds", each}, {"report", true}})));
  }
  std::vector<Slept> out;
  for (auto& f : futures) {
    auto result = f.get();
    EXPECT_TRUE(result.ok()) << result.error().describe();
    if (result.ok()) out.push_back({(*result)["pid"], (*result)["started"], (*result)["ended"]});
  }
  return out;
}

// The largest number of the sleeps that were running at the same instant.
std::size_t most_at_once(const std::vector<Slept>& sleeps) {
  std::size_t most = 0;
  for (const auto& s : sleeps) {  // the peak is at some sleep's start
    std::size_t running = 0;
    for (const auto& other : sleeps) {
      if (other.started <= s.started && s.started < other.ended) ++running;
    }
    most = std::max(most, running);
  }
  return most;
}

std::set<std::int64_t> pids_of(const std::vector<Slept>& sleeps) {
  std::set<std::int64_t> pids;
  for (const auto& s : sleeps) pids.insert(s.pid);
  return pids;
}

TEST_F(PoolTest, FourWorkersServeFourCallsAtOnce) {
  auto p = start(config(4));
  // What the workers report, not how long the test took: which process ran each call, and when.
  const auto four = sleep_at_once(p, 4, 0.5);
  ASSERT_EQ(four.size(), 4u);
  EXPECT_EQ(pids_of(four).size(), 4u) << "each call on its own worker";
  EXPECT_EQ(most_at_once(four), 4u) << "4 calls on 4 workers must run at the same time";
  const auto eight = sleep_at_once(p, 8, 0.5);
  ASSERT_EQ(eight.size(), 8u);
  EXPECT_EQ(pids_of(eight).size(), 4u);
  EXPECT_EQ(most_at_once(eight), 4u) << "8 calls on 4 workers: two rounds of 4";
}

TEST_F(PoolTest, DispatcherAnswersWhileEveryWorkerIsBusy) {
  auto busy = start(config(2, "busy"));
  auto other = start(config(1, "other"));
  auto a = busy->submit(sleep_for(3));
  auto b = busy->submit(sleep_for(3));
  auto queued = busy->submit(sleep_for(3));
  ASSERT_TRUE(eventually([&] { return busy->stats().busy == 2; }));
  // Each of these is answered while both workers of `busy` are still inside sleep(): the
  // dispatcher never waits on a worker.
  const auto still_busy = [&] {
    return a.wait_for(0s) != std::future_status::ready &&
           b.wait_for(0s) != std::future_status::ready;
  };

  auto pong = other->call(request("ping"));
  EXPECT_TRUE(pong.ok());
  EXPECT_TRUE(still_busy()) << "a second pool must not wait for the first";

  auto stats = busy->stats();
  EXPECT_EQ(stats.busy, 2u);
  EXPECT_EQ(stats.queue_length, 1u);
  EXPECT_TRUE(still_busy());

  std::promise<Result<json>> cancelled;
  const auto handle =
      busy->submit(sleep_for(3), [&](Result<json> r) { cancelled.set_value(std::move(r)); });
  busy->cancel(handle);
  auto result = cancelled.get_future().get();
  EXPECT_TRUE(still_busy()) << "cancelling a queued call must not wait for a worker";
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kCancelled);
  EXPECT_TRUE(has(result.error().message, "never reached Python")) << result.error().message;

  EXPECT_TRUE(a.get().ok());
  EXPECT_TRUE(b.get().ok());
  EXPECT_TRUE(queued.get().ok());
}

TEST_F(PoolTest, AnonymousCallsRunInSubmissionOrder) {
  auto p = start(config(1));
  std::mutex mutex;
  std::vector<int> order;
  std::vector<std::future<Result<json>>> futures;
  for (int i = 0; i < 10; ++i) {
    auto promise = std::make_shared<std::promise<Result<json>>>();
    futures.push_back(promise->get_future());
    p->submit(request("echo", {{"i", i}}), [&, i, promise](Result<json> r) {
      {
        std::lock_guard lock(mutex);
        order.push_back(i);
      }
      // Outside the lock: once the last promise is set the test may end and
      // destroy `mutex`, which must not still be held by this thread.
      promise->set_value(std::move(r));
    });
  }
  for (auto& f : futures) EXPECT_TRUE(f.get().ok());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST_F(PoolTest, OverloadFailsPromptlyAndAnswersEveryCallOnce) {
  auto c = config(1);
  c.queue_limit = 2;
  auto p = start(c);
  std::atomic<int> ok{0}, overloaded{0}, other{0};
  std::mutex mutex;
  std::multiset<int> answered;
  std::vector<std::shared_ptr<std::promise<void>>> done;
  for (int i = 0; i < 6; ++i) {
    auto promise = std::make_shared<std::promise<void>>();
    done.push_back(promise);
    p->submit(request("sleep", {{"seconds", 0.3}}), [&, i, promise](Result<json> r) {
      {
        std::lock_guard lock(mutex);
        answered.insert(i);
      }
      if (r.ok())
        ++ok;
      else if (r.error().category == ErrorCategory::kOverloaded)
        ++overloaded;
      else
        ++other;
      promise->set_value();
    });
  }
  for (auto& d : done) d->get_future().wait();
  EXPECT_EQ(ok.load(), 3) << "one running and two queued";
  EXPECT_EQ(overloaded.load(), 3);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(answered.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(answered.count(i), 1u) << "call " << i;
}

TEST_F(PoolTest, CheckoutTimeoutGivesOverloaded) {
  auto c = config(1);
  c.checkout_timeout = 200ms;
  auto p = start(c);
  auto busy = p->submit(sleep_for(1.5));
  std::this_thread::sleep_for(100ms);
  auto waited = p->call(request("ping"));
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.error().category, ErrorCategory::kOverloaded);
  EXPECT_TRUE(has(waited.error().message, "checkout_timeout_ms 200 ms")) << waited.error().message;
  EXPECT_TRUE(busy.get().ok());
}

TEST_F(PoolTest, DeadlineCoversTimeInTheQueue) {
  auto p = start(config(1));
  auto busy = p->submit(sleep_for(1.5));
  std::this_thread::sleep_for(100ms);
  auto r = request("ping");
  r.timeout = 300ms;
  auto late = p->call(r);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().category, ErrorCategory::kTimeout);
  EXPECT_TRUE(busy.get().ok());
}

TEST_F(PoolTest, OverflowWorkersStartUnderLoadAndStopWhenIdle) {
  auto c = config(1);
  c.max_overflow = 1;
  c.idle_timeout = 300ms;
  c.maintenance_interval = 100ms;
  auto p = start(c);
  auto a = p->submit(sleep_for(1.0));
  auto b = p->submit(sleep_for(1.0));
  EXPECT_TRUE(eventually([&] { return p->stats().workers.size() == 2; }));
  EXPECT_TRUE(a.get().ok());
  EXPECT_TRUE(b.get().ok());
  EXPECT_TRUE(eventually([&] { return p->stats().workers.size() == 1; }))
      << "the overflow worker must stop after idle_timeout";
}

TEST_F(PoolTest, LazyPoolStartsWorkersOnFirstCall) {
  auto c = config(1);
  c.lazy = true;
  auto p = start(c);
  EXPECT_EQ(p->stats().workers.size(), 0u);
  EXPECT_TRUE(p->call(request("ping")).ok());
  EXPECT_EQ(p->stats().workers.size(), 1u);
}

TEST_F(PoolTest, RecyclesAWorkerAfterMaxRequests) {
  auto c = config(1);
  c.max_requests = 3;
  auto p = start(c);
  const pid_t first = pids(p).at(0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(p->call(request("ping")).ok());
  EXPECT_TRUE(eventually([&] {
    auto now = pids(p);
    return now.size() == 1 && now[0] != first && ready_workers(p) == 1;
  }));
  EXPECT_TRUE(eventually([&] { return !process_alive(first); }));
  EXPECT_TRUE(p->call(request("ping")).ok());
  EXPECT_GE(p->stats().recycled, 1u);
}

TEST_F(PoolTest, RecyclesAWorkerAboveItsMemoryLimit) {
  auto c = config(1);
  c.max_memory_mb = 150;
  auto p = start(c);
  const pid_t first = pids(p).at(0);
  ASSERT_TRUE(p->call(request("allocate", {{"mb", 200}})).ok());
  EXPECT_TRUE(eventually([&] {
    auto now = pids(p);
    return now.size() == 1 && now[0] != first && ready_workers(p) == 1;
  }));
  EXPECT_TRUE(p->call(request("ping")).ok());
}

TEST_F(PoolTest, HealthCheckReplacesAFrozenWorker) {
  auto c = config(1);
  c.health_interval = 200ms;
  c.health_timeout = 200ms;
  c.health_max_failures = 1;
  c.worker.cancel_grace = 200ms;
  auto p = start(c);
  const pid_t frozen = pids(p).at(0);
  ::kill(frozen, SIGSTOP);
  EXPECT_TRUE(eventually([&] {
    auto now = pids(p);
    return now.size() == 1 && now[0] != frozen && ready_workers(p) == 1;
  })) << "a worker frozen with SIGSTOP must be replaced";
  EXPECT_FALSE(process_alive(frozen));
  EXPECT_TRUE(p->call(request("ping")).ok());
}

TEST_F(PoolTest, DrainLetsRunningCallsFinishAndReapsEverything) {
  auto p = Pool::create(loop_, config(2));
  ASSERT_TRUE(p->start_and_wait().ok());
  const auto before = pids(p);
  auto running = p->submit(sleep_for(0.5));
  std::this_thread::sleep_for(100ms);
  p->drain_and_wait();
  EXPECT_TRUE(running.get().ok()) << "a running call finishes within the drain budget";
  for (pid_t pid : before) EXPECT_FALSE(process_alive(pid));
  auto refused = p->call(request("ping"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kBridgeUnavailable);
}

TEST_F(PoolTest, PublishesTelemetryEvents) {
  auto p = Pool::create(loop_, config(1));
  std::mutex mutex;
  std::vector<telemetry::EventKind> seen;
  const auto token = p->events().subscribe([&](const telemetry::Event& e) {
    std::lock_guard lock(mutex);
    seen.push_back(e.kind);
  });
  ASSERT_TRUE(p->start_and_wait().ok());
  pools_.push_back(p);
  ASSERT_TRUE(p->call(request("ping", json::object(), "s1")).ok());
  p->events().unsubscribe(token);  // the locals it touches go away with this test
  std::lock_guard lock(mutex);
  auto count = [&](telemetry::EventKind k) { return std::count(seen.begin(), seen.end(), k); };
  EXPECT_EQ(count(telemetry::EventKind::kWorkerStarted), 1);
  EXPECT_EQ(count(telemetry::EventKind::kSessionCreated), 1);
  EXPECT_EQ(count(telemetry::EventKind::kCallStarted), 1);
  EXPECT_EQ(count(telemetry::EventKind::kCallFinished), 1);
}

TEST_F(PoolTest, StatsCountCallsErrorsAndLatency) {
  auto p = start(config(1));
  ASSERT_TRUE(p->call(request("ping")).ok());
  ASSERT_FALSE(p->call(request("fail", {{"type", "KeyError"}, {"message", "k"}})).ok());
  auto s = p->stats();
  EXPECT_EQ(s.calls, 2u);
  EXPECT_EQ(s.errors, 1u);
  EXPECT_EQ(s.execution.count(), 2u);
  EXPECT_EQ(s.queue_wait.count(), 2u);
  ASSERT_EQ(s.workers.size(), 1u);
  EXPECT_EQ(s.workers[0].calls, 2u);
  EXPECT_GT(s.workers[0].rss_bytes, 0u);
}

}  // namespace
}  // namespace mlbridge::testing
