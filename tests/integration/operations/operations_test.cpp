// Runtime operations through the Host API, with real echo-bridge workers: resizing under load,
// updates that are refused whole, options that recycle workers, retries of idempotent commands,
// the retry budget, the circuit breaker, and fire-and-forget calls.
//
// Nothing here asserts a duration: waits poll for a state, with a generous deadline that only
// guards against a hang.

#include <atomic>
#include <functional>
#include <set>
#include <thread>
#include <vector>

#include "host_fixture.hpp"
#include "log_capture.hpp"
#include "mlbridge/registry/registry.hpp"

namespace mlbridge::testing {
namespace {

constexpr auto kHangGuard = std::chrono::seconds(60);

/// Polls `done` until it holds; false when the hang guard ran out.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kHangGuard;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

/// Workers of a bridge that count towards its size (not stopping).
std::size_t live_workers(Host& host, const std::string& bridge) {
  auto described = host.bridge(bridge);
  if (!described) return 0;
  std::size_t live = 0;
  for (const auto& w : (*described)["workers"]) {
    if (w["state"] != "retiring") ++live;
  }
  return live;
}

/// Workers ready to serve (idle or busy).
std::size_t serving_workers(Host& host, const std::string& bridge) {
  auto stats = host.stats()[bridge];
  return stats["idle"].get<std::size_t>() + stats["busy"].get<std::size_t>();
}

std::string bridge_yaml(const std::string& name, const std::string& settings) {
  return "  " + name +
         ":\n    script: python_bridges/examples/echo_bridge.py\n"
         "    timeouts: {startup_ms: 20000, shutdown_ms: 2000}\n" +
         settings;
}

class OperationsTest : public HostTest {
 protected:
  std::string marker() const { return (dir_ / "crashed-once").string(); }
};

// ---------------------------------------------------------------- live reconfiguration

TEST_F(OperationsTest, ResizesUpAndDownUnderLoadWithoutAFailedCall) {
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("echo", "    pool: {size: 1, checkout_timeout_ms: 60000}\n"));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::string first_failure;
  std::mutex failure_mutex;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!stop) {
        auto r = host.execute("echo", "sleep", {{"seconds", 0.02}});
        if (r) {
          ++ok;
        } else {
          ++failed;
          std::lock_guard lock(failure_mutex);
          if (first_failure.empty()) first_failure = r.error().describe();
        }
      }
    });
  }
  auto grown = host.update_bridge("echo", {{"pool", {{"size", 3}}}});
  ASSERT_TRUE(grown.ok()) << grown.error().describe();
  EXPECT_EQ(*grown, std::vector<std::string>{"pool.size: 1 -> 3"});
  EXPECT_TRUE(eventually([&] { return serving_workers(host, "echo") == 3; }));
  const int before_shrink = ok;
  ASSERT_TRUE(host.update_bridge("echo", {{"pool", {{"size", 1}}}}).ok());
  EXPECT_TRUE(eventually([&] { return live_workers(host, "echo") == 1; }));
  EXPECT_TRUE(eventually([&] { return ok > before_shrink + 20; })) << "calls go on after";
  ASSERT_TRUE(host.update_bridge("echo", {{"pool", {{"size", 2}}}}).ok());
  EXPECT_TRUE(eventually([&] { return serving_workers(host, "echo") == 2; }));
  stop = true;
  for (auto& client : clients) client.join();
  EXPECT_EQ(failed, 0) << first_failure;
  EXPECT_GT(ok, 20);
  EXPECT_EQ(host.registry().get("echo").value()->config().pool.size, 2u);
}

TEST_F(OperationsTest, ShrinkingLetsBusyWorkersFinishTheirCall) {
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("echo", "    pool: {size: 2}\n"));
  ASSERT_TRUE(eventually([&] { return serving_workers(host, "echo") == 2; }));
  auto first = host.execute_async("echo", "sleep", {{"seconds", 1.0}});
  auto second = host.execute_async("echo", "sleep", {{"seconds", 1.0}});
  ASSERT_TRUE(eventually([&] { return host.stats()["echo"]["busy"] == 2; }));
  ASSERT_TRUE(host.update_bridge("echo", {{"pool", {{"size", 0}}}}).ok());
  auto a = first.get();
  auto b = second.get();
  EXPECT_TRUE(a.ok()) << a.error().describe();
  EXPECT_TRUE(b.ok()) << b.error().describe();
  EXPECT_TRUE(eventually([&] { return live_workers(host, "echo") == 0; }));
}

TEST_F(OperationsTest, ShrinkingMovesTheSessionsOfTheWorkersItStops) {
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("echo",
                                 "    pool: {size: 2}\n"
                                 "    sessions:\n"
                                 "      replay:\n"
                                 "        setup: [{command: put, object: \"{key}\"}]\n"));
  ASSERT_TRUE(eventually([&] { return serving_workers(host, "echo") == 2; }));
  ExecuteOptions in_a;
  in_a.session = "a";
  ExecuteOptions in_b;
  in_b.session = "b";
  // A new session goes to the idle worker with fewer sessions: one session on each worker.
  ASSERT_TRUE(host.execute("echo", "put", {{"key", "k"}, {"value", 1}}, in_a).ok());
  ASSERT_TRUE(host.execute("echo", "put", {{"key", "k"}, {"value", 2}}, in_b).ok());
  auto described = host.bridge("echo");  // kept: the loop below reads into it
  ASSERT_TRUE(described.ok());
  for (const auto& w : (*described)["workers"]) {
    ASSERT_EQ(w["sessions"], 1) << "precondition: each worker holds one session";
  }
  ASSERT_TRUE(host.update_bridge("echo", {{"pool", {{"size", 1}}}}).ok());
  ASSERT_TRUE(eventually([&] { return live_workers(host, "echo") == 1; }));
  auto a = host.execute("echo", "get", {{"key", "k"}}, in_a);
  auto b = host.execute("echo", "get", {{"key", "k"}}, in_b);
  ASSERT_TRUE(a.ok()) << a.error().describe();
  ASSERT_TRUE(b.ok()) << b.error().describe();
  EXPECT_EQ((*a)["value"], 1);
  EXPECT_EQ((*b)["value"], 2);
  EXPECT_EQ(host.stats()["echo"]["sessions_moved"], 1);
}

TEST_F(OperationsTest, ABadUpdateChangesNothingAndNamesTheKey) {
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("echo", "    pool: {size: 1}\n"));
  const auto before = host.registry().get("echo").value()->config().raw;

  auto bad = host.update_bridge("echo", {{"pool", {{"size", 3}, {"queue_limit", 0}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(has(bad.error().message, "pool.queue_limit")) << bad.error().message;

  auto typo = host.update_bridge("echo", {{"timeouts", {{"request", 5}}}});
  ASSERT_FALSE(typo.ok());
  EXPECT_TRUE(has(typo.error().message, "timeouts.request")) << typo.error().message;
  EXPECT_TRUE(has(typo.error().message, "request_ms")) << typo.error().message;

  auto fixed = host.update_bridge("echo", {{"script", "tests/support/workers/other.py"}});
  ASSERT_FALSE(fixed.ok());
  EXPECT_TRUE(has(fixed.error().message, "script cannot change while the bridge runs"))
      << fixed.error().message;

  auto unknown = host.update_bridge("nope", {{"pool", {{"size", 1}}}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().category, ErrorCategory::kNotFound);

  EXPECT_EQ(host.registry().get("echo").value()->config().raw, before);
  EXPECT_EQ(live_workers(host, "echo"), 1u);
  auto same = host.update_bridge("echo", {{"pool", {{"size", 1}}}});
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->empty()) << "nothing changed";
}

TEST_F(OperationsTest, NewOptionsRecycleTheWorkersOneAtATime) {
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("echo", "    pool: {size: 2}\n    options: {version: 1}\n"));
  ASSERT_TRUE(eventually([&] { return serving_workers(host, "echo") == 2; }));
  auto old = host.execute("echo", "options");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ((*old)["options"]["version"], 1);
  auto changed = host.update_bridge("echo", {{"options", {{"version", 2}}}});
  ASSERT_TRUE(changed.ok()) << changed.error().describe();
  EXPECT_EQ(*changed, std::vector<std::string>{"options.version: 1 -> 2"});
  // Calls keep being served while the workers are replaced.
  std::set<int> pids;
  ASSERT_TRUE(eventually([&] {
    auto r = host.execute("echo", "options");
    EXPECT_TRUE(r.ok()) << r.error().describe();
    return host.stats()["echo"]["recycled"] == 2 && serving_workers(host, "echo") == 2;
  }));
  for (int i = 0; i < 6; ++i) {
    auto r = host.execute("echo", "options");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)["options"]["version"], 2);
    pids.insert((*r)["pid"].get<int>());
  }
  EXPECT_EQ(pids.count((*old)["pid"].get<int>()), 0u);
}

// ---------------------------------------------------------------- retries

TEST_F(OperationsTest, RetriesAnIdempotentCommandAcrossAWorkerCrash) {
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("echo",
                                 "    pool: {size: 2}\n    idempotent: [crash]\n"
                                 "    retry: {backoff_initial_ms: 1, backoff_max_ms: 10}\n"));
  ASSERT_TRUE(eventually([&] { return serving_workers(host, "echo") == 2; }));
  std::atomic<std::uint32_t> attempts{1};
  std::string cause;
  ExecuteOptions options;
  options.on_retry = [&](std::uint32_t next, const Error& error) {
    attempts = next;
    cause = error.describe();
  };
  auto result = host.execute("echo", "crash", {{"once_marker", marker()}, {"exit_code", 3}},
                             std::move(options));
  ASSERT_TRUE(result.ok()) << result.error().describe();
  EXPECT_EQ((*result)["crashed"], false);
  EXPECT_EQ(attempts, 2u);
  EXPECT_TRUE(has(cause, "worker_crashed")) << cause;
  auto described = host.bridge("echo").value();
  EXPECT_EQ(described["retries"]["retried"], 1);
}

TEST_F(OperationsTest, NeverRetriesACommandThatIsNotIdempotent) {
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("echo", "    pool: {size: 2}\n"));
  ASSERT_TRUE(eventually([&] { return serving_workers(host, "echo") == 2; }));
  int retries = 0;
  ExecuteOptions options;
  options.on_retry = [&](std::uint32_t, const Error&) { ++retries; };
  auto result = host.execute("echo", "crash", {{"once_marker", marker()}, {"exit_code", 3}},
                             std::move(options));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kWorkerCrashed);
  EXPECT_EQ(retries, 0);
  EXPECT_EQ(host.stats()["echo"]["calls"], 1);
  EXPECT_EQ(host.bridge("echo").value()["retries"]["retried"], 0);
}

TEST_F(OperationsTest, TheRetryBudgetRunsOutUnderAPersistentFailure) {
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("echo",
                                 "    pool: {size: 1}\n    idempotent: [fail]\n"
                                 "    retry: {max_attempts: 3, backoff_initial_ms: 1, budget: 2, "
                                 "budget_percent: 0}\n"));
  const json limited = {{"category", "rate_limit"}, {"message", "slow down"}};
  auto first = host.execute("echo", "fail", limited);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().category, ErrorCategory::kRateLimit);
  EXPECT_TRUE(has(first.error().message, "gave up after 3 attempts")) << first.error().message;
  auto second = host.execute("echo", "fail", limited);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(has(second.error().message, "gave up after 1 attempt; the retry budget"))
      << second.error().message;
  const auto retries = host.bridge("echo").value()["retries"];
  EXPECT_EQ(retries["retried"], 2);
  EXPECT_EQ(retries["budget_exhausted"], 1);
  EXPECT_EQ(host.stats()["echo"]["calls"], 4) << "3 attempts, then 1";
}

TEST_F(OperationsTest, ARetryRunsOnAnotherWorkerThanTheAttemptThatFailed) {
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("echo",
                                 "    pool: {size: 2}\n    idempotent: [fail]\n"
                                 "    retry: {max_attempts: 4, backoff_initial_ms: 1, "
                                 "backoff_max_ms: 5}\n"));
  ASSERT_TRUE(eventually([&] { return serving_workers(host, "echo") == 2; }));
  std::vector<std::string> failed_on;  // the worker of each failed attempt, in order
  ExecuteOptions options;
  options.on_retry = [&](std::uint32_t, const Error& error) {
    failed_on.push_back(error.worker_id);
  };
  auto result = host.execute("echo", "fail", {{"category", "rate_limit"}, {"message", "later"}},
                             std::move(options));
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(has(result.error().message, "gave up after 4 attempts")) << result.error().message;
  failed_on.push_back(result.error().worker_id);
  ASSERT_EQ(failed_on.size(), 4u);
  // Both workers are idle at every retry, so each attempt goes to the other one.
  for (std::size_t i = 1; i < failed_on.size(); ++i) {
    EXPECT_FALSE(failed_on[i].empty());
    EXPECT_NE(failed_on[i], failed_on[i - 1]) << "attempt " << i + 1;
  }
}

TEST_F(OperationsTest, CancellingARetriableCallCancelsItWhicheverAttemptItIsOn) {
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("echo", "    pool: {size: 1}\n    idempotent: [sleep]\n"));
  std::promise<Result<json>> done;
  auto ticket = host.execute_async("echo", "sleep", {{"seconds", 30}}, {},
                                   [&done](Result<json> r) { done.set_value(std::move(r)); });
  ASSERT_NE(ticket.handle, 0u);
  ASSERT_TRUE(eventually([&] { return host.stats()["echo"]["busy"] == 1; }));
  host.cancel(ticket);
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(kHangGuard), std::future_status::ready);
  auto result = future.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kCancelled) << result.error().describe();
  EXPECT_EQ(host.bridge("echo").value()["retries"]["retried"], 0);
  EXPECT_TRUE(host.execute("echo", "echo").ok()) << "the worker goes on serving";
}

// ---------------------------------------------------------------- circuit breaker

TEST_F(OperationsTest, TheCircuitOpensFailsFastProbesAndCloses) {
  Host& host =
      start(host_section(runtime_registration()) + "bridges:\n" +
            bridge_yaml("echo",
                        "    pool: {size: 1}\n"
                        "    circuit_breaker: {failures: 3, cooldown_ms: 300, probes: 1}\n"));
  const json down = {{"category", "model_error"}, {"message", "upstream answered 500"}};
  for (int i = 0; i < 3; ++i) {
    auto failed = host.execute("echo", "fail", down);
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().category, ErrorCategory::kModelError);
  }
  auto fast = host.execute("echo", "echo", {{"x", 1}});
  ASSERT_FALSE(fast.ok());
  EXPECT_EQ(fast.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(has(fast.error().message, "circuit open since")) << fast.error().message;
  EXPECT_TRUE(has(fast.error().message, "upstream answered 500")) << fast.error().message;
  EXPECT_EQ(host.stats()["echo"]["calls"], 3) << "a call failed fast never reaches a worker";
  auto circuit = host.bridge("echo").value()["circuit"];
  EXPECT_EQ(circuit["state"], "open");
  EXPECT_EQ(circuit["rejected"], 1);

  ASSERT_TRUE(
      eventually([&] { return host.bridge("echo").value()["circuit"]["state"] == "half_open"; }));
  auto probe = host.execute("echo", "echo", {{"x", 2}});
  ASSERT_TRUE(probe.ok()) << probe.error().describe();
  circuit = host.bridge("echo").value()["circuit"];
  EXPECT_EQ(circuit["state"], "closed");
  EXPECT_EQ(circuit["opened"], 1);
  EXPECT_TRUE(host.execute("echo", "echo", {{"x", 3}}).ok());
}

// ---------------------------------------------------------------- fire and forget

TEST_F(OperationsTest, ACastThatCrashesItsWorkerIsLoggedAndDisturbsNoOtherCall) {
  LogCapture log;
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("echo", "    pool: {size: 2}\n"));
  ASSERT_TRUE(eventually([&] { return serving_workers(host, "echo") == 2; }));
  auto id = host.cast("echo", "crash", {{"exit_code", 3}});
  ASSERT_TRUE(id.ok()) << id.error().describe();
  std::vector<std::future<Result<json>>> others;
  for (int i = 0; i < 10; ++i) others.push_back(host.execute_async("echo", "echo", {{"i", i}}));
  for (int i = 0; i < 10; ++i) {
    auto r = others[i].get();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ((*r)["i"], i);
  }
  ASSERT_TRUE(eventually([&] { return host.bridge("echo").value()["casts"]["failed"] == 1; }));
  EXPECT_EQ(host.bridge("echo").value()["casts"]["sent"], 1);
  EXPECT_EQ(host.stats()["echo"]["errors_by_category"]["worker_crashed"], 1);
  const std::string text = log.text();
  EXPECT_TRUE(has(text, "fire-and-forget call " + *id)) << text;
  EXPECT_TRUE(has(text, "worker_crashed")) << text;

  auto missing = host.cast("nope", "echo");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().category, ErrorCategory::kNotFound);
}

// ---------------------------------------------------------------- reload

TEST_F(OperationsTest, ReloadAddsRemovesAndUpdatesBridges) {
  Host& host = start(host_section(runtime_registration()) + "bridges:\n" +
                     bridge_yaml("kept", "    pool: {size: 1}\n") +
                     bridge_yaml("dropped", "    pool: {size: 1}\n"));
  write(host_section(runtime_registration()) + "bridges:\n" +
        bridge_yaml("kept", "    pool: {size: 2}\n") +
        bridge_yaml("added", "    pool: {size: 1}\n"));
  auto report = host.reload();
  ASSERT_TRUE(report.ok()) << report.error().describe();
  EXPECT_EQ((*report)["added"], json::array({"added"}));
  EXPECT_EQ((*report)["removed"], json::array({"dropped"}));
  EXPECT_EQ((*report)["updated"]["kept"], json::array({"pool.size: 1 -> 2"}));
  EXPECT_TRUE(host.execute("added", "echo").ok());
  EXPECT_EQ(host.bridge("dropped").error().category, ErrorCategory::kNotFound);
  EXPECT_TRUE(eventually([&] { return serving_workers(host, "kept") == 2; }));

  write(host_section(runtime_registration()) + "bridges:\n" +
        bridge_yaml("kept", "    pool: {size: -2}\n"));
  auto bad = host.reload();
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(has(bad.error().message, "bridges.kept.pool.size")) << bad.error().message;
  EXPECT_TRUE(host.bridge("added").ok()) << "a file that does not validate changes nothing";
}

}  // namespace
}  // namespace mlbridge::testing
