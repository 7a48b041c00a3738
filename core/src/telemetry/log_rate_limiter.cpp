#include "mlbridge/telemetry/log_rate_limiter.hpp"

#include <algorithm>

namespace mlbridge::telemetry {

LogRateLimiter::LogRateLimiter(LogRateLimit limit, Clock::time_point now)
    : limit_(limit),
      line_tokens_(limit.burst_lines),
      byte_tokens_(limit.burst_bytes),
      refilled_(now),
      reported_(now) {}

void LogRateLimiter::refill(Clock::time_point now) {
  if (now <= refilled_) return;
  const double elapsed = std::chrono::duration<double>(now - refilled_).count();
  line_tokens_ = std::min(limit_.burst_lines, line_tokens_ + elapsed * limit_.lines_per_s);
  byte_tokens_ = std::min(limit_.burst_bytes, byte_tokens_ + elapsed * limit_.bytes_per_s);
  refilled_ = now;
}

bool LogRateLimiter::admit(std::size_t bytes, Clock::time_point now) {
  refill(now);
  const double cost = std::min(static_cast<double>(bytes), limit_.burst_bytes);
  if (line_tokens_ >= 1 && byte_tokens_ >= cost) {
    line_tokens_ -= 1;
    byte_tokens_ -= cost;
    return true;
  }
  if (pending_.lines == 0) first_suppressed_ = now;
  ++pending_.lines;
  pending_.bytes += bytes;
  ++suppressed_total_;
  return false;
}

std::optional<SuppressedLines> LogRateLimiter::take_report(Clock::time_point now, bool force) {
  if (pending_.lines == 0) return std::nullopt;
  if (!force && now - reported_ < limit_.summary_interval) return std::nullopt;
  SuppressedLines report = pending_;
  report.over = now - first_suppressed_;
  pending_ = {};
  reported_ = now;
  return report;
}

}  // namespace mlbridge::telemetry
