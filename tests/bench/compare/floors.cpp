#include "floors.hpp"

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

void python_floor(const std::string& system, const std::string& script, Codec codec,
                  double seconds) {
  BlockingChild child(python_worker_spec(script, codec));
  std::vector<std::uint8_t> reply;
  child.read_frame(reply);  // hello
  child.write_all(frame_of({1, "init", {{"options", json::object()}}, std::nullopt, 30000}, codec));
  child.read_frame(reply);
  auto fields = time_noop(child, codec, seconds);
  fields["system"] = system;
  fields["codec"] = std::string(protocol::to_string(codec));
  emit("latency", fields);
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
