#pragma once

/// @file
/// A snapshot of a pool's state and counters. Plain value, copied out of the event loop.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mlbridge/errors/error.hpp"
#include "mlbridge/telemetry/histogram.hpp"

namespace mlbridge::pool {

/// running: serving (or starting); failed: crash loop, calls fail fast; draining; stopped.
enum class PoolState { kRunning, kFailed, kDraining, kStopped };
std::string_view to_string(PoolState state);

struct WorkerStats {
  std::string id;
  pid_t pid = -1;
  std::string state;  ///< starting, idle, busy, checking, retiring
  bool overflow = false;
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  std::size_t sessions = 0;
  std::uint64_t rss_bytes = 0;
};

struct PoolStats {
  std::string bridge;
  PoolState state = PoolState::kRunning;
  std::string last_error;  ///< The last start failure, when the pool failed.
  std::vector<WorkerStats> workers;
  std::size_t busy = 0;
  std::size_t idle = 0;
  std::size_t starting = 0;
  std::size_t queue_length = 0;
  std::uint64_t calls = 0;   ///< Completed calls.
  std::uint64_t errors = 0;  ///< Completed calls that failed.
  std::map<ErrorCategory, std::uint64_t> errors_by_category;
  std::uint64_t restarts = 0;  ///< Workers started to replace others.
  std::uint64_t failed_starts = 0;
  std::uint64_t recycled = 0;  ///< Workers retired for max_requests or memory.
  std::size_t sessions = 0;
  std::uint64_t sessions_replayed = 0;  ///< Sessions rebuilt on another worker (replay/restore).
  std::uint64_t sessions_moved = 0;     ///< Sessions taken off a retiring worker before it stopped.
  std::uint64_t sessions_lost = 0;      ///< Sessions that could not be rebuilt.
  telemetry::LatencyHistogram replay_time;  ///< Time to rebuild a session, per rebuild.
  telemetry::LatencyHistogram queue_wait;
  telemetry::LatencyHistogram execution;
};

}  // namespace mlbridge::pool
