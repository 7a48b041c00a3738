// The fields of many calls per worker: hello `concurrency` read at full width, and `cancel`.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "mlbridge/protocol/message.hpp"

namespace mlbridge::protocol {
namespace {

std::int64_t claimed_concurrency(json value) {
  auto parsed = parse_worker_message({{"type", "hello"}, {"protocol", 1}, {"concurrency", value}});
  EXPECT_TRUE(parsed.ok());
  return parsed.ok() ? std::get<Hello>(*parsed).concurrency : -12345;
}

TEST(HelloConcurrency, IsReadAsClaimedForTheWorkerToClamp) {
  EXPECT_EQ(claimed_concurrency(256), 256);
  EXPECT_EQ(claimed_concurrency(0), 0);
  EXPECT_EQ(claimed_concurrency(-5), -5);
}

TEST(HelloConcurrency, AHugeClaimDoesNotWrapAround) {
  EXPECT_EQ(claimed_concurrency(std::int64_t{1'000'000'000'000}), 1'000'000'000'000);
  // 2**32 + 1 would read as 1 through an int; 2**64 - 1 as -1 through an int64.
  EXPECT_EQ(claimed_concurrency(std::uint64_t{4'294'967'297}), 4'294'967'297);
  EXPECT_EQ(claimed_concurrency(std::numeric_limits<std::uint64_t>::max()),
            std::numeric_limits<std::int64_t>::max());
}

TEST(HelloConcurrency, MissingOrNotAnIntegerReadsAsOne) {
  auto parsed = parse_worker_message({{"type", "hello"}, {"protocol", 1}});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(std::get<Hello>(*parsed).concurrency, 1);
  EXPECT_EQ(claimed_concurrency("many"), 1);
  EXPECT_EQ(claimed_concurrency(2.5), 1);
}

TEST(CancelToJson, NamesTheRequest) {
  EXPECT_EQ(to_json(Cancel{17}), (json{{"type", "cancel"}, {"id", 17}}));
}

}  // namespace
}  // namespace mlbridge::protocol
