// Pool throughput of a no-op call against the number of concurrent callers, for pools of 1 and 2
// workers, beside the floor measured in the same run: as many smallest-possible Python loops as
// workers, each driven flat out over its own pipes by a blocking thread.
//
// A "caller" is one call kept in flight: when it completes, its completion handler submits the
// next one (a closed loop, as a client that always waits for its answer). The host's CPU time
// per call (all threads, from getrusage) shows what the dispatcher and worker I/O cost.
// Run: build/release/bin/pool_bench (see docs/benchmarks.md).

#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <atomic>
#include <future>
#include <thread>

#include "floor_driver.hpp"
#include "mlbridge/pool/pool.hpp"
#include "mlbridge/protocol/message.hpp"
#include "test_paths.hpp"

namespace mlbridge::bench {
namespace {

using protocol::Codec;
using protocol::json;
constexpr int kCallsPerIteration = 2000;

double host_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

pool::PoolConfig pool_config(std::size_t size) {
  pool::PoolConfig config;
  config.size = size;
  config.queue_limit = 100000;
  config.worker.bridge = "bench";
  config.worker.python = testing::python();
  config.worker.script = testing::echo_bridge();
  config.worker.codec = Codec::kMsgpack;
  config.worker.env = worker::minimal_environment();
  config.health_interval = std::chrono::milliseconds(0);
  return config;
}

// Keeps `callers` calls in flight until `total` have completed.
void drive(pool::Pool& pool, int callers, int total) {
  std::atomic<int> submitted{0};
  std::atomic<int> completed{0};
  std::promise<void> done;
  std::function<void()> submit_one;
  submit_one = [&] {
    if (submitted.fetch_add(1) >= total) return;
    pool::CallRequest request;
    request.command = "ping";
    pool.submit(std::move(request), [&](Result<json> result) {
      if (!result) spdlog::error("{}", result.error().describe());
      submit_one();
      // Last: once `done` is set, drive() returns and its locals are gone.
      if (completed.fetch_add(1) + 1 == total) done.set_value();
    });
  };
  for (int i = 0; i < callers; ++i) submit_one();
  done.get_future().wait();
}

void BM_PoolThroughput(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const int callers = static_cast<int>(state.range(1));
  runtime::EventLoop loop;
  auto pool = pool::Pool::create(loop, pool_config(size));
  if (auto status = pool->start_and_wait(); !status) {
    state.SkipWithError(status.error().describe().c_str());
    return;
  }
  drive(*pool, callers, 200);  // warm up
  double cpu = 0;
  for (auto _ : state) {
    const double cpu0 = host_cpu_seconds();
    drive(*pool, callers, kCallsPerIteration);
    cpu += host_cpu_seconds() - cpu0;
  }
  pool->drain_and_wait();
  const double calls = static_cast<double>(state.iterations()) * kCallsPerIteration;
  state.counters["calls_per_s"] = benchmark::Counter(calls, benchmark::Counter::kIsRate);
  state.counters["host_cpu_us_per_call"] = cpu / calls * 1e6;
}

// The floor: `workers` floor loops, each driven by its own blocking thread.
void BM_PoolFloor(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  std::vector<std::unique_ptr<BlockingChild>> children;
  for (int i = 0; i < workers; ++i) {
    process::ProcessSpec spec;
    spec.executable = testing::python();
    spec.args = {testing::source_path("tests/bench/floor_worker.py"),
                 "--worker-id",
                 "floor",
                 "--codec",
                 "msgpack",
                 "--protocol",
                 "1"};
    spec.env = worker::minimal_environment();
    children.push_back(std::make_unique<BlockingChild>(spec));
    std::vector<std::uint8_t> hello;
    children.back()->read_frame(hello);
  }
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        std::vector<std::uint8_t> reply;
        for (int i = 0; i < kCallsPerIteration / workers; ++i) {
          protocol::Request request{static_cast<std::uint64_t>(i + 1), "ping", json::object(),
                                    std::nullopt, 30000};
          auto frame = protocol::encode_frame(protocol::to_json(request), Codec::kMsgpack,
                                              protocol::kDefaultMaxFrameBytes);
          children[w]->write_all(*frame);
          children[w]->read_frame(reply);
          benchmark::DoNotOptimize(protocol::decode_payload(reply, Codec::kMsgpack));
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  const double calls = static_cast<double>(state.iterations()) * kCallsPerIteration;
  state.counters["calls_per_s"] = benchmark::Counter(calls, benchmark::Counter::kIsRate);
}

BENCHMARK(BM_PoolFloor)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PoolThroughput)
    ->ArgsProduct({{1, 2}, {1, 2, 8, 64}})
    ->ArgNames({"workers", "callers"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mlbridge::bench

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
