// The cancel pipe (WorkerConfig::cancel_pipe): which workers take requests while another runs.

#include "worker_fixture.hpp"

namespace mlbridge::testing {
namespace {

TEST_F(WorkerTest, AnSdkWorkerGivenACancelPipeTakesRequestsWhileOneRuns) {
  for (const auto codec : {protocol::Codec::kJson, protocol::Codec::kMsgpack}) {
    auto config = make_config(echo_bridge(), codec);
    config.cancel_pipe = true;
    auto client = start(config);
    ASSERT_TRUE(client);
    EXPECT_TRUE(client->hello().pipelining);
    EXPECT_TRUE(client->worker()->pipelining());
    // MessagePack workers get the shared-memory files too: the pipe comes after them.
    EXPECT_EQ(client->hello().shared_blobs, codec == protocol::Codec::kMsgpack);
    auto echoed = client->call("echo", {{"n", 1}});
    ASSERT_TRUE(echoed.ok()) << echoed.error().describe();
  }
}

TEST_F(WorkerTest, WithoutACancelPipeOrItsSupportAWorkerTakesOneRequestAtATime) {
  auto plain = start_echo();
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->hello().pipelining);
  EXPECT_FALSE(plain->worker()->pipelining());

  // The benchmark floor speaks the protocol but knows nothing of the pipe.
  auto config = make_config(source_path("tests/bench/floor_worker.py"));
  config.cancel_pipe = true;
  auto floor = start(config);
  ASSERT_TRUE(floor);
  EXPECT_FALSE(floor->worker()->pipelining());
}

}  // namespace
}  // namespace mlbridge::testing
