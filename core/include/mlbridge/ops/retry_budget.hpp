#pragma once

/// @file
/// A bridge's retry budget, a token bucket: each first attempt deposits a fraction of a token,
/// each retry withdraws a whole one, so retries cannot multiply the load on a backend that is
/// down (the idea of Finagle's RetryBudget and gRPC's retry throttling, without the clock).
///
/// Threading: every member function is thread-safe.

#include <cstdint>
#include <mutex>

#include "mlbridge/ops/ops_stats.hpp"
#include "mlbridge/ops/retry_policy.hpp"

namespace mlbridge::ops {

/// A retry budget's figures (ops_stats.hpp), in the order `/metrics` lists their families:
/// members of RetryBudget::Snapshot and keys of `"retries"` in `Bridge::describe()`.
#define MLBRIDGE_RETRY_STATS(COUNTER, GAUGE)                                                    \
  GAUGE(double, tokens, "budget_tokens", "", "", "", "Retry tokens left in the budget.")        \
  COUNTER(retries, "retried", "mlbridge_retries_total", "", "", "Retries of idempotent calls.") \
  COUNTER(exhausted, "budget_exhausted", "mlbridge_retry_budget_exhausted_total", "", "",       \
          "Retries refused because the bridge's retry budget was used up.")

class RetryBudget {
 public:
  explicit RetryBudget(const RetrySettings& settings);

  /// A first attempt: adds budget_percent / 100 of a token, up to the budget.
  void deposit();
  /// Takes a token for a retry; false (and counted) when none is left.
  bool withdraw();
  /// New settings (live reconfiguration): the capacity changes, the tokens saved stay (capped).
  void configure(const RetrySettings& settings);

  /// The figures of MLBRIDGE_RETRY_STATS: tokens left, retries granted, retries refused.
  struct Snapshot {
    MLBRIDGE_GENERATE_OPS_STAT_MEMBERS(MLBRIDGE_RETRY_STATS)
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  double capacity_;
  double deposit_;
  double tokens_;
  std::uint64_t retries_ = 0;
  std::uint64_t exhausted_ = 0;
};

/// The declarations of MLBRIDGE_RETRY_STATS, in list order.
inline constexpr OpsStatSpec kRetryStatSpecs[] =
    MLBRIDGE_GENERATE_OPS_STAT_SPECS(MLBRIDGE_RETRY_STATS);

/// Calls visit(const OpsStatSpec&, value) for each figure of `stats`, in list order.
template <typename Visit>
void visit_stats(const RetryBudget::Snapshot& stats, Visit&& visit) {
  MLBRIDGE_GENERATE_OPS_STAT_VISIT(MLBRIDGE_RETRY_STATS, kRetryStatSpecs);
}

}  // namespace mlbridge::ops
