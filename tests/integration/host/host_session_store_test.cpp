// Sessions in Redis shared by hosts (host.session_store: redis://...): two Host objects in this
// process share one redis-server the test starts, each with its own echo-bridge pool. A session's
// state and journaled objects survive its host; a host refuses (session_moved) a session another
// host holds; one of two hosts racing for a new session wins; a host that rejoins holds none of
// its old leases; Redis down fails session calls only, and sessions resume when it is back with
// no call applied twice.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "host_fixture.hpp"
#include "mlbridge/pool/pool.hpp"
#include "mlbridge/registry/bridge.hpp"
#include "mlbridge/registry/registry.hpp"
#include "redis_server.hpp"

namespace mlbridge::testing {
namespace {

class SessionStoreTest : public HostTest {
 protected:
  void SetUp() override {
    HostTest::SetUp();
    MLBRIDGE_SKIP_WITHOUT_REDIS();
    redis_ = std::make_unique<RedisServer>(redis_options());
  }
  void TearDown() override {
    hosts_.clear();
    HostTest::TearDown();
    redis_.reset();
  }

  virtual RedisServerOptions redis_options() { return {}; }

  std::string store_url() const { return redis_->url(); }

  // A host of its own YAML file, sharing the test's Redis; its lease long enough to outlast any
  // step of a test on a loaded machine (a test that needs it to lapse says so).
  // Its claims refuse another host's lease at once unless `claim_wait_ms` says otherwise.
  Host& add_host(const std::string& store = "", const std::string& lease_ms = "30000",
                 const std::string& claim_wait_ms = "0") {
    const std::string yaml =
        host_section("  session_store: \"" + (store.empty() ? store_url() : store) +
                     "\"\n  session_lease_ms: " + lease_ms +
                     "\n  session_claim_wait_ms: " + claim_wait_ms + "\n") +
        "bridges:\n" +
        echo_bridge_yaml("echo",
                         "    sessions:\n      replay:\n"
                         "        setup: [{command: put, object: \"{key}\"}]\n"
                         "        undo: [{command: drop, object: \"{key}\"}]\n");
    const auto path = dir_ / ("host-" + std::to_string(hosts_.size()) + ".yaml");
    std::ofstream(path) << yaml;
    auto host = Host::from_file(path.string());
    if (!host) throw std::runtime_error(host.error().describe());
    auto started = (*host)->start();
    if (!started) throw std::runtime_error(started.error().describe());
    hosts_.push_back(std::move(*host));
    return *hosts_.back();
  }

  static ExecuteOptions in(const std::string& session) {
    ExecuteOptions options;
    options.session = session;
    return options;
  }

  static pool::PoolStats pool_stats(Host& host) {
    return (*host.registry().get("echo"))->pool().stats();
  }

  // Until `host` has had a claim wait for another host's lease (polled: the wait is internal).
  static bool waits_for_a_lease(Host& host) {
    for (int i = 0; i < 2000; ++i) {
      if (host.snapshot().session_store.claims["waited"] > 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  std::unique_ptr<RedisServer> redis_;
  std::vector<std::unique_ptr<Host>> hosts_;
};

TEST_F(SessionStoreTest, StateAndObjectsOutliveTheirHost) {
  {
    Host& a = add_host();
    auto put = a.execute("echo", "put", {{"key", "k"}, {"value", "v1"}}, in("s1"));
    ASSERT_TRUE(put.ok()) << put.error().describe();
    auto state = a.execute("echo", "state", {{"set", {{"n", 7}}}}, in("s1"));
    ASSERT_TRUE(state.ok()) << state.error().describe();
    hosts_.clear();  // shut down: its leases are given up
  }
  Host& b = add_host();
  auto got = b.execute("echo", "get", {{"key", "k"}}, in("s1"));
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ((*got)["value"], "v1");
  auto state = b.get_session_state("s1");
  ASSERT_TRUE(state.ok()) << state.error().describe();
  EXPECT_EQ(state->data, json({{"n", 7}}));
  EXPECT_EQ(pool_stats(b).sessions_replayed, 1u);  // the object was rebuilt by journal replay
  EXPECT_EQ(b.snapshot().session_store.claims["taken_over"], 1u);
}

TEST_F(SessionStoreTest, AnotherHostIsRefusedWhileTheLeaseLives) {
  Host& a = add_host();
  Host& b = add_host();
  ASSERT_TRUE(a.execute("echo", "put", {{"key", "k"}, {"value", 1}}, in("held")).ok());
  auto refused = b.execute("echo", "get", {{"key", "k"}}, in("held"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kSessionMoved);
  EXPECT_TRUE(refused.error().retryable);
  ASSERT_TRUE(refused.error().retry_after.has_value());
  EXPECT_GE(refused.error().retry_after->count(), 1000);
  EXPECT_TRUE(has(refused.error().message, a.host_id())) << refused.error().message;
  EXPECT_EQ(pool_stats(b).calls, 0u);  // never ran there
  auto state = b.get_session_state("held");
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().category, ErrorCategory::kSessionMoved);
  // The holder goes on serving it.
  auto got = a.execute("echo", "get", {{"key", "k"}}, in("held"));
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ((*got)["value"], 1);
}

TEST_F(SessionStoreTest, TwoHostsRacingForANewSessionExactlyOneWins) {
  Host& a = add_host();
  Host& b = add_host();
  for (int round = 0; round < 5; ++round) {
    const std::string id = "race-" + std::to_string(round);
    auto first = a.execute_async("echo", "put", {{"key", "k"}, {"value", "a"}}, in(id));
    auto second = b.execute_async("echo", "put", {{"key", "k"}, {"value", "b"}}, in(id));
    auto ra = first.get();
    auto rb = second.get();
    EXPECT_NE(ra.ok(), rb.ok()) << "round " << round;
    const auto& loser = ra.ok() ? rb : ra;
    if (!loser.ok()) {
      EXPECT_EQ(loser.error().category, ErrorCategory::kSessionMoved);
    }
  }
}

TEST_F(SessionStoreTest, AHostThatRejoinsHoldsNoneOfItsOldLeases) {
  Host& old_self = add_host();
  ASSERT_TRUE(old_self.execute("echo", "put", {{"key", "k"}, {"value", 1}}, in("mine")).ok());
  // The same machine starts again while its old lease lives (a crash gives nothing up).
  Host& rejoined = add_host();
  EXPECT_NE(rejoined.host_id(), old_self.host_id());
  auto refused = rejoined.execute("echo", "get", {{"key", "k"}}, in("mine"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kSessionMoved);
}

TEST_F(SessionStoreTest, AnInvalidSessionIdIsRefusedBeforeAnyStoreOperation) {
  Host& a = add_host();
  auto bad = a.execute("echo", "echo", json::object(), in("no/slash"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_FALSE(a.get_session_state("bad id").ok());
  EXPECT_TRUE(a.snapshot().session_store.ops.empty());
}

TEST_F(SessionStoreTest, SessionsMoveWhenTheLeaseLapses) {
  Host& a = add_host("", "300");
  ASSERT_TRUE(a.execute("echo", "put", {{"key", "k"}, {"value", "x"}}, in("lapse")).ok());
  Host& b = add_host("", "300");
  // No sleep as synchronisation: B retries as a client would, honouring session_moved.
  Result<json> got = Error::make(ErrorCategory::kInternal, "not tried");
  for (int attempt = 0; attempt < 200; ++attempt) {
    got = b.execute("echo", "get", {{"key", "k"}}, in("lapse"));
    if (got.ok() || got.error().category != ErrorCategory::kSessionMoved) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a client's retry pause
  }
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ((*got)["value"], "x");
  // A now finds it moved, and gives its copy up.
  auto refused = a.execute("echo", "get", {{"key", "k"}}, in("lapse"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kSessionMoved);
}

TEST_F(SessionStoreTest, ALeaseIsKeptWhileACallRuns) {
  Host& a = add_host("", "300");
  Host& b = add_host("", "300");
  // A call much longer than the lease: the upkeep renews it, so B never gets the session while
  // the call runs (without renewal B would take it over after 300 ms).
  auto running = a.execute_async("echo", "sleep", {{"seconds", 1.5}}, in("long"));
  int refused = 0;
  while (running.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    auto tried = b.execute("echo", "echo", {{"x", 1}}, in("long"));
    ASSERT_FALSE(tried.ok()) << "host B ran a call of a session host A was serving";
    // On a loaded machine (the sanitizer passes) Redis may miss its 1 s command timeout once:
    // that call fails as bridge_unavailable, which runs nothing either.
    if (tried.error().category == ErrorCategory::kBridgeUnavailable) continue;
    EXPECT_EQ(tried.error().category, ErrorCategory::kSessionMoved) << tried.error().describe();
    ++refused;
  }
  auto done = running.get();
  ASSERT_TRUE(done.ok()) << done.error().describe();
  EXPECT_GT(refused, 0);
  EXPECT_GT(a.snapshot().session_store.ops["extend/ok"], 0u);
}

TEST_F(SessionStoreTest, RedisDownFailsSessionCallsOnlyAndTheyResumeWithNothingAppliedTwice) {
  Host& a = add_host();
  std::vector<int> answered;
  int failed = 0;
  for (int i = 0; i < 30; ++i) {
    if (i == 10) redis_->kill();
    if (i == 20) redis_->restart();
    auto appended = a.execute("echo", "append", {{"key", "list"}, {"value", i}}, in("counter"));
    if (appended.ok()) {
      answered.push_back(i);
    } else {
      ++failed;
      EXPECT_EQ(appended.error().category, ErrorCategory::kBridgeUnavailable)
          << appended.error().describe();
      EXPECT_TRUE(has(appended.error().message, "redis")) << appended.error().message;
    }
    if (i == 15) {  // anonymous calls do not need Redis
      EXPECT_TRUE(a.execute("echo", "echo", {{"x", 1}}).ok());
    }
  }
  EXPECT_GT(failed, 0);
  // After Redis came back, session calls work again; the list holds each answered value once.
  Result<json> list = Error::make(ErrorCategory::kInternal, "not tried");
  for (int attempt = 0; attempt < 100; ++attempt) {
    list = a.execute("echo", "get", {{"key", "list"}}, in("counter"));
    if (list.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // Redis reconnect backoff
  }
  ASSERT_TRUE(list.ok()) << list.error().describe();
  std::vector<int> values = (*list)["value"].get<std::vector<int>>();
  std::set<int> unique(values.begin(), values.end());
  EXPECT_EQ(unique.size(), values.size()) << (*list)["value"].dump();
  for (int value : answered) EXPECT_TRUE(unique.contains(value)) << value;
}

class SessionStoreAuthTest : public SessionStoreTest {
 protected:
  RedisServerOptions redis_options() override {
    RedisServerOptions options;
    options.password = "right-password";
    return options;
  }
};

TEST_F(SessionStoreAuthTest, AWrongPasswordIsAClearErrorAndAnonymousCallsWork) {
  Host& a = add_host("redis://:wrong-password@127.0.0.1:" + std::to_string(redis_->port()) + "/0");
  auto refused = a.execute("echo", "put", {{"key", "k"}, {"value", 1}}, in("s"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kAuthentication) << refused.error().describe();
  EXPECT_TRUE(has(refused.error().message, "host.session_store")) << refused.error().message;
  EXPECT_FALSE(has(refused.error().message, "wrong-password")) << refused.error().message;
  EXPECT_TRUE(a.execute("echo", "echo", {{"x", 1}}).ok());
}

TEST_F(SessionStoreTest, AClaimWaitsForAnIdleHostsLeaseAndTakesTheSessionOverOnce) {
  // A stays alive but idle: its lease (1 s, long enough for B to ask while it lives on a loaded
  // machine) is not renewed, so it lapses; B's call waits for that instead of answering
  // session_moved, and runs once.
  // Both hosts are up before A's call, so that B asks while A's lease lives.
  Host& a = add_host("", "1000");
  Host& b = add_host("", "1000", "10000");
  ASSERT_TRUE(a.execute("echo", "put", {{"key", "k"}, {"value", "x"}}, in("idle")).ok());
  auto got = b.execute("echo", "get", {{"key", "k"}}, in("idle"));
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ((*got)["value"], "x");
  auto claims = b.snapshot().session_store.claims;
  EXPECT_GE(claims["waited"], 1u);
  EXPECT_EQ(claims["taken_over"], 1u);
  EXPECT_EQ(pool_stats(b).sessions_replayed, 1u);  // the object rebuilt once
  EXPECT_EQ(pool_stats(b).calls, 1u);              // the call ran once
  EXPECT_EQ(pool_stats(a).calls, 1u);              // and never on A
}

TEST_F(SessionStoreTest, CallsOfASessionWaitingForALeaseShareOneClaimAndKeepTheirOrder) {
  Host& a = add_host("", "1000");
  Host& b = add_host("", "1000", "10000");
  ASSERT_TRUE(a.execute("echo", "state", {{"set", {{"n", 0}}}}, in("herd")).ok());
  std::vector<std::future<Result<json>>> calls;
  for (int i = 1; i <= 5; ++i) {
    calls.push_back(b.execute_async("echo", "state", {{"set", {{"n", i}}}}, in("herd")));
  }
  for (auto& call : calls) {
    auto done = call.get();
    ASSERT_TRUE(done.ok()) << done.error().describe();
  }
  auto state = b.get_session_state("herd");
  ASSERT_TRUE(state.ok()) << state.error().describe();
  EXPECT_EQ(state->data, json({{"n", 5}}));  // the last one made, last applied
  auto ops = b.snapshot().session_store.ops;
  EXPECT_GE(b.snapshot().session_store.claims["waited"], 1u);
  // One claim refused, then one that took it over: not one per call and retry.
  EXPECT_LE(ops["claim/moved"] + ops["claim/ok"], 3u);
}

TEST_F(SessionStoreTest, ACallWhoseDeadlineComesBeforeTheLeaseLapsesFailsWithSessionMoved) {
  Host& a = add_host();  // a 30 s lease
  ASSERT_TRUE(a.execute("echo", "put", {{"key", "k"}, {"value", 1}}, in("busy")).ok());
  Host& b = add_host("", "30000", "60000");
  ExecuteOptions options = in("busy");
  options.timeout = std::chrono::milliseconds(300);
  auto refused = b.execute("echo", "get", {{"key", "k"}}, options);
  ASSERT_FALSE(refused.ok());
  // Not a timeout: the call never ran, and the client should retry after the lease.
  EXPECT_EQ(refused.error().category, ErrorCategory::kSessionMoved);
  ASSERT_TRUE(refused.error().retry_after.has_value());
  EXPECT_GE(refused.error().retry_after->count(), 1000);
  EXPECT_TRUE(has(refused.error().message, "waited")) << refused.error().message;
  EXPECT_EQ(pool_stats(b).calls, 0u);
}

TEST_F(SessionStoreTest, ACancelEndsAClaimsWaitAtOnce) {
  Host& a = add_host();
  ASSERT_TRUE(a.execute("echo", "put", {{"key", "k"}, {"value", 1}}, in("cancel")).ok());
  Host& b = add_host("", "30000", "60000");
  std::promise<std::string> id;
  ExecuteOptions options = in("cancel");
  options.on_call_id = [&id](const std::string& call_id) { id.set_value(call_id); };
  auto waiting = b.execute_async("echo", "get", {{"key", "k"}}, options);
  const std::string call_id = id.get_future().get();
  ASSERT_TRUE(waits_for_a_lease(b));
  ASSERT_TRUE(b.cancel_call(call_id).ok());
  auto cancelled = waiting.get();
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().category, ErrorCategory::kCancelled);
  EXPECT_EQ(pool_stats(b).calls, 0u);
}

TEST_F(SessionStoreTest, AHostShuttingDownEndsItsClaimsWaits) {
  Host& a = add_host();
  ASSERT_TRUE(a.execute("echo", "put", {{"key", "k"}, {"value", 1}}, in("leaving")).ok());
  Host& b = add_host("", "30000", "60000");
  auto waiting = b.execute_async("echo", "get", {{"key", "k"}}, in("leaving"));
  ASSERT_TRUE(waits_for_a_lease(b));
  hosts_.pop_back();  // B shuts down and is gone
  auto ended = waiting.get();
  ASSERT_FALSE(ended.ok());
  EXPECT_EQ(ended.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(has(ended.error().message, "shutting down")) << ended.error().message;
}

}  // namespace
}  // namespace mlbridge::testing
