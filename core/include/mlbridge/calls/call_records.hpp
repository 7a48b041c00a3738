#pragma once

/// @file
/// The records of fire-and-forget calls (Host::cast, HTTP `"reply": false`): state, then result
/// or error, kept `host.call_results.ttl_ms` after the call finished and at most
/// `host.call_results.max` at once, so a client can fetch the outcome later
/// (Host::call_record, `GET /v1/calls/{id}`). Bounded: when full, the oldest finished record is
/// dropped first; only when every record is still in flight does the oldest of those go (its
/// call runs on, unrecorded). Expired records are dropped on every access.
///
/// Threading: every member function is thread-safe (one mutex); the host calls started() on the
/// caller's thread and running()/finished() on the event loop.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mlbridge/errors/error.hpp"
#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::calls {

enum class CallState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
/// "queued", "running", "succeeded", "failed", "cancelled".
std::string_view to_string(CallState state);

/// What the host knows of one fire-and-forget call.
struct CallRecord {
  std::string id;  ///< "call-<n>".
  std::string bridge;
  std::string command;
  CallState state = CallState::kQueued;
  protocol::json result = nullptr;  ///< kSucceeded: the command's result.
  std::optional<Error> error;       ///< kFailed / kCancelled: why.
  std::chrono::system_clock::time_point started;
  std::optional<std::chrono::system_clock::time_point> finished;
};

/// {id, state, bridge, command, started, finished?, result? | error?{category, message}}; times
/// as RFC 3339 UTC strings with milliseconds.
protocol::json to_json(const CallRecord& record);

/// `host.call_results`.
struct RetentionLimits {
  std::chrono::milliseconds ttl{10 * 60 * 1000};  ///< After finishing. Default 10 minutes.
  std::size_t max = 10000;                        ///< Records at once.
};

class CallRecords {
 public:
  using Clock = std::chrono::steady_clock;
  /// `now` tells the time for expiry (tests pass a fake clock).
  explicit CallRecords(RetentionLimits limits, std::function<Clock::time_point()> now = Clock::now);

  /// A call was accepted: recorded as queued.
  void started(const std::string& id, const std::string& bridge, const std::string& command);
  /// A worker took it (a retry's attempt too). Ignored for an unknown or finished record.
  void running(const std::string& id);
  /// It ended: succeeded with `result`, or failed / cancelled (by the error's category).
  void finished(const std::string& id, Result<protocol::json> result);
  /// A copy of a record; not_found for an unknown id or one whose record expired or was
  /// dropped (the message says how long results are kept).
  Result<CallRecord> get(const std::string& id);
  /// Records held now (in flight and finished).
  std::size_t size();

 private:
  struct Entry {
    CallRecord record;
    Clock::time_point finished_at{};
  };
  void prune(Clock::time_point now);  // mutex_ held
  void make_room();                   // mutex_ held

  const RetentionLimits limits_;
  const std::function<Clock::time_point()> now_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> finished_order_;  // the finished entries' ids, by finishing time
};

}  // namespace mlbridge::calls
