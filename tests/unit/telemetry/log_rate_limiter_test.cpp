#include "mlbridge/telemetry/log_rate_limiter.hpp"

#include <gtest/gtest.h>

namespace mlbridge::telemetry {
namespace {

using namespace std::chrono_literals;
using Clock = LogRateLimiter::Clock;

LogRateLimit small_limit() {
  LogRateLimit limit;
  limit.lines_per_s = 10;
  limit.bytes_per_s = 1000;
  limit.burst_lines = 20;
  limit.burst_bytes = 2000;
  limit.summary_interval = 5s;
  return limit;
}

TEST(LogRateLimiterTest, AdmitsABurstThenRefusesAndCountsWhatItRefused) {
  const auto start = Clock::now();
  LogRateLimiter limiter(small_limit(), start);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(limiter.admit(10, start)) << i;
  EXPECT_FALSE(limiter.admit(10, start));
  EXPECT_FALSE(limiter.admit(30, start));
  EXPECT_EQ(limiter.suppressed_total(), 2u);
  auto report = limiter.take_report(start, /*force=*/true);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->lines, 2u);
  EXPECT_EQ(report->bytes, 40u);
  EXPECT_FALSE(limiter.take_report(start, /*force=*/true)) << "the counts start over";
}

TEST(LogRateLimiterTest, RefillsAtTheSustainedRate) {
  const auto start = Clock::now();
  LogRateLimiter limiter(small_limit(), start);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(limiter.admit(1, start));
  ASSERT_FALSE(limiter.admit(1, start));
  // 10 lines/s: half a second later five more lines pass, not six.
  const auto later = start + 500ms;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.admit(1, later)) << i;
  EXPECT_FALSE(limiter.admit(1, later));
}

TEST(LogRateLimiterTest, TheByteBucketLimitsLongLines) {
  const auto start = Clock::now();
  LogRateLimiter limiter(small_limit(), start);
  EXPECT_TRUE(limiter.admit(1500, start));
  EXPECT_FALSE(limiter.admit(600, start)) << "500 bytes are left of the burst";
  EXPECT_TRUE(limiter.admit(500, start));
  // A line longer than the whole burst passes when the bucket is full, and empties it.
  LogRateLimiter fresh(small_limit(), start);
  EXPECT_TRUE(fresh.admit(50000, start));
  EXPECT_FALSE(fresh.admit(1, start));
}

TEST(LogRateLimiterTest, ReportsAtMostOncePerIntervalUnlessForced) {
  const auto start = Clock::now();
  LogRateLimiter limiter(small_limit(), start);
  for (int i = 0; i < 25; ++i) (void)limiter.admit(1, start);
  EXPECT_FALSE(limiter.take_report(start + 1s)) << "within the interval";
  auto report = limiter.take_report(start + 5s);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->lines, 5u);
  EXPECT_EQ(report->over, 5s);
  EXPECT_FALSE(limiter.take_report(start + 20s)) << "nothing was suppressed since";
}

}  // namespace
}  // namespace mlbridge::telemetry
