#include "mlbridge/protocol/message.hpp"

#include <gtest/gtest.h>

namespace mlbridge::protocol {
namespace {

TEST(ParseWorkerMessage, ReadsHello) {
  auto parsed = parse_worker_message({{"type", "hello"},
                                      {"protocol", 1},
                                      {"worker_id", "w1"},
                                      {"pid", 42},
                                      {"framework", "echo"},
                                      {"commands", {"ping", "echo"}},
                                      {"concurrency", 1}});
  ASSERT_TRUE(parsed.ok());
  const auto& hello = std::get<Hello>(*parsed);
  EXPECT_EQ(hello.protocol, 1);
  EXPECT_EQ(hello.pid, 42);
  EXPECT_EQ(hello.commands.size(), 2u);
}

TEST(ParseWorkerMessage, HelloWithoutProtocolIsAnError) {
  auto parsed = parse_worker_message({{"type", "hello"}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("protocol"), std::string::npos);
}

TEST(ParseWorkerMessage, ReadsStructuredError) {
  auto parsed = parse_worker_message({{"type", "response"},
                                      {"id", 17},
                                      {"success", false},
                                      {"error",
                                       {{"type", "ValueError"},
                                        {"message", "bad"},
                                        {"traceback", "tb"},
                                        {"category", "not_found"}}}});
  ASSERT_TRUE(parsed.ok());
  const auto& response = std::get<Response>(*parsed);
  EXPECT_EQ(response.id, 17u);
  EXPECT_FALSE(response.success);
  EXPECT_EQ(response.error.type, "ValueError");
  EXPECT_EQ(response.error.traceback, "tb");
  EXPECT_EQ(response.error.category, "not_found");
}

TEST(ParseWorkerMessage, ReadsSeedStyleStringErrorWithoutType) {
  auto parsed = parse_worker_message({{"id", 3}, {"success", false}, {"error", "plain"}});
  ASSERT_TRUE(parsed.ok());
  const auto& response = std::get<Response>(*parsed);
  EXPECT_EQ(response.error.type, "Error");
  EXPECT_EQ(response.error.message, "plain");
}

TEST(ParseWorkerMessage, ResponseWithoutSuccessIsAnError) {
  EXPECT_FALSE(parse_worker_message({{"type", "response"}, {"id", 1}}).ok());
}

TEST(ParseWorkerMessage, ReadsChunkAndLog) {
  auto chunk =
      parse_worker_message({{"type", "chunk"}, {"id", 5}, {"seq", 2}, {"data", {{"t", "x"}}}});
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(std::get<Chunk>(*chunk).seq, 2u);
  auto log = parse_worker_message({{"type", "log"}, {"level", "info"}, {"message", "hi"}});
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(std::get<Log>(*log).message, "hi");
}

TEST(ParseWorkerMessage, UnknownTypeIsAnError) {
  auto parsed = parse_worker_message({{"type", "bogus"}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("bogus"), std::string::npos);
}

TEST(RequestToJson, CarriesEveryField) {
  const json message = to_json(Request{7, "echo", {{"x", 1}}, "s1", 250});
  EXPECT_EQ(message["type"], "request");
  EXPECT_EQ(message["id"], 7);
  EXPECT_EQ(message["session_id"], "s1");
  EXPECT_EQ(message["deadline_ms"], 250);
  EXPECT_EQ(to_json(Request{8, "ping", json::object(), std::nullopt, std::nullopt})["session_id"],
            nullptr);
}

}  // namespace
}  // namespace mlbridge::protocol
