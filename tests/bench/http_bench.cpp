// The HTTP layer's own cost: the same no-op call (the echo bridge's `echo` with empty
// arguments, MessagePack to the worker) through the C++ API (Host::execute) and through
// `POST /v1/bridges/echo/commands/echo` on loopback (a keep-alive httplib client per thread), in
// one process and one run, with 1 and 8 concurrent callers on a pool of 2 workers.
// Run: build/release/bin/http_bench (see docs/benchmarks.md).

#include <benchmark/benchmark.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>

#include "mlbridge/host.hpp"
#include "mlbridge/server/http_server.hpp"
#include "test_paths.hpp"

namespace mlbridge::bench {
namespace {

// One host and server for every benchmark of the run, started on first use.
struct Deployment {
  std::unique_ptr<Host> host;
  std::unique_ptr<server::HttpServer> http;

  static Deployment& get() {
    static Deployment* deployment = [] {
      spdlog::set_level(spdlog::level::warn);
      auto* d = new Deployment();
      const auto path = std::filesystem::temp_directory_path() / "mlbridge-http-bench.yaml";
      std::ofstream(path) << "host:\n  root: " << MLBRIDGE_SOURCE_DIR
                          << "\n  python: " << testing::python()
                          << "\nbridges:\n  echo:\n    script: " << testing::echo_bridge()
                          << "\n    codec: msgpack\n    pool: {size: 2}\n"
                          << "    health: {interval_ms: 0}\n";
      auto host = Host::from_file(path.string());
      if (!host || !(*host)->start()) std::abort();
      d->host = std::move(*host);
      d->http = std::make_unique<server::HttpServer>(
          *d->host, server::ServerOptions{.listen = "127.0.0.1:0"});
      if (!d->http->start()) std::abort();
      return d;
    }();
    return *deployment;
  }
};

void BM_NoopHostApi(benchmark::State& state) {
  auto& host = *Deployment::get().host;
  for (auto _ : state) {
    auto result = host.execute("echo", "echo");
    if (!result) state.SkipWithError(result.error().message.c_str());
  }
  state.counters["calls_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_NoopHttp(benchmark::State& state) {
  httplib::Client client("127.0.0.1", Deployment::get().http->port());
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);  // as curl and most HTTP clients do
  for (auto _ : state) {
    auto response =
        client.Post("/v1/bridges/echo/commands/echo", R"({"args": {}})", "application/json");
    if (!response || response->status != 200) state.SkipWithError("HTTP call failed");
  }
  state.counters["calls_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_NoopHostApi)->Threads(1)->Threads(8)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NoopHttp)->Threads(1)->Threads(8)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace mlbridge::bench

BENCHMARK_MAIN();
