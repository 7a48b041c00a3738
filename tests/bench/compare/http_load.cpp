#include "http_load.hpp"

#include <httplib.h>

#include <atomic>
#include <thread>

#include "bench_host.hpp"
#include "measure.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/server/http_server.hpp"
#include "payloads.hpp"

namespace mlbridge::bench {
namespace {

// mlbridge serve in this process on an ephemeral loopback port; exits the driver if it does not
// start (a driver bug, not a measurement).
std::unique_ptr<server::HttpServer> serving(Host& host, std::size_t max_body_bytes) {
  if (!host.start()) std::exit(3);
  auto http = std::make_unique<server::HttpServer>(
      host, server::ServerOptions{.listen = "127.0.0.1:0", .max_body_bytes = max_body_bytes});
  if (!http->start()) std::exit(3);
  return http;
}

std::unique_ptr<httplib::Client> client_for(const HttpTarget& target) {
  auto client = std::make_unique<httplib::Client>(target.host, target.port);
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);  // as curl and most HTTP clients do
  client->set_read_timeout(60, 0);
  return client;
}

bool post(httplib::Client& client, const HttpTarget& target) {
  auto response = client.Post(target.path, target.body, "application/json");
  return response && response->status == 200;
}

}  // namespace

json http_latency(const HttpTarget& target, double seconds) {
  auto client = client_for(target);
  return summarize_latencies(time_calls(
      [&] {
        if (!post(*client, target)) throw std::runtime_error("HTTP no-op failed: " + target.path);
      },
      seconds));
}

json http_throughput(const HttpTarget& target, int callers, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<long> completed{0}, errors{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(callers));
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&] {
      auto client = client_for(target);
      while (!stop.load()) (post(*client, target) ? completed : errors).fetch_add(1);
    });
  }
  const double rate = rate_of(completed, 0.5, seconds);  // after connecting and warming up
  stop.store(true);
  for (auto& t : threads) t.join();
  return {{"calls_per_s", rate}, {"errors", errors.load()}};
}

void run_mlbridge_http(const std::vector<int>& workers, const std::vector<int>& callers,
                       double seconds) {
  std::vector<BridgeSpec> bridges = {{"echo-json", "echo", "json", 1}};
  for (int w : workers) bridges.push_back({"echo-" + std::to_string(w), "echo", "msgpack", w});
  auto host = make_host(bridges);
  auto http = serving(*host, server::ServerOptions{}.max_body_bytes);
  auto target = [&](const std::string& bridge) {
    return HttpTarget{"127.0.0.1", http->port(), "/v1/bridges/" + bridge + "/commands/echo",
                      R"({"args": {}})"};
  };
  const std::string first = "echo-" + std::to_string(workers.front());
  for (const auto& [bridge, codec] :
       {std::pair{std::string("echo-json"), "json"}, std::pair{first, "msgpack"}}) {
    auto fields = http_latency(target(bridge), seconds);
    fields["system"] = "mlbridge HTTP API";
    fields["codec"] = codec;
    emit("latency", fields);
  }
  for (int w : workers) {
    for (int c : callers) {
      auto fields = http_throughput(target("echo-" + std::to_string(w)), c, seconds);
      fields["system"] = "mlbridge HTTP API";
      fields["codec"] = "msgpack";
      fields["workers"] = w;
      fields["callers"] = c;
      emit("throughput", fields);
    }
  }
  http->stop();
}

void run_http_payload(const std::vector<std::size_t>& sizes, double seconds) {
  auto host = make_host({{"echo-json", "echo", "json", 1}, {"echo-msgpack", "echo", "msgpack", 1}});
  auto http = serving(*host, 64u << 20);  // 16 MiB as base64, or as nested JSON, with room
  for (const std::size_t size : sizes) {
    for (const std::string payload : {"bytes", "nested"}) {
      const json args = payload == "bytes" ? bytes_args(size) : nested_args(size);
      const std::string body = json{{"args", protocol::to_plain_json(args)}}.dump();
      for (const std::string codec : {"msgpack", "json"}) {
        const HttpTarget target{"127.0.0.1", http->port(),
                                "/v1/bridges/echo-" + codec + "/commands/echo", body};
        auto client = client_for(target);
        emit_payload_echo(
            [&] {
              if (!post(*client, target)) throw std::runtime_error("HTTP payload echo failed");
            },
            seconds, "mlbridge HTTP API", codec, payload, size);
      }
    }
  }
  http->stop();
}

}  // namespace mlbridge::bench
