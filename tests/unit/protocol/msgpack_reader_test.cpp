// read_msgpack (core/src/protocol/msgpack_reader.hpp) builds exactly the value nlohmann's
// from_msgpack builds, for every MessagePack type, and refuses what it refuses.

#include "msgpack_reader.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

namespace mlbridge::protocol {
namespace {

using json = nlohmann::json;
using Bytes = std::vector<std::uint8_t>;

// The reference: nlohmann's own decoder, strict, without exceptions.
std::optional<json> reference(const Bytes& bytes) {
  json value = json::from_msgpack(bytes.begin(), bytes.end(), true, false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

void expect_same_as_reference(const Bytes& bytes) {
  auto ours = read_msgpack(bytes);
  auto theirs = reference(bytes);
  ASSERT_EQ(ours.has_value(), theirs.has_value());
  if (!ours) return;
  EXPECT_EQ(*ours, *theirs);
  EXPECT_EQ(ours->type(), theirs->type()) << ours->dump();
}

TEST(MsgpackReaderTest, DecodesEveryTypeAsNlohmannDoes) {
  const std::vector<json> values = {
      nullptr,
      true,
      false,
      0,
      127,
      128,
      255,
      256,
      65535,
      65536,
      4294967295ull,
      4294967296ull,
      std::numeric_limits<std::uint64_t>::max(),
      -1,
      -32,
      -33,
      -128,
      -129,
      -32768,
      -32769,
      -2147483648ll,
      -2147483649ll,
      std::numeric_limits<std::int64_t>::min(),
      0.5,
      -1.25e300,
      "",
      "short",
      std::string(31, 'a'),
      std::string(32, 'b'),
      std::string(255, 'c'),
      std::string(256, 'd'),
      std::string(70000, 'e'),
      "ünïcode ✓",
      json::binary({}),
      json::binary({1, 2, 3}),
      json::binary(std::vector<std::uint8_t>(300, 7)),
      json::binary(std::vector<std::uint8_t>(70000, 9)),
      json::binary({1, 2, 3, 4}, 5),  // an ext
      json::array(),
      json::array({1, "two", nullptr, true, 2.5}),
      json::object(),
      {{"type", "request"}, {"id", 17}, {"args", {{"nested", {{"deep", {1, 2, {{"x", "y"}}}}}}}}},
  };
  for (const auto& value : values) {
    SCOPED_TRACE(value.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 80));
    expect_same_as_reference(json::to_msgpack(value));
  }
  // Large containers: 16- and 32-bit counts.
  json big_array = json::array();
  json big_map = json::object();
  for (int i = 0; i < 70000; ++i) {
    big_array.push_back(i);
    if (i < 20) big_map["k" + std::to_string(i)] = i;
  }
  expect_same_as_reference(json::to_msgpack(big_array));
  expect_same_as_reference(json::to_msgpack(big_map));
}

TEST(MsgpackReaderTest, DecodesFloat32AndExplicitlySizedEncodings) {
  // Encodings nlohmann never writes but Python's msgpack may: float32, str8 of a short string,
  // int64 of a small number, fixext, map16 of one entry.
  const std::vector<Bytes> inputs = {
      {0xca, 0x3f, 0xc0, 0x00, 0x00},                                       // float32 1.5
      {0xd9, 0x02, 'h', 'i'},                                               // str8 "hi"
      {0xd3, 0, 0, 0, 0, 0, 0, 0, 5},                                       // int64 5
      {0xcf, 0, 0, 0, 0, 0, 0, 0, 5},                                       // uint64 5
      {0xd4, 0x01, 0xaa},                                                   // fixext1
      {0xd8, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},  // fixext16
      {0xc7, 0x02, 0x03, 0xaa, 0xbb},                                       // ext8
      {0xde, 0x00, 0x01, 0xa1, 'a', 0x01},                                  // map16 {"a": 1}
      {0xdc, 0x00, 0x02, 0xc3, 0xc2},                                       // array16 [true, false]
      {0x81, 0xa1, 'a', 0x01, 0x81, 0xa1, 'a', 0x02},                       // trailing bytes
  };
  for (const auto& input : inputs) expect_same_as_reference(input);
  EXPECT_EQ(read_msgpack(inputs[0]).value(), 1.5);
}

TEST(MsgpackReaderTest, RefusesMalformedInput) {
  const std::vector<Bytes> inputs = {
      {},                                    // nothing
      {0xc1},                                // the reserved marker
      {0xa5, 'a', 'b'},                      // a string cut short
      {0xc6, 0xff, 0xff, 0xff, 0xff, 0x00},  // 4 GiB of bytes promised, one given
      {0xdd, 0xff, 0xff, 0xff, 0xff},        // 4 billion elements promised
      {0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0},  // 2 billion entries promised
      {0x81, 0x01, 0x02},                    // a map key that is not a string
      {0x92, 0x01},                          // an array cut short
      {0xcd, 0x01},                          // a uint16 cut short
      {0xc0, 0xc0},                          // trailing bytes
  };
  for (const auto& input : inputs) {
    EXPECT_FALSE(read_msgpack(input).has_value()) << "input of " << input.size() << " bytes";
  }
}

TEST(MsgpackReaderTest, RefusesNestingDeeperThanItsLimitInsteadOfOverflowingTheStack) {
  Bytes deep(100000, 0x91);  // [[[[...
  deep.push_back(0xc0);
  EXPECT_FALSE(read_msgpack(deep).has_value());
  Bytes fine(kMaxNesting, 0x91);
  fine.push_back(0xc0);
  EXPECT_TRUE(read_msgpack(fine).has_value());
}

TEST(MsgpackReaderTest, Decodes16MiBOfBytesIntact) {
  std::vector<std::uint8_t> payload(16 * 1024 * 1024);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 31);
  const json message = {{"type", "response"}, {"result", {{"data", json::binary(payload)}}}};
  auto decoded = read_msgpack(json::to_msgpack(message));
  ASSERT_TRUE(decoded.has_value());
  const std::vector<std::uint8_t>& bytes = (*decoded)["result"]["data"].get_binary();
  EXPECT_TRUE(bytes == payload);
}

}  // namespace
}  // namespace mlbridge::protocol
