// Which failures are retried, how long the waits are, and the retry budget.

#include "mlbridge/ops/retry_policy.hpp"

#include <gtest/gtest.h>

#include "mlbridge/ops/retry_budget.hpp"

namespace mlbridge::ops {
namespace {

using namespace std::chrono_literals;

TEST(RetryPolicy, RetriesOnlyCategoriesASecondTryCanCure) {
  for (auto category :
       {ErrorCategory::kWorkerCrashed, ErrorCategory::kOverloaded, ErrorCategory::kRateLimit}) {
    EXPECT_TRUE(RetryPolicy::is_retryable(Error::make(category, "x"))) << to_string(category);
  }
  for (auto category :
       {ErrorCategory::kInvalidArgument, ErrorCategory::kTimeout, ErrorCategory::kSessionLost,
        ErrorCategory::kCancelled, ErrorCategory::kBridgeUnavailable, ErrorCategory::kInternal}) {
    EXPECT_FALSE(RetryPolicy::is_retryable(Error::make(category, "x"))) << to_string(category);
  }
  Error model = Error::make(ErrorCategory::kModelError, "x");
  EXPECT_FALSE(RetryPolicy::is_retryable(model));
  model.retryable = true;  // e.g. an errors: rule with retryable: true
  EXPECT_TRUE(RetryPolicy::is_retryable(model));
}

TEST(RetryPolicy, KnowsItsIdempotentCommands) {
  const RetryPolicy policy({}, {"embed", "get"});
  EXPECT_TRUE(policy.is_idempotent("embed"));
  EXPECT_FALSE(policy.is_idempotent("generate"));
}

TEST(RetryPolicy, BackoffGrowsExponentiallyWithJitterUpToTheCap) {
  const RetryPolicy policy({.backoff_initial = 100ms, .backoff_max = 350ms}, {});
  std::mt19937_64 rng(7);
  std::chrono::milliseconds longest[5]{};
  for (int i = 0; i < 2000; ++i) {
    for (std::uint32_t attempt = 2; attempt <= 4; ++attempt) {
      const auto wait = policy.backoff(attempt, rng);
      EXPECT_GE(wait.count(), 0);
      longest[attempt] = std::max(longest[attempt], wait);
    }
  }
  EXPECT_LE(longest[2], 100ms);
  EXPECT_GT(longest[2], 90ms);  // 2000 draws come close to the bound
  EXPECT_LE(longest[3], 200ms);
  EXPECT_GT(longest[3], 100ms);
  EXPECT_LE(longest[4], 350ms);
  EXPECT_GT(longest[4], 200ms);
}

TEST(RetryPolicy, StartsOnlyARetryThatCanFinishBeforeTheDeadline) {
  const auto now = std::chrono::steady_clock::time_point{} + 1h;
  const auto deadline = now + 10s;
  // A fast failure (a 429 in 50 ms) leaves room for a retry after its backoff.
  EXPECT_TRUE(RetryPolicy::fits_before_deadline(now, 100ms, 50ms, deadline));
  // A slow failure (a 503 after 6 s) would need 6 s again: with 5 s left it is not retried.
  EXPECT_FALSE(RetryPolicy::fits_before_deadline(now + 5s, 0ms, 6s, deadline));
  EXPECT_TRUE(RetryPolicy::fits_before_deadline(now + 3s, 0ms, 6s, deadline));
  // The backoff counts too, and a retry that would end exactly at the deadline is not started.
  EXPECT_FALSE(RetryPolicy::fits_before_deadline(now, 4s, 6s, deadline));
  EXPECT_FALSE(RetryPolicy::fits_before_deadline(now, 10s, 0ms, deadline));
  EXPECT_FALSE(RetryPolicy::fits_before_deadline(deadline, 0ms, 0ms, deadline));
  EXPECT_FALSE(RetryPolicy::fits_before_deadline(deadline + 1s, 0ms, 0ms, deadline));
}

TEST(RetryBudget, SpendsItsTokensThenEarnsAFractionPerCall) {
  RetryBudget budget({.budget = 2, .budget_percent = 50});
  EXPECT_TRUE(budget.withdraw());
  EXPECT_TRUE(budget.withdraw());
  EXPECT_FALSE(budget.withdraw());
  budget.deposit();
  EXPECT_FALSE(budget.withdraw()) << "half a token is not enough";
  budget.deposit();
  EXPECT_TRUE(budget.withdraw());
  for (int i = 0; i < 100; ++i) budget.deposit();
  EXPECT_DOUBLE_EQ(budget.snapshot().tokens, 2.0) << "capped at the budget";
  const auto s = budget.snapshot();
  EXPECT_EQ(s.retries, 3u);
  EXPECT_EQ(s.exhausted, 2u);
}

TEST(RetryBudget, ReconfiguringCapsTheSavedTokens) {
  RetryBudget budget({.budget = 10, .budget_percent = 0});
  budget.configure({.budget = 1, .budget_percent = 0});
  EXPECT_TRUE(budget.withdraw());
  EXPECT_FALSE(budget.withdraw());
}

}  // namespace
}  // namespace mlbridge::ops
