// pool.max_concurrency: workers that run many calls at once (asyncio workers), filled slot by slot
// — least-loaded spreading, sessions one call at a time and in order, per-call cancel, a crash
// answering every call it held exactly once, condemned workers retired, pings while busy — and
// max_concurrency 1 keeping the one-call path.

#include <atomic>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <utility>

#include "pool_fixture.hpp"

namespace mlbridge::testing {
namespace {

CallRequest async_sleep(double seconds, std::optional<std::string> session = std::nullopt) {
  return request("async_sleep", {{"seconds", seconds}}, std::move(session));
}

// Long enough that the calls are still running when the test looks; the tests end them (cancel,
// crash) or wait for them, never assume how long dispatch takes.
constexpr double kLong = 20.0;

class PoolConcurrencyTest : public PoolTest {
 protected:
  PoolConfig concurrent(std::size_t size, std::size_t max_concurrency) {
    auto c = config(size);
    c.worker.max_concurrency = max_concurrency;
    c.queue_limit = 10000;
    c.request_timeout = 120s;
    c.checkout_timeout = 60s;
    return c;
  }

  // Starts the pool and waits until every worker is ready, so that spreading is even.
  PoolPtr start_all(PoolConfig c) {
    const std::size_t size = c.size;
    auto p = start(std::move(c));
    EXPECT_TRUE(eventually([&] { return ready_workers(p) == size; }, 30s));
    return p;
  }

  static std::size_t in_flight(const PoolPtr& p) { return p->stats().in_flight; }
};

// Counts every answer per call, so that a call answered twice (or never) shows.
struct Answers {
  explicit Answers(std::size_t n) : counts(n) {}
  pool::CallHandler handler(std::size_t i) {
    return [this, i](Result<json> result) {
      std::lock_guard lock(mutex);
      ++counts[i];
      if (result) {
        ++ok;
      } else {
        ++by_category[result.error().category];
      }
      ++total;
    };
  }
  std::size_t answered() {
    std::lock_guard lock(mutex);
    return total;
  }
  std::mutex mutex;
  std::vector<int> counts;
  std::size_t total = 0;
  std::size_t ok = 0;
  std::map<ErrorCategory, std::size_t> by_category;
};

TEST_F(PoolConcurrencyTest, FiveHundredCallsRunAtOnceSpreadEvenlyOverTwoWorkers) {
  auto p = start_all(concurrent(2, 256));
  for (const auto& w : p->stats().workers) EXPECT_EQ(w.capacity, 256u) << w.id;
  // Each call answers only once 250 calls wait at the barrier of its worker at the same time:
  // all 500 succeed only if they were in flight together and the workers got 250 each.
  std::vector<std::future<Result<json>>> calls;
  for (int i = 0; i < 500; ++i) {
    auto r = request("async_barrier", {{"name", "all"}, {"parties", 250}});
    r.timeout = 60s;
    calls.push_back(p->submit(std::move(r)));
  }
  for (auto& call : calls) {
    auto result = call.get();
    ASSERT_TRUE(result.ok()) << result.error().describe();
  }
  const auto stats = p->stats();
  EXPECT_EQ(stats.calls, 500u);
  EXPECT_EQ(stats.in_flight, 0u);
  for (const auto& w : stats.workers) EXPECT_EQ(w.calls, 250u) << w.id;
}

TEST_F(PoolConcurrencyTest, NewSessionsSpreadBySessionsBoundNotByTheCallsRunningThen) {
  auto p = start_all(concurrent(2, 16));
  // A long call of session "held" runs on one worker while eleven new sessions make their first
  // calls one after another. Ranked by calls in flight alone, all eleven went to the other worker
  // (1 session against 11); a session stays where its first call ran, so they must even out.
  auto promise = std::make_shared<std::promise<Result<json>>>();
  auto held = promise->get_future();
  const auto handle = p->submit(async_sleep(kLong, "held"),
                                [promise](Result<json> r) { promise->set_value(std::move(r)); });
  ASSERT_TRUE(eventually([&] { return in_flight(p) == 1; }));
  for (int i = 0; i < 11; ++i) {
    auto result = p->submit(async_sleep(0.0, "new-" + std::to_string(i))).get();
    ASSERT_TRUE(result.ok()) << result.error().describe();
  }
  const auto stats = p->stats();
  ASSERT_EQ(stats.workers.size(), 2u);
  const auto first = static_cast<long>(stats.workers[0].sessions);
  const auto second = static_cast<long>(stats.workers[1].sessions);
  EXPECT_EQ(first + second, 12);
  EXPECT_LE(std::abs(first - second), 1) << first << " sessions against " << second;
  p->cancel(handle);
  EXPECT_FALSE(held.get().ok());
}

TEST_F(PoolConcurrencyTest, StatsShowTheCallsInFlightPerWorkerAndBridge) {
  auto p = start_all(concurrent(2, 256));
  std::vector<std::future<Result<json>>> calls;
  for (int i = 0; i < 500; ++i) calls.push_back(p->submit(async_sleep(kLong / 4)));
  ASSERT_TRUE(eventually([&] { return in_flight(p) == 500; }, 30s))
      << "in flight: " << in_flight(p) << ", queued: " << p->stats().queue_length;
  const auto stats = p->stats();
  EXPECT_EQ(stats.queue_length, 0u);
  ASSERT_EQ(stats.workers.size(), 2u);
  for (const auto& w : stats.workers) {
    EXPECT_EQ(w.in_flight, 250u) << w.id << ": the least-loaded worker gets each call";
    EXPECT_EQ(w.state, "busy");
  }
  EXPECT_EQ(stats.busy, 2u);
  const json described = pool::to_json(stats);
  EXPECT_EQ(described["in_flight"], 500);
  EXPECT_EQ(pool::to_json(stats.workers.at(0))["in_flight"], 250);
  for (auto& call : calls) {
    auto result = call.get();
    ASSERT_TRUE(result.ok()) << result.error().describe();
    EXPECT_EQ((*result)["slept"], kLong / 4);
  }
  const auto after = p->stats();
  EXPECT_EQ(after.in_flight, 0u);
  EXPECT_EQ(after.calls, 500u);
  EXPECT_EQ(after.idle, 2u);
}

TEST_F(PoolConcurrencyTest, CallsBeyondEverySlotWaitInTheQueueAndRunWhenOneFrees) {
  auto p = start_all(concurrent(1, 4));
  std::vector<std::future<Result<json>>> calls;
  for (int i = 0; i < 6; ++i) calls.push_back(p->submit(async_sleep(1.0)));
  ASSERT_TRUE(eventually([&] {
    const auto s = p->stats();
    return s.in_flight == 4 && s.queue_length == 2;
  })) << "4 slots taken, 2 calls queued";
  for (auto& call : calls) EXPECT_TRUE(call.get().ok());
  EXPECT_EQ(p->stats().calls, 6u);
}

TEST_F(PoolConcurrencyTest, CallsQueuedBehindFullWorkersStartAnOverflowWorker) {
  auto c = concurrent(1, 2);
  c.max_overflow = 1;
  auto p = start_all(std::move(c));
  std::vector<std::future<Result<json>>> calls;
  for (int i = 0; i < 4; ++i) calls.push_back(p->submit(async_sleep(kLong / 4)));
  ASSERT_TRUE(eventually([&] { return in_flight(p) == 4; }, 30s))
      << "the overflow worker takes the 2 calls no slot of the first one could";
  const auto stats = p->stats();
  ASSERT_EQ(stats.workers.size(), 2u);
  for (const auto& w : stats.workers) EXPECT_EQ(w.in_flight, 2u) << w.id;
  for (auto& call : calls) EXPECT_TRUE(call.get().ok());
}

TEST_F(PoolConcurrencyTest, SessionCallsNeverOverlapAndKeepOrderWhileAnonymousCallsOverlap) {
  auto p = start_all(concurrent(2, 64));
  std::mutex mutex;
  std::map<std::string, int> running;  // per session; "" for anonymous calls
  std::map<std::string, int> most;
  const auto token = p->events().subscribe([&](const telemetry::Event& e) {
    if (e.command == "(move session)") return;
    std::lock_guard lock(mutex);
    if (e.kind == telemetry::EventKind::kCallStarted) {
      most[e.session_id] = std::max(most[e.session_id], ++running[e.session_id]);
    } else if (e.kind == telemetry::EventKind::kCallFinished && e.execution.count() > 0) {
      --running[e.session_id];
    }
  });
  const std::vector<std::string> ids = {"s1", "s2", "s3"};
  std::vector<std::future<Result<json>>> calls;
  for (int i = 0; i < 30; ++i) calls.push_back(p->submit(async_sleep(0.5)));
  constexpr int kTurns = 12;
  for (int turn = 0; turn < kTurns; ++turn) {
    for (const auto& id : ids) {
      // async_turn fails when another call of its session runs in it at the same time.
      calls.push_back(p->submit(request("async_turn", {{"turn", turn}, {"seconds", 0.02}}, id)));
      calls.push_back(p->submit(request("append", {{"key", "appended"}, {"value", turn}}, id)));
    }
  }
  for (auto& call : calls) {
    auto result = call.get();
    EXPECT_TRUE(result.ok()) << result.error().describe();
  }
  p->events().unsubscribe(token);
  {
    std::lock_guard lock(mutex);
    EXPECT_GT(most[""], 1) << "anonymous calls run side by side";
    for (const auto& id : ids) EXPECT_EQ(most[id], 1) << "calls of session " << id << " overlapped";
  }
  json expected = json::array();
  for (int turn = 0; turn < kTurns; ++turn) expected.push_back(turn);
  for (const auto& id : ids) {
    auto turns = p->call(request("get", {{"key", "appended"}}, id));
    ASSERT_TRUE(turns.ok()) << turns.error().describe();
    EXPECT_EQ((*turns)["value"], expected) << "session " << id << " kept its order";
  }
}

TEST_F(PoolConcurrencyTest, CancellingOneCallLeavesTheOthersRunning) {
  auto p = start_all(concurrent(1, 16));
  std::vector<pool::CallHandle> handles;
  std::vector<std::future<Result<json>>> results;
  for (int i = 0; i < 8; ++i) {
    auto promise = std::make_shared<std::promise<Result<json>>>();
    results.push_back(promise->get_future());
    handles.push_back(p->submit(async_sleep(i == 3 ? kLong : 2.0),
                                [promise](Result<json> r) { promise->set_value(std::move(r)); }));
  }
  ASSERT_TRUE(eventually([&] { return in_flight(p) == 8; }));
  const pid_t pid = pids(p).at(0);
  p->cancel(handles[3]);
  auto cancelled = results[3].get();
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().category, ErrorCategory::kCancelled) << cancelled.error().describe();
  for (int i = 0; i < 8; ++i) {
    if (i == 3) continue;
    auto result = results[i].get();
    EXPECT_TRUE(result.ok()) << i << ": " << result.error().describe();
  }
  EXPECT_EQ(pids(p).at(0), pid) << "a cancel stops one call, not its worker";
  EXPECT_EQ(p->stats().restarts, 0u);
}

TEST_F(PoolConcurrencyTest, SigkillOfAWorkerHoldingFiveHundredCallsAnswersEachOnceAndHeals) {
  constexpr std::size_t kCalls = 500;
  Answers answers(kCalls);
  auto p = start_all(concurrent(1, 512));
  for (std::size_t i = 0; i < kCalls; ++i) p->submit(async_sleep(kLong), answers.handler(i));
  ASSERT_TRUE(eventually([&] { return in_flight(p) == kCalls; }, 30s))
      << "in flight: " << in_flight(p);
  const pid_t victim = pids(p).at(0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return answers.answered() == kCalls; }, 30s))
      << answers.answered() << " of " << kCalls << " calls answered";
  {
    std::lock_guard lock(answers.mutex);
    for (std::size_t i = 0; i < kCalls; ++i) EXPECT_EQ(answers.counts[i], 1) << "call " << i;
    EXPECT_EQ(answers.ok, 0u);
    EXPECT_EQ(answers.by_category[ErrorCategory::kWorkerCrashed], kCalls);
  }
  ASSERT_TRUE(eventually([&] { return ready_workers(p) == 1; }, 30s)) << "the pool heals";
  EXPECT_NE(pids(p).at(0), victim);
  EXPECT_EQ(p->stats().in_flight, 0u);
  auto after = p->call(async_sleep(0.01));
  EXPECT_TRUE(after.ok()) << after.error().describe();
  std::this_thread::sleep_for(100ms);
  std::lock_guard lock(answers.mutex);
  EXPECT_EQ(answers.total, kCalls) << "no call was answered twice";
}

TEST_F(PoolConcurrencyTest, ABusyConcurrentWorkerPassesItsHealthChecks) {
  auto c = concurrent(1, 32);
  c.health_interval = 100ms;
  c.health_timeout = 5s;
  c.health_max_failures = 1;
  auto p = start_all(std::move(c));
  const pid_t pid = pids(p).at(0);
  std::vector<std::future<Result<json>>> calls;
  for (int i = 0; i < 16; ++i) calls.push_back(p->submit(async_sleep(kLong / 2)));
  ASSERT_TRUE(eventually([&] { return in_flight(p) == 16; }));
  const auto checked = p->stats().workers.at(0).health_checks;
  ASSERT_TRUE(eventually([&] {
    const auto w = p->stats().workers.at(0);
    return w.health_checks >= checked + 3 && w.in_flight == 16;
  })) << "pings are answered while the worker's calls run";
  for (auto& call : calls) EXPECT_TRUE(call.get().ok());
  EXPECT_EQ(pids(p).at(0), pid);
  EXPECT_EQ(p->stats().restarts, 0u);
}

TEST_F(PoolConcurrencyTest, MaxRequestsRecyclesAConcurrentWorkerOnceItsCallsEnded) {
  auto c = concurrent(1, 16);
  c.max_requests = 10;
  auto p = start_all(std::move(c));
  const pid_t first = pids(p).at(0);
  std::vector<std::future<Result<json>>> calls;
  for (int i = 0; i < 14; ++i) calls.push_back(p->submit(async_sleep(0.5)));
  for (auto& call : calls) {
    auto result = call.get();
    EXPECT_TRUE(result.ok()) << result.error().describe();
  }
  const auto stats = p->stats();
  EXPECT_GE(stats.recycled, 1u);
  EXPECT_TRUE(eventually([&] {
    const auto s = p->stats();
    return s.workers.size() == 1 && s.idle == 1 && s.workers.at(0).pid != first;
  })) << "the first worker served its 10 calls, then was replaced";
}

TEST_F(PoolConcurrencyTest, AWorkerThatIgnoresACancelIsRetiredAndReplaced) {
  auto c = concurrent(1, 16);
  c.worker.cancel_grace = 300ms;
  auto p = start_all(std::move(c));
  auto probe = p->call(request("list_commands"));
  ASSERT_TRUE(probe.ok());
  if (!has(probe->dump(), "async_ignore_cancel")) {
    GTEST_SKIP() << "the echo bridge has no async_ignore_cancel";
  }
  const pid_t condemned = pids(p).at(0);
  auto beside = p->submit(async_sleep(6.0));
  // The handler streams a chunk once it runs; the cancel is sent only then, so the handler is
  // there to swallow it (a cancel that reaches the task before its first step is honoured).
  auto started = std::make_shared<std::promise<void>>();
  auto handler_runs = started->get_future();
  auto promise = std::make_shared<std::promise<Result<json>>>();
  auto stubborn = promise->get_future();
  CallRequest ignoring = request("async_ignore_cancel", {{"seconds", 4.0}, {"announce", true}});
  ignoring.on_chunk = [started, once = std::make_shared<bool>(false)](json) {
    if (!std::exchange(*once, true)) started->set_value();
  };
  const pool::CallHandle handle = p->submit(
      std::move(ignoring), [promise](Result<json> r) { promise->set_value(std::move(r)); });
  ASSERT_EQ(handler_runs.wait_for(30s), std::future_status::ready) << "the handler never ran";
  p->cancel(handle);
  auto answered = stubborn.get();
  ASSERT_FALSE(answered.ok());
  EXPECT_TRUE(answered.error().category == ErrorCategory::kCancelled ||
              answered.error().category == ErrorCategory::kTimeout)
      << answered.error().describe();
  ASSERT_TRUE(has(answered.error().message, "ignored its cancel")) << answered.error().describe();
  auto beside_result = beside.get();
  EXPECT_TRUE(beside_result.ok()) << "the condemned worker finishes its other calls: "
                                  << beside_result.error().describe();
  ASSERT_TRUE(eventually(
      [&] {
        const auto s = p->stats();
        return s.idle == 1 && s.workers.size() == 1 && s.workers.at(0).pid != condemned;
      },
      30s))
      << "retired and replaced";
  auto after = p->call(async_sleep(0.01));
  EXPECT_TRUE(after.ok()) << after.error().describe();
}

TEST_F(PoolConcurrencyTest, ASessionOfACrashedConcurrentWorkerIsRebuiltOnTheOther) {
  constexpr std::size_t kCalls = 40;
  Answers answers(kCalls);
  auto c = concurrent(2, 64);
  auto parsed = session::ReplayRules::from_json(
      {{"setup", {{{"command", "put"}, {"object", "{key}"}}}}}, "test");
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  c.session_rules = *parsed;
  auto p = start_all(std::move(c));
  auto put = p->call(request("put", {{"key", "k"}, {"value", 42}}, "s"));
  ASSERT_TRUE(put.ok()) << put.error().describe();
  std::string home;
  for (const auto& s : p->sessions()) home = s.worker_id;
  pid_t victim = -1;
  for (const auto& w : p->stats().workers) {
    if (w.id == home) victim = w.pid;
  }
  ASSERT_GT(victim, 0);
  // Anonymous calls on both workers; the ones on the session's home die with it.
  for (std::size_t i = 0; i < kCalls; ++i) p->submit(async_sleep(kLong), answers.handler(i));
  ASSERT_TRUE(eventually([&] { return in_flight(p) == kCalls; }));
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return answers.answered() == kCalls / 2; }, 30s))
      << answers.answered() << " answered; the dead worker held half of them";
  {
    std::lock_guard lock(answers.mutex);
    EXPECT_EQ(answers.by_category[ErrorCategory::kWorkerCrashed], kCalls / 2);
  }
  auto got = p->call(request("get", {{"key", "k"}}, "s"));
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ((*got)["value"], 42) << "rebuilt from its journal on the other worker";
  EXPECT_EQ(p->stats().sessions_replayed, 1u);
  EXPECT_GT(in_flight(p), 0u) << "the survivor's calls kept running meanwhile";
  p->drain_and_wait();  // answers the survivor's calls while `answers` still exists
}

TEST_F(PoolConcurrencyTest, AnEndedSessionIsCleanedUpWhileItsWorkerIsBusy) {
  auto p = start_all(concurrent(1, 32));
  auto put = p->call(request("put", {{"key", "k"}, {"value", 1}}, "s"));
  ASSERT_TRUE(put.ok()) << put.error().describe();
  std::vector<std::future<Result<json>>> calls;
  for (int i = 0; i < 8; ++i) calls.push_back(p->submit(async_sleep(kLong)));
  ASSERT_TRUE(eventually([&] { return in_flight(p) == 8; }));
  const auto sessions_on_worker = [&] {
    auto stats = p->call(request("get_stats"));
    return stats.ok() ? (*stats)["sessions"].get<std::size_t>() : 999;
  };
  ASSERT_EQ(sessions_on_worker(), 1u);
  ASSERT_TRUE(p->end_session("s").ok());
  EXPECT_TRUE(eventually([&] { return sessions_on_worker() == 0; }))
      << "the worker dropped the session without waiting to be idle";
  EXPECT_EQ(in_flight(p), 8u);
}

TEST_F(PoolConcurrencyTest, MaxConcurrencyOneKeepsTheOneCallPath) {
  auto p = start_all(concurrent(1, 1));
  EXPECT_EQ(p->stats().workers.at(0).capacity, 1u);
  auto first = p->submit(sleep_for(3.0));
  auto second = p->submit(request("echo", {{"x", 1}}));
  ASSERT_TRUE(eventually([&] {
    const auto s = p->stats();
    return s.in_flight == 1 && s.queue_length == 1;
  })) << "one call at a time: the second waits for the first";
  EXPECT_TRUE(first.get().ok());
  auto echoed = second.get();
  ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
  EXPECT_EQ((*echoed)["x"], 1);
}

}  // namespace
}  // namespace mlbridge::testing
