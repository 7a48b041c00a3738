#include "mlbridge/ops/circuit_breaker.hpp"

#include <ctime>

namespace mlbridge::ops {
namespace {

std::string utc_now_text() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

}  // namespace

std::string_view to_string(CircuitState state) {
  switch (state) {
    case CircuitState::kClosed:
      return "closed";
    case CircuitState::kOpen:
      return "open";
    case CircuitState::kHalfOpen:
      return "half_open";
  }
  return "closed";
}

CircuitBreaker::CircuitBreaker(CircuitBreakerSettings settings) : settings_(settings) {}

bool CircuitBreaker::counts(ErrorCategory category) {
  return category == ErrorCategory::kModelError || category == ErrorCategory::kRateLimit ||
         category == ErrorCategory::kBridgeUnavailable || category == ErrorCategory::kTimeout;
}

void CircuitBreaker::refresh(Clock::time_point now) {
  if (state_ == CircuitState::kOpen && now >= opened_ + settings_.cooldown) {
    state_ = CircuitState::kHalfOpen;
    probe_successes_ = 0;
    probes_in_flight_ = 0;
  }
}

CircuitBreaker::Admission CircuitBreaker::admit(Clock::time_point now, const std::string& bridge,
                                                const std::string& command) {
  std::lock_guard lock(mutex_);
  if (settings_.failures == 0) return {};
  refresh(now);
  if (state_ == CircuitState::kClosed) return {};
  if (state_ == CircuitState::kHalfOpen && probes_in_flight_ < settings_.probes) {
    ++probes_in_flight_;
    return {.allowed = true, .probe = true};
  }
  ++rejected_;
  const std::string until =
      state_ == CircuitState::kOpen
          ? "for the cool-down of circuit_breaker.cooldown_ms " + ms_text(settings_.cooldown) +
                ", then probe calls test the backend"
          : "while " + std::to_string(probes_in_flight_) + " probe call(s) test the backend";
  Error error = Error::make(ErrorCategory::kBridgeUnavailable,
                            "bridge '" + bridge + "': circuit open since " + opened_at_ +
                                " after " + std::to_string(settings_.failures) +
                                " consecutive failures, last error: " + last_error_ +
                                "; calls fail fast " + until);
  error.bridge = bridge;
  error.command = command;
  return {.allowed = false, .probe = false, .rejection = std::move(error)};
}

void CircuitBreaker::open(Clock::time_point now, const std::string& why) {
  state_ = CircuitState::kOpen;
  opened_ = now;
  opened_at_ = utc_now_text();
  last_error_ = why;
  probes_in_flight_ = 0;
  probe_successes_ = 0;
  ++opened_count_;
}

void CircuitBreaker::record(const Error* failure, bool probe, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (settings_.failures == 0) return;
  if (probe && probes_in_flight_ > 0) --probes_in_flight_;
  const bool counted = failure != nullptr && counts(failure->category);
  if (failure != nullptr && !counted) return;  // says nothing about the backend
  if (!counted) {
    consecutive_ = 0;
    if (probe && state_ == CircuitState::kHalfOpen && ++probe_successes_ >= settings_.probes) {
      state_ = CircuitState::kClosed;
      probe_successes_ = 0;
    }
    return;
  }
  ++consecutive_;
  if (probe && state_ == CircuitState::kHalfOpen) {
    open(now, failure->describe());
  } else if (state_ == CircuitState::kClosed && consecutive_ >= settings_.failures) {
    open(now, failure->describe());
  }
}

void CircuitBreaker::configure(CircuitBreakerSettings settings) {
  std::lock_guard lock(mutex_);
  settings_ = settings;
  if (settings_.failures == 0) {
    state_ = CircuitState::kClosed;
    consecutive_ = 0;
  }
}

CircuitBreaker::Snapshot CircuitBreaker::snapshot(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  Snapshot s;
  s.enabled = settings_.failures > 0;
  s.state = state_ == CircuitState::kOpen && now >= opened_ + settings_.cooldown
                ? CircuitState::kHalfOpen
                : state_;
  s.consecutive_failures = consecutive_;
  s.opened_at = opened_at_;
  s.last_error = last_error_;
  s.opened = opened_count_;
  s.rejected = rejected_;
  s.probes_in_flight = probes_in_flight_;
  return s;
}

}  // namespace mlbridge::ops
