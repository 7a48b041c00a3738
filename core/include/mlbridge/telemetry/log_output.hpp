#pragma once

/// @file
/// How the process's log output is doing, for /readyz and operators: the log never blocks the
/// host (see cli/logging.cpp: an asynchronous logger with a bounded queue in front of a sink
/// that gives up on a reader that does not read), so what it cannot write is dropped and counted
/// here. Process-wide, like the log itself; every function is thread-safe.

#include <cstdint>
#include <functional>

namespace mlbridge::telemetry {

struct LogOutputStatus {
  /// Messages dropped since the start: pushed out of a full queue, or not written because the
  /// log's reader stopped reading.
  std::uint64_t dropped = 0;
  /// True while the sink cannot write (its reader has not read for a while).
  bool stalled = false;
};

/// The current status.
LogOutputStatus log_output_status();

/// The sink dropped `messages` messages.
void record_log_dropped(std::uint64_t messages);
/// The sink found its output stalled (true) or writable again (false).
void record_log_stalled(bool stalled);
/// Where log_output_status() reads the messages a bounded queue pushed out (the asynchronous
/// logger's own counter). Set once when the logger is made; empty: none.
void set_log_queue_overruns(std::function<std::uint64_t()> overruns);

}  // namespace mlbridge::telemetry
