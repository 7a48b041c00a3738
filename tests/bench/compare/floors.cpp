#include "floors.hpp"

#include <atomic>
#include <memory>
#include <thread>

#include "../floor_driver.hpp"
#include "measure.hpp"
#include "mlbridge/protocol/message.hpp"
#include "mlbridge/worker/worker_config.hpp"
#include "test_paths.hpp"

namespace mlbridge::bench {
namespace {

using protocol::Codec;

std::vector<std::uint8_t> frame_of(const protocol::Request& request, Codec codec) {
  return *protocol::encode_frame(protocol::to_json(request), codec,
                                 protocol::kDefaultMaxFrameBytes);
}

// The no-op every system runs: `echo` of an empty object, answered with that object.
json time_noop(BlockingChild& child, Codec codec, double seconds) {
  std::vector<std::uint8_t> reply;
  std::uint64_t id = 2;
  auto one = [&] {
    child.write_all(frame_of({id++, "echo", json::object(), std::nullopt, 30000}, codec));
    child.read_frame(reply);
    auto decoded = protocol::decode_payload(reply, codec);
    if (!decoded) throw std::runtime_error("floor reply does not decode");
  };
  return summarize_latencies(time_calls(one, seconds));
}

// A floor loop started and initialized, ready for no-op calls.
std::unique_ptr<BlockingChild> ready_floor(const std::string& script, Codec codec) {
  auto child = std::make_unique<BlockingChild>(python_worker_spec(script, codec));
  std::vector<std::uint8_t> reply;
  child->read_frame(reply);  // hello
  child->write_all(
      frame_of({1, "init", {{"options", json::object()}}, std::nullopt, 30000}, codec));
  child->read_frame(reply);
  return child;
}

void python_floor(const std::string& system, const std::string& script, Codec codec,
                  double seconds) {
  auto child = ready_floor(script, codec);
  auto fields = time_noop(*child, codec, seconds);
  fields["system"] = system;
  fields["codec"] = std::string(protocol::to_string(codec));
  emit("latency", fields);
}

// `count` copies of `script`, each driven flat out over its pipes by a thread of its own.
void loops_throughput(const std::string& system, const std::string& script, int count,
                      double seconds) {
  const Codec codec = Codec::kMsgpack;
  std::vector<std::unique_ptr<BlockingChild>> loops;
  for (int i = 0; i < count; ++i) loops.push_back(ready_floor(script, codec));
  std::atomic<bool> stop{false};
  std::atomic<long> completed{0};
  std::vector<std::thread> drivers;
  for (auto& loop : loops) {
    drivers.emplace_back([&, child = loop.get()] {
      std::vector<std::uint8_t> reply;
      std::uint64_t id = 2;
      while (!stop.load(std::memory_order_relaxed)) {
        child->write_all(frame_of({id++, "echo", json::object(), std::nullopt, 30000}, codec));
        child->read_frame(reply);
        completed.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  json fields = measure_window(completed, 0.3, seconds, {{"host", process_cpu_time}});
  stop.store(true);
  for (auto& driver : drivers) driver.join();
  fields["system"] = system;
  fields["codec"] = std::string(protocol::to_string(codec));
  fields["workers"] = count;
  fields["callers"] = count;
  fields["errors"] = 0;
  emit("throughput", fields);
}

}  // namespace

void run_floor_latency(double seconds) {
  for (const Codec codec : {Codec::kJson, Codec::kMsgpack}) {
    process::ProcessSpec spec;
    spec.executable = MLBRIDGE_FRAME_ECHO;
    spec.env = worker::minimal_environment();
    BlockingChild child(spec);
    auto fields = time_noop(child, codec, seconds);
    fields["system"] = "floor: C++ ↔ C++";
    fields["codec"] = std::string(protocol::to_string(codec));
    emit("latency", fields);
    python_floor("floor: C++ ↔ Python loop", testing::source_path("tests/bench/floor_worker.py"),
                 codec, seconds);
    python_floor("BaseBridge, raw pipe", testing::echo_bridge(), codec, seconds);
  }
}

void run_floor_throughput(const std::vector<int>& workers, double seconds) {
  for (const int count : workers) {
    loops_throughput("floor: C++ ↔ Python loop",
                     testing::source_path("tests/bench/floor_worker.py"), count, seconds);
    loops_throughput("BaseBridge, raw pipe", testing::echo_bridge(), count, seconds);
  }
}

void run_pipe_echo(std::size_t bytes, double seconds) {
  process::ProcessSpec spec;
  spec.executable = "cat";
  spec.env = worker::minimal_environment();
  BlockingChild cat(spec);
  std::vector<std::uint8_t> blob(bytes, 0x5a), back;
  auto fields =
      summarize_latencies(time_calls([&] { cat.echo_through(blob, back); }, seconds, 2, 3));
  fields["system"] = "plain pipe echo (cat)";
  fields["payload"] = "bytes";
  fields["bytes"] = bytes;
  fields["codec"] = "none";
  emit("payload", fields);
}

}  // namespace mlbridge::bench
