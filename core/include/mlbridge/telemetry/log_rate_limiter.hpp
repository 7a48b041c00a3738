#pragma once

/// @file
/// A token bucket for one source of log lines (a worker's stderr): lines per second and bytes
/// per second, each with a burst. What it refuses is counted, so the owner can log a summary
/// ("suppressed N lines (M bytes)") instead of the lines. One owner, one thread (the host's
/// event loop for a worker); not thread-safe.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace mlbridge::telemetry {

/// The limits, named like the configuration they come from.
struct LogRateLimit {
  double lines_per_s = 200;                   ///< Sustained lines per second.
  double bytes_per_s = 256 * 1024;            ///< Sustained bytes per second.
  double burst_lines = 2000;                  ///< Lines logged at once after a quiet spell.
  double burst_bytes = 1024 * 1024;           ///< Bytes logged at once after a quiet spell.
  std::chrono::seconds summary_interval{10};  ///< At most one summary per interval.
};

/// Lines and bytes refused since the last report.
struct SuppressedLines {
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  std::chrono::steady_clock::duration over{};  ///< Since the first of them was refused.
};

class LogRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  /// Starts with full buckets at `now`.
  explicit LogRateLimiter(LogRateLimit limit = {}, Clock::time_point now = Clock::now());

  /// Whether a line of `bytes` may be logged at `now`; a refused one is counted as suppressed.
  /// A line longer than the byte burst is admitted when the byte bucket is full.
  bool admit(std::size_t bytes, Clock::time_point now);

  /// The lines suppressed since the last report, when there are any and either `now` is at
  /// least summary_interval after the last report or `force` is set; the counts start over.
  std::optional<SuppressedLines> take_report(Clock::time_point now, bool force = false);

  /// Lines suppressed in all, since construction.
  std::uint64_t suppressed_total() const { return suppressed_total_; }
  const LogRateLimit& limit() const { return limit_; }

 private:
  void refill(Clock::time_point now);

  LogRateLimit limit_;
  double line_tokens_;
  double byte_tokens_;
  Clock::time_point refilled_;
  Clock::time_point reported_;
  Clock::time_point first_suppressed_{};
  SuppressedLines pending_;
  std::uint64_t suppressed_total_ = 0;
};

}  // namespace mlbridge::telemetry
