// Round trips through the worker API beside their floors, measured in the same run:
//  - ping: the worker API (synchronous from another thread, and asynchronous callbacks chained on
//    the event loop) against the same request frames sent with blocking system calls to the
//    smallest possible Python loop (tests/bench/floor_worker.py);
//  - 16 MiB bytes echo: the worker API against a plain pipe echo through `cat`.
// Run: build/release/bin/worker_bench (see docs/benchmarks.md).

#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>

#include "floor_driver.hpp"
#include "mlbridge/protocol/message.hpp"
#include "mlbridge/runtime/event_loop.hpp"
#include "mlbridge/worker/worker_client.hpp"
#include "test_paths.hpp"

namespace mlbridge::bench {
namespace {

using protocol::Codec;
using protocol::json;
constexpr std::size_t kBlobBytes = 16u * 1024 * 1024;
constexpr int kChain = 200;  // pings per iteration of the chained asynchronous benchmark

Codec codec_of(const benchmark::State& state) {
  return state.range(0) == 0 ? Codec::kJson : Codec::kMsgpack;
}

worker::WorkerConfig echo_config(Codec codec) {
  worker::WorkerConfig config;
  config.bridge = "bench";
  config.worker_id = "bench-1";
  config.python = testing::python();
  config.script = testing::echo_bridge();
  config.codec = codec;
  config.env = worker::minimal_environment();
  return config;
}

// range(1): 0 = the smallest Python loop (the floor), 1 = the echo bridge on BaseBridge, driven
// the same way, which separates the Python SDK's cost from the host's.
process::ProcessSpec floor_spec(Codec codec, bool base_bridge) {
  return python_worker_spec(
      base_bridge ? testing::echo_bridge() : testing::source_path("tests/bench/floor_worker.py"),
      codec);
}

std::vector<std::uint8_t> ping_frame(Codec codec, std::uint64_t id) {
  protocol::Request request{id, "ping", json::object(), std::nullopt, 30000};
  return *protocol::encode_frame(protocol::to_json(request), codec,
                                 protocol::kDefaultMaxFrameBytes);
}

void BM_PingFloor(benchmark::State& state) {
  const Codec codec = codec_of(state);
  const bool base_bridge = state.range(1) == 1;
  BlockingChild child(floor_spec(codec, base_bridge));
  std::vector<std::uint8_t> reply;
  child.read_frame(reply);  // hello
  protocol::Request init{1, "init", {{"options", json::object()}}, std::nullopt, 30000};
  child.write_all(
      *protocol::encode_frame(protocol::to_json(init), codec, protocol::kDefaultMaxFrameBytes));
  child.read_frame(reply);
  std::uint64_t id = 2;
  for (auto _ : state) {
    // Encoding and decoding are part of the floor: the worker API does both too.
    auto frame = ping_frame(codec, id++);
    child.write_all(frame);
    child.read_frame(reply);
    auto decoded = protocol::decode_payload(reply, codec);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetLabel(std::string(protocol::to_string(codec)) +
                 (base_bridge ? ", BaseBridge echo worker" : ", smallest Python loop"));
}

void BM_PingWorkerSync(benchmark::State& state) {
  runtime::EventLoop loop;
  auto client = worker::WorkerClient::start(loop, echo_config(codec_of(state)));
  if (!client) {
    state.SkipWithError(client.error().describe().c_str());
    return;
  }
  for (auto _ : state) {
    auto result = (*client)->call("ping");
    if (!result) state.SkipWithError(result.error().describe().c_str());
  }
  state.SetLabel(std::string(protocol::to_string(codec_of(state))));
}

// Pings chained in completion callbacks on the loop thread: the worker API without the
// cross-thread hand-off of a blocking caller.
void BM_PingWorkerAsync(benchmark::State& state) {
  runtime::EventLoop loop;
  auto client = worker::WorkerClient::start(loop, echo_config(codec_of(state)));
  if (!client) {
    state.SkipWithError(client.error().describe().c_str());
    return;
  }
  auto worker = (*client)->worker();
  for (auto _ : state) {
    std::promise<std::chrono::steady_clock::duration> done;
    loop.post([&] {
      auto remaining = std::make_shared<int>(kChain);
      const auto start = std::chrono::steady_clock::now();
      auto next = std::make_shared<std::function<void(Result<json>)>>();
      *next = [&, remaining, start, next](Result<json> result) {
        if (!result || --*remaining == 0) {
          done.set_value(std::chrono::steady_clock::now() - start);
          *next = nullptr;  // break the self-reference
          return;
        }
        worker->call("ping", json::object(), {}, *next);
      };
      worker->call("ping", json::object(), {}, *next);
    });
    const auto elapsed = done.get_future().get();
    state.SetIterationTime(std::chrono::duration<double>(elapsed).count() / kChain);
  }
  state.SetLabel(std::string(protocol::to_string(codec_of(state))) + ", per ping");
}

void BM_Echo16MiBPipeFloor(benchmark::State& state) {
  process::ProcessSpec spec;
  spec.executable = "cat";
  spec.env = worker::minimal_environment();
  BlockingChild cat(spec);
  std::vector<std::uint8_t> blob(kBlobBytes, 0x5a), back;
  for (auto _ : state) cat.echo_through(blob, back);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBlobBytes));
}

// One memory copy of the 16 MiB between buffers already faulted in: what a shared-memory path
// would pay per copy instead of a trip through the pipe.
void BM_Copy16MiB(benchmark::State& state) {
  std::vector<std::uint8_t> blob(kBlobBytes, 0x5a), target(kBlobBytes, 0);
  for (auto _ : state) {
    std::copy(blob.begin(), blob.end(), target.begin());
    benchmark::DoNotOptimize(target.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBlobBytes));
}

void BM_Echo16MiBWorker(benchmark::State& state) {
  runtime::EventLoop loop;
  auto client = worker::WorkerClient::start(loop, echo_config(codec_of(state)));
  if (!client) {
    state.SkipWithError(client.error().describe().c_str());
    return;
  }
  const json args = {{"data", json::binary(std::vector<std::uint8_t>(kBlobBytes, 0x5a))}};
  for (auto _ : state) {
    auto result = (*client)->call("echo", args);  // includes copying the args into the request
    if (!result) state.SkipWithError(result.error().describe().c_str());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBlobBytes));
  state.SetLabel(std::string(protocol::to_string(codec_of(state))));
}

// Real time: these mostly wait on pipes, so CPU time would stretch --benchmark_min_time ~20×.
BENCHMARK(BM_PingFloor)->ArgsProduct({{0, 1}, {0, 1}})->UseRealTime();
BENCHMARK(BM_PingWorkerSync)->Arg(0)->Arg(1)->UseRealTime();
// Manual time is per ping, so a fixed count keeps the run short: 50 chains of 200 pings.
BENCHMARK(BM_PingWorkerAsync)->Arg(0)->Arg(1)->UseManualTime()->Iterations(50);
BENCHMARK(BM_Echo16MiBPipeFloor)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Copy16MiB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Echo16MiBWorker)->Arg(1)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);

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
