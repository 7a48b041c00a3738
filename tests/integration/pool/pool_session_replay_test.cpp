// Sessions that outlive their worker: the journal replayed on another worker after a crash,
// moves ahead of recycling (replay or snapshot), honest session_lost, journal bounds, and the
// host-side session state as Python sees and changes it.

#include <set>

#include "pool_fixture.hpp"

namespace mlbridge::testing {
namespace {

session::ReplayRules parse_rules(const json& given) {
  auto parsed = session::ReplayRules::from_json(given, "test");
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().describe());
  return *parsed;
}

session::ReplayRules rules(json extra = json::object()) {
  json given = {{"setup",
                 {{{"command", "put"}, {"object", "{key}"}},
                  {{"command", "pin"}, {"object", "pin:{worker_id}"}}}},
                {"undo", {{{"command", "drop"}, {"object", "{key}"}}}}};
  for (const auto& [key, value] : extra.items()) given[key] = value;
  return parse_rules(given);
}

// Rules with a snapshot (export / import) and no journal.
session::ReplayRules snapshot_rules() {
  return parse_rules({{"snapshot", {{"save", "export"}, {"restore", "import"}}}});
}

class SessionReplayTest : public PoolTest {
 protected:
  // The pid of the worker a session is bound to.
  pid_t home_of(const PoolPtr& p, const std::string& session) {
    std::string home;
    for (const auto& s : p->sessions()) {
      if (s.id == session) home = s.worker_id;
    }
    for (const auto& w : p->stats().workers) {
      if (w.id == home) return w.pid;
    }
    return -1;
  }

  void kill_home(const PoolPtr& p, const std::string& session, std::size_t size) {
    const pid_t victim = home_of(p, session);
    ASSERT_GT(victim, 0);
    ::kill(victim, SIGKILL);
    ASSERT_TRUE(eventually([&] { return !process_alive(victim) && ready_workers(p) == size; }));
  }

  json ok(const PoolPtr& p, CallRequest r) {
    auto result = p->call(std::move(r));
    EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().describe());
    return result.ok() ? *result : json();
  }
};

TEST_F(SessionReplayTest, ASessionSurvivesTheSigkillOfItsWorker) {
  auto c = config(2);
  c.session_rules = rules();
  auto p = start(c);
  ok(p, request("put", {{"key", "a"}, {"value", "first"}}, "s"));
  ok(p, request("put", {{"key", "b"}, {"value", 2}}, "s"));
  ok(p, request("put", {{"key", "a"}, {"value", "second"}}, "s"));  // replaces the first put
  ok(p, request("drop", {{"key", "b"}}, "s"));                      // undoes b
  ok(p, request("put", {{"key", "c"}, {"value", json::array({1, 2})}}, "s"));
  const json before = ok(p, request("keys", {}, "s"));
  const json a_before = ok(p, request("get", {{"key", "a"}}, "s"));

  kill_home(p, "s", 2);
  const json after = ok(p, request("keys", {}, "s"));
  EXPECT_EQ(after["keys"], before["keys"]) << after.dump();
  EXPECT_NE(after["worker_id"], before["worker_id"]);
  EXPECT_EQ(ok(p, request("get", {{"key", "a"}}, "s")), a_before);
  EXPECT_EQ(ok(p, request("get", {{"key", "c"}}, "s"))["value"], json::array({1, 2}));

  const auto stats = p->stats();
  EXPECT_EQ(stats.sessions_replayed, 1u);
  EXPECT_EQ(stats.replay_time.count(), 1u);
  EXPECT_EQ(stats.sessions_lost, 0u);
}

TEST_F(SessionReplayTest, CallsQueuedBehindADeadWorkerRunAfterTheReplay) {
  auto c = config(2);
  c.session_rules = rules();
  auto p = start(c);
  ok(p, request("put", {{"key", "k"}, {"value", 7}}, "s"));
  const pid_t victim = home_of(p, "s");
  // A long call holds the session's worker; more calls of the session wait behind it.
  auto running = p->submit(request("sleep", {{"seconds", 30}}, "s"));
  std::vector<std::future<Result<json>>> waiting;
  for (int i = 0; i < 3; ++i) waiting.push_back(p->submit(request("get", {{"key", "k"}}, "s")));
  ASSERT_TRUE(eventually([&] { return p->stats().busy >= 1; }));
  ::kill(victim, SIGKILL);
  auto crashed = running.get();
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.error().category, ErrorCategory::kWorkerCrashed);
  for (auto& f : waiting) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ((*r)["value"], 7);
  }
}

TEST_F(SessionReplayTest, AFailingReplayLosesTheSessionNamingTheStep) {
  auto c = config(2);
  c.session_rules = rules();
  auto p = start(c);
  ok(p, request("put", {{"key", "k"}, {"value", 1}}, "s"));
  const json pinned = ok(p, request("pin", {}, "s"));  // replayable only on this worker
  kill_home(p, "s", 2);

  auto lost = p->call(request("get", {{"key", "k"}}, "s"));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().category, ErrorCategory::kSessionLost);
  const std::string& message = lost.error().message;
  EXPECT_TRUE(has(message, "step 2 of 2")) << message;
  EXPECT_TRUE(has(message, "'pin'")) << message;
  EXPECT_TRUE(has(message, "pinned to worker " + pinned["worker_id"].get<std::string>()))
      << message;
  // Nothing is half-restored: every later call fails the same way until the session is created
  // again.
  auto still = p->call(request("keys", {}, "s"));
  ASSERT_FALSE(still.ok());
  EXPECT_EQ(still.error().category, ErrorCategory::kSessionLost);
  EXPECT_EQ(p->stats().sessions_lost, 1u);
  ASSERT_TRUE(p->create_session("s").ok());
  EXPECT_EQ(ok(p, request("keys", {}, "s"))["keys"], json::array());
}

// A replay that runs out of the call's time (or whose worker is stopped or killed meanwhile)
// fails that call only: the step did not fail on its own, so the session is kept and its next
// call rebuilds it from the journal.
TEST_F(SessionReplayTest, AReplayCutShortByTheDeadlineKeepsTheSessionForTheNextCall) {
  auto c = config(2);
  c.session_rules = rules(
      {{"setup",
        {{{"command", "put"}, {"object", "{key}"}}, {{"command", "sleep"}, {"object", "nap"}}}}});
  auto p = start(c);
  ok(p, request("put", {{"key", "k"}, {"value", 7}}, "s"));
  ok(p, request("sleep", {{"seconds", 1}}, "s"));  // journaled: replaying it takes a second
  kill_home(p, "s", 2);

  auto hurried = request("get", {{"key", "k"}}, "s");
  hurried.timeout = std::chrono::milliseconds(300);
  auto cut = p->call(std::move(hurried));
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().category, ErrorCategory::kTimeout) << cut.error().describe();
  // (At step 2, the journaled sleep, unless a slow machine spent the 300 ms on step 1.)
  EXPECT_TRUE(has(cut.error().message, "was cut short at step")) << cut.error().message;
  EXPECT_TRUE(has(cut.error().message, "the session is kept")) << cut.error().message;

  EXPECT_EQ(ok(p, request("get", {{"key", "k"}}, "s"))["value"], 7);
  const auto stats = p->stats();
  EXPECT_EQ(stats.sessions_lost, 0u);
  EXPECT_EQ(stats.sessions_replayed, 1u);
}

TEST_F(SessionReplayTest, AJournalPastItsBoundCannotRebuildTheSession) {
  auto c = config(2);
  c.session_rules = rules({{"max_entries", 2}});
  auto p = start(c);
  for (const char* key : {"a", "b", "c"}) ok(p, request("put", {{"key", key}, {"value", 1}}, "s"));
  EXPECT_EQ(ok(p, request("keys", {}, "s"))["keys"].size(), 3u);  // the session itself is fine
  kill_home(p, "s", 2);
  auto lost = p->call(request("keys", {}, "s"));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().category, ErrorCategory::kSessionLost);
  EXPECT_TRUE(has(lost.error().message, "sessions.replay.max_entries")) << lost.error().message;
}

TEST_F(SessionReplayTest, ANotReplayableCommandMakesTheNextRebuildFailNamingIt) {
  auto c = config(2);
  c.session_rules = rules({{"not_replayable", {"print"}}});
  auto p = start(c);
  ok(p, request("put", {{"key", "k"}, {"value", 1}}, "s"));
  ok(p, request("print", {{"text", "a side effect no replay repeats"}}, "s"));
  EXPECT_EQ(ok(p, request("get", {{"key", "k"}}, "s"))["value"], 1);  // the session itself is fine
  kill_home(p, "s", 2);
  auto lost = p->call(request("get", {{"key", "k"}}, "s"));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().category, ErrorCategory::kSessionLost);
  EXPECT_TRUE(has(lost.error().message, "'print' changed the session")) << lost.error().message;
  EXPECT_TRUE(has(lost.error().message, "not_replayable")) << lost.error().message;
}

TEST_F(SessionReplayTest, WithoutSessionRulesASessionIsLostWithItsWorker) {
  auto p = start(config(2));
  ok(p, request("put", {{"key", "k"}, {"value", 1}}, "s"));
  kill_home(p, "s", 2);
  auto lost = p->call(request("get", {{"key", "k"}}, "s"));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().category, ErrorCategory::kSessionLost);
}

TEST_F(SessionReplayTest, RecyclingMovesSessionsBeforeTheWorkerIsRetired) {
  auto c = config(2);
  c.session_rules = rules();
  c.max_requests = 4;
  auto p = start(c);
  ASSERT_TRUE(eventually([&] { return ready_workers(p) == 2; }));
  ok(p, request("put", {{"key", "k"}, {"value", "kept"}}, "s"));
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(ok(p, request("get", {{"key", "k"}}, "s"))["value"], "kept");
  }
  EXPECT_TRUE(eventually([&] { return p->stats().sessions_moved >= 1; }));
  const auto stats = p->stats();
  EXPECT_GE(stats.recycled, 1u);
  EXPECT_EQ(stats.sessions_lost, 0u);
}

TEST_F(SessionReplayTest, APlannedMoveUsesTheSnapshotWhenTheBridgeHasOne) {
  auto c = config(2);
  // No setup commands: only the snapshot can carry what `put` stored.
  c.session_rules = snapshot_rules();
  c.max_requests = 3;
  auto p = start(c);
  ASSERT_TRUE(eventually([&] { return ready_workers(p) == 2; }));
  ok(p, request("put", {{"key", "k"}, {"value", "from the snapshot"}}, "s"));
  std::set<std::string> workers;
  for (int i = 0; i < 8; ++i) {
    auto got = ok(p, request("get", {{"key", "k"}}, "s"));
    EXPECT_EQ(got["value"], "from the snapshot");
    workers.insert(ok(p, request("keys", {}, "s"))["worker_id"].get<std::string>());
  }
  EXPECT_GE(workers.size(), 2u) << "the session never moved";
  EXPECT_TRUE(eventually([&] { return p->stats().sessions_moved >= 1; }));
}

TEST_F(SessionReplayTest, ACrashCannotUseTheSnapshotSoWithoutAJournalTheSessionIsLost) {
  // No recycling here: with max_requests the session would keep moving, and the worker found as
  // its home a moment ago could be one it has just left.
  auto c = config(2);
  c.session_rules = snapshot_rules();
  auto p = start(c);
  ok(p, request("put", {{"key", "k"}, {"value", "only in the worker"}}, "s"));
  kill_home(p, "s", 2);
  auto lost = p->call(request("get", {{"key", "k"}}, "s"));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().category, ErrorCategory::kSessionLost);
}

TEST_F(SessionReplayTest, HostStateReachesPythonAndPythonChangesComeBack) {
  auto c = config(1);
  auto p = start(c);
  ASSERT_TRUE(p->create_session("s").ok());
  auto& states = p->session_states();
  ASSERT_TRUE(states.set("s", {{"user", "ada"}, {"turns", 0}}).ok());
  const json seen = ok(p, request("state", {}, "s"));
  EXPECT_EQ(seen["state"], (json{{"user", "ada"}, {"turns", 0}}));

  const auto before = states.version("s");
  const json changed = ok(p, request("state", {{"set", {{"turns", 1}}}, {"unset", {"user"}}}, "s"));
  EXPECT_EQ(changed["state"], (json{{"turns", 1}}));
  const auto stored = states.get("s");
  EXPECT_EQ(stored.data, (json{{"turns", 1}}));
  EXPECT_GT(stored.version, before);

  // A handler that fails changes nothing, on either side.
  EXPECT_FALSE(p->call(request("state", {{"set", {{"turns", 99}}}, {"fail", true}}, "s")).ok());
  EXPECT_EQ(states.get("s").data, (json{{"turns", 1}}));
  EXPECT_EQ(ok(p, request("state", {}, "s"))["state"], (json{{"turns", 1}}));

  // A change on the host reaches the worker with the next call.
  ASSERT_TRUE(states.update("s", {{"turns", 5}, {"mood", "good"}}).ok());
  EXPECT_EQ(ok(p, request("state", {}, "s"))["state"], (json{{"turns", 5}, {"mood", "good"}}));
}

TEST_F(SessionReplayTest, TheStateSurvivesTheWorkerAndIsSentToTheNewOne) {
  auto c = config(2);
  c.session_rules = rules();
  auto p = start(c);
  ok(p, request("state", {{"set", {{"step", 3}}}}, "s"));
  kill_home(p, "s", 2);
  EXPECT_EQ(ok(p, request("state", {}, "s"))["state"], (json{{"step", 3}}));
}

TEST_F(SessionReplayTest, AnOversizeStateFromPythonIsRefusedWithAClearError) {
  auto c = config(1);
  c.session_states = std::make_shared<session::StateStore>(64);
  auto p = start(c);
  auto big = p->call(request("state", {{"set", {{"blob", std::string(200, 'x')}}}}, "s"));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().category, ErrorCategory::kResourceExhausted);
  EXPECT_TRUE(has(big.error().message, "session_state_max_bytes")) << big.error().message;
  EXPECT_EQ(p->session_states().version("s"), 0u);
  // The worker's copy was replaced by the host's (empty) state.
  EXPECT_EQ(ok(p, request("state", {}, "s"))["state"], json::object());
}

TEST_F(SessionReplayTest, HandlerJournalEntriesAreReplayed) {
  auto c = config(2);
  c.session_rules = rules();
  auto p = start(c);
  for (int i = 0; i < 3; ++i) ok(p, request("append", {{"key", "log"}, {"value", i}}, "s"));
  kill_home(p, "s", 2);
  EXPECT_EQ(ok(p, request("get", {{"key", "log"}}, "s"))["value"], json::array({0, 1, 2}));
}

}  // namespace
}  // namespace mlbridge::testing
