// The main job for now: start one worker of the example echo bridge, make a few calls, and print
// the results and round-trip times. Shows the synchronous, asynchronous and streaming call APIs.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include "mlbridge/config/python_locator.hpp"
#include "mlbridge/runtime/event_loop.hpp"
#include "mlbridge/worker/worker_client.hpp"

namespace {

using mlbridge::protocol::json;
using Clock = std::chrono::steady_clock;

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

void show(const char* what, const mlbridge::Result<json>& result, Clock::duration took) {
  std::cout << "  " << what << " (" << micros(took) / 1000.0 << " ms): ";
  if (result) {
    std::cout << mlbridge::protocol::to_plain_json(*result).dump() << "\n";
  } else {
    std::cout << "error -> " << result.error().describe() << "\n";
  }
}

int run(mlbridge::protocol::Codec codec) {
  mlbridge::worker::WorkerConfig config;
  config.bridge = "echo";
  config.worker_id = "echo-1";
  config.python = mlbridge::config::default_python(MLBRIDGE_SOURCE_DIR);
  config.script = std::string(MLBRIDGE_SOURCE_DIR) + "/python_bridges/examples/echo_bridge.py";
  config.codec = codec;
  config.env = mlbridge::worker::minimal_environment();

  std::cout << "== echo bridge over " << mlbridge::protocol::to_string(codec) << "\n";
  mlbridge::runtime::EventLoop loop;
  const auto start = Clock::now();
  auto client = mlbridge::worker::WorkerClient::start(loop, config);
  if (!client) {
    std::cerr << "could not start the worker: " << client.error().describe() << "\n";
    return 1;
  }
  auto& worker = **client;
  std::cout << "  worker pid " << worker.pid() << " ready in "
            << micros(Clock::now() - start) / 1000.0 << " ms (framework "
            << worker.hello().framework << ", " << worker.hello().commands.size() << " commands)\n";

  auto timed = [&](const char* what, const std::string& command, json args,
                   mlbridge::worker::CallOptions options = {}) {
    const auto t0 = Clock::now();
    auto result = worker.call(command, std::move(args), std::move(options));
    show(what, result, Clock::now() - t0);
  };
  timed("ping", "ping", json::object());
  timed("echo", "echo", {{"text", "hello"}, {"numbers", {1, 2.5, 3}}});
  mlbridge::worker::CallOptions in_session;
  in_session.session_id = "demo";
  timed("session put", "put", {{"key", "greeting"}, {"value", "hi"}}, in_session);
  timed("session get", "get", {{"key", "greeting"}}, in_session);
  timed("a handler that raises", "fail", {{"type", "ValueError"}, {"message", "bad input"}});
  mlbridge::worker::CallOptions short_deadline;
  short_deadline.timeout = std::chrono::milliseconds(200);
  timed("a call past its deadline", "sleep", {{"seconds", 5}}, short_deadline);
  mlbridge::worker::CallOptions streaming;
  streaming.on_chunk = [](json chunk) { std::cout << "    chunk " << chunk.dump() << "\n"; };
  timed("stream", "stream", {{"count", 3}, {"delay", 0.01}}, streaming);

  auto async = worker.call_async("echo", {{"async", true}});
  std::cout << "  async echo: " << async.get()->dump() << "\n";

  std::vector<double> samples;
  for (int i = 0; i < 2000; ++i) {
    const auto t0 = Clock::now();
    auto result = worker.call("ping", json::object());
    samples.push_back(micros(Clock::now() - t0));
    if (!result) {
      std::cerr << "ping failed: " << result.error().describe() << "\n";
      return 1;
    }
  }
  std::sort(samples.begin(), samples.end());
  std::cout << "  2000 pings: median " << samples[samples.size() / 2] << " us, p99 "
            << samples[samples.size() * 99 / 100] << " us\n";
  return 0;
}

}  // namespace

int main() {
  spdlog::set_default_logger(spdlog::stderr_color_mt("mlbridge"));
  spdlog::set_level(spdlog::level::warn);
  int status = run(mlbridge::protocol::Codec::kJson);
  if (status == 0) status = run(mlbridge::protocol::Codec::kMsgpack);
  return status;
}
