#pragma once

/// @file
/// A bridge's retry budget, a token bucket: each first attempt deposits a fraction of a token,
/// each retry withdraws a whole one, so retries cannot multiply the load on a backend that is
/// down (the idea of Finagle's RetryBudget and gRPC's retry throttling, without the clock).
///
/// Threading: every member function is thread-safe.

#include <cstdint>
#include <mutex>

#include "mlbridge/ops/retry_policy.hpp"

namespace mlbridge::ops {

class RetryBudget {
 public:
  explicit RetryBudget(const RetrySettings& settings);

  /// A first attempt: adds budget_percent / 100 of a token, up to the budget.
  void deposit();
  /// Takes a token for a retry; false (and counted) when none is left.
  bool withdraw();
  /// New settings (live reconfiguration): the capacity changes, the tokens saved stay (capped).
  void configure(const RetrySettings& settings);

  struct Snapshot {
    double tokens = 0;
    std::uint64_t retries = 0;    ///< Retries granted.
    std::uint64_t exhausted = 0;  ///< Retries refused for want of a token.
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

}  // namespace mlbridge::ops
