#pragma once

/// @file
/// Per-command call metrics of one bridge, fed by its pool's telemetry events: calls by outcome
/// and error category, and latency histograms of queue wait, execution and total time. What
/// `/metrics` renders per bridge and command. Commands the bridge's workers did not declare are
/// counted together under CommandLabels::kUnknown, so the number of series stays bounded
/// whatever names clients send.
///
/// Threading: record() runs on the event loop (as an EventBus subscriber); snapshot() may be
/// called from any thread. Both take a short lock.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "mlbridge/errors/error.hpp"
#include "mlbridge/telemetry/command_labels.hpp"
#include "mlbridge/telemetry/events.hpp"
#include "mlbridge/telemetry/histogram.hpp"
#include "mlbridge/telemetry/stat_spec.hpp"

namespace mlbridge::telemetry {

/// The figures of one command: `KIND(member, family, state, help)` (stat_spec.hpp). `/metrics`
/// renders each with `bridge` and `command` labels; the `ok` counter and CommandMetrics::failed
/// share the family mlbridge_calls_total, told apart by `outcome` and `category` labels.
#define MLBRIDGE_CALL_STATS(COUNTER, GAUGE, HISTOGRAM)                                            \
  COUNTER(ok, "mlbridge_calls_total", "",                                                         \
          "Completed calls by bridge, command, outcome (ok or error) and error category.")        \
  HISTOGRAM(queue_wait, "mlbridge_call_queue_wait_seconds", "",                                   \
            "Time from submission until a worker started the call.")                              \
  HISTOGRAM(execution, "mlbridge_call_execution_seconds", "", "Time a worker spent on the call.") \
  HISTOGRAM(total, "mlbridge_call_duration_seconds", "", "Time from submission to completion.")

/// The figures of one command.
struct CommandMetrics {
  std::map<ErrorCategory, std::uint64_t> failed;  ///< Failed calls by category.
  MLBRIDGE_GENERATE_STAT_MEMBERS(MLBRIDGE_CALL_STATS)
};

/// The declarations of MLBRIDGE_CALL_STATS, in list order.
inline constexpr StatSpec kCallStatSpecs[] = MLBRIDGE_GENERATE_STAT_SPECS(MLBRIDGE_CALL_STATS);

/// Calls visit(const StatSpec&, value) for each declared figure of `stats`, in list order.
template <typename Visit>
void visit_stats(const CommandMetrics& stats, Visit&& visit) {
  MLBRIDGE_GENERATE_STAT_VISIT(MLBRIDGE_CALL_STATS, kCallStatSpecs);
}

class CallMetrics {
 public:
  /// Counts a kCallFinished event under its command's label; learns the bridge's commands from a
  /// kWorkerStarted event; other events are ignored.
  void record(const Event& event);
  /// A copy of every label's figures, by label (a declared command's name, or "_unknown").
  std::map<std::string, CommandMetrics> snapshot() const;

 private:
  mutable std::mutex mutex_;
  CommandLabels labels_;
  std::map<std::string, CommandMetrics> commands_;
};

}  // namespace mlbridge::telemetry
