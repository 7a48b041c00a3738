// The circuit breaker driven with made-up times: no waiting.

#include "mlbridge/ops/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace mlbridge::ops {
namespace {

using namespace std::chrono_literals;
using Clock = CircuitBreaker::Clock;

Error failure(ErrorCategory category, const std::string& message = "upstream said 500") {
  return Error::make(category, message);
}

class CircuitBreakerTest : public ::testing::Test {
 protected:
  CircuitBreaker breaker{{.failures = 3, .cooldown = 1000ms, .probes = 2}};
  Clock::time_point t0 = Clock::now();

  CircuitBreaker::Admission admit(Clock::time_point at) { return breaker.admit(at, "b", "ask"); }
  void fail(Clock::time_point at, ErrorCategory category = ErrorCategory::kModelError,
            bool probe = false) {
    const Error e = failure(category);
    breaker.record(&e, probe, at);
  }
};

TEST_F(CircuitBreakerTest, OpensAfterConsecutiveBackendFailuresAndFailsFast) {
  fail(t0);
  fail(t0);
  EXPECT_TRUE(admit(t0).allowed);
  fail(t0, ErrorCategory::kTimeout);
  const auto rejected = admit(t0 + 1ms);
  ASSERT_FALSE(rejected.allowed);
  ASSERT_TRUE(rejected.rejection.has_value());
  EXPECT_EQ(rejected.rejection->category, ErrorCategory::kBridgeUnavailable);
  EXPECT_NE(rejected.rejection->message.find("circuit open since"), std::string::npos);
  EXPECT_NE(rejected.rejection->message.find("last error: timeout: upstream said 500"),
            std::string::npos);
  const auto s = breaker.snapshot(t0 + 1ms);
  EXPECT_EQ(s.state, CircuitState::kOpen);
  EXPECT_EQ(s.opened, 1u);
  EXPECT_EQ(s.rejected, 1u);
}

TEST_F(CircuitBreakerTest, ASuccessResetsTheCountAndOtherErrorsCountForNothing) {
  fail(t0);
  fail(t0);
  breaker.record(nullptr, false, t0);
  fail(t0);
  fail(t0, ErrorCategory::kInvalidArgument);
  fail(t0, ErrorCategory::kWorkerCrashed);
  fail(t0);
  EXPECT_TRUE(admit(t0).allowed);
  EXPECT_EQ(breaker.snapshot(t0).consecutive_failures, 2u);
}

TEST_F(CircuitBreakerTest, ProbesAfterTheCooldownThenClosesOnEnoughSuccesses) {
  for (int i = 0; i < 3; ++i) fail(t0);
  EXPECT_FALSE(admit(t0 + 999ms).allowed);
  const auto later = t0 + 1000ms;
  EXPECT_EQ(breaker.snapshot(later).state, CircuitState::kHalfOpen);
  const auto first = admit(later);
  const auto second = admit(later);
  EXPECT_TRUE(first.allowed && first.probe);
  EXPECT_TRUE(second.allowed && second.probe);
  EXPECT_FALSE(admit(later).allowed) << "only `probes` calls pass while half-open";
  breaker.record(nullptr, true, later);
  EXPECT_EQ(breaker.snapshot(later).state, CircuitState::kHalfOpen);
  breaker.record(nullptr, true, later);
  EXPECT_EQ(breaker.snapshot(later).state, CircuitState::kClosed);
  EXPECT_TRUE(admit(later).allowed);
}

TEST_F(CircuitBreakerTest, AFailedProbeOpensItAgainForAnotherCooldown) {
  for (int i = 0; i < 3; ++i) fail(t0);
  const auto later = t0 + 1500ms;
  ASSERT_TRUE(admit(later).probe);
  fail(later, ErrorCategory::kRateLimit, /*probe=*/true);
  EXPECT_EQ(breaker.snapshot(later).state, CircuitState::kOpen);
  EXPECT_FALSE(admit(later + 999ms).allowed);
  EXPECT_TRUE(admit(later + 1000ms).probe);
  EXPECT_EQ(breaker.snapshot(later).opened, 2u);
}

TEST(CircuitBreaker, IsOffWithZeroFailuresAndTurningItOffClosesIt) {
  CircuitBreaker off;
  const auto now = Clock::now();
  const Error e = failure(ErrorCategory::kModelError);
  for (int i = 0; i < 100; ++i) off.record(&e, false, now);
  EXPECT_TRUE(off.admit(now, "b", "c").allowed);
  EXPECT_FALSE(off.snapshot(now).enabled);

  CircuitBreaker on({.failures = 1, .cooldown = 60s, .probes = 1});
  on.record(&e, false, now);
  EXPECT_FALSE(on.admit(now, "b", "c").allowed);
  on.configure({.failures = 0});
  EXPECT_TRUE(on.admit(now, "b", "c").allowed);
  EXPECT_EQ(on.snapshot(now).state, CircuitState::kClosed);
}

}  // namespace
}  // namespace mlbridge::ops
