#include "mlbridge/ops/retry_policy.hpp"

#include <algorithm>

namespace mlbridge::ops {

RetryPolicy::RetryPolicy(RetrySettings settings, std::vector<std::string> idempotent_commands)
    : settings_(settings), idempotent_(std::move(idempotent_commands)) {}

bool RetryPolicy::is_idempotent(const std::string& command) const {
  return std::find(idempotent_.begin(), idempotent_.end(), command) != idempotent_.end();
}

bool RetryPolicy::is_retryable(const Error& error) {
  switch (error.category) {
    case ErrorCategory::kWorkerCrashed:
    case ErrorCategory::kOverloaded:
    case ErrorCategory::kRateLimit:
      return true;
    case ErrorCategory::kModelError:
      return error.retryable;
    default:
      return false;
  }
}

std::chrono::milliseconds RetryPolicy::backoff(std::uint32_t next_attempt,
                                               std::mt19937_64& rng) const {
  const std::int64_t max = settings_.backoff_max.count();
  std::int64_t cap = settings_.backoff_initial.count();
  for (std::uint32_t i = 2; i < next_attempt && cap < max; ++i) cap *= 2;
  cap = std::min(cap, max);
  if (cap <= 0) return std::chrono::milliseconds(0);
  std::uniform_int_distribution<std::int64_t> jitter(0, cap);
  return std::chrono::milliseconds(jitter(rng));
}

bool RetryPolicy::fits_before_deadline(std::chrono::steady_clock::time_point now,
                                       std::chrono::milliseconds delay,
                                       std::chrono::steady_clock::duration last_attempt,
                                       std::chrono::steady_clock::time_point deadline) {
  if (now >= deadline) return false;
  const auto left = deadline - now;
  const auto needed = std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay) +
                      std::max(last_attempt, std::chrono::steady_clock::duration::zero());
  return needed < left;
}

}  // namespace mlbridge::ops
