#include "mlbridge/protocol/frame.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mlbridge::protocol {
namespace {

std::vector<std::uint8_t> frame_of(const std::string& payload) {
  std::vector<std::uint8_t> frame(4);
  write_frame_header(frame.data(), static_cast<std::uint32_t>(payload.size()));
  frame.insert(frame.end(), payload.begin(), payload.end());
  return frame;
}

std::string as_string(std::span<const std::uint8_t> bytes) { return {bytes.begin(), bytes.end()}; }

TEST(FrameReader, ReadsAFrameDeliveredOneByteAtATime) {
  FrameReader reader;
  const auto frame = frame_of("hello world");
  for (std::size_t i = 0; i + 1 < frame.size(); ++i) {
    reader.feed({&frame[i], 1});
    auto next = reader.next();
    ASSERT_TRUE(next.ok());
    EXPECT_FALSE(next->has_value()) << "frame completed early at byte " << i;
  }
  reader.feed({&frame.back(), 1});
  auto next = reader.next();
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ(as_string(**next), "hello world");
  EXPECT_FALSE(reader.mid_frame());
}

TEST(FrameReader, ReadsSeveralFramesFromOneRead) {
  FrameReader reader;
  std::vector<std::uint8_t> bytes;
  for (const char* text : {"a", "bb", "ccc"}) {
    auto frame = frame_of(text);
    bytes.insert(bytes.end(), frame.begin(), frame.end());
  }
  reader.feed(bytes);
  std::vector<std::string> seen;
  for (;;) {
    auto next = reader.next();
    ASSERT_TRUE(next.ok());
    if (!*next) break;
    seen.push_back(as_string(**next));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "bb", "ccc"}));
}

TEST(FrameReader, ReadsALargeFrameThroughPrepareAndCommit) {
  FrameReader reader;
  const std::string payload(5 * 1024 * 1024 + 17, 'x');
  const auto frame = frame_of(payload);
  std::size_t offset = 0;
  std::optional<std::string> got;
  while (offset < frame.size() || !got) {
    auto region = reader.prepare();
    const std::size_t n = std::min(region.size(), frame.size() - offset);
    std::copy_n(frame.begin() + static_cast<std::ptrdiff_t>(offset), n, region.begin());
    reader.commit(n);
    offset += n;
    auto next = reader.next();
    ASSERT_TRUE(next.ok());
    if (*next) got = as_string(**next);
    if (offset == frame.size()) break;
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->size(), payload.size());
  EXPECT_EQ(*got, payload);
}

TEST(FrameReader, RejectsZeroLength) {
  FrameReader reader;
  const std::uint8_t zero[4] = {0, 0, 0, 0};
  reader.feed(zero);
  auto next = reader.next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().category, ErrorCategory::kProtocolError);
  EXPECT_NE(next.error().message.find("zero length"), std::string::npos);
}

TEST(FrameReader, RejectsTwoGibibyteLengthWithoutAllocating) {
  FrameReader reader;
  const std::uint8_t header[4] = {0x80, 0, 0, 0};
  reader.feed(header);
  auto next = reader.next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().category, ErrorCategory::kProtocolError);
  EXPECT_NE(next.error().message.find("2147483648"), std::string::npos);
  EXPECT_NE(next.error().message.find("max_frame_bytes"), std::string::npos);
}

TEST(FrameReader, NamesGarbageBytes) {
  FrameReader reader(1024);
  const std::string garbage = "this is not a frame";
  reader.feed({reinterpret_cast<const std::uint8_t*>(garbage.data()), garbage.size()});
  auto next = reader.next();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.error().message.find("this is not a fr"), std::string::npos)
      << next.error().message;
}

TEST(FrameReader, ReportsAPartialFrame) {
  FrameReader reader;
  auto frame = frame_of("truncated payload");
  reader.feed({frame.data(), 8});
  auto next = reader.next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
  EXPECT_TRUE(reader.mid_frame());
}

TEST(FrameHeader, IsBigEndian) {
  std::uint8_t header[4];
  write_frame_header(header, 0x01020304);
  EXPECT_EQ(header[0], 1);
  EXPECT_EQ(header[3], 4);
  EXPECT_EQ(read_frame_header(header), 0x01020304u);
}

}  // namespace
}  // namespace mlbridge::protocol
