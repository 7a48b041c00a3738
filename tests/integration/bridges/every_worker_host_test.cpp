// A program (DSPy) and a chain (LangChain) created without a session exist for the whole bridge:
// through the Host API with the real plugins and Python workers, each answers on every worker of
// a 3-worker pool, and on the worker that joins when the pool grows to 4 after it was created
// (the bridge journal replayed at the new worker's start). The objects come from the test's own
// code, tests/integration/bridges/user_code/heldteam, declared under `code:` and named by import
// path: each holds its call until a gate file exists and answers with its worker's pid, so the
// test holds one call on each worker at once and reads from the answers who answered.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mlbridge/host.hpp"
#include "mlbridge/pool/pool.hpp"
#include "mlbridge/registry/bridge.hpp"
#include "mlbridge/registry/registry.hpp"
#include "test_paths.hpp"

namespace mlbridge::testing {
namespace {

using namespace std::chrono_literals;

/// What differs between the two bridges: how the held object is created and called, and where
/// its answer names the worker.
struct HeldObject {
  std::string bridge;      ///< also the plugin's name
  std::string plugin_dir;  ///< where libmlbridge_<bridge>.so is
  std::string module;      ///< the code module the bridge declares
  std::string create_command;
  json create_args;
  std::string run_command;
  std::function<json(const std::string& gate)> run_args;
  std::function<json(const json& answer)> worker_pid;
};

HeldObject dspy_program() {
  return {"dspy",
          DSPY_PLUGIN_DIR,
          "heldteam.programs",
          "create_program",
          {{"program_id", "held"},
           {"module", "heldteam.programs:HeldAnswer"},
           {"signature", "question, gate -> answer, worker_pid: int"}},
          "execute_program",
          [](const std::string& gate) {
            return json{{"program_id", "held"},
                        {"inputs", {{"question", "What is 2+3?"}, {"gate", gate}}}};
          },
          [](const json& answer) { return answer["outputs"]["worker_pid"]; }};
}

HeldObject langchain_chain() {
  return {"langchain",
          LANGCHAIN_PLUGIN_DIR,
          "heldteam.chains",
          "create_chain",
          {{"chain_id", "held"}, {"runnable", "heldteam.chains:held"}},
          "invoke",
          [](const std::string& gate) {
            return json{{"chain_id", "held"}, {"input", {{"text", "hi"}, {"gate", gate}}}};
          },
          [](const json& answer) { return answer["output"]["worker_pid"]; }};
}

class EveryWorkerHostTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    held_ = GetParam() == "dspy" ? dspy_program() : langchain_chain();
    dir_ = std::filesystem::temp_directory_path() /
           ("mlbridge-every-worker-" + held_.bridge + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    // Runtime changes on, for update_bridge (the Host API needs no token).
    std::ofstream(dir_ / "mlbridge.yaml")
        << "host:\n  root: " << MLBRIDGE_SOURCE_DIR << "\n  python: " << python()
        << "\n  plugin_dirs: [" << held_.plugin_dir
        << "]\n  runtime_registration: {enabled: true}\nbridges:\n  " << held_.bridge
        << ":\n    plugin: " << held_.bridge
        << "\n    pool: {size: 3, max_overflow: 0}\n"
           "    timeouts: {shutdown_ms: 5000}\n"
           "    env: {set: {DSPY_CACHEDIR: "
        << (dir_ / "dspy-cache").string()
        << "}}\n    code: {paths: [tests/integration/bridges/user_code], modules: [" << held_.module
        << "]}\n";
    auto host = Host::from_file((dir_ / "mlbridge.yaml").string());
    ASSERT_TRUE(host.ok()) << host.error().describe();
    host_ = std::move(*host);
    auto started = host_->start();
    ASSERT_TRUE(started.ok()) << started.error().describe();
  }

  void TearDown() override {
    if (host_) host_->shutdown();  // ends any call still held (a failed expectation)
    host_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  pool::PoolStats stats() { return (*host_->registry().get(held_.bridge))->pool().stats(); }

  bool wait_for(const std::function<bool()>& predicate) {
    const auto deadline = std::chrono::steady_clock::now() + 120s;  // cold workers, busy machine
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return predicate();
  }

  /// The pids of the pool's workers, once `count` are idle (started, journal replayed).
  std::set<long> workers_when_idle(std::size_t count) {
    std::set<long> pids;
    EXPECT_TRUE(wait_for([&] {
      const auto s = stats();
      return s.idle == count && s.workers.size() == count;
    })) << "the pool did not have "
        << count << " idle workers";
    for (const auto& worker : stats().workers) pids.insert(worker.pid);
    return pids;
  }

  /// `count` anonymous calls of the held object at once; they stay on their workers until all
  /// of them run (one per worker: a call goes to the least loaded worker), then the gate opens.
  /// Every call must succeed; returns the pids of the workers that answered.
  std::set<long> answer_on_every_worker(std::size_t count) {
    const auto gate = dir_ / ("gate-" + std::to_string(++gates_));
    std::vector<std::future<Result<json>>> pending;
    ExecuteOptions options;
    options.timeout = 120s;
    for (std::size_t i = 0; i < count; ++i) {
      pending.push_back(host_->execute_async(held_.bridge, held_.run_command,
                                             held_.run_args(gate.string()), options));
    }
    EXPECT_TRUE(wait_for([&] {
      const auto s = stats();
      if (s.workers.size() != count) return false;
      for (const auto& worker : s.workers) {
        if (worker.in_flight != 1) return false;
      }
      return true;
    })) << "the calls were not held one on each worker";
    std::ofstream(gate) << "open";
    std::set<long> answered;
    for (auto& call : pending) {
      auto result = call.get();
      EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().describe());
      if (result.ok()) answered.insert(held_.worker_pid(*result).get<long>());
    }
    return answered;
  }

  HeldObject held_;
  std::filesystem::path dir_;
  std::unique_ptr<Host> host_;
  int gates_ = 0;
};

TEST_P(EveryWorkerHostTest, AnAnonymousCreateAnswersOnEveryWorkerAndOnAWorkerStartedLater) {
  const std::set<long> first = workers_when_idle(3);
  ASSERT_EQ(first.size(), 3u);
  // Created without a session: the host journals it for the whole bridge.
  auto created = host_->execute(held_.bridge, held_.create_command, held_.create_args);
  ASSERT_TRUE(created.ok()) << created.error().describe();
  EXPECT_EQ(answer_on_every_worker(3), first);

  auto grown = host_->update_bridge(held_.bridge, {{"pool", {{"size", 4}}}});
  ASSERT_TRUE(grown.ok()) << grown.error().describe();
  const std::set<long> now = workers_when_idle(4);
  ASSERT_EQ(now.size(), 4u);
  std::set<long> joined;
  for (long pid : now) {
    if (!first.contains(pid)) joined.insert(pid);
  }
  ASSERT_EQ(joined.size(), 1u) << "one worker was to join the three";
  const std::set<long> answered = answer_on_every_worker(4);
  EXPECT_EQ(answered, now);
  EXPECT_TRUE(answered.contains(*joined.begin())) << "the new worker did not answer";
}

INSTANTIATE_TEST_SUITE_P(Bridges, EveryWorkerHostTest,
                         ::testing::Values(std::string("dspy"), std::string("langchain")),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mlbridge::testing
