// Shared memory for large bytes: one memfd seen by a producer and a consumer in this process,
// as the host and a worker see it across two.

#include "mlbridge/protocol/shared_blobs.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <numeric>

namespace mlbridge::protocol {
namespace {

constexpr std::size_t kBound = 8 << 20;

std::vector<std::uint8_t> pattern(std::size_t size, std::uint8_t seed) {
  std::vector<std::uint8_t> bytes(size);
  std::iota(bytes.begin(), bytes.end(), seed);
  return bytes;
}

struct Pair {
  SharedBlobs producer;
  SharedBlobs consumer;
};

Pair make_pair(std::size_t bound = kBound) {
  auto producer = SharedBlobs::create("shared-blobs-test", bound);
  EXPECT_TRUE(producer.ok());
  auto consumer = SharedBlobs::attach(process::UniqueFd(::dup(producer->fd())), bound);
  EXPECT_TRUE(consumer.ok());
  return {std::move(*producer), std::move(*consumer)};
}

// The offset a reference names (bytes 8..15, big-endian).
std::uint64_t offset_of(const json& reference) {
  std::uint64_t value = 0;
  for (int i = 8; i < 16; ++i) value = (value << 8) | reference.get_binary()[i];
  return value;
}

TEST(SharedBlobs, BytesComeOutAsTheyWentInAndTheSpaceIsReusedOnceTaken) {
  auto [producer, consumer] = make_pair();
  const auto first = pattern(3 << 20, 1);
  auto reference = producer.store(first);
  ASSERT_TRUE(reference.has_value());
  EXPECT_EQ(reference->get_binary().subtype(), kSharedBlobExt);
  auto taken = consumer.take(reference->get_binary(), kBound);
  ASSERT_TRUE(taken.ok()) << taken.error().message;
  EXPECT_EQ(*taken, first);

  // The consumer caught up, so the next blob starts at the header again (warm pages).
  auto again = producer.store(pattern(1000, 7));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(offset_of(*again), kSharedBlobHeaderBytes);
  EXPECT_EQ(offset_of(*reference), kSharedBlobHeaderBytes);
}

TEST(SharedBlobs, WhileTheConsumerIsBehindTheProducerAppendsAndTheFileGrows) {
  auto [producer, consumer] = make_pair();
  const auto a = pattern(2 << 20, 3), b = pattern(3 << 20, 5);
  auto ref_a = producer.store(a);
  auto ref_b = producer.store(b);  // `a` not taken yet: must not be overwritten
  ASSERT_TRUE(ref_a && ref_b);
  EXPECT_GE(offset_of(*ref_b), offset_of(*ref_a) + a.size());
  EXPECT_GE(producer.file_bytes(), offset_of(*ref_b) + b.size());
  EXPECT_EQ(*consumer.take(ref_a->get_binary(), kBound), a);  // the consumer maps the growth
  EXPECT_EQ(*consumer.take(ref_b->get_binary(), kBound), b);
}

TEST(SharedBlobs, BytesPastTheBoundStayInline) {
  auto [producer, consumer] = make_pair(1 << 20);
  EXPECT_FALSE(producer.store(pattern(2 << 20, 0)).has_value());
  EXPECT_EQ(producer.count(), 0u);
}

TEST(SharedBlobs, TheConsumerRefusesReferencesOutOfOrderOutsideTheFileOrTooLong) {
  auto [producer, consumer] = make_pair();
  auto first = producer.store(pattern(100, 0));
  auto second = producer.store(pattern(100, 1));
  ASSERT_TRUE(first && second);
  auto skipped = consumer.take(second->get_binary(), kBound);
  ASSERT_FALSE(skipped.ok());
  EXPECT_EQ(skipped.error().category, ErrorCategory::kProtocolError);
  EXPECT_NE(skipped.error().message.find("number 2 where 1 was next"), std::string::npos)
      << skipped.error().message;

  auto too_long = consumer.take(first->get_binary(), 10);
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.error().message.find("more than the 10"), std::string::npos);

  json::binary_t outside = first->get_binary();
  outside[8] = 0x7f;  // offset far past the file
  auto bad = consumer.take(outside, kBound);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("outside the shared file"), std::string::npos);

  auto short_one =
      consumer.take(json::binary_t(std::vector<std::uint8_t>(5), kSharedBlobExt), kBound);
  ASSERT_FALSE(short_one.ok());
  EXPECT_NE(short_one.error().message.find("has 5 bytes"), std::string::npos);
}

TEST(SharedBlobs, TheFileCannotBeShrunkUnderTheOtherSidesMapping) {
  auto [producer, consumer] = make_pair();
  ASSERT_TRUE(producer.store(pattern(2 << 20, 0)).has_value());
  EXPECT_NE(::ftruncate(consumer.fd(), 0), 0);
}

TEST(SharedBlobs, LargeBytesAtAnyDepthMoveOutAndBackIn) {
  auto [producer, consumer] = make_pair();
  const auto big = pattern(2 << 20, 9), small = pattern(10, 2);
  json message = {{"args",
                   {{"data", json::binary(big)},
                    {"list", json::array({json::binary(small), json::binary(big)})},
                    {"n", 1}}}};
  const json original = message;
  EXPECT_EQ(move_blobs_out(message, producer, 1 << 20), 2 * big.size());
  EXPECT_EQ(message["args"]["list"][0], json::binary(small));  // below the threshold: inline
  EXPECT_EQ(message["args"]["data"].get_binary().size(), 24u);
  ASSERT_TRUE(bring_blobs_in(message, consumer, kBound).ok());
  EXPECT_EQ(message, original);
}

TEST(SharedBlobs, BringingInStopsAtTheBudget) {
  auto [producer, consumer] = make_pair();
  json message =
      json::array({json::binary(pattern(2 << 20, 0)), json::binary(pattern(2 << 20, 1))});
  move_blobs_out(message, producer, 1);
  auto in = bring_blobs_in(message, consumer, 3 << 20);
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(in.error().category, ErrorCategory::kProtocolError);
}

TEST(SharedBlobs, ARollbackForgetsStoresWhoseFrameWasNeverSent) {
  auto [producer, consumer] = make_pair();
  const auto mark = producer.mark();
  ASSERT_TRUE(producer.store(pattern(100, 0)).has_value());
  producer.rollback(mark);
  auto next = producer.store(pattern(100, 4));
  ASSERT_TRUE(next.has_value());
  auto taken = consumer.take(next->get_binary(), kBound);  // number 1 again: no gap
  ASSERT_TRUE(taken.ok()) << taken.error().message;
  EXPECT_EQ(*taken, pattern(100, 4));
}

}  // namespace
}  // namespace mlbridge::protocol

namespace mlbridge::protocol {
namespace {

std::span<const std::uint8_t> data_of(const json& reference) {
  return std::span<const std::uint8_t>(reference.get_binary().data(),
                                       reference.get_binary().size());
}

TEST(SharedBlobs, AViewIsTheBlobAndFreesItsSpaceOnlyWhenCommitted) {
  auto [producer, consumer] = make_pair();
  const auto first = pattern(2 << 20, 3);
  auto reference = producer.store(first);
  ASSERT_TRUE(reference.has_value());
  auto view = consumer.take_view(data_of(*reference), kBound);
  ASSERT_TRUE(view.ok()) << view.error().message;
  EXPECT_TRUE(std::equal(view->begin(), view->end(), first.begin(), first.end()));
  // Not committed: the producer must not write over it.
  auto second = producer.store(pattern(100, 4));
  ASSERT_TRUE(second.has_value());
  EXPECT_GE(offset_of(*second), offset_of(*reference) + first.size());
  consumer.commit_taken();
  EXPECT_TRUE(consumer.take(second->get_binary(), kBound).ok());
  auto third = producer.store(pattern(100, 5));
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(offset_of(*third), kSharedBlobHeaderBytes);  // caught up: space reused
}

TEST(SharedBlobs, ARolledBackViewIsTakenAgainAndABadOneFails) {
  auto [producer, consumer] = make_pair();
  auto reference = producer.store(pattern(1000, 6));
  ASSERT_TRUE(reference.has_value());
  const auto mark = consumer.mark();
  ASSERT_TRUE(consumer.take_view(data_of(*reference), kBound).ok());
  EXPECT_FALSE(consumer.take_view(data_of(*reference), kBound).ok());  // number 1 again
  consumer.rollback(mark);
  EXPECT_TRUE(consumer.take(reference->get_binary(), kBound).ok());
  EXPECT_FALSE(consumer.take_view(data_of(*reference), 10).ok());  // out of order and too long
}

}  // namespace
}  // namespace mlbridge::protocol
