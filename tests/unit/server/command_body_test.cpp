// The command body reader: plain bodies take the DOM-free path (member splitter + transcoder)
// with the same args and options the DOM path reads; every other body takes the DOM path, so a
// bad body is refused with the DOM path's message.

#include "command_body.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mlbridge/protocol/nesting.hpp"

namespace mlbridge::server {
namespace {

using protocol::json;

TEST(CommandBody, APlainBodyIsSplitIntoItsMembers) {
  const auto members = split_command_body(
      R"( { "args" : {"a": [1, {"b": "}]\"x"}], "c": null} , "session":"s-1", "timeout_ms": 250,
          "stream": true, "reply": true } )");
  ASSERT_TRUE(members.has_value());
  EXPECT_EQ(members->args, R"({"a": [1, {"b": "}]\"x"}], "c": null})");
  EXPECT_EQ(members->session, "s-1");
  EXPECT_EQ(members->timeout_ms, 250);
  EXPECT_EQ(members->stream, true);
  EXPECT_EQ(members->reply, true);
}

TEST(CommandBody, EscapedQuotesAndBackslashesInArgsStringsAreSkippedRight) {
  const auto members =
      split_command_body(R"({"args": {"k": "a\\", "q": "\"", "r": "\\\"}"}, "session": "s"})");
  ASSERT_TRUE(members.has_value());
  EXPECT_EQ(members->args, R"({"k": "a\\", "q": "\"", "r": "\\\"}"})");
  EXPECT_EQ(members->session, "s");
}

TEST(CommandBody, AnythingButThePlainShapeIsLeftToTheDom) {
  const std::vector<std::string> bodies = {
      "",
      "[]",
      R"({"args": {}} x)",
      R"({"args": {}, "args": {}})",
      R"({"\u0061rgs": {}})",
      R"({"arg": {}})",
      R"({"session": "a\u002fb"})",
      R"({"session": ""})",
      R"({"session": 5})",
      R"({"timeout_ms": 0})",
      R"({"timeout_ms": -5})",
      R"({"timeout_ms": 1.5})",
      R"({"timeout_ms": 1e3})",
      R"({"timeout_ms": 604800001})",
      R"({"stream": "yes"})",
      R"({"args": {"a": 1})",
      R"({"args": {}, })",
  };
  for (const auto& body : bodies) EXPECT_FALSE(split_command_body(body).has_value()) << body;
}

TEST(CommandBody, PlainBodiesAreReadWithoutADomAndMeanWhatTheDomReads) {
  const std::vector<std::string> bodies = {
      R"({})",
      R"({"args": null})",
      R"({"args": {"text": "hello", "n": [1, 2.5, -3, 1e300], "u": "\u00e9\n"}})",
      R"({"args": {"blob": {"__bytes__": "AAEC"}}, "session": "s.1:x-y", "timeout_ms": 5})",
      R"({"stream": true, "args": {"count": 3}})",
  };
  for (const auto& text : bodies) {
    auto body = read_command_body(text);
    ASSERT_TRUE(body.ok()) << text;
    EXPECT_TRUE(body->read_without_dom()) << text;
    json expected = json::parse(text).value("args", json::object());
    if (expected.is_null()) expected = json::object();
    ASSERT_TRUE(protocol::from_plain_json(expected).ok());
    EXPECT_EQ(protocol::decode_encoded_args(body->encoded->msgpack()), expected) << text;
  }
  auto body = read_command_body(R"({"args": {}, "session": "s-9", "timeout_ms": 1200})");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->options.session, "s-9");
  EXPECT_EQ(body->options.timeout, std::chrono::milliseconds(1200));
  EXPECT_FALSE(body->stream);
  EXPECT_TRUE(body->reply);
}

TEST(CommandBody, BodiesOnlyTheDomTakesStillWork) {
  auto escaped = read_command_body(R"({"\u0061rgs": {"a": 1}, "session": "s\u002d1"})");
  ASSERT_TRUE(escaped.ok());
  EXPECT_FALSE(escaped->read_without_dom());
  EXPECT_EQ(escaped->args, json({{"a", 1}}));
  EXPECT_EQ(escaped->options.session, "s-1");
  auto detached = read_command_body(R"({"args": {"a": 1}, "reply": false})");
  ASSERT_TRUE(detached.ok());
  EXPECT_FALSE(detached->read_without_dom());
  EXPECT_FALSE(detached->reply);
}

// Each bad body: a piece of the message the DOM path gives (docs/http-api.md).
TEST(CommandBody, BadBodiesAreRefusedWithTheDomPathsMessages) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{bad json", "not valid JSON"},
      {R"({"args": [1, 2]})", "\"args\" must be a JSON object, got array"},
      {R"({"args": "x"})", "\"args\" must be a JSON object, got string"},
      {R"({"arg": {}})", "unknown field \"arg\""},
      {R"({"args": {"x": 1e400}})", "too large"},
      {R"({"args": {"b": {"__bytes__": "***"}}})", "not valid base64"},
      {R"({"session": ""})", "\"session\" must be a non-empty string"},
      {R"({"timeout_ms": 0})", "\"timeout_ms\" must be an integer from 1 to 604800000"},
      {R"({"stream": "yes"})", "\"stream\" must be true or false, got \"yes\""},
      {R"({"stream": true, "reply": false})", "\"stream\": true needs \"reply\": true"},
      {"{\"args\": {\"x\": \"\xff\"}}", "not valid JSON"},
      {R"({"args": {"a": 1}} tail)", "not valid JSON"},
      {"[1]", "must be a JSON object, got array"},
  };
  for (const auto& [text, message] : cases) {
    auto body = read_command_body(text);
    ASSERT_FALSE(body.ok()) << text;
    EXPECT_EQ(body.error().category, ErrorCategory::kInvalidArgument) << text;
    EXPECT_NE(body.error().message.find(message), std::string::npos)
        << text << " -> " << body.error().message;
  }
}

TEST(CommandBody, NestingIsLimitedAsTheDomPathLimitsIt) {
  const std::size_t deepest = protocol::kMaxNesting - 1;  // the body's own object is one level
  auto nested = [](std::size_t levels) {
    return R"({"args": )" + std::string(levels, '[') + std::string(levels, ']') + "}";
  };
  // args must be an object: wrap the arrays in one.
  auto in_object = [](std::size_t levels) {
    return R"({"args": {"a": )" + std::string(levels - 1, '[') + std::string(levels - 1, ']') +
           "}}";
  };
  EXPECT_TRUE(read_command_body(in_object(deepest)).ok());
  auto too_deep = read_command_body(in_object(deepest + 1));
  ASSERT_FALSE(too_deep.ok());
  EXPECT_NE(too_deep.error().message.find("levels deep"), std::string::npos)
      << too_deep.error().message;
  EXPECT_FALSE(read_command_body(nested(deepest + 5)).ok());
}

}  // namespace
}  // namespace mlbridge::server
