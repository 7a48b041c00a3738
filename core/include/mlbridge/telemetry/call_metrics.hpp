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

namespace mlbridge::telemetry {

/// The figures of one command.
struct CommandMetrics {
  std::uint64_t ok = 0;                           ///< Calls that succeeded.
  std::map<ErrorCategory, std::uint64_t> failed;  ///< Failed calls by category.
  LatencyHistogram queue_wait;                    ///< Submission to start on a worker.
  LatencyHistogram execution;                     ///< Start on a worker to its answer.
  LatencyHistogram total;                         ///< Submission to completion.
};

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
