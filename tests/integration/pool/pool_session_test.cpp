// Sessions: affinity, isolation, loss when their worker dies, TTL and the maximum count.

#include "pool_fixture.hpp"

namespace mlbridge::testing {
namespace {

TEST_F(PoolTest, SessionsAreIsolatedAndStickToTheirWorker) {
  auto p = start(config(2));
  // Anonymous load beside the sessions the whole time.
  std::vector<std::future<Result<json>>> load;
  for (int i = 0; i < 20; ++i) load.push_back(p->submit(request("sleep", {{"seconds", 0.02}})));

  ASSERT_TRUE(p->call(request("put", {{"key", "model"}, {"value", "alice's"}}, "alice")).ok());
  ASSERT_TRUE(p->call(request("put", {{"key", "model"}, {"value", "bob's"}}, "bob")).ok());
  for (int i = 0; i < 10; ++i) {
    auto a = p->call(request("get", {{"key", "model"}}, "alice"));
    auto b = p->call(request("get", {{"key", "model"}}, "bob"));
    ASSERT_TRUE(a.ok()) << a.error().describe();
    ASSERT_TRUE(b.ok()) << b.error().describe();
    EXPECT_TRUE(has(a->dump(), "alice's")) << a->dump();
    EXPECT_TRUE(has(b->dump(), "bob's")) << b->dump();
  }
  for (auto& f : load) EXPECT_TRUE(f.get().ok());

  auto sessions = p->sessions();
  ASSERT_EQ(sessions.size(), 2u);
  for (const auto& s : sessions) EXPECT_FALSE(s.worker_id.empty());
}

TEST_F(PoolTest, SessionCallsQueueBehindTheirWorkerInOrder) {
  auto p = start(config(2));
  ASSERT_TRUE(p->call(request("put", {{"key", "n"}, {"value", 0}}, "s")).ok());
  std::vector<std::future<Result<json>>> futures;
  for (int i = 1; i <= 5; ++i) {
    futures.push_back(p->submit(request("put", {{"key", "n"}, {"value", i}}, "s")));
  }
  for (auto& f : futures) ASSERT_TRUE(f.get().ok());
  auto last = p->call(request("get", {{"key", "n"}}, "s"));
  ASSERT_TRUE(last.ok());
  EXPECT_TRUE(has(last->dump(), "5")) << last->dump();
}

TEST_F(PoolTest, EndingASessionCleansItUpOnItsWorker) {
  auto p = start(config(1));
  ASSERT_TRUE(p->call(request("put", {{"key", "k"}, {"value", 1}}, "s")).ok());
  ASSERT_TRUE(p->end_session("s").ok());
  auto gone = p->call(request("get", {{"key", "k"}}, "s"));
  ASSERT_FALSE(gone.ok()) << "the worker must have dropped the session's resources";
  auto missing = p->end_session("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().category, ErrorCategory::kNotFound);
}

TEST_F(PoolTest, ASessionWhoseWorkerDiedIsLostUntilRecreated) {
  auto p = start(config(2));
  ASSERT_TRUE(p->call(request("put", {{"key", "k"}, {"value", 1}}, "s")).ok());
  std::string home;
  for (const auto& s : p->sessions()) home = s.worker_id;
  pid_t victim = -1;
  for (const auto& w : p->stats().workers) {
    if (w.id == home) victim = w.pid;
  }
  ASSERT_GT(victim, 0);
  ::kill(victim, SIGKILL);
  EXPECT_TRUE(eventually([&] { return !process_alive(victim) && ready_workers(p) == 2; }));
  auto lost = p->call(request("get", {{"key", "k"}}, "s"));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().category, ErrorCategory::kSessionLost);
  EXPECT_TRUE(has(lost.error().message, "SIGKILL")) << lost.error().message;
  EXPECT_TRUE(has(lost.error().message, home)) << lost.error().message;

  ASSERT_TRUE(p->create_session("s").ok());
  EXPECT_TRUE(p->call(request("put", {{"key", "k"}, {"value", 2}}, "s")).ok());
}

TEST_F(PoolTest, IdleSessionsExpireAfterTheirTtl) {
  auto c = config(1);
  c.session_ttl = std::chrono::seconds(1);
  c.maintenance_interval = 100ms;
  auto p = start(c);
  ASSERT_TRUE(p->call(request("put", {{"key", "k"}, {"value", 1}}, "short-lived")).ok());
  EXPECT_EQ(p->sessions().size(), 1u);
  EXPECT_TRUE(eventually([&] { return p->sessions().empty(); }, 5s));
}

TEST_F(PoolTest, TheSessionCountIsBounded) {
  auto c = config(1);
  c.max_sessions = 2;
  auto p = start(c);
  ASSERT_TRUE(p->create_session("a").ok());
  ASSERT_TRUE(p->call(request("ping", json::object(), "b")).ok());
  auto third = p->create_session("c");
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().category, ErrorCategory::kResourceExhausted);
  auto implicit = p->call(request("ping", json::object(), "d"));
  ASSERT_FALSE(implicit.ok());
  EXPECT_EQ(implicit.error().category, ErrorCategory::kResourceExhausted);
  auto duplicate = p->create_session("a");
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().category, ErrorCategory::kInvalidArgument);
}

}  // namespace
}  // namespace mlbridge::testing
