// Large bytes through shared memory (mlbridge/protocol/shared_blobs.hpp) with a real MessagePack
// echo worker: what is sent comes back, calls in flight together do not overwrite each other,
// the frame limit still holds both ways, and a worker without the files speaks inline.

#include <future>
#include <vector>

#include "mlbridge/protocol/encoded_args.hpp"
#include "worker_fixture.hpp"

namespace mlbridge::testing {
namespace {

json::binary_t bytes_of(std::size_t size, std::uint8_t seed) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(i * 31 + seed);
  return json::binary_t(std::move(bytes));
}

class SharedBlobsWorkerTest : public WorkerTest {
 protected:
  WorkerConfig msgpack_config() { return make_config(echo_bridge(), protocol::Codec::kMsgpack); }
};

TEST_F(SharedBlobsWorkerTest, LargeBytesAtAnyDepthComeBackUnchangedCallAfterCall) {
  auto worker = start(msgpack_config());
  ASSERT_TRUE(worker);
  EXPECT_TRUE(worker->hello().shared_blobs);
  for (int round = 0; round < 3; ++round) {
    const json args = {{"big", json::binary(bytes_of(3 << 20, round))},
                       {"nested", {{"list", json::array({json::binary(bytes_of(5 << 20, 1)), 7})}}},
                       {"small", json::binary(bytes_of(100, 2))}};
    auto echoed = worker->call("echo", args);
    ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
    EXPECT_EQ(*echoed, args);
  }
  // The handler saw real bytes, not a reference.
  auto types = worker->call("types", {{"big", json::binary(bytes_of(2 << 20, 0))}});
  ASSERT_TRUE(types.ok()) << types.error().describe();
  EXPECT_EQ((*types)["big"], "bytes");
}

TEST_F(SharedBlobsWorkerTest, CallsInFlightTogetherKeepTheirOwnBytes) {
  auto worker = start(msgpack_config());
  ASSERT_TRUE(worker);
  std::vector<json> sent;
  std::vector<std::future<Result<json>>> answers;
  for (int i = 0; i < 6; ++i) {
    sent.push_back({{"data", json::binary(bytes_of((2 << 20) + i, static_cast<std::uint8_t>(i)))}});
    answers.push_back(worker->call_async("echo", sent.back()));
  }
  for (int i = 0; i < 6; ++i) {
    auto echoed = answers[i].get();
    ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
    EXPECT_EQ(*echoed, sent[i]) << "call " << i;
  }
}

TEST_F(SharedBlobsWorkerTest, LargeResultsComeThroughSharedMemoryToo) {
  auto worker = start(msgpack_config());
  ASSERT_TRUE(worker);
  auto blob = worker->call("blob", {{"size", 4 << 20}});
  ASSERT_TRUE(blob.ok()) << blob.error().describe();
  const auto& data = (*blob)["data"].get_binary();
  ASSERT_EQ(data.size(), std::size_t{4} << 20);
  EXPECT_FALSE(data.has_subtype());
  for (std::size_t i = 0; i < data.size(); i += 4099) ASSERT_EQ(data[i], i % 256) << i;
}

// Call options carrying `args` as the HTTP API sends them: their JSON text transcoded to
// MessagePack before the call.
CallOptions http_encoded(const json& args) {
  auto transcoded = protocol::EncodedArgs::from_json(protocol::to_plain_json(args).dump());
  EXPECT_TRUE(transcoded.ok()) << transcoded.error().describe();
  CallOptions options;
  options.encoded_args = transcoded->shared();
  return options;
}

// The HTTP API's path: args encoded before the call (JSON text transcoded to MessagePack) and the
// result wanted as JSON text. Large bins of such args go through shared memory too, and a result
// holding references is printed straight from the shared file.
TEST_F(SharedBlobsWorkerTest, EncodedArgsAndTextResultsTakeLargeBytesThroughSharedMemory) {
  auto worker = start(msgpack_config());
  ASSERT_TRUE(worker);
  ASSERT_TRUE(worker->hello().shared_blobs);
  for (int round = 0; round < 3; ++round) {
    const json args = {{"big", json::binary(bytes_of(3 << 20, round))},
                       {"nested", {{"list", json::array({json::binary(bytes_of(2 << 20, 1)), 7})}}},
                       {"small", json::binary(bytes_of(100, 2))}};
    CallOptions options = http_encoded(args);
    options.result_as_json_text = true;
    auto echoed = worker->call("echo", json::object(), options);
    ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
    ASSERT_TRUE(echoed->is_string());
    EXPECT_EQ(json::parse(echoed->get<std::string>()),
              json::parse(protocol::to_plain_json(args).dump()))
        << "round " << round;
  }
  // The handler saw real bytes, not a reference.
  auto types = worker->call("types", json::object(),
                            http_encoded({{"big", json::binary(bytes_of(2 << 20, 0))}}));
  ASSERT_TRUE(types.ok()) << types.error().describe();
  EXPECT_EQ((*types)["big"], "bytes");
}

TEST_F(SharedBlobsWorkerTest, EncodedArgsOverTheFrameLimitAreRefusedAndLeaveNoGap) {
  auto config = msgpack_config();
  config.max_frame_bytes = 2 << 20;
  auto worker = start(std::move(config));
  ASSERT_TRUE(worker);
  ASSERT_TRUE(worker->hello().shared_blobs);
  auto encoded_call = [&](const json& args) {
    return worker->call("echo", json::object(), http_encoded(args));
  };
  auto refused = encoded_call({{"a", json::binary(bytes_of((1 << 20) + 5, 0))},
                               {"b", json::binary(bytes_of((1 << 20) + 5, 1))}});
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(contains(refused.error().message, "max_frame_bytes")) << refused.error().message;
  const json fits = {{"data", json::binary(bytes_of((1 << 20) + 10, 3))}};
  auto echoed = encoded_call(fits);
  ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
  EXPECT_EQ(*echoed, fits);
}

TEST_F(SharedBlobsWorkerTest, TheFrameLimitCoversSharedBytesInBothDirections) {
  auto config = msgpack_config();
  config.max_frame_bytes = 2 << 20;
  auto worker = start(std::move(config));
  ASSERT_TRUE(worker);
  ASSERT_TRUE(worker->hello().shared_blobs);

  auto request = worker->call("echo", {{"data", json::binary(bytes_of(3 << 20, 0))}});
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_TRUE(contains(request.error().message, "max_frame_bytes")) << request.error().message;

  auto result = worker->call("blob", {{"size", 3 << 20}});
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(contains(result.error().message, "max_frame_bytes")) << result.error().message;

  // Neither left a gap in the blob numbering: large bytes still work both ways.
  const json fits = {{"data", json::binary(bytes_of((1 << 20) + 10, 3))}};
  auto echoed = worker->call("echo", fits);
  ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
  EXPECT_EQ(*echoed, fits);
}

TEST_F(SharedBlobsWorkerTest, TurnedOffOrWithJsonEveryByteGoesThroughThePipe) {
  auto off = msgpack_config();
  off.shared_blob_min_bytes = 0;
  auto worker = start(std::move(off));
  ASSERT_TRUE(worker);
  EXPECT_FALSE(worker->hello().shared_blobs);
  const json args = {{"data", json::binary(bytes_of(2 << 20, 5))}};
  auto echoed = worker->call("echo", args);
  ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
  EXPECT_EQ(*echoed, args);

  auto json_worker = start_echo(protocol::Codec::kJson);
  ASSERT_TRUE(json_worker);
  EXPECT_FALSE(json_worker->hello().shared_blobs);
}

// A spawner (say, a fork server) that does not pass the files on: the worker must notice, never
// touch whatever sits at fds 3 and 4, and speak inline.
class SpawnerWithoutInheritedFds final : public process::Spawner {
 public:
  Result<process::ChildProcess> spawn(const process::ProcessSpec& spec) override {
    process::ProcessSpec stripped = spec;
    stripped.inherited_fds.clear();
    return process::ExecSpawner().spawn(stripped);
  }
};

TEST_F(SharedBlobsWorkerTest, AWorkerWithoutTheFilesSpeaksInline) {
  auto client =
      WorkerClient::start(loop_, msgpack_config(), std::make_shared<SpawnerWithoutInheritedFds>());
  ASSERT_TRUE(client.ok()) << client.error().describe();
  EXPECT_FALSE((*client)->hello().shared_blobs);
  const json args = {{"data", json::binary(bytes_of(2 << 20, 8))}};
  auto echoed = (*client)->call("echo", args);
  ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
  EXPECT_EQ(*echoed, args);
}

}  // namespace
}  // namespace mlbridge::testing
