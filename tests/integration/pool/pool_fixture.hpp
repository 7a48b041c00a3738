#pragma once

// Shared setup of the pool tests: pools of real echo-bridge workers on one event loop.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "mlbridge/pool/pool.hpp"
#include "process_census.hpp"
#include "test_paths.hpp"

namespace mlbridge::testing {

using namespace std::chrono_literals;
using pool::CallRequest;
using pool::Pool;
using pool::PoolConfig;
using pool::PoolPtr;
using protocol::json;
using Clock = std::chrono::steady_clock;

inline bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

inline CallRequest request(std::string command, json args = json::object(),
                           std::optional<std::string> session = std::nullopt) {
  CallRequest r;
  r.command = std::move(command);
  r.args = std::move(args);
  r.session_id = std::move(session);
  return r;
}

inline CallRequest sleep_for(double seconds) { return request("sleep", {{"seconds", seconds}}); }

/// Polls `predicate` every 20 ms for up to `limit`.
template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds limit = 10s) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return predicate();
}

class PoolTest : public ::testing::Test {
 protected:
  PoolConfig config(std::size_t size, const std::string& bridge = "echo") {
    PoolConfig c;
    c.size = size;
    c.worker.bridge = bridge;
    c.worker.python = python();
    c.worker.script = echo_bridge();
    c.worker.env = worker::minimal_environment();
    c.worker.startup_timeout = 20s;
    c.worker.cancel_grace = 1s;
    c.worker.shutdown_timeout = 2s;
    c.shutdown_timeout = 5s;
    c.restart_backoff_initial = 50ms;
    return c;
  }

  PoolPtr start(PoolConfig c) {
    auto p = Pool::create(loop_, std::move(c));
    auto status = p->start_and_wait();
    EXPECT_TRUE(status.ok()) << (status.ok() ? "" : status.error().describe());
    pools_.push_back(p);
    return p;
  }

  std::vector<pid_t> pids(const PoolPtr& p) {
    std::vector<pid_t> out;
    for (const auto& w : p->stats().workers) out.push_back(w.pid);
    return out;
  }

  std::size_t ready_workers(const PoolPtr& p) {
    const auto s = p->stats();
    return s.idle + s.busy;
  }

  void TearDown() override {
    std::vector<pid_t> all;
    for (auto& p : pools_) {
      for (pid_t pid : pids(p)) all.push_back(pid);
      p->drain_and_wait();
    }
    for (pid_t pid : all) EXPECT_FALSE(process_alive(pid)) << "worker " << pid << " outlived drain";
    pools_.clear();
  }

  runtime::EventLoop loop_;
  std::vector<PoolPtr> pools_;
};

}  // namespace mlbridge::testing
