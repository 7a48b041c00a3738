// json_to_msgpack / msgpack_to_json (mlbridge/protocol/transcode.hpp) against the DOM path they
// replace: nlohmann parse + from_plain_json + to_msgpack one way, read_msgpack + to_plain_json +
// dump the other. The corpus's keys are sorted (the DOM sorts them), so outputs must be equal
// byte for byte; every error a client can cause has a test.

#include "mlbridge/protocol/transcode.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "mlbridge/protocol/codec.hpp"
#include "msgpack_reader.hpp"

namespace mlbridge::protocol {
namespace {

std::string dom_json_to_msgpack(const std::string& text) {
  json value = json::parse(text);
  EXPECT_TRUE(from_plain_json(value));
  std::string out;
  json::to_msgpack(value, out);
  return out;
}

std::string dom_msgpack_to_json(const std::string& msgpack) {
  auto value = read_msgpack(
      std::span(reinterpret_cast<const std::uint8_t*>(msgpack.data()), msgpack.size()));
  EXPECT_TRUE(value.has_value());
  return value ? to_plain_json(*value).dump() : std::string();
}

std::string repeated(char c, std::size_t n) { return std::string(n, c); }

std::string array_of(std::size_t n) {
  std::string text = "[";
  for (std::size_t i = 0; i < n; ++i) text += i ? ",7" : "7";
  return text + "]";
}

std::string object_of(std::size_t n) {
  std::string text = "{";
  for (std::size_t i = 0; i < n; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "\"k%05zu\":", i);
    text += (i ? "," : "") + std::string(key) + std::to_string(i);
  }
  return text + "}";
}

std::string bytes_json(std::size_t n) {
  std::vector<std::uint8_t> bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * 7 + 3);
  return R"({"__bytes__":")" + base64_encode(bytes) + R"("})";
}

std::vector<std::string> corpus() {
  return {
      // Integers at every MessagePack size boundary, both signs.
      "0", "1", "127", "128", "255", "256", "65535", "65536", "4294967295", "4294967296",
      "18446744073709551615", "-1", "-32", "-33", "-128", "-129", "-32768", "-32769", "-2147483648",
      "-2147483649", "-9223372036854775808", "-0",
      // Beyond 64 bits: doubles, as nlohmann parses them.
      "18446744073709551616", "-9223372036854775809", "123456789012345678901234567890",
      // Doubles: float-exact ones become float 32.
      "0.5", "1.0", "-0.0", "0.1", "1e300", "-1e-300", "3.141592653589793", "1e-7", "2.5e-310",
      "1E5", "1e-400", "16777217.0", "3.4028234663852886e38",
      // Literals.
      "true", "false", "null",
      // Strings: escapes, control characters, unicode, every length boundary.
      R"("")", R"("a\"b\\c\/d\b\f\n\r\t\u0001\u001f\u007f")", R"("h\u00e9llo \ud83d\ude00")",
      "\"héllo ✓ 😀 \x7f\"", "\"" + repeated('s', 31) + "\"", "\"" + repeated('s', 32) + "\"",
      "\"" + repeated('s', 255) + "\"", "\"" + repeated('s', 256) + "\"",
      "\"" + repeated('s', 65536) + "\"", R"("\u0000")",
      // Containers: empty, nested, every count boundary.
      "[]", "{}", "[[]]", "[{}]", "[[[[[[]]]]]]", R"({"a":[1,{"b":[]},{}],"c":{"d":{"e":null}}})",
      array_of(15), array_of(16), array_of(65535), array_of(65536), object_of(15), object_of(16),
      object_of(65536), "  [ 1 , \"x\" ,\n\t{ \"a\" : true } ]  \n",
      // Bytes: every padding, length boundaries, nested, and objects that only look like bytes.
      bytes_json(0), bytes_json(1), bytes_json(2), bytes_json(3), bytes_json(255), bytes_json(256),
      bytes_json(65536), "[" + bytes_json(4) + "," + bytes_json(5) + "]",
      R"({"a":{"__bytes__":"AQID"},"b":[{"__bytes__":""}]})", R"({"__bytes__":5})",
      R"({"__bytes__":"AQID","x":1})", R"({"__bytes__":"not base64 but not bytes","z":null})",
      R"({"__bytes__":{"__bytes__":"AQ=="}})", R"({"__bytes__":null})", R"({"__bytes__":[]})",
      R"({"_":{"__bytes__":"AQID"},"__bytes__":"AQID"})",
      R"({"__bytes__":"AQ==","__bytes__":"AgI="})", R"({"__bytes__":5,"__bytes__":"AQ=="})",
      R"({"__bytes__":{"a":[1,{}]},"__bytes__":"AQ=="})",
      R"({"__bytes__":"AQ==","__bytes__":{"a":[1,{}]}})",
      R"([{"__bytes__":"AQ==","__bytes__":"AgI=","a":1},{"__bytes__":"AQ==","__bytes__":7}])",
      // Bytes whose base64 has an escape (read through the parser) or space around it (read in
      // place), also where the object turns out not to be bytes.
      R"({"__bytes__":"A\/8="})", R"({ "__bytes__" : "A/8=" , "x" : 1 })",
      R"({"__bytes__" :"AQID"  })", R"({"__bytes__":"A\/8=","x":1})",
      R"({"__bytes__":"\u0041QID"})", R"({"__bytes__":"a\"b","c":[]})"};
}

TEST(TranscodeTest, JsonToMsgpackWritesWhatTheDomPathWrites) {
  for (const std::string& text : corpus()) {
    auto ours = json_to_msgpack(text);
    ASSERT_TRUE(ours) << text.substr(0, 200) << ": " << ours.error().message;
    EXPECT_EQ(*ours, dom_json_to_msgpack(text)) << text.substr(0, 200);
  }
}

TEST(TranscodeTest, MsgpackToJsonPrintsWhatTheDomPathPrints) {
  for (const std::string& text : corpus()) {
    const std::string msgpack = dom_json_to_msgpack(text);
    auto ours = msgpack_to_json(msgpack);
    ASSERT_TRUE(ours) << text.substr(0, 200) << ": " << ours.error().message;
    EXPECT_EQ(*ours, dom_msgpack_to_json(msgpack)) << text.substr(0, 200);
  }
}

TEST(TranscodeTest, RoundTripEqualsTheDomRoundTrip) {
  for (const std::string& text : corpus()) {
    auto msgpack = json_to_msgpack(text);
    ASSERT_TRUE(msgpack) << msgpack.error().message;
    auto back = msgpack_to_json(*msgpack);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, dom_msgpack_to_json(dom_json_to_msgpack(text))) << text.substr(0, 200);
  }
}

// Numbers with more significant digits than simdjson reads exactly (the json_transcode fuzzer
// found 3.5674407370958307248, whose last bit differed): the transcoder's double is the DOM's.
TEST(TranscodeTest, LongNumbersAreTheDomsDoublesToTheBit) {
  std::vector<std::string> numbers = {"3.5674407370958307248",
                                      "-3.5674407370958307248e-5",
                                      "0.10000000000000000555111512312578270211815834045",
                                      "9007199254740993.0000000000000001",
                                      "1.00000000000000011102230246251565404236316680908203125",
                                      "123456789012345678901234567890e-10"};
  // A deterministic spread of long decimals (a linear congruential generator's digits).
  std::uint64_t state = 88172645463325252ULL;
  for (int i = 0; i < 20000; ++i) {
    std::string text = (i % 3 == 0) ? "-" : "";
    const int digits = 16 + static_cast<int>(i % 14);
    for (int d = 0; d < digits; ++d) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      text += static_cast<char>('0' + (state >> 33) % 10);
      if (d == (i % 7)) text += '.';
    }
    if (text.back() == '.') text += '5';
    if (text[text.size() > 1 && text[0] == '-' ? 1 : 0] == '0')
      text.insert(text[0] == '-' ? 1 : 0, "1");
    if (i % 5 == 0) text += "e" + std::to_string(static_cast<int>(i % 40) - 20);
    numbers.push_back(text);
  }
  for (const std::string& text : numbers) {
    auto ours = json_to_msgpack("[" + text + "]");
    ASSERT_TRUE(ours) << text << ": " << ours.error().message;
    ASSERT_EQ(*ours, dom_json_to_msgpack("[" + text + "]")) << text;
  }
}

TEST(TranscodeTest, ValueToJsonTextPrintsWhatTheDomPrints) {
  for (const std::string& text : corpus()) {
    json value = json::parse(text);
    ASSERT_TRUE(from_plain_json(value));
    auto ours = value_to_json_text(value);
    ASSERT_TRUE(ours) << text.substr(0, 200) << ": " << ours.error().message;
    EXPECT_EQ(*ours, to_plain_json(value).dump()) << text.substr(0, 200);
  }
  // A string that is not UTF-8 is refused (the caller prints the DOM itself).
  EXPECT_FALSE(value_to_json_text(json("\xff")).ok());
}

TEST(TranscodeTest, KeepsTheDocumentsKeyOrder) {
  auto msgpack = json_to_msgpack(R"({"b":1,"a":{"z":2,"y":3}})");
  ASSERT_TRUE(msgpack);
  auto back = msgpack_to_json(*msgpack);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, R"({"b":1,"a":{"z":2,"y":3}})");
  // The same value as the DOM's, which sorts the keys.
  EXPECT_EQ(json::parse(*back), json::parse(R"({"a":{"y":3,"z":2},"b":1})"));
}

TEST(TranscodeTest, MsgpackExtAndNonFiniteFloatsPrintAsTheDomPrintsThem) {
  // fixext 1 (type 5, byte 0x2a), float 64 NaN and +inf, float 32 -inf.
  const std::vector<std::string> inputs = {
      std::string("\xd4\x05\x2a", 3), std::string("\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 9),
      std::string("\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00", 9),
      std::string("\xca\xff\x80\x00\x00", 5), std::string("\xc7\x00\x01", 3)};
  for (const std::string& input : inputs) {
    auto ours = msgpack_to_json(input);
    ASSERT_TRUE(ours) << ours.error().message;
    EXPECT_EQ(*ours, dom_msgpack_to_json(input));
  }
}

// --- errors a client can cause: each is invalid_argument with a message it can act on.

void expect_json_error(const std::string& text, const std::string& fragment,
                       const TranscodeLimits& limits = {}) {
  auto result = json_to_msgpack(text, limits);
  ASSERT_FALSE(result) << text.substr(0, 80);
  EXPECT_EQ(result.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_NE(result.error().message.find(fragment), std::string::npos)
      << text.substr(0, 80) << " -> " << result.error().message;
}

TEST(TranscodeTest, RefusesNumbersOutOfADoublesRange) {
  expect_json_error("[1e400]", "number 1e400 at byte 1 is out of range");
  expect_json_error("-1e400", "out of range");
  expect_json_error(R"({"x":[2.5E+999]})", "number 2.5E+999 at byte 6 is out of range");
}

TEST(TranscodeTest, RefusesMalformedNumbers) {
  expect_json_error("[01]", "at byte 1");
  expect_json_error("[1.]", "malformed number 1. at byte 1");
  expect_json_error("-", "number");
}

TEST(TranscodeTest, RefusesInvalidUtf8) {
  expect_json_error("\"\xff\"", "not valid UTF-8");
  expect_json_error("{\"k\xc3\":1}", "not valid UTF-8");
  expect_json_error("[\"\xed\xa0\x80\"]", "not valid UTF-8");  // an encoded surrogate
}

TEST(TranscodeTest, RefusesMalformedStrings) {
  expect_json_error(R"(["\ud800"])", "malformed string");
  expect_json_error(R"(["\x"])", "malformed string");
  expect_json_error("[\"a\nb\"]", "string");
  expect_json_error("[\"abc", "");
}

TEST(TranscodeTest, RefusesNestingDeeperThanTheLimitAndNamesIt) {
  const std::string deepest = repeated('[', kMaxNesting) + repeated(']', kMaxNesting);
  EXPECT_TRUE(json_to_msgpack(deepest));
  expect_json_error(repeated('[', kMaxNesting + 1) + repeated(']', kMaxNesting + 1),
                    "more than 256 levels deep");
  expect_json_error(repeated('[', 100000) + repeated(']', 100000), "more than 256 levels deep");
  expect_json_error(repeated('[', 100000), "");  // unbalanced too: refused, not overflowed
  std::string objects;
  for (int i = 0; i < 300; ++i) objects += R"({"a":)";
  objects += "1" + repeated('}', 300);
  expect_json_error(objects, "more than 256 levels deep");
  TranscodeLimits shallow;
  shallow.max_depth = 2;
  expect_json_error("[[[]]]", "more than 2 levels deep", shallow);
  EXPECT_TRUE(json_to_msgpack("[[1]]", shallow));
}

TEST(TranscodeTest, RefusesContentAfterTheValue) {
  expect_json_error("[1] x", "after its value");
  expect_json_error("[1][2]", "after its value at byte 3");
  expect_json_error("{\"a\":1}}", "");
  expect_json_error("1 2", "after its value");
  expect_json_error("\"a\" \"b\"", "after its value");
}

// Found by the json_transcode fuzzer: simdjson took a NUL byte for the end of the document.
TEST(TranscodeTest, RefusesANulByteAndWhateverFollowsIt) {
  expect_json_error(std::string("45\0\0\0\xd0"
                                "0]",
                                8),
                    "NUL byte at byte 2");
  expect_json_error(std::string("[\"a\0b\"]", 7), "NUL byte at byte 3");
}

TEST(TranscodeTest, RefusesTextThatIsNotJson) {
  expect_json_error("", "empty");
  expect_json_error("   ", "");
  expect_json_error("[1,]", "not valid JSON");
  expect_json_error("{\"a\" 1}", "not valid JSON");
  expect_json_error("{1:2}", "");
  expect_json_error("[tru]", "");
  expect_json_error("nul", "");
  expect_json_error("NaN", "");
}

TEST(TranscodeTest, RefusesBadBase64InBytes) {
  expect_json_error(R"({"__bytes__":"abc"})", "malformed base64 in the __bytes__ value at byte 13");
  expect_json_error(R"([{"__bytes__":"ab!d"}])", "malformed base64");
  expect_json_error(R"({"__bytes__":"a==="})", "malformed base64");
  expect_json_error(R"({"__bytes__":"ab=c"})", "malformed base64");
  expect_json_error(R"({"__bytes__":"AQ==AQ=="})", "malformed base64");
}

TEST(TranscodeTest, RefusesInputAndOutputBeyondTheLimits) {
  TranscodeLimits small;
  small.max_input_bytes = 8;
  expect_json_error("[1,2,3,4,5]", "larger than the limit of 8 bytes", small);
  TranscodeLimits small_output;
  small_output.max_output_bytes = 4;
  expect_json_error(R"(["abcdef"])", "more than the limit of 4 bytes", small_output);
  auto json_out = msgpack_to_json(std::string("\xa6"
                                              "abcdef",
                                              7),
                                  small_output);
  ASSERT_FALSE(json_out);
  EXPECT_NE(json_out.error().message.find("limit of 4 bytes"), std::string::npos);
}

void expect_msgpack_error(const std::string& bytes, const std::string& fragment) {
  auto result = msgpack_to_json(bytes);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_NE(result.error().message.find(fragment), std::string::npos) << result.error().message;
}

// msgpack_to_json skips runs of plain bytes eight at a time: a character to escape, a byte
// outside ASCII and a malformed UTF-8 sequence at every position of strings around that size.
TEST(TranscodeTest, MsgpackToJsonEscapesEveryPositionAsTheDomDoes) {
  const std::string specials[] = {
      "\"",   "\\",       "\n",           std::string(1, '\0'), "\x01", "\x1f", " ",
      "\x7f", "\xc3\xa9", "\xe2\x9c\x93", "\xf0\x9f\x98\x80"};
  for (std::size_t length = 0; length <= 40; ++length) {
    for (std::size_t position = 0; position <= length; ++position) {
      for (const std::string& special : specials) {
        std::string text(length, 'x');
        text.insert(position, special);
        std::string msgpack;
        json::to_msgpack(json(text), msgpack);
        auto ours = msgpack_to_json(msgpack);
        ASSERT_TRUE(ours) << ours.error().message;
        ASSERT_EQ(*ours, json(text).dump()) << length << " " << position;
      }
      std::string broken(length, 'x');
      broken.insert(position, "\xe2\x9c");  // a three-byte sequence cut short
      std::string msgpack;
      json::to_msgpack(json(broken), msgpack);
      EXPECT_FALSE(msgpack_to_json(msgpack).ok()) << length << " " << position;
    }
  }
}

// The json_transcode fuzzer found this: a __bytes__ string read in place was left unconsumed,
// and On Demand's skipping of it did not notice the ':' that followed.
TEST(TranscodeTest, RefusesWhatFollowsABytesStringWhenItIsNotACommaOrTheEnd) {
  expect_json_error(R"({"__bytes__":"__":"AQ==","x":0})", "not valid JSON");
  expect_json_error(R"([{"__bytes__":"AQ==":1}])", "not valid JSON");
  expect_json_error(R"({"__bytes__":"AQ==" "x"})", "not valid JSON");
  expect_json_error(R"({"__bytes__":"AQ==",})", "");
  expect_json_error(
      R"([{"__bytess__":"AQ==","__":"AQ=="},{"__bytes__":"__":"AQ==","x":0},"yb_{_tes__":4},[],{}])",
      "");
  expect_json_error(R"([{"__bytes__":"__":"AQ==","x":0},"y":4}])", "");
}

TEST(TranscodeTest, RefusesAControlCharacterInAStringThatLooksLikeBytes) {
  expect_json_error(
      "{\"__bytes__\":\"AQ\x01"
      "D\"}",
      "string");
  expect_json_error(
      "{\"__bytes__\":\"AQ\x01"
      "D\",\"x\":1}",
      "string");
  expect_json_error("{\"__bytes__\":\"\xff\"}", "UTF-8");
}

TEST(TranscodeTest, MsgpackToJsonRefusesWhatTheDomDecoderRefuses) {
  expect_msgpack_error("", "ends in the middle");
  expect_msgpack_error("\x92\x01", "ends in the middle");
  expect_msgpack_error(
      "\xa5"
      "abc",
      "ends in the middle");
  expect_msgpack_error("\x01\x02", "1 bytes after its value");
  expect_msgpack_error("\xc1", "reserved marker 0xc1");
  expect_msgpack_error("\x81\x01\x02", "map key that is not a string");
  expect_msgpack_error("\xa1\xff", "not valid UTF-8");
  expect_msgpack_error("\xdd\xff\xff\xff\xff", "ends in the middle");
  expect_msgpack_error(repeated('\x91', kMaxNesting + 1) + "\x90", "more than 256 levels deep");
  EXPECT_TRUE(msgpack_to_json(repeated('\x91', kMaxNesting - 1) + "\x90"));
}

TEST(TranscodeTest, ExtBytesPrintsTheBytesAnExtStandsFor) {
  // {"a": ext 77 "k", "b": ext 5 "xy"} in document order.
  const std::string msgpack(
      "\x82\xa1"
      "a"
      "\xd4\x4d"
      "k"
      "\xa1"
      "b"
      "\xd5\x05"
      "xy",
      12);
  const std::vector<std::uint8_t> stored{0, 1, 2, 250};
  std::vector<int> types;
  const ExtBytes resolve =
      [&](std::uint8_t type,
          std::span<const std::uint8_t> data) -> Result<std::span<const std::uint8_t>> {
    types.push_back(type);
    if (type == 77) return std::span<const std::uint8_t>(stored);
    return data;
  };
  auto text = msgpack_to_json(msgpack, {}, resolve);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, R"({"a":{"__bytes__":"AAEC+g=="},"b":{"__bytes__":"eHk="}})");
  EXPECT_EQ(types, (std::vector<int>{77, 5}));
}

TEST(TranscodeTest, ExtBytesErrorsAndOutputLimitEndTheTranscoding) {
  const std::string msgpack(
      "\x91\xd4\x4d"
      "k",
      4);
  const ExtBytes refuse =
      [](std::uint8_t, std::span<const std::uint8_t>) -> Result<std::span<const std::uint8_t>> {
    return fail(ErrorCategory::kProtocolError, "bad reference");
  };
  auto refused = msgpack_to_json(msgpack, {}, refuse);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "bad reference");
  const std::vector<std::uint8_t> big(1000, 7);
  const ExtBytes large =
      [&](std::uint8_t, std::span<const std::uint8_t>) -> Result<std::span<const std::uint8_t>> {
    return std::span<const std::uint8_t>(big);
  };
  TranscodeLimits limits;
  limits.max_output_bytes = 500;
  auto too_large = msgpack_to_json(msgpack, limits, large);
  ASSERT_FALSE(too_large);
  EXPECT_NE(too_large.error().message.find("more than the limit of 500"), std::string::npos);
}

TEST(TranscodeTest, SaysWhetherBytesBecameABinHoweverTheKeyWasWritten) {
  const std::pair<const char*, bool> cases[] = {
      {R"({"a":[1,"__bytes__"]})", false},
      {R"({"a":{"__bytes__":5}})", false},
      {R"({"a":{"__bytes__":"AQ==","b":1}})", false},
      {R"({"a":[{"__bytes__":"AQ=="}]})", true},
      {R"({"a":{"\u005f_bytes__":"AQ=="}})", true},
  };
  for (const auto& [text, expected] : cases) {
    bool holds_bytes = !expected;
    ASSERT_TRUE(json_to_msgpack(text, {}, &holds_bytes).ok()) << text;
    EXPECT_EQ(holds_bytes, expected) << text;
  }
}

}  // namespace
}  // namespace mlbridge::protocol
