// Host::execute_async_encoded through real echo workers of both codecs: args encoded once from
// JSON text (protocol::EncodedArgs) reach the worker as the values they stand for (bytes as
// bytes) and the result comes back as JSON text.

#include <future>

#include "host_fixture.hpp"

namespace mlbridge::testing {
namespace {

Result<protocol::EncodedResult> call_encoded(Host& host, const std::string& bridge,
                                             const std::string& command,
                                             const std::string& args_json) {
  auto args = protocol::EncodedArgs::from_json(args_json);
  if (!args) return std::move(args).error();
  std::promise<Result<protocol::EncodedResult>> done;
  host.execute_async_encoded(
      bridge, command, std::move(*args), {},
      [&done](Result<protocol::EncodedResult> result) { done.set_value(std::move(result)); });
  return done.get_future().get();
}

class HostEncodedTest : public HostTest {
 protected:
  Host& start_both_codecs() {
    return start(host_section() + "bridges:\n" + echo_bridge_yaml("as_json", "    codec: json\n") +
                 echo_bridge_yaml("as_msgpack", "    codec: msgpack\n"));
  }
};

TEST_F(HostEncodedTest, EchoesEncodedArgsThroughWorkersOfEitherCodec) {
  auto& host = start_both_codecs();
  const std::string args =
      R"({"b":[1,-2,3.5,-0.0,18446744073709551615,"h\u00e9 \"q\""],"a":{"__bytes__":"AQID"},)"
      R"("n":null,"e":{},"deep":[[[{"x":true}]]]})";
  for (const std::string bridge : {"as_json", "as_msgpack"}) {
    auto result = call_encoded(host, bridge, "echo", args);
    ASSERT_TRUE(result.ok()) << bridge << ": " << result.error().describe();
    EXPECT_EQ(json::parse(result->json_text), json::parse(args))
        << bridge << ": " << result->json_text;
  }
}

TEST_F(HostEncodedTest, AMsgpackWorkersResultIsTranscodedStraightFromItsFrame) {
  auto& host = start_both_codecs();
  // Unsorted keys come back in the worker's order: the result never became a (sorting) DOM.
  const std::string args = R"({"z":1,"a":[true,null,-0.0,2.5,"x"],"m":{"__bytes__":"AQID"}})";
  auto result = call_encoded(host, "as_msgpack", "echo", args);
  ASSERT_TRUE(result.ok()) << result.error().describe();
  EXPECT_EQ(result->json_text, args);
}

TEST_F(HostEncodedTest, LargeBytesInResultsComeBackWhateverPathTheyTook) {
  auto& host = start_both_codecs();
  for (const std::string bridge : {"as_json", "as_msgpack"}) {
    // 2 MB: past the default shared_blob_min_bytes (1 MiB), so a msgpack worker uses shared
    // memory.
    auto result = call_encoded(host, bridge, "blob", R"({"size":2000000})");
    ASSERT_TRUE(result.ok()) << bridge << ": " << result.error().describe();
    json value = json::parse(result->json_text);
    ASSERT_TRUE(protocol::from_plain_json(value));
    ASSERT_TRUE(value["data"].is_binary()) << bridge;
    const auto& bytes = value["data"].get_binary();
    ASSERT_EQ(bytes.size(), 2000000u) << bridge;
    EXPECT_EQ(bytes[1999999], 1999999 % 256) << bridge;
  }
}

TEST_F(HostEncodedTest, BytesInEncodedArgsReachTheHandlerAsBytes) {
  auto& host = start_both_codecs();
  for (const std::string bridge : {"as_json", "as_msgpack"}) {
    auto result = call_encoded(host, bridge, "types",
                               R"({"data":{"__bytes__":"AQID"},"text":"x","n":1,"list":[]})");
    ASSERT_TRUE(result.ok()) << bridge << ": " << result.error().describe();
    EXPECT_EQ(json::parse(result->json_text),
              json({{"data", "bytes"}, {"text", "str"}, {"n", "int"}, {"list", "list"}}))
        << bridge << ": " << result->json_text;
  }
}

TEST_F(HostEncodedTest, BadArgsTextIsRefusedBeforeAnyCallWithAClearError) {
  auto not_object = protocol::EncodedArgs::from_json("[1,2]");
  ASSERT_FALSE(not_object.ok());
  EXPECT_EQ(not_object.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_TRUE(has(not_object.error().message, "must be a JSON object"));
  auto out_of_range = protocol::EncodedArgs::from_json(R"({"x":1e400})");
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_TRUE(has(out_of_range.error().message, "out of range")) << out_of_range.error().message;
}

TEST_F(HostEncodedTest, WorkerErrorsAndUnknownBridgesArriveAsErrors) {
  auto& host = start_both_codecs();
  auto failed = call_encoded(host, "as_msgpack", "fail", R"({"type":"ValueError","message":"no"})");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_TRUE(has(failed.error().message, "no")) << failed.error().message;
  auto unknown = call_encoded(host, "nope", "echo", "{}");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().category, ErrorCategory::kNotFound);
}

}  // namespace
}  // namespace mlbridge::testing
