// Resources created without a session, through the host: a bridge whose YAML declares replay
// rules (sessions.replay) has what an anonymous create built on every worker, so anonymous calls
// work on any worker; an anonymous delete removes it everywhere.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <set>
#include <thread>

#include "host_fixture.hpp"
#include "mlbridge/pool/pool.hpp"
#include "mlbridge/registry/bridge.hpp"
#include "mlbridge/registry/registry.hpp"

namespace mlbridge::testing {
namespace {

class HostBridgeResourcesTest : public HostTest {
 protected:
  static std::string things_yaml(std::size_t size) {
    return "  things:\n    script: tests/support/workers/resource_bridge.py\n"
           "    pool: {size: " +
           std::to_string(size) +
           "}\n    timeouts: {startup_ms: 20000, shutdown_ms: 2000}\n"
           "    sessions:\n      replay:\n"
           "        setup: [{command: create, object: \"thing:{name}\"}]\n"
           "        undo: [{command: delete, object: \"thing:{name}\"}]\n";
  }

  pool::PoolStats stats(Host& host) { return (*host.registry().get("things"))->pool().stats(); }

  bool wait_for(const std::function<bool()>& predicate) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return predicate();
  }

  // One lookup per worker, each held until all of them run, so that each runs on its own worker.
  std::vector<json> lookups_on_every_worker(Host& host, const std::string& name, std::size_t size) {
    const auto gate = dir_ / ("gate-" + name + std::to_string(++gates_));
    std::vector<std::future<Result<json>>> pending;
    for (std::size_t i = 0; i < size; ++i) {
      pending.push_back(host.execute_async(
          "things", "lookup", {{"name", name}, {"hold", gate.string()}, {"missing_ok", true}}));
    }
    EXPECT_TRUE(wait_for([&] { return stats(host).busy == size; }));
    std::ofstream(gate) << "open";
    std::vector<json> answers;
    for (auto& f : pending) {
      auto r = f.get();
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
      answers.push_back(r.ok() ? *r : json());
    }
    return answers;
  }

  int gates_ = 0;
};

TEST_F(HostBridgeResourcesTest, AnAnonymousCreateAnswersOnEveryWorkerAndADeleteEverywhere) {
  auto& host = start(host_section() + "bridges:\n" + things_yaml(3));
  ASSERT_TRUE(wait_for([&] { return stats(host).idle == 3; }));
  auto created = host.execute("things", "create", {{"name", "qa"}, {"value", "answer"}});
  ASSERT_TRUE(created.ok()) << created.error().describe();

  std::set<std::string> workers;
  for (const auto& a : lookups_on_every_worker(host, "qa", 3)) {
    EXPECT_TRUE(a.value("found", false)) << a.dump();
    EXPECT_EQ(a.value("value", json()), "answer");
    workers.insert(a.value("worker_id", ""));
  }
  EXPECT_EQ(workers.size(), 3u);
  // Anonymous calls work on any worker: none fails with not_found.
  for (int i = 0; i < 20; ++i) {
    auto r = host.execute("things", "lookup", {{"name", "qa"}});
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }

  ASSERT_TRUE(host.execute("things", "delete", {{"name", "qa"}}).ok());
  for (const auto& a : lookups_on_every_worker(host, "qa", 3)) {
    EXPECT_FALSE(a.value("found", true)) << a.dump();
  }
  auto gone = host.execute("things", "lookup", {{"name", "qa"}});
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().category, ErrorCategory::kNotFound);
}

}  // namespace
}  // namespace mlbridge::testing
