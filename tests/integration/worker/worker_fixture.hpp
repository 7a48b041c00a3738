#pragma once

// Shared setup of the worker integration tests: real Python workers on a real event loop.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "mlbridge/runtime/event_loop.hpp"
#include "mlbridge/worker/worker_client.hpp"
#include "process_census.hpp"
#include "test_paths.hpp"

namespace mlbridge::testing {

using namespace std::chrono_literals;
using protocol::json;
using worker::CallOptions;
using worker::WorkerClient;
using worker::WorkerConfig;

/// Waits up to `limit` for `pid` to be gone.
inline bool wait_until_gone(pid_t pid, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_alive(pid)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return !process_alive(pid);
}

/// Waits up to `limit` for the client's worker to reach `state` (the loop thread notices a dead
/// child a moment after it became a zombie, so the pid can be gone before the state changes).
inline bool wait_for_state(const WorkerClient& client, worker::WorkerState state,
                           std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (client.state() == state) return true;
    std::this_thread::sleep_for(10ms);
  }
  return client.state() == state;
}

inline CallOptions with_timeout(std::chrono::milliseconds timeout) {
  CallOptions options;
  options.timeout = timeout;
  return options;
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class WorkerTest : public ::testing::Test {
 protected:
  WorkerConfig make_config(std::string script = echo_bridge(),
                           protocol::Codec codec = protocol::Codec::kJson) {
    WorkerConfig config;
    config.bridge = "test";
    config.worker_id = "test-1";
    config.python = python();
    config.script = std::move(script);
    config.codec = codec;
    config.env = worker::minimal_environment();
    config.startup_timeout = 20s;
    config.cancel_grace = 1s;
    config.shutdown_timeout = 2s;
    return config;
  }

  std::unique_ptr<WorkerClient> start(WorkerConfig config) {
    auto client = WorkerClient::start(loop_, std::move(config));
    EXPECT_TRUE(client.ok()) << (client.ok() ? "" : client.error().describe());
    return client.ok() ? std::move(*client) : nullptr;
  }

  std::unique_ptr<WorkerClient> start_echo(protocol::Codec codec = protocol::Codec::kJson) {
    return start(make_config(echo_bridge(), codec));
  }

  runtime::EventLoop loop_;
};

}  // namespace mlbridge::testing
