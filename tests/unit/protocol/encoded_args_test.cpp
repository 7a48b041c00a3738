// encode_request_frame, EncodedArgs and locate_response_result (mlbridge/protocol/
// encoded_args.hpp): a request frame around encoded args is the frame the DOM path encodes, in
// both codecs and for every shape of request; a response's result is found without decoding it.

#include "mlbridge/protocol/encoded_args.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "mlbridge/protocol/frame.hpp"
#include "mlbridge/protocol/message.hpp"
#include "mlbridge/protocol/shared_blobs.hpp"
#include "mlbridge/protocol/transcode.hpp"

namespace mlbridge::protocol {
namespace {

std::span<const std::uint8_t> payload_of(const std::vector<std::uint8_t>& frame) {
  return std::span(frame).subspan(kFrameHeaderBytes);
}

Request request_with(json args) {
  Request request;
  request.id = 7;
  request.command = "echo";
  request.args = std::move(args);
  request.deadline_ms = 30000;
  request.session_state = json{{"version", 2}};
  return request;
}

TEST(EncodedArgsTest, SplicedFramesEqualTheDomPathsFramesInBothCodecs) {
  const std::string args_text = R"({"a":[1,-2,0.5,"h\u00e9"],"b":{"__bytes__":"AQID"},"c":{}})";
  auto args = EncodedArgs::from_json(args_text);
  ASSERT_TRUE(args.ok()) << args.error().message;
  json dom_args = json::parse(args_text);
  ASSERT_TRUE(from_plain_json(dom_args));
  for (const Codec codec : {Codec::kMsgpack, Codec::kJson}) {
    auto spliced =
        encode_request_frame(request_with(json::object()), args->msgpack(), codec, 1 << 20);
    ASSERT_TRUE(spliced.ok()) << spliced.error().message;
    auto dom = encode_frame(to_json(request_with(dom_args)), codec, 1 << 20);
    ASSERT_TRUE(dom.ok());
    EXPECT_EQ(*spliced, *dom) << to_string(codec);
    auto decoded = decode_payload(payload_of(*spliced), codec);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ((*decoded)["args"], dom_args);
  }
}

TEST(EncodedArgsTest, KeepsTheJsonTextOnlyWhenItHoldsNoBytes) {
  const std::string plain = R"( {"z":[1,2.5,"h\u00e9"],"a":{"__bytes__":7},"b":null} )";
  auto kept = EncodedArgs::from_json(plain);
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  EXPECT_EQ(kept->shared()->json_text, plain);
  EXPECT_EQ(kept->shared()->msgpack, kept->msgpack());
  // Bytes, also under a key written with escapes that a worker's byte search would not see.
  for (const char* text :
       {R"({"b":{"__bytes__":"AQID"}})", R"({"b":[{"\u005f_bytes__":"AQID"}]})"}) {
    auto args = EncodedArgs::from_json(text);
    ASSERT_TRUE(args.ok()) << text;
    EXPECT_TRUE(args->shared()->json_text.empty()) << text;
  }
}

TEST(EncodedArgsTest, AJsonFrameSplicesTheArgsTextAsItIs) {
  const std::string text = R"({"z":[1,-0,2.50,"h\u00e9"],"a":{"k":true}})";
  auto args = EncodedArgs::from_json(text);
  ASSERT_TRUE(args.ok());
  auto frame = encode_request_frame(request_with(nullptr), args->msgpack(), Codec::kJson, 1 << 20,
                                    args->shared()->json_text);
  ASSERT_TRUE(frame.ok()) << frame.error().message;
  const std::string_view payload(reinterpret_cast<const char*>(frame->data()) + kFrameHeaderBytes,
                                 frame->size() - kFrameHeaderBytes);
  EXPECT_TRUE(payload.starts_with(R"({"args":)" + text + ",")) << payload;
  auto decoded = decode_payload(payload_of(*frame), Codec::kJson);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ((*decoded)["args"], decode_encoded_args(args->msgpack()));
  EXPECT_EQ((*decoded)["id"], 7);
  // The limit counts the text as spliced.
  EXPECT_FALSE(encode_request_frame(request_with(nullptr), args->msgpack(), Codec::kJson,
                                    payload.size() - 1, args->shared()->json_text)
                   .ok());
}

TEST(EncodedArgsTest, SplicedFramesRespectTheFrameLimit) {
  auto args = EncodedArgs::from_json(R"({"text":")" + std::string(1000, 'x') + R"("})");
  ASSERT_TRUE(args.ok());
  for (const Codec codec : {Codec::kMsgpack, Codec::kJson}) {
    auto frame = encode_request_frame(request_with(nullptr), args->msgpack(), codec, 500);
    ASSERT_FALSE(frame.ok());
    EXPECT_EQ(frame.error().category, ErrorCategory::kProtocolError);
    EXPECT_TRUE(encode_request_frame(request_with(nullptr), args->msgpack(), codec, 2000).ok());
  }
}

// Requests whose every field takes each of its MessagePack forms: ids and deadlines of every
// width (and negative deadlines), commands and session ids of fixstr, str8 and str16 length, with
// and without a session id, a deadline and session state.
std::vector<Request> requests_of_every_shape() {
  std::vector<Request> out;
  const std::uint64_t ids[] = {0, 127, 128, 255, 65535, 65536, 4294967295ull, 4294967296ull};
  const std::optional<std::int64_t> deadlines[] = {
      std::nullopt, 0, 5, -1, -33, -200, -40000, -3000000000ll, 30000, 5000000000ll};
  const std::size_t lengths[] = {0, 31, 32, 255, 256, 70000};
  std::size_t n = 0;
  for (const std::uint64_t id : ids) {
    for (const auto deadline : deadlines) {
      for (const std::size_t length : lengths) {
        Request request;
        request.id = id;
        request.command = std::string(length, 'c');
        request.deadline_ms = deadline;
        if (n % 3 != 0) request.session_id = std::string(lengths[n % 6], 's');
        if (n % 4 == 1) request.session_state = json{{"version", n}};
        if (n % 4 == 2) request.session_state = json{{"version", 3}, {"data", {{"k", "v"}}}};
        out.push_back(std::move(request));
        ++n;
      }
    }
  }
  return out;
}

TEST(EncodedArgsTest, TheMessagePackRequestWriterWritesTheDomPathsBytes) {
  auto args = EncodedArgs::from_json(R"({"a":[1,-2,0.5],"b":{"__bytes__":"AQID"}})");
  ASSERT_TRUE(args.ok()) << args.error().message;
  const json dom_args = decode_encoded_args(args->msgpack());
  for (Request request : requests_of_every_shape()) {
    auto written = encode_request_frame(request, args->msgpack(), Codec::kMsgpack, 1 << 20);
    ASSERT_TRUE(written.ok()) << written.error().message;
    request.args = dom_args;
    auto dom = encode_frame(to_json(request), Codec::kMsgpack, 1 << 20);
    ASSERT_TRUE(dom.ok()) << dom.error().message;
    ASSERT_EQ(*written, *dom) << "id " << request.id << ", command of " << request.command.size()
                              << " bytes";
  }
}

TEST(EncodedArgsTest, ArgsMustBeAnObject) {
  for (const char* text : {"[]", "1", "\"x\"", "null"}) {
    auto args = EncodedArgs::from_json(text);
    ASSERT_FALSE(args.ok()) << text;
    EXPECT_EQ(args.error().category, ErrorCategory::kInvalidArgument);
    EXPECT_NE(args.error().message.find("must be a JSON object"), std::string::npos);
  }
  EXPECT_FALSE(EncodedArgs::from_json(R"({"x":1e400})").ok());
}

TEST(EncodedArgsTest, LocatesAResponsesResultWithoutDecodingIt) {
  const json result = {{"data", json::binary({1, 2, 3})},
                       {"list", {1, "two", 3.5, nullptr, json::array({json::object()})}},
                       {"big", std::string(70000, 'b')}};
  for (const std::uint64_t id : {std::uint64_t{5}, std::uint64_t{300}, std::uint64_t{1} << 40}) {
    const json response = {{"type", "response"}, {"id", id}, {"success", true}, {"result", result}};
    const auto bytes = json::to_msgpack(response);
    auto span = locate_response_result(bytes);
    ASSERT_TRUE(span.has_value());
    EXPECT_EQ(span->id, id);
    const std::vector<std::uint8_t> located(
        bytes.begin() + static_cast<std::ptrdiff_t>(span->begin),
        bytes.begin() + static_cast<std::ptrdiff_t>(span->end));
    EXPECT_EQ(located, json::to_msgpack(result));
  }
}

TEST(EncodedArgsTest, TellsAPlainSuccessFromEveryOtherResponse) {
  const json plain = {{"type", "response"}, {"id", 3}, {"success", true}, {"result", {1, 2}}};
  auto span = locate_response_result(json::to_msgpack(plain));
  ASSERT_TRUE(span.has_value());
  EXPECT_TRUE(span->plain_success);
  // Anything more, or less, is decoded: a failure, session state or a journal, another type, a
  // seed-style response without a type.
  const json others[] = {
      {{"type", "response"}, {"id", 3}, {"success", false}, {"result", nullptr}},
      {{"type", "response"}, {"id", 3}, {"success", 1}, {"result", 1}},
      {{"type", "response"}, {"id", 3}, {"success", true}, {"result", 1}, {"session_state", {}}},
      {{"type", "response"}, {"id", 3}, {"success", true}, {"result", 1}, {"session_journal", {}}},
      {{"type", "chunk"}, {"id", 3}, {"success", true}, {"result", 1}},
      {{"type", "responses"}, {"id", 3}, {"success", true}, {"result", 1}},
      {{"id", 3}, {"success", true}, {"result", 1}},
  };
  for (const json& other : others) {
    auto located = locate_response_result(json::to_msgpack(other));
    ASSERT_TRUE(located.has_value()) << other.dump();
    EXPECT_FALSE(located->plain_success) << other.dump();
  }
}

TEST(EncodedArgsTest, FindsExtTypesAtAnyDepth) {
  const auto with_77 = json::to_msgpack(json{{"a", {1, {{"b", json::binary({1, 2}, 77)}}}}});
  EXPECT_TRUE(contains_ext_type(with_77, 77));
  EXPECT_FALSE(contains_ext_type(with_77, 5));
  const auto plain = json::to_msgpack(json{{"a", {1, json::binary({77, 77})}}, {"s", "\xc7"}});
  EXPECT_FALSE(contains_ext_type(plain, 77));
}

TEST(EncodedArgsTest, FindsNoResultInWhatIsNotAWellFormedResponse) {
  const auto no_result = json::to_msgpack(json{{"type", "response"}, {"id", 1}});
  EXPECT_FALSE(locate_response_result(no_result).has_value());
  const auto signed_id = json::to_msgpack(json{{"id", -1}, {"result", 1}});
  EXPECT_FALSE(locate_response_result(signed_id).has_value());
  auto truncated = json::to_msgpack(json{{"id", 1}, {"result", "abcdef"}});
  truncated.pop_back();
  EXPECT_FALSE(locate_response_result(truncated).has_value());
  auto trailing = json::to_msgpack(json{{"id", 1}, {"result", 2}});
  trailing.push_back(0x01);
  EXPECT_FALSE(locate_response_result(trailing).has_value());
  EXPECT_FALSE(locate_response_result(json::to_msgpack(json::array({1}))).has_value());
  EXPECT_FALSE(locate_response_result({}).has_value());
}

TEST(EncodedArgsTest, LargeBinsMoveToSharedMemoryAtAnyDepthSmallOnesStay) {
  auto producer = SharedBlobs::create("encoded-args-test", 16 << 20);
  ASSERT_TRUE(producer) << producer.error().message;
  auto consumer = SharedBlobs::attach(process::UniqueFd(::dup(producer->fd())), 16 << 20);
  ASSERT_TRUE(consumer) << consumer.error().message;
  const std::string big = base64_encode(std::vector<std::uint8_t>(300000, 0x5a));
  const std::string text = R"({"x":[1,{"__bytes__":")" + big + R"("}],"s":{"__bytes__":"AQID"},)" +
                           R"("y":{"__bytes__":")" + big + R"("}})";
  auto args = EncodedArgs::from_json(text);
  ASSERT_TRUE(args) << args.error().message;
  EXPECT_FALSE(move_large_bins_out(args->msgpack(), *producer, 400000).has_value());  // none
  EXPECT_FALSE(move_large_bins_out(args->msgpack(), *producer, 0).has_value());       // off
  auto moved = move_large_bins_out(args->msgpack(), *producer, 100000);
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->moved_bytes, 600000u);
  EXPECT_LT(moved->msgpack.size(), 200u);
  EXPECT_TRUE(
      contains_ext_type(std::span(reinterpret_cast<const std::uint8_t*>(moved->msgpack.data()),
                                  moved->msgpack.size()),
                        kSharedBlobExt));
  // The worker's view: the references, taken in order, give the same value back.
  const ExtBytes take = [&](std::uint8_t type, std::span<const std::uint8_t> data) {
    EXPECT_EQ(type, kSharedBlobExt);
    return consumer->take_view(data, 16 << 20);
  };
  auto back = msgpack_to_json(moved->msgpack, {}, take);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, text);
}

}  // namespace
}  // namespace mlbridge::protocol
