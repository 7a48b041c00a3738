#pragma once

/// @file
/// Per-command call metrics of one bridge, fed by its pool's telemetry events: calls by outcome
/// and error category, and latency histograms of queue wait, execution and total time. What
/// `/metrics` renders per bridge and command.
///
/// Threading: record() runs on the event loop (as an EventBus subscriber); snapshot() may be
/// called from any thread. Both take a short lock.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "mlbridge/errors/error.hpp"
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
  /// Counts a kCallFinished event; other events are ignored.
  void record(const Event& event);
  /// A copy of every command's figures, by command name.
  std::map<std::string, CommandMetrics> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, CommandMetrics> commands_;
};

}  // namespace mlbridge::telemetry
