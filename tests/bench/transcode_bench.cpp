// The DOM-free transcoder (mlbridge/protocol/transcode.hpp) against the DOM path it replaces, on
// the two bodies of issue 22's "Done when": 1 MiB of nested records and 16 MiB of bytes as
// base64. Each direction both ways:
//   JSON -> MessagePack: json_to_msgpack vs nlohmann parse + from_plain_json + to_msgpack;
//   MessagePack -> JSON: msgpack_to_json vs read_msgpack (decode_payload's decoder) +
//   to_plain_json + dump.
// Run: build/ci/bin/transcode_bench (bytes_per_second is the JSON text's size).
// One run (CPU time, RelWithDebInfo, a loaded 2-core machine): 1 MiB of records JSON ->
// MessagePack 4.3 ms vs 35.2 ms for the DOM path (8.2x), MessagePack -> JSON 4.0 vs 48.1 ms
// (12x); 16 MiB of bytes 45.6 vs 333 ms (7.3x) and 12.4 vs 163 ms (13x). Before the faster
// base64 (AVX2 decoding where the CPU has it), the in-place read of __bytes__ strings and the
// 8-bytes-at-a-time string scan of msgpack_to_json, the same machine gave 4.75, 7.13, 70.0 and
// 16.8 ms for the transcoder's four rows. What is left of the 16 MiB JSON -> MessagePack row is
// mostly fresh memory (the padded copy of the input, the output: page faults), stage 1, and
// scans for NUL and backslash. simdjson's stage 1 and string unescaping already run its best
// kernel for the CPU (libsimdjson dispatches them at run time); only On Demand's inline
// navigation is compiled for the fallback kernel, and compiling the transcoder for haswell
// gained about 5% (3.57 vs 3.41 ms on the records), so there is no second build of it.
// Later (issue 22's large-body rows): with the padded copy of the input in a buffer each thread
// keeps (a fresh one per call was most of the 16 MiB row) and an AVX2 base64 encoder, the same
// machine, loaded, gave 4.0-5.3 ms, 3.3-5.8 ms, 12-15 ms (from 44) and 3.9-4.4 ms (from 8.7).

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/encoded_args.hpp"
#include "mlbridge/protocol/transcode.hpp"
#include "msgpack_reader.hpp"

namespace {

using mlbridge::protocol::json;

std::string nested_records(std::size_t target_bytes) {
  json records = json::array();
  std::size_t size = 0;
  for (int i = 0; size < target_bytes; ++i) {
    json record = {{"id", i},
                   {"name", "record number " + std::to_string(i)},
                   {"score", i * 0.37},
                   {"tags", {"alpha", "beta", "gamma"}},
                   {"nested", {{"ok", i % 2 == 0}, {"point", {{"x", -i}, {"y", nullptr}}}}}};
    size += record.dump().size() + 1;
    records.push_back(std::move(record));
  }
  return json{{"records", std::move(records)}}.dump();
}

std::string base64_bytes(std::size_t byte_count) {
  std::vector<std::uint8_t> bytes(byte_count);
  for (std::size_t i = 0; i < byte_count; ++i) bytes[i] = static_cast<std::uint8_t>(i * 131 + 7);
  return json{{"data", {{"__bytes__", mlbridge::protocol::base64_encode(bytes)}}}}.dump();
}

const std::string& records_json() {
  static const std::string text = nested_records(1u << 20);
  return text;
}

const std::string& bytes_json() {
  static const std::string text = base64_bytes(16u << 20);
  return text;
}

mlbridge::protocol::TranscodeLimits roomy() {
  mlbridge::protocol::TranscodeLimits limits;
  limits.max_input_bytes = limits.max_output_bytes = 256u << 20;
  return limits;
}

void transcoder_json_to_msgpack(benchmark::State& state, const std::string& text) {
  const auto limits = roomy();
  for (auto _ : state) {
    auto out = mlbridge::protocol::json_to_msgpack(text, limits);
    if (!out) state.SkipWithError(out.error().message.c_str());
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void dom_json_to_msgpack(benchmark::State& state, const std::string& text) {
  for (auto _ : state) {
    json value = json::parse(text);
    if (!mlbridge::protocol::from_plain_json(value)) state.SkipWithError("from_plain_json");
    std::vector<std::uint8_t> out;
    json::to_msgpack(value, out);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

std::string msgpack_of(const std::string& text) {
  json value = json::parse(text);
  (void)mlbridge::protocol::from_plain_json(value);
  std::string out;
  json::to_msgpack(value, out);
  return out;
}

void transcoder_msgpack_to_json(benchmark::State& state, const std::string& text) {
  const std::string msgpack = msgpack_of(text);
  const auto limits = roomy();
  for (auto _ : state) {
    auto out = mlbridge::protocol::msgpack_to_json(msgpack, limits);
    if (!out) state.SkipWithError(out.error().message.c_str());
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void dom_msgpack_to_json(benchmark::State& state, const std::string& text) {
  const std::string msgpack = msgpack_of(text);
  const std::span bytes(reinterpret_cast<const std::uint8_t*>(msgpack.data()), msgpack.size());
  for (auto _ : state) {
    auto value = mlbridge::protocol::read_msgpack(bytes);
    if (!value) state.SkipWithError("read_msgpack");
    std::string out = mlbridge::protocol::to_plain_json(*value).dump();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

// The check a JSON worker's result passes before it goes on as it is (is_json_value), and the
// args' whole preparation for a call (EncodedArgs::from_json: transcoding, which notes bytes, and
// the kept text).
void json_check(benchmark::State& state, const std::string& text) {
  for (auto _ : state) {
    if (!mlbridge::protocol::is_json_value(text)) state.SkipWithError("is_json_value");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void encoded_args_from_json(benchmark::State& state, const std::string& text) {
  const std::string args = R"({"data":)" + text + "}";
  const auto limits = roomy();
  for (auto _ : state) {
    auto out = mlbridge::protocol::EncodedArgs::from_json(args, limits);
    if (!out) state.SkipWithError(out.error().message.c_str());
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

// A small call's request frame around encoded args, in each codec (what every HTTP call to a
// bridge builds on the event loop).
void request_frame(benchmark::State& state, mlbridge::protocol::Codec codec) {
  auto args = mlbridge::protocol::EncodedArgs::from_json(R"({"question":"What is 2 + 2?"})");
  if (!args) return state.SkipWithError(args.error().message.c_str());
  mlbridge::protocol::Request request;
  request.id = 12345;
  request.command = "execute_program";
  request.deadline_ms = 30000;
  request.session_id = "caller-17";
  for (auto _ : state) {
    auto frame = mlbridge::protocol::encode_request_frame(request, args->msgpack(), codec, 1 << 20,
                                                          args->shared()->json_text);
    if (!frame) state.SkipWithError(frame.error().message.c_str());
    benchmark::DoNotOptimize(frame);
  }
}

// clang-format off
BENCHMARK_CAPTURE(transcoder_json_to_msgpack, records_1MiB, records_json())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(dom_json_to_msgpack, records_1MiB, records_json())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(transcoder_msgpack_to_json, records_1MiB, records_json())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(dom_msgpack_to_json, records_1MiB, records_json())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(request_frame, msgpack, mlbridge::protocol::Codec::kMsgpack);
BENCHMARK_CAPTURE(request_frame, json, mlbridge::protocol::Codec::kJson);
BENCHMARK_CAPTURE(json_check, records_1MiB, records_json())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encoded_args_from_json, records_1MiB, records_json())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(transcoder_json_to_msgpack, bytes_16MiB, bytes_json())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(dom_json_to_msgpack, bytes_16MiB, bytes_json())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(transcoder_msgpack_to_json, bytes_16MiB, bytes_json())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(dom_msgpack_to_json, bytes_16MiB, bytes_json())->Unit(benchmark::kMillisecond);
// clang-format on

}  // namespace

BENCHMARK_MAIN();
