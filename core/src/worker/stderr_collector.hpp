#pragma once

// Splits a worker's stderr into lines, logs each one tagged with bridge and worker, and keeps the
// last lines for error reports, with the worker's secrets redacted from both. Loop-thread only.
//
// Redaction happens before anything is cut: a line is redacted whole once its newline arrives,
// however many reads it took. A line longer than kMaxLineBytes is let go in pieces, but each cut
// holds back the last (longest secret - 1) bytes and never splits a secret it can see, so a key
// that straddles a cut is blanked as if the line had been whole.
//
// Logging is rate limited (telemetry::LogRateLimiter): past the limit lines are counted, not
// logged, and a summary ("suppressed N lines (M bytes)") follows at most every
// LogRateLimit::summary_interval, when logging resumes and when the worker's stderr ends. The
// tail kept for error reports always takes every line, so an error still quotes the latest ones.

#include <chrono>
#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "mlbridge/telemetry/log_rate_limiter.hpp"
#include "mlbridge/telemetry/redactor.hpp"

namespace mlbridge::worker {

class StderrCollector {
 public:
  using Clock = std::chrono::steady_clock;

  /// A piece of one line longer than this is logged on its own (the line is cut).
  static constexpr std::size_t kMaxLineBytes = 4096;

  StderrCollector(std::string tag, std::size_t max_lines, telemetry::Redactor redactor = {},
                  telemetry::LogRateLimit rate_limit = {})
      : tag_(std::move(tag)),
        max_lines_(max_lines),
        redactor_(std::move(redactor)),
        limiter_(rate_limit) {}

  void feed(std::string_view bytes) { feed(bytes, Clock::now()); }
  /// The same, at a given time (tests of the rate limit).
  void feed(std::string_view bytes, Clock::time_point now);
  /// Emits a final unterminated line, if any, and the summary of suppressed lines, if any.
  void flush();
  std::vector<std::string> tail() const { return {lines_.begin(), lines_.end()}; }
  /// The last `n` lines joined with " | ", at most about 600 characters, for one-line errors.
  std::string summary(std::size_t n = 6) const;

 private:
  void cut_long_line(Clock::time_point now);
  void emit(std::string line, Clock::time_point now);
  void report_suppressed(Clock::time_point now, bool force);

  std::string tag_;
  std::size_t max_lines_;
  telemetry::Redactor redactor_;
  telemetry::LogRateLimiter limiter_;
  bool suppressing_ = false;
  std::string partial_;
  std::deque<std::string> lines_;
};

}  // namespace mlbridge::worker
