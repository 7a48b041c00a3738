#pragma once

/// @file
/// A bridge's circuit breaker (the `circuit_breaker:` key). Closed: calls pass; after
/// `failures` consecutive failures of the categories that mean the backend is down
/// (model_error, rate_limit, bridge_unavailable, timeout) it opens, and calls fail fast with
/// bridge_unavailable for `cooldown`. Then it is half-open: up to `probes` calls pass at once;
/// the first that fails opens it again, `probes` successes close it. Other outcomes (a bad
/// argument, a cancelled call) say nothing about the backend and change nothing.
///
/// Threading: every member function is thread-safe. Times come from the caller, so tests can
/// drive it without waiting.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "mlbridge/errors/error.hpp"
#include "mlbridge/ops/ops_stats.hpp"

namespace mlbridge::ops {

/// `circuit_breaker:`.
struct CircuitBreakerSettings {
  std::uint32_t failures = 0;  ///< Consecutive failures that open it (0: no breaker).
  std::chrono::milliseconds cooldown{30000};  ///< Open this long before probing.
  std::uint32_t probes = 1;  ///< Calls let through while half-open; this many successes close it.
};

enum class CircuitState { kClosed, kOpen, kHalfOpen };
std::string_view to_string(CircuitState state);

/// A circuit breaker's figures (ops_stats.hpp), in the order `/metrics` lists their families:
/// members of CircuitBreaker::Snapshot and keys of `"circuit"` in `Bridge::describe()`.
#define MLBRIDGE_CIRCUIT_STATS(COUNTER, GAUGE)                                             \
  GAUGE(::mlbridge::ops::CircuitState, state, "state", "mlbridge_circuit_state", "", "",   \
        "Circuit breaker state: 0 closed, 1 open, 2 half-open (probing).")                 \
  GAUGE(bool, enabled, "enabled", "", "", "", "Whether the bridge has a circuit breaker.") \
  GAUGE(std::uint32_t, consecutive_failures, "consecutive_failures", "", "", "",           \
        "Failures in a row that count against the backend.")                               \
  COUNTER(opened, "opened", "mlbridge_circuit_opened_total", "", "",                       \
          "Times the circuit breaker opened.")                                             \
  COUNTER(rejected, "rejected", "mlbridge_circuit_rejected_total", "", "",                 \
          "Calls failed fast because the circuit was open.")

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;

  explicit CircuitBreaker(CircuitBreakerSettings settings = {});

  /// What admit() decided for one call.
  struct Admission {
    bool allowed = true;
    bool probe = false;              ///< The call is a half-open probe: pass it to record().
    std::optional<Error> rejection;  ///< bridge_unavailable when not allowed.
  };
  /// Asks to run a call now. `bridge` and `command` name it in the rejection.
  Admission admit(Clock::time_point now, const std::string& bridge, const std::string& command);

  /// The outcome of an admitted call (nullptr: success). `probe` as admit() said.
  void record(const Error* failure, bool probe, Clock::time_point now);

  /// Whether a failure of this category counts against the backend.
  static bool counts(ErrorCategory category);

  /// New thresholds (live reconfiguration). Turning it off (failures 0) closes it.
  void configure(CircuitBreakerSettings settings);

  /// The breaker's state and counters: the figures of MLBRIDGE_CIRCUIT_STATS, and what opened it.
  struct Snapshot {
    MLBRIDGE_GENERATE_OPS_STAT_MEMBERS(MLBRIDGE_CIRCUIT_STATS)
    std::string opened_at;               ///< UTC ISO-8601 time it last opened; "" if never.
    std::string last_error;              ///< The failure that opened it.
    std::uint64_t probes_in_flight = 0;  ///< Half-open probes running (not reported).
  };
  Snapshot snapshot(Clock::time_point now) const;

 private:
  void open(Clock::time_point now, const std::string& why);
  void refresh(Clock::time_point now);  // open → half-open once the cool-down is over

  mutable std::mutex mutex_;
  CircuitBreakerSettings settings_;
  CircuitState state_ = CircuitState::kClosed;
  std::uint32_t consecutive_ = 0;
  std::uint32_t probe_successes_ = 0;
  std::uint32_t probes_in_flight_ = 0;
  Clock::time_point opened_;
  std::string opened_at_;
  std::string last_error_;
  std::uint64_t opened_count_ = 0;
  std::uint64_t rejected_ = 0;
};

/// The declarations of MLBRIDGE_CIRCUIT_STATS, in list order.
inline constexpr OpsStatSpec kCircuitStatSpecs[] =
    MLBRIDGE_GENERATE_OPS_STAT_SPECS(MLBRIDGE_CIRCUIT_STATS);

/// Calls visit(const OpsStatSpec&, value) for each figure of `stats`, in list order.
template <typename Visit>
void visit_stats(const CircuitBreaker::Snapshot& stats, Visit&& visit) {
  MLBRIDGE_GENERATE_OPS_STAT_VISIT(MLBRIDGE_CIRCUIT_STATS, kCircuitStatSpecs);
}

}  // namespace mlbridge::ops
