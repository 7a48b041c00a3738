// The host API of the HTTP front door: the typed snapshot (and that the JSON built from it is the
// bridges' own description), call ids, the records of fire-and-forget calls, cancel by id, and
// the commands (with schemas) the workers declared. Real echo-bridge workers.

#include <future>
#include <thread>

#include "host_fixture.hpp"
#include "mlbridge/config/host_config.hpp"
#include "mlbridge/pool/pool_stats.hpp"
#include "mlbridge/registry/registry.hpp"

namespace mlbridge::testing {
namespace {

// Drops what changes between two reads of a quiet host: memory and health pings.
json masked(json value) {
  if (value.is_object()) {
    for (const char* key : {"rss_bytes", "health_checks"}) value.erase(key);
    for (auto& [key, inner] : value.items()) inner = masked(inner);
  } else if (value.is_array()) {
    for (auto& inner : value) inner = masked(inner);
  }
  return value;
}

// One echo worker, calls one at a time: a synchronous call that returns has let every call
// submitted before it finish (a barrier).
std::string one_worker_echo() {
  return "bridges:\n  echo:\n    script: python_bridges/examples/echo_bridge.py\n"
         "    pool: {size: 1}\n    timeouts: {startup_ms: 20000, shutdown_ms: 2000}\n";
}

// Waits (up to 30 s) until the record of `id` reaches `state`; the record's last state.
calls::CallState await_state(Host& host, const std::string& id, calls::CallState state) {
  const auto until = std::chrono::steady_clock::now() + 30s;
  calls::CallState last = calls::CallState::kQueued;
  while (std::chrono::steady_clock::now() < until) {
    auto record = host.call_record(id);
    if (record) last = record->state;
    if (record && record->state == state) return last;
    std::this_thread::sleep_for(5ms);
  }
  return last;
}

TEST_F(HostTest, SnapshotJsonIsTheBridgesOwnDescriptionAndStats) {
  Host& host = start(host_section() + one_worker_echo());
  ASSERT_TRUE(host.execute("echo", "echo", {{"x", 1}}).ok());
  ASSERT_FALSE(host.execute("echo", "fail", {{"type", "ValueError"}}).ok());
  ASSERT_FALSE(host.execute("echo", "no_such_command").ok());
  auto bridge = host.registry().get("echo");
  ASSERT_TRUE(bridge.ok());

  const json from_snapshot = host.bridges();
  ASSERT_EQ(from_snapshot.size(), 1u);
  EXPECT_EQ(masked(from_snapshot[0]), masked((*bridge)->describe()));
  EXPECT_EQ(from_snapshot[0]["calls"], 3);
  EXPECT_EQ(from_snapshot[0]["errors"], 2);

  const json stats = host.stats();
  EXPECT_EQ(masked(stats["echo"]), masked(pool::to_json((*bridge)->pool().stats())));
  EXPECT_EQ(stats["echo"]["errors_by_category"]["invalid_argument"], 1);

  const HostSnapshot snapshot = host.snapshot();
  ASSERT_EQ(snapshot.bridges.size(), 1u);
  const auto& echo = snapshot.bridges[0];
  EXPECT_EQ(echo.name, "echo");
  EXPECT_EQ(echo.framework, "echo");
  EXPECT_TRUE(echo.ready);
  EXPECT_EQ(echo.calls.at("echo").ok, 1u);
  EXPECT_EQ(echo.calls.at("fail").failed.at(ErrorCategory::kInvalidArgument), 1u);
  EXPECT_EQ(echo.pool.workers.size(), 1u);
}

TEST_F(HostTest, EveryCallGetsAnIdOfItsOwn) {
  Host& host = start(host_section() + one_worker_echo());
  std::promise<Result<json>> done;
  const CallTicket first =
      host.execute_async("echo", "echo", {{"n", 1}}, {},
                         [&](Result<json> result) { done.set_value(std::move(result)); });
  EXPECT_TRUE(done.get_future().get().ok());
  auto cast = host.cast("echo", "echo", {{"n", 2}});
  ASSERT_TRUE(cast.ok());
  const CallTicket unknown =
      host.execute_async("nope", "echo", json::object(), {}, [](Result<json>) {});
  EXPECT_EQ(first.id.rfind("call-", 0), 0u) << first.id;
  EXPECT_EQ(cast->rfind("call-", 0), 0u) << *cast;
  EXPECT_EQ(unknown.id.rfind("call-", 0), 0u) << unknown.id;
  EXPECT_NE(first.id, *cast);
  EXPECT_NE(*cast, unknown.id);
}

TEST_F(HostTest, ACastsRecordHoldsItsResult) {
  Host& host = start(host_section() + one_worker_echo());
  auto id = host.cast("echo", "echo", {{"text", "hi"}});
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(host.execute("echo", "echo").ok());  // barrier: the cast finished before it
  auto record = host.call_record(*id);
  ASSERT_TRUE(record.ok()) << record.error().describe();
  EXPECT_EQ(record->state, calls::CallState::kSucceeded);
  EXPECT_EQ(record->bridge, "echo");
  EXPECT_EQ(record->command, "echo");
  EXPECT_EQ(record->result, (json{{"text", "hi"}}));
  EXPECT_TRUE(record->finished.has_value());
}

TEST_F(HostTest, AFailedCastsRecordHoldsItsError) {
  Host& host = start(host_section() + one_worker_echo());
  auto id = host.cast("echo", "fail", {{"type", "ValueError"}, {"message", "bad value"}});
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(host.execute("echo", "echo").ok());  // barrier
  auto record = host.call_record(*id);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->state, calls::CallState::kFailed);
  ASSERT_TRUE(record->error.has_value());
  EXPECT_EQ(record->error->category, ErrorCategory::kInvalidArgument);
  EXPECT_TRUE(has(record->error->message, "bad value")) << record->error->message;
  EXPECT_EQ(calls::to_json(*record)["error"]["category"], "invalid_argument");
}

TEST_F(HostTest, OnlyCastsHaveRecordsAndExpiredOnesAreNotFound) {
  Host& host = start(host_section("  call_results: {ttl_ms: 1, max: 5}\n") + one_worker_echo());
  std::promise<Result<json>> done;
  const CallTicket ticket = host.execute_async(
      "echo", "echo", json::object(), {}, [&](Result<json> r) { done.set_value(std::move(r)); });
  ASSERT_TRUE(done.get_future().get().ok());
  auto not_a_cast = host.call_record(ticket.id);
  ASSERT_FALSE(not_a_cast.ok());
  EXPECT_EQ(not_a_cast.error().category, ErrorCategory::kNotFound);

  auto id = host.cast("echo", "echo");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(host.execute("echo", "echo").ok());  // barrier: finished
  std::this_thread::sleep_for(5ms);                // longer than the 1 ms ttl
  auto expired = host.call_record(*id);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().category, ErrorCategory::kNotFound);
  EXPECT_TRUE(has(expired.error().message, "host.call_results.ttl_ms (1 ms)"))
      << expired.error().message;
}

TEST_F(HostTest, CancelCallStopsARunningCast) {
  Host& host = start(host_section() + one_worker_echo());
  auto id = host.cast("echo", "sleep", {{"seconds", 60}});
  ASSERT_TRUE(id.ok());
  ASSERT_EQ(await_state(host, *id, calls::CallState::kRunning), calls::CallState::kRunning);
  ASSERT_TRUE(host.cancel_call(*id).ok());
  EXPECT_EQ(await_state(host, *id, calls::CallState::kCancelled), calls::CallState::kCancelled);
  auto again = host.cancel_call(*id);  // finished: no longer in flight
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().category, ErrorCategory::kNotFound);
}

TEST_F(HostTest, CancelCallStopsAnyCallById) {
  Host& host = start(host_section() + one_worker_echo());
  std::promise<Result<json>> done;
  auto future = done.get_future();
  const CallTicket ticket =
      host.execute_async("echo", "sleep", {{"seconds", 60}}, {},
                         [&](Result<json> result) { done.set_value(std::move(result)); });
  ASSERT_TRUE(host.cancel_call(ticket.id).ok());
  auto result = future.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kCancelled) << result.error().describe();
  auto unknown = host.cancel_call("call-999999");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().category, ErrorCategory::kNotFound);
  EXPECT_TRUE(has(unknown.error().message, "call-999999"));
}

TEST_F(HostTest, BridgeShowsTheCommandsItsWorkersDeclaredWithSchemas) {
  Host& host = start(host_section() + one_worker_echo());
  EXPECT_TRUE(host.snapshot().bridges[0].commands.empty());  // not asked yet
  EXPECT_TRUE((*host.bridge("echo"))["commands"].empty());   // bridge() does not ask
  EXPECT_FALSE(host.snapshot(/*with_commands=*/true).bridges[0].commands.empty());
  auto bridge = host.bridge("echo");
  ASSERT_TRUE(bridge.ok());
  json sleep;
  for (const auto& command : (*bridge)["commands"]) {
    if (command["name"] == "sleep") sleep = command;
    EXPECT_NE(command["name"], "init");  // host-only built-ins are never listed
  }
  ASSERT_TRUE(sleep.is_object()) << (*bridge)["commands"].dump();
  EXPECT_EQ(sleep["namespace"], "echo");
  EXPECT_EQ(sleep["args_schema"]["properties"]["seconds"]["type"], "number");
  EXPECT_EQ(sleep["result_schema"]["required"][0], "slept");
  // Kept: later snapshots carry them without asking again (one list_commands call in all).
  const auto commands = host.snapshot().bridges[0].commands;
  EXPECT_FALSE(commands.empty());
  EXPECT_EQ(host.snapshot(true).bridges[0].commands.size(), commands.size());
  EXPECT_EQ(host.snapshot().bridges[0].calls.at("list_commands").ok, 1u);
}

// host.loop_spin_max_calls takes effect at start only. A reload that changes it says so; one whose
// file leaves it unset keeps what the host started with, as `mlbridge serve` fills it in.
TEST_F(HostTest, AReloadThatChangesLoopSpinMaxCallsSaysItIsIgnored) {
  auto config = config::load_host_config(write(host_section()));
  ASSERT_TRUE(config.ok()) << config.error().describe();
  config->loop_spin_max_calls = 2;  // what serve sets on a 2-core machine
  host_ = Host::from_config(std::move(*config));
  ASSERT_TRUE(host_->start().ok());
  const auto ignored_after = [&](const std::string& extra) {
    write(host_section(extra));
    auto report = host_->reload();
    EXPECT_TRUE(report.ok()) << report.error().describe();
    return report.ok() ? (*report)["host_changes_ignored"] : json();
  };
  EXPECT_EQ(ignored_after(""), json::array());
  EXPECT_EQ(ignored_after("  loop_spin_max_calls: 2\n"), json::array());
  EXPECT_EQ(ignored_after("  loop_spin_max_calls: 8\n"), json::array({"host.loop_spin_max_calls"}));
  EXPECT_EQ(ignored_after("  loop_spin_max_calls: 0\n"), json::array({"host.loop_spin_max_calls"}));
}

}  // namespace
}  // namespace mlbridge::testing
