#include "mlbridge/protocol/codec.hpp"

#include <gtest/gtest.h>

#include "mlbridge/protocol/frame.hpp"
#include "mlbridge/protocol/nesting.hpp"

namespace mlbridge::protocol {
namespace {

class CodecTest : public ::testing::TestWithParam<Codec> {};

json decode_frame(const std::vector<std::uint8_t>& frame, Codec codec) {
  EXPECT_EQ(read_frame_header(frame.data()), frame.size() - 4);
  auto decoded = decode_payload({frame.data() + 4, frame.size() - 4}, codec);
  EXPECT_TRUE(decoded.ok()) << (decoded.ok() ? "" : decoded.error().message);
  return decoded.ok() ? *decoded : json();
}

TEST(JsonCodecTest, AStringThatIsNotUtf8IsAnInvalidArgumentNotAThrow) {
  const json message = {{"type", "request"}, {"args", {{"text", std::string("ab\xff\xfe")}}}};
  auto frame = encode_frame(message, Codec::kJson, kDefaultMaxFrameBytes);
  ASSERT_FALSE(frame.ok());
  EXPECT_EQ(frame.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_NE(frame.error().message.find("not valid UTF-8"), std::string::npos)
      << frame.error().message;
}

TEST_P(CodecTest, RoundTripsNestedValuesWithTypesPreserved) {
  const json message = {{"type", "request"},
                        {"id", 18446744073709551615ull},
                        {"args", {{"n", -3}, {"f", 2.5}, {"list", {1, "two", nullptr, true}}}},
                        {"text", "ünïcode ✓"}};
  auto frame = encode_frame(message, GetParam(), kDefaultMaxFrameBytes);
  ASSERT_TRUE(frame.ok());
  const json back = decode_frame(*frame, GetParam());
  EXPECT_EQ(back, message);
  EXPECT_TRUE(back["args"]["n"].is_number_integer());
  EXPECT_TRUE(back["args"]["f"].is_number_float());
}

TEST_P(CodecTest, RoundTripsBytes) {
  std::vector<std::uint8_t> bytes{0, 1, 2, 255, 254, '"', '\\'};
  const json message = {{"blob", json::binary(bytes)}, {"list", {json::binary({9})}}};
  auto frame = encode_frame(message, GetParam(), kDefaultMaxFrameBytes);
  ASSERT_TRUE(frame.ok());
  const json back = decode_frame(*frame, GetParam());
  ASSERT_TRUE(back["blob"].is_binary());
  const std::vector<std::uint8_t>& got = back["blob"].get_binary();
  EXPECT_EQ(got, bytes);
  EXPECT_TRUE(back["list"][0].is_binary());
}

TEST_P(CodecTest, RejectsANonMapPayload) {
  const std::vector<std::uint8_t> list = GetParam() == Codec::kJson
                                             ? std::vector<std::uint8_t>{'[', '1', ']'}
                                             : std::vector<std::uint8_t>{0x91, 0x01};
  auto decoded = decode_payload(list, GetParam());
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().category, ErrorCategory::kProtocolError);
  EXPECT_NE(decoded.error().message.find("array"), std::string::npos) << decoded.error().message;
}

TEST_P(CodecTest, RejectsUndecodableBytes) {
  const std::vector<std::uint8_t> junk{0xc1, 0xc1, '{', 0xff};
  auto decoded = decode_payload(junk, GetParam());
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().category, ErrorCategory::kProtocolError);
}

// A worker's frame nested past kMaxNesting is refused before anything recurses over it; one
// at the limit decodes.
TEST_P(CodecTest, RefusesPayloadsNestedPastTheLimit) {
  auto nested = [](std::size_t levels) {
    json value = nullptr;
    for (std::size_t i = 0; i < levels; ++i) value = json::array({std::move(value)});
    return json{{"result", std::move(value)}};  // the map adds one level
  };
  auto encoded = [&](const json& message) {
    const std::string text = message.dump();
    return GetParam() == Codec::kJson ? std::vector<std::uint8_t>(text.begin(), text.end())
                                      : json::to_msgpack(message);
  };
  auto at_limit = decode_payload(encoded(nested(kMaxNesting - 1)), GetParam());
  EXPECT_TRUE(at_limit.ok()) << (at_limit.ok() ? "" : at_limit.error().message);
  auto past_limit = decode_payload(encoded(nested(kMaxNesting)), GetParam());
  ASSERT_FALSE(past_limit.ok());
  EXPECT_EQ(past_limit.error().category, ErrorCategory::kProtocolError);
}

TEST(JsonCodec, NamesTheNestingLimitWhenItRefusesAFrame) {
  const std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto decoded = decode_payload(std::vector<std::uint8_t>(deep.begin(), deep.end()), Codec::kJson);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().category, ErrorCategory::kProtocolError);
  EXPECT_NE(decoded.error().message.find("256 levels deep"), std::string::npos)
      << decoded.error().message;
}

TEST(JsonNestingDepth, CountsBracketsOutsideStringsOnly) {
  EXPECT_EQ(json_nesting_depth("{}"), 1u);
  EXPECT_EQ(json_nesting_depth(R"({"a": [1, {"b": []}]})"), 4u);
  EXPECT_EQ(json_nesting_depth(R"({"a": "[[[[{{{{", "b": "\"[[["})"), 1u);
  EXPECT_EQ(json_nesting_depth("12"), 0u);
  // Stops counting once past the limit it was given.
  EXPECT_EQ(json_nesting_depth(std::string(1000, '['), 10), 11u);
}

TEST_P(CodecTest, RefusesToEncodeOversizeFrames) {
  const json message = {{"blob", std::string(2000, 'x')}};
  auto frame = encode_frame(message, GetParam(), 1000);
  ASSERT_FALSE(frame.ok());
  EXPECT_NE(frame.error().message.find("max_frame_bytes"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(BothCodecs, CodecTest, ::testing::Values(Codec::kJson, Codec::kMsgpack),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(JsonCodec, WritesBytesAsBase64Objects) {
  auto frame = encode_frame({{"b", json::binary({'h', 'i'})}}, Codec::kJson, 1024);
  ASSERT_TRUE(frame.ok());
  const std::string text(frame->begin() + 4, frame->end());
  EXPECT_EQ(text, R"({"b":{"__bytes__":"aGk="}})");
}

TEST(JsonCodec, RejectsMalformedBase64) {
  const std::string text = R"({"b":{"__bytes__":"a!=="}})";
  auto decoded = decode_payload({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()},
                                Codec::kJson);
  ASSERT_FALSE(decoded.ok());
}

TEST(PlainJson, FromPlainJsonUndoesToPlainJsonAtAnyDepth) {
  const json original = {{"b", json::binary({1, 2, 3})},
                         {"list", {json::binary({'h', 'i'}), 7, {{"deep", json::binary({})}}}},
                         {"text", "__bytes__"},
                         {"two_keys", {{"__bytes__", "aGk="}, {"other", 1}}}};
  json value = to_plain_json(original);
  ASSERT_TRUE(value["b"].is_object());
  ASSERT_TRUE(from_plain_json(value).ok());
  EXPECT_EQ(value, original);
  json bad = {{"b", {{"__bytes__", "a!=="}}}};
  EXPECT_FALSE(from_plain_json(bad).ok());
}

TEST(Base64, MatchesRfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    std::vector<std::uint8_t> bytes(plain.begin(), plain.end());
    EXPECT_EQ(base64_encode(bytes), encoded);
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, bytes);
  }
  EXPECT_FALSE(base64_decode("abc").has_value());
  EXPECT_FALSE(base64_decode("=abc").has_value());
}

}  // namespace
}  // namespace mlbridge::protocol
