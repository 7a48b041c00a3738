// The JSON-codec worker's success response read without decoding it: the SDK's layout is
// found (json_response.hpp) and its result checked as one JSON value (transcode.hpp).

#include "mlbridge/protocol/json_response.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "mlbridge/protocol/transcode.hpp"

namespace mlbridge::protocol {
namespace {

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string_view result_of(std::string_view payload, const ResponseResultSpan& span) {
  return payload.substr(span.begin, span.end - span.begin);
}

// What the worker's channel passes on as it is: the SDK's layout with a well-formed result.
bool passes_on(std::string_view payload) {
  const auto span = locate_json_response_result(bytes(payload));
  return span.has_value() && is_json_value(result_of(payload, *span));
}

TEST(JsonResponseTest, FindsTheIdAndResultOfTheSdksLayout) {
  const std::string_view payload =
      R"({"type":"response","id":42,"success":true,"result":{"b":1,"a":[2,"}"]}})";
  const auto span = locate_json_response_result(bytes(payload));
  ASSERT_TRUE(span.has_value());
  EXPECT_EQ(span->id, 42u);
  EXPECT_TRUE(span->plain_success);
  EXPECT_EQ(result_of(payload, *span), R"({"b":1,"a":[2,"}"]})");

  const std::string_view largest =
      R"({"type":"response","id":18446744073709551615,"success":true,"result":null})";
  const auto last = locate_json_response_result(bytes(largest));
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->id, 18446744073709551615u);
  EXPECT_EQ(result_of(largest, *last), "null");
}

TEST(JsonResponseTest, LeavesEveryOtherPayloadToTheDecoder) {
  ASSERT_TRUE(passes_on(R"({"type":"response","id":1,"success":true,"result":1})"));
  for (const std::string_view payload : {
           R"({"type":"response","id":1,"success":false,"error":{}})",
           R"({"type":"response","id":1,"success":true,"result":1,"x":2})",
           R"({"id":1,"type":"response","success":true,"result":1})",
           R"({"type":"response","id":01,"success":true,"result":1})",
           R"({"type":"response","id":-1,"success":true,"result":1})",
           R"({"type":"response","id":18446744073709551616,"success":true,"result":1})",
           R"({"type":"response","id":1,"success":true,"result":})",
           R"({"type":"response","id":1,"success":true,"result":1} )",
           R"( {"type":"response","id":1,"success":true,"result":1})",
           R"({"type":"response","id":1,"success":true})",
           R"({"type":"log","level":"info","message":"x"})",
           "",
       }) {
    EXPECT_FALSE(passes_on(payload)) << payload;
  }
}

TEST(JsonResponseTest, ChecksThatAResultIsOneWellFormedJsonValue) {
  for (const std::string_view good :
       {R"({"a":[1,2.5,-0,1e300,"é",true,null,{"__bytes__":"AAE="}]})", "1", R"("\u00e9")", " [] ",
        "18446744073709551615", "-9223372036854775808"}) {
    EXPECT_TRUE(is_json_value(good)) << good;
  }
  for (const std::string_view bad :
       {"", " ", "{", R"({"a":1}})", "[1] 2", "1e400", R"("\x")", "nul", "NaN", "{\"a\":1,}",
        "\"\xff\"", "[1 2]", "\"a\x01b\"", "18446744073709551616", "\"\\ud800\""}) {
    EXPECT_FALSE(is_json_value(bad)) << bad;
  }
}

TEST(JsonResponseTest, RefusesNestingDeeperThanTheLimit) {
  const std::string deep = std::string(10, '[') + std::string(10, ']');
  EXPECT_TRUE(is_json_value(deep, 10));
  EXPECT_FALSE(is_json_value(deep, 9));
  EXPECT_TRUE(is_json_value(deep, 11));  // a thread's parser is set again for each limit
  const std::string too_deep =
      std::string(kMaxNesting + 1, '[') + std::string(kMaxNesting + 1, ']');
  EXPECT_FALSE(is_json_value(too_deep));
}

TEST(JsonResponseTest, ChecksTextsLargerThanTheThreadsParserTakes) {
  std::string large = "[";
  while (large.size() < (2u << 20)) large += R"({"name":"record","tags":["a","b"],"n":12345},)";
  large.back() = ']';
  EXPECT_TRUE(is_json_value(large));
  large[large.size() / 2] = '\xff';
  EXPECT_FALSE(is_json_value(large));
}

}  // namespace
}  // namespace mlbridge::protocol
