// Resources created without a session exist on every worker of the bridge: the bridge journal
// replayed on running workers before their next call and on new ones before they are ready
// (resize, a killed worker), deletes included, workers that hold many calls included, a replay
// that fails restarting its worker with a log line, and the journal's bound.

#include <filesystem>
#include <fstream>
#include <set>

#include "log_capture.hpp"
#include "mlbridge/protocol/encoded_args.hpp"
#include "pool_fixture.hpp"

namespace mlbridge::testing {
namespace {

session::ReplayRules thing_rules(json extra = json::object()) {
  json given = {{"setup", {{{"command", "create"}, {"object", "thing:{name}"}}}},
                {"undo", {{{"command", "delete"}, {"object", "thing:{name}"}}}}};
  for (const auto& [key, value] : extra.items()) given[key] = value;
  auto parsed = session::ReplayRules::from_json(given, "test");
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().describe());
  return *parsed;
}

// A file the held lookups wait for, removed again by the destructor.
class Gate {
 public:
  Gate()
      : path_(std::filesystem::temp_directory_path() /
              ("mlbridge-gate-" + std::to_string(::getpid()) + "-" + std::to_string(++count_))) {
    std::filesystem::remove(path_);
  }
  ~Gate() { std::filesystem::remove(path_); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  std::string path() const { return path_.string(); }
  void open() { std::ofstream(path_) << "open"; }

 private:
  static inline int count_ = 0;
  std::filesystem::path path_;
};

class BridgeJournalTest : public PoolTest {
 protected:
  PoolConfig things(std::size_t size) {
    auto c = config(size, "things");
    c.worker.script = source_path("tests/support/workers/resource_bridge.py");
    c.session_rules = thing_rules();
    c.request_timeout = 60s;
    c.checkout_timeout = 30s;
    return c;
  }

  PoolPtr start_all(PoolConfig c) {
    const std::size_t size = c.size;
    auto p = start(std::move(c));
    EXPECT_TRUE(eventually([&] { return ready_workers(p) == size; }, 30s));
    return p;
  }

  json ok(const PoolPtr& p, CallRequest r) {
    auto result = p->call(std::move(r));
    EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().describe());
    return result.ok() ? *result : json();
  }

  // One lookup of `name` per worker: `workers` lookups held until all of them run, so that each
  // runs on a worker of its own (capacity 1), or spread over the least-loaded workers.
  std::vector<json> lookup_on_every_worker(const PoolPtr& p, const std::string& name,
                                           std::size_t workers, std::size_t busy_when_held) {
    Gate gate;
    std::vector<std::future<Result<json>>> lookups;
    for (std::size_t i = 0; i < workers; ++i) {
      lookups.push_back(p->submit(
          request("lookup", {{"name", name}, {"hold", gate.path()}, {"missing_ok", true}})));
    }
    EXPECT_TRUE(eventually([&] { return p->stats().busy == busy_when_held; }, 30s));
    gate.open();
    std::vector<json> answers;
    for (auto& f : lookups) {
      auto r = f.get();
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
      answers.push_back(r.ok() ? *r : json());
    }
    return answers;
  }

  static std::set<std::string> workers_of(const std::vector<json>& answers) {
    std::set<std::string> ids;
    for (const auto& a : answers) ids.insert(a.value("worker_id", ""));
    return ids;
  }

  void expect_found_everywhere(const PoolPtr& p, const std::string& name, const json& value,
                               std::size_t size) {
    const auto answers = lookup_on_every_worker(p, name, size, size);
    EXPECT_EQ(workers_of(answers).size(), size);
    for (const auto& a : answers) {
      EXPECT_TRUE(a.value("found", false)) << a.dump();
      EXPECT_EQ(a.value("value", json()), value) << a.dump();
    }
  }
};

TEST_F(BridgeJournalTest, AResourceCreatedWithoutASessionAnswersOnEveryWorker) {
  auto p = start_all(things(3));
  ok(p, request("create", {{"name", "qa"}, {"value", "v1"}}));
  expect_found_everywhere(p, "qa", "v1", 3);
  // Replaced without a session: the new one everywhere.
  ok(p, request("create", {{"name", "qa"}, {"value", "v2"}}));
  expect_found_everywhere(p, "qa", "v2", 3);
  // Replays are the host's calls, not the caller's: 2 creates and 6 lookups.
  EXPECT_EQ(p->stats().calls, 8u);
}

TEST_F(BridgeJournalTest, ResourcesWhoseArgsCameEncodedAreJournaledWithThoseArgs) {
  // As the HTTP front door sends them: the args encoded once (EncodedArgs), `args` left empty.
  auto p = start_all(things(3));
  auto encoded = [](const std::string& command, const std::string& json_text) {
    auto args = protocol::EncodedArgs::from_json(json_text);
    EXPECT_TRUE(args.ok());
    CallRequest r = request(command);
    r.encoded_args = args->shared();
    return r;
  };
  ok(p, encoded("create", R"({"name": "qa", "value": "from http"})"));
  expect_found_everywhere(p, "qa", "from http", 3);
  ok(p, encoded("delete", R"({"name": "qa"})"));
  const auto answers = lookup_on_every_worker(p, "qa", 3, 3);
  for (const auto& a : answers) EXPECT_FALSE(a.value("found", true)) << a.dump();
}

TEST_F(BridgeJournalTest, ADeleteWithoutASessionReachesEveryWorker) {
  auto p = start_all(things(3));
  ok(p, request("create", {{"name", "qa"}, {"value", 1}}));
  ok(p, request("create", {{"name", "keep"}, {"value", 2}}));
  expect_found_everywhere(p, "qa", 1, 3);  // every worker holds it now
  ok(p, request("delete", {{"name", "qa"}}));
  const auto answers = lookup_on_every_worker(p, "qa", 3, 3);
  EXPECT_EQ(workers_of(answers).size(), 3u);
  for (const auto& a : answers) EXPECT_FALSE(a.value("found", true)) << a.dump();
  expect_found_everywhere(p, "keep", 2, 3);
}

TEST_F(BridgeJournalTest, AWorkerStartedLaterReplaysTheJournalBeforeItIsReady) {
  auto p = start_all(things(1));
  ok(p, request("create", {{"name", "a"}, {"value", 1}}));
  ok(p, request("create", {{"name", "b"}, {"value", 2}}));
  ok(p, request("delete", {{"name", "b"}}));
  auto c = things(3);
  p->reconfigure_and_wait(c);
  ASSERT_TRUE(eventually([&] { return ready_workers(p) == 3; }, 30s));
  expect_found_everywhere(p, "a", 1, 3);
  const auto answers = lookup_on_every_worker(p, "b", 3, 3);
  for (const auto& a : answers) EXPECT_FALSE(a.value("found", true)) << a.dump();
}

TEST_F(BridgeJournalTest, AReplacementOfAKilledWorkerHasTheResources) {
  auto p = start_all(things(2));
  ok(p, request("create", {{"name", "qa"}, {"value", "kept"}}));
  const auto before = pids(p);
  ::kill(before.front(), SIGKILL);
  ASSERT_TRUE(eventually(
      [&] {
        const auto now = pids(p);
        return !process_alive(before.front()) && ready_workers(p) == 2 &&
               std::find(now.begin(), now.end(), before.front()) == now.end();
      },
      30s));
  expect_found_everywhere(p, "qa", "kept", 2);
}

TEST_F(BridgeJournalTest, WorkersThatRunManyCallsAtOnceCatchUpOnceForAllTheirCalls) {
  auto c = things(2);
  c.worker.max_concurrency = 4;
  auto p = start_all(c);
  ok(p, request("create", {{"name", "qa"}, {"value", "many"}}));
  // Eight lookups spread over both workers, four each, all held at once: every one finds it.
  const auto answers = lookup_on_every_worker(p, "qa", 8, 2);
  EXPECT_EQ(workers_of(answers).size(), 2u);
  for (const auto& a : answers) EXPECT_EQ(a.value("value", json()), "many") << a.dump();
  ok(p, request("delete", {{"name", "qa"}}));
  for (const auto& a : lookup_on_every_worker(p, "qa", 8, 2))
    EXPECT_FALSE(a.value("found", true)) << a.dump();
}

TEST_F(BridgeJournalTest, AReplayThatFailsRestartsTheWorkerWithALogLine) {
  LogCapture log;
  auto c = things(2);
  c.max_restarts = 1000;  // its replacements fail too until the entry is deleted
  auto p = start_all(c);
  // Built on one worker only: its replay fails on every other one.
  const std::string home = p->stats().workers.front().id;
  ASSERT_TRUE(eventually([&] {
    return p->call(request("create", {{"name", "pinned"}, {"only_on", home}})).ok();
  }));
  std::string other;
  pid_t other_pid = -1;
  for (const auto& w : p->stats().workers) {
    if (w.id != home) {
      other = w.id;
      other_pid = w.pid;
    }
  }
  ASSERT_FALSE(other.empty());
  // Two held lookups: one runs on the home worker, one on the other, whose replay fails: it is
  // restarted, and the lookup goes back to the queue and runs on the home worker.
  Gate gate;
  auto first = p->submit(request("lookup", {{"name", "pinned"}, {"hold", gate.path()}}));
  auto second = p->submit(request("lookup", {{"name", "pinned"}, {"hold", gate.path()}}));
  ASSERT_TRUE(
      eventually([&] { return has(log.text(), "worker " + other + " failed to replay"); }, 30s))
      << log.text();
  const std::string text = log.text();
  EXPECT_TRUE(has(text, "'create' for thing:pinned")) << text;
  EXPECT_TRUE(has(text, "can be built on worker " + home + " only")) << text;
  EXPECT_TRUE(has(text, "restarting the worker")) << text;
  EXPECT_TRUE(eventually([&] { return !process_alive(other_pid); }, 30s));
  gate.open();
  for (auto* f : {&first, &second}) {
    auto r = f->get();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ((*r)["worker_id"], home);
  }
  // Deleted: the journal replays on a new worker again, and the pool is whole.
  ok(p, request("delete", {{"name", "pinned"}}));
  EXPECT_TRUE(eventually([&] { return ready_workers(p) == 2; }, 60s));
}

TEST_F(BridgeJournalTest, PastItsBoundACreateWithoutASessionIsRefusedBeforeItRuns) {
  auto c = things(2);
  c.session_rules = thing_rules({{"max_bytes", 400}});
  auto p = start_all(c);
  ok(p, request("create", {{"name", "a"}, {"value", std::string(300, 'x')}}));
  auto refused = p->call(request("create", {{"name", "b"}, {"value", std::string(300, 'y')}}));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kResourceExhausted);
  EXPECT_TRUE(has(refused.error().message, "sessions.replay.max_bytes")) << refused.error().message;
  // It never ran: no worker has it.
  for (const auto& a : lookup_on_every_worker(p, "b", 2, 2))
    EXPECT_FALSE(a.value("found", true)) << a.dump();
  // In a session it is the session's own, within the session's bound.
  ok(p, request("create", {{"name", "b"}, {"value", std::string(300, 'y')}}, "s"));
  // After a delete there is room again.
  ok(p, request("delete", {{"name", "a"}}));
  ok(p, request("create", {{"name", "b"}, {"value", std::string(300, 'y')}}));
  expect_found_everywhere(p, "b", std::string(300, 'y'), 2);
}

}  // namespace
}  // namespace mlbridge::testing
