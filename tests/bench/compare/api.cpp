#include "api.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "bench_host.hpp"
#include "measure.hpp"
#include "payloads.hpp"

namespace mlbridge::bench {
namespace {

std::unique_ptr<Host> started(const std::vector<BridgeSpec>& bridges) {
  auto host = make_host(bridges);
  if (auto status = host->start(); !status) {
    std::fprintf(stderr, "compare_bench: host did not start: %s\n", status.error().message.c_str());
    std::exit(3);
  }
  return host;
}

// Keeps `callers` no-op calls in flight on `bridge` for `seconds` (after a short warm-up) and
// returns {"calls_per_s", "errors", "loop_cpu_us_per_call" (the event-loop thread: dispatch and
// worker I/O), "host_cpu_us_per_call" (the whole host process)}.
json closed_loop(Host& host, const std::string& bridge, int callers, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<long> completed{0}, errors{0};
  std::atomic<int> in_flight{0};
  std::mutex mutex;
  std::condition_variable drained;
  std::function<void()> submit = [&] {
    in_flight.fetch_add(1);
    host.execute_async(bridge, "echo", json::object(), {}, [&](Result<json> result) {
      (result ? completed : errors).fetch_add(1);
      if (!stop.load()) submit();
      if (in_flight.fetch_sub(1) == 1) {
        std::lock_guard lock(mutex);
        drained.notify_all();
      }
    });
  };
  for (int i = 0; i < callers; ++i) submit();
  json fields = measure_window(
      completed, 0.3, seconds,
      {{"loop", [&] { return host.event_loop_cpu_time(); }}, {"host", process_cpu_time}});
  stop.store(true);
  std::unique_lock lock(mutex);
  drained.wait(lock, [&] { return in_flight.load() == 0; });
  fields["errors"] = errors.load();
  return fields;
}

}  // namespace

void run_api_latency(double seconds) {
  auto host = started({{"echo-json", "echo", "json", 1}, {"echo-msgpack", "echo", "msgpack", 1}});
  for (const std::string codec : {"json", "msgpack"}) {
    const std::string bridge = "echo-" + codec;
    auto fields = summarize_latencies(time_calls(
        [&] {
          if (!host->execute(bridge, "echo")) throw std::runtime_error("no-op call failed");
        },
        seconds));
    fields["system"] = "mlbridge C++ API";
    fields["codec"] = codec;
    emit("latency", fields);
  }
}

void run_api_throughput(const std::vector<int>& workers, const std::vector<int>& callers,
                        const std::vector<int>& depths, double seconds) {
  auto name = [](int w, int depth) {
    return "echo-" + std::to_string(w) + (depth > 1 ? "-depth-" + std::to_string(depth) : "");
  };
  std::vector<BridgeSpec> bridges;
  for (int depth : depths) {
    for (int w : workers) bridges.push_back({name(w, depth), "echo", "msgpack", w, depth});
  }
  auto host = started(bridges);
  for (int depth : depths) {
    for (int w : workers) {
      for (int c : callers) {
        auto fields = closed_loop(*host, name(w, depth), c, seconds);
        fields["system"] = depth > 1 ? "mlbridge C++ API, pipeline_depth " + std::to_string(depth)
                                     : std::string("mlbridge C++ API");
        fields["codec"] = "msgpack";
        fields["workers"] = w;
        fields["callers"] = c;
        fields["pipeline_depth"] = depth;
        emit("throughput", fields);
      }
    }
  }
}

void run_api_payload(const std::vector<std::size_t>& sizes, double seconds) {
  auto host = started({{"echo-json", "echo", "json", 1}, {"echo-msgpack", "echo", "msgpack", 1}});
  for (const std::size_t size : sizes) {
    for (const std::string payload : {"bytes", "nested"}) {
      const json args = payload == "bytes" ? bytes_args(size) : nested_args(size);
      for (const std::string codec : {"msgpack", "json"}) {
        emit_payload_echo(
            [&] {
              if (!host->execute("echo-" + codec, "echo", args)) {
                throw std::runtime_error("payload echo failed");
              }
            },
            seconds, "mlbridge C++ API", codec, payload, size);
      }
    }
  }
}

}  // namespace mlbridge::bench
