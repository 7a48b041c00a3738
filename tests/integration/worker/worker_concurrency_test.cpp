// Workers that hold many calls at once (hello concurrency > 1): interleaved answers, `cancel`
// messages, condemnation of a worker whose call ignored its cancel, crashes with hundreds of
// calls in flight, and clamping of the hello's claim. Runs tests/support/workers/
// concurrent_worker.py, a stdlib asyncio worker, so nothing here depends on the Python SDK.

#include <signal.h>

#include <atomic>
#include <future>
#include <map>
#include <vector>

#include "log_capture.hpp"
#include "worker_fixture.hpp"

namespace mlbridge::testing {
namespace {

using worker::CallId;

std::string concurrent_worker() {
  return source_path("tests/support/workers/concurrent_worker.py");
}

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

/// A call sent on the loop thread: its id, its outcome, and whether the worker still accepted
/// new calls when the outcome was delivered.
struct Sent {
  CallId id = 0;
  std::future<Result<json>> done;
  std::shared_ptr<std::atomic<bool>> accepting_when_done = std::make_shared<std::atomic<bool>>();
};

class ConcurrentWorkerTest : public WorkerTest {
 protected:
  WorkerConfig concurrent_config(std::vector<std::string> extra_args = {}) {
    auto config = make_config(concurrent_worker());
    config.extra_args = std::move(extra_args);
    return config;
  }

  Sent send(WorkerClient& client, std::string command, json args,
            std::chrono::milliseconds timeout = 60s) {
    Sent sent;
    auto promise = std::make_shared<std::promise<Result<json>>>();
    sent.done = promise->get_future();
    sent.id = loop_.run_sync([&] {
      worker::Worker* raw = client.worker().get();
      return client.worker()->call(
          command, args, with_timeout(timeout),
          [promise, raw, accepting = sent.accepting_when_done](Result<json> result) {
            accepting->store(raw->accepting());
            promise->set_value(std::move(result));
          });
    });
    return sent;
  }

  bool cancel(WorkerClient& client, CallId id) {
    return loop_.run_sync([&] { return client.worker()->cancel(id); });
  }
  bool accepting(WorkerClient& client) {
    return loop_.run_sync([&] { return client.worker()->accepting(); });
  }
  std::size_t in_flight(WorkerClient& client) {
    return loop_.run_sync([&] { return client.worker()->in_flight(); });
  }
  std::size_t capacity(WorkerClient& client) {
    return loop_.run_sync([&] { return client.worker()->capacity(); });
  }
  /// A ping's answer proves the worker has read (and started) every request sent before it.
  void ping(WorkerClient& client) {
    auto pong = client.call("ping");
    ASSERT_TRUE(pong.ok()) << pong.error().describe();
  }
};

TEST_F(ConcurrentWorkerTest, AnswersOfManyCallsInFlightInterleaveAndMatchTheirCalls) {
  auto client = start(concurrent_config());
  ASSERT_TRUE(client);
  EXPECT_EQ(client->hello().concurrency, 1000);
  EXPECT_EQ(capacity(*client), 1000u);
  EXPECT_TRUE(accepting(*client));
  EXPECT_FALSE(client->worker()->pipelining());

  // The first calls sleep longest, so the worker answers them in the reverse order.
  constexpr int kCalls = 200;
  std::vector<Sent> sleeps;
  std::vector<Sent> echoes;
  std::vector<std::shared_ptr<std::vector<json>>> chunks;
  for (int i = 0; i < kCalls; ++i) {
    sleeps.push_back(send(*client, "sleep", {{"seconds", (kCalls - i) * 0.002}}));
    echoes.push_back(send(*client, "echo", {{"n", i}}));
  }
  for (const auto& sent : sleeps) {
    EXPECT_TRUE(loop_.run_sync([&] { return client->worker()->has_started(sent.id); }));
  }
  for (int i = 0; i < kCalls; ++i) {
    auto slept = sleeps[i].done.get();
    ASSERT_TRUE(slept.ok()) << slept.error().describe();
    EXPECT_DOUBLE_EQ((*slept)["slept"].get<double>(), (kCalls - i) * 0.002);
    auto echoed = echoes[i].done.get();
    ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
    EXPECT_EQ((*echoed)["n"], i);
  }

  // Streams of several calls interleave; every chunk reaches its own call.
  std::vector<std::future<Result<json>>> streams;
  std::vector<std::shared_ptr<std::vector<int>>> seen;
  for (int i = 0; i < 20; ++i) {
    auto mine = std::make_shared<std::vector<int>>();
    seen.push_back(mine);
    CallOptions options;
    options.on_chunk = [mine](json chunk) { mine->push_back(chunk["i"].get<int>()); };
    streams.push_back(client->call_async("stream", {{"count", 10 + i}}, options));
  }
  for (int i = 0; i < 20; ++i) {
    auto streamed = streams[i].get();
    ASSERT_TRUE(streamed.ok()) << streamed.error().describe();
    ASSERT_EQ(seen[i]->size(), static_cast<std::size_t>(10 + i));
    for (int k = 0; k < 10 + i; ++k) EXPECT_EQ((*seen[i])[k], k);
  }
  EXPECT_EQ(in_flight(*client), 0u);
}

TEST_F(ConcurrentWorkerTest, PingsAreAnsweredWhileHandlersRun) {
  auto client = start(concurrent_config());
  ASSERT_TRUE(client);
  std::vector<Sent> long_calls;
  for (int i = 0; i < 50; ++i) long_calls.push_back(send(*client, "sleep", {{"seconds", 3600}}));
  ping(*client);
  EXPECT_EQ(in_flight(*client), 50u);
  for (auto& sent : long_calls) EXPECT_TRUE(cancel(*client, sent.id));
  for (auto& sent : long_calls) {
    auto outcome = sent.done.get();
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.error().category, ErrorCategory::kCancelled);
  }
}

TEST_F(ConcurrentWorkerTest, CancellingOneRunningCallLeavesTheOthersRunning) {
  auto client = start(concurrent_config());
  ASSERT_TRUE(client);
  auto cancelled = send(*client, "sleep", {{"seconds", 3600}});
  auto other = send(*client, "sleep", {{"seconds", 3600}});
  auto short_one = send(*client, "sleep", {{"seconds", 0.2}});
  ping(*client);

  EXPECT_TRUE(cancel(*client, cancelled.id));
  auto outcome = cancelled.done.get();
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().category, ErrorCategory::kCancelled);
  EXPECT_TRUE(contains(outcome.error().message, "the worker stopped it and kept serving"))
      << outcome.error().message;
  EXPECT_TRUE(cancelled.accepting_when_done->load());

  ASSERT_TRUE(short_one.done.get().ok());
  EXPECT_TRUE(accepting(*client));
  EXPECT_EQ(in_flight(*client), 1u);  // `other` still runs
  auto stats = client->call("stats");
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  EXPECT_EQ((*stats)["running"], 2);  // `other` and `stats` itself

  // A passed deadline cancels the same way and answers timeout.
  auto timed_out = send(*client, "sleep", {{"seconds", 3600}}, 200ms);
  auto late = timed_out.done.get();
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().category, ErrorCategory::kTimeout);
  EXPECT_TRUE(contains(late.error().message, "kept serving")) << late.error().message;
  EXPECT_TRUE(accepting(*client));

  EXPECT_TRUE(cancel(*client, other.id));
  EXPECT_FALSE(other.done.get().ok());
  EXPECT_EQ(client->state(), worker::WorkerState::kReady);
}

TEST_F(ConcurrentWorkerTest, CancelOfAnUnknownOrFinishedCallIsHarmless) {
  auto client = start(concurrent_config());
  ASSERT_TRUE(client);
  EXPECT_FALSE(cancel(*client, 987654));
  auto finished = send(*client, "echo", {{"x", 1}});
  ASSERT_TRUE(finished.done.get().ok());
  EXPECT_FALSE(cancel(*client, finished.id));

  // Cancels that race with the answer: the worker may have finished the call when the cancel
  // reaches it (it ignores it), or cancel it. Each call is answered once either way.
  std::vector<Sent> raced;
  for (int i = 0; i < 50; ++i) raced.push_back(send(*client, "sleep", {{"seconds", 0}}));
  for (auto& sent : raced) cancel(*client, sent.id);
  for (auto& sent : raced) {
    auto outcome = sent.done.get();
    if (!outcome.ok()) {
      EXPECT_EQ(outcome.error().category, ErrorCategory::kCancelled);
    }
  }
  ping(*client);
  EXPECT_TRUE(accepting(*client));
  auto echoed = client->call("echo", {{"still", "serving"}});
  ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
  EXPECT_EQ((*echoed)["still"], "serving");
}

TEST_F(ConcurrentWorkerTest, ACallIgnoringItsCancelIsAnsweredAtOnceAndCondemnsItsWorker) {
  LogCapture log;
  auto config = concurrent_config();
  config.cancel_grace = 300ms;
  auto client = start(config);
  ASSERT_TRUE(client);
  const pid_t pid = client->pid();
  // Short deadlines: the hard bound is the latest deadline of the calls the worker holds.
  auto stuck = send(*client, "ignore_cancel", {{"seconds", 3600}}, 4s);
  auto second_stuck = send(*client, "ignore_cancel", {{"seconds", 3600}}, 4s);
  // Runs on while the worker is condemned.
  auto other = send(*client, "sleep", {{"seconds", 1.5}}, 4s);
  ping(*client);

  EXPECT_TRUE(cancel(*client, stuck.id));
  auto outcome = stuck.done.get();
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().category, ErrorCategory::kCancelled);
  EXPECT_TRUE(contains(outcome.error().message, "ignored its cancel")) << outcome.error().message;
  EXPECT_TRUE(contains(outcome.error().message, "will be retired")) << outcome.error().message;
  // Condemned before its caller heard of it.
  EXPECT_FALSE(stuck.accepting_when_done->load());
  EXPECT_FALSE(accepting(*client));
  EXPECT_EQ(client->state(), worker::WorkerState::kReady);

  // A second ignored cancel is answered the same way; the warning is said once.
  EXPECT_TRUE(cancel(*client, second_stuck.id));
  EXPECT_FALSE(second_stuck.done.get().ok());
  EXPECT_EQ(count_of(log.text(), "takes no new calls"), 1u) << log.text();

  // The other call completes on the condemned worker.
  auto finished = other.done.get();
  ASSERT_TRUE(finished.ok()) << finished.error().describe();

  // Nobody retires it here, so the hard bound kills it.
  EXPECT_TRUE(wait_for_state(*client, worker::WorkerState::kExited, 30s));
  EXPECT_TRUE(wait_until_gone(pid));
  EXPECT_TRUE(contains(log.text(), "killed at its hard bound")) << log.text();
}

TEST_F(ConcurrentWorkerTest, AnOwnerStopsACondemnedWorkerAsUsual) {
  auto config = concurrent_config();
  config.cancel_grace = 200ms;
  auto client = start(config);
  ASSERT_TRUE(client);
  const pid_t pid = client->pid();
  auto stuck = send(*client, "ignore_cancel", {{"seconds", 3600}});
  // Its deadline keeps the hard bound a minute away: the stop below is what ends the worker.
  auto other = send(*client, "sleep", {{"seconds", 3600}}, 60s);
  ping(*client);
  EXPECT_TRUE(cancel(*client, stuck.id));
  EXPECT_FALSE(stuck.done.get().ok());
  EXPECT_FALSE(accepting(*client));
  client->stop();
  EXPECT_TRUE(wait_until_gone(pid));
  auto stopped = other.done.get();
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().category, ErrorCategory::kCancelled);
  EXPECT_TRUE(contains(stopped.error().message, "was stopped")) << stopped.error().message;
}

TEST_F(ConcurrentWorkerTest, AKilledWorkerAnswersEachOfItsFiveHundredCallsOnce) {
  auto client = start(concurrent_config());
  ASSERT_TRUE(client);
  static constexpr int kCalls = 500;
  // Written by the handlers on the loop thread, read there too (run_sync).
  struct Tally {
    std::vector<int> answers = std::vector<int>(kCalls, 0);
    std::vector<std::optional<Error>> errors = std::vector<std::optional<Error>>(kCalls);
    int total = 0;
    std::promise<void> all_answered;
  };
  auto tally = std::make_shared<Tally>();
  loop_.run_sync([&] {
    for (int i = 0; i < kCalls; ++i) {
      client->worker()->call("sleep", {{"seconds", 3600}}, with_timeout(600s),
                             [tally, i](Result<json> result) {
                               ++tally->answers[i];
                               if (!result) tally->errors[i] = result.error();
                               if (++tally->total == kCalls) tally->all_answered.set_value();
                             });
    }
  });
  ping(*client);  // all 500 run on the worker now
  EXPECT_EQ(in_flight(*client), static_cast<std::size_t>(kCalls));

  ASSERT_EQ(::kill(client->pid(), SIGKILL), 0);
  tally->all_answered.get_future().wait();
  ASSERT_TRUE(wait_for_state(*client, worker::WorkerState::kExited));
  loop_.run_sync([&] {
    EXPECT_EQ(tally->total, kCalls);  // a second answer of any call would show here
    for (int i = 0; i < kCalls; ++i) {
      EXPECT_EQ(tally->answers[i], 1) << "call " << i;
      ASSERT_TRUE(tally->errors[i].has_value()) << "call " << i;
      EXPECT_EQ(tally->errors[i]->category, ErrorCategory::kWorkerCrashed) << "call " << i;
      EXPECT_TRUE(contains(tally->errors[i]->message, "SIGKILL")) << tally->errors[i]->message;
      EXPECT_TRUE(contains(tally->errors[i]->message, "during 'sleep'"))
          << tally->errors[i]->message;
    }
    EXPECT_EQ(client->worker()->in_flight(), 0u);
  });
}

TEST_F(ConcurrentWorkerTest, AHelloClaimingConcurrencyZeroIsClampedToOneWithAWarning) {
  LogCapture log;
  auto client = start(concurrent_config({"--claim-concurrency", "0"}));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->hello().concurrency, 1);
  EXPECT_EQ(capacity(*client), 1u);
  EXPECT_TRUE(contains(log.text(), "claims concurrency 0 in its hello; it is treated as 1"))
      << log.text();
  auto echoed = client->call("echo", {{"x", 1}});
  ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
}

TEST_F(ConcurrentWorkerTest, AHelloClaimingAHugeConcurrencyIsCappedWithAWarning) {
  LogCapture log;
  auto client = start(concurrent_config({"--claim-concurrency", "1000000000000"}));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->hello().concurrency, 10000);
  EXPECT_EQ(capacity(*client), worker::kMaxWorkerConcurrency);
  EXPECT_TRUE(contains(log.text(), "claims concurrency 1000000000000 in its hello")) << log.text();
  EXPECT_TRUE(contains(log.text(), "at most 10000 calls at once")) << log.text();
}

TEST_F(ConcurrentWorkerTest, MaxConcurrencyIsPassedToTheWorkerAndBoundsItsCapacity) {
  auto config = concurrent_config();
  config.max_concurrency = 64;
  auto client = start(config);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->hello().concurrency, 64);  // the worker took --concurrency 64
  EXPECT_EQ(capacity(*client), 64u);

  // A worker that claims more than it was given still gets only max_concurrency.
  auto claiming = concurrent_config({"--claim-concurrency", "500"});
  claiming.max_concurrency = 8;
  auto bounded = start(claiming);
  ASSERT_TRUE(bounded);
  EXPECT_EQ(capacity(*bounded), 8u);
}

}  // namespace
}  // namespace mlbridge::testing
