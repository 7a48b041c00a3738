#pragma once

/// @file
/// When a failed call may be tried again, and how long to wait first: the `retry:` and
/// `idempotent:` keys of a bridge. Only commands marked idempotent (by the plugin's defaults or
/// the YAML) are retried, only for categories that a second try can fix, and only when the retry
/// can finish within the caller's deadline. Plain value and pure functions; any thread.
///
/// This is the host's retry layer. A framework that retries its own requests (LiteLLM in DSPy,
/// the OpenAI client in LangChain) is another; the DSPy and LangChain plugins turn the host's
/// off by default (`retry.max_attempts: 1`) and refuse a config where both would retry, so that
/// one failed call never costs attempts × framework retries provider requests.

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "mlbridge/errors/error.hpp"

namespace mlbridge::ops {

/// `retry:` — how idempotent calls are retried.
struct RetrySettings {
  std::uint32_t max_attempts = 3;  ///< Tries in all, the first included (1: never retry).
  std::chrono::milliseconds backoff_initial{100};  ///< Upper bound of the first wait.
  std::chrono::milliseconds backoff_max{2000};     ///< Cap of the exponential growth.
  /// Retry budget: at most this many retry tokens saved up (and the number it starts with).
  std::uint32_t budget = 10;
  /// Each first attempt adds budget_percent / 100 of a token; each retry spends one. With 20,
  /// retries add at most a fifth to the load once the saved tokens are gone.
  std::uint32_t budget_percent = 20;
};

class RetryPolicy {
 public:
  RetryPolicy(RetrySettings settings, std::vector<std::string> idempotent_commands);

  const RetrySettings& settings() const { return settings_; }
  bool is_idempotent(const std::string& command) const;

  /// Whether an error's category is one a retry may cure: worker_crashed, overloaded and
  /// rate_limit always; model_error only when the error says it is retryable.
  static bool is_retryable(const Error& error);

  /// The wait before attempt `next_attempt` (2 for the first retry): full jitter, uniform in
  /// [0, min(backoff_max, backoff_initial * 2^(next_attempt - 2))].
  std::chrono::milliseconds backoff(std::uint32_t next_attempt, std::mt19937_64& rng) const;

  /// Whether a retry started after `delay` from `now` can finish before `deadline`, taking as
  /// long as the attempt that just failed (`last_attempt`): the best estimate of the next one
  /// (a provider that took 20 s to answer 503 will take as long again). A retry that cannot is
  /// never started, so the caller gets the real error before its deadline instead of a timeout
  /// at it, and the provider no request whose answer nobody waits for. Pure; any thread.
  static bool fits_before_deadline(std::chrono::steady_clock::time_point now,
                                   std::chrono::milliseconds delay,
                                   std::chrono::steady_clock::duration last_attempt,
                                   std::chrono::steady_clock::time_point deadline);

 private:
  RetrySettings settings_;
  std::vector<std::string> idempotent_;
};

}  // namespace mlbridge::ops
