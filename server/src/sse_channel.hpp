#pragma once

// Hands the events of one streamed call from the event loop (chunks, then the result) to the
// HTTP thread that writes them as Server-Sent Events. Thread-safe; shared by both sides.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::server {

class SseChannel {
 public:
  /// A chunk of the call: "event: chunk" with the chunk as JSON data. Loop thread.
  void push_chunk(const protocol::json& chunk);
  /// The end of the call: "event: result" with {"result": ...} or "event: error" with the error
  /// body. Loop thread (or the caller's, for a call that failed before reaching a pool).
  void finish(const Result<protocol::json>& result);

  /// Waits up to `wait` for events; returns the text of every event queued so far (empty when
  /// none came), and whether the final event is among them. HTTP thread.
  struct Batch {
    std::string text;
    bool finished = false;
  };
  Batch next(std::chrono::milliseconds wait);

  /// Waits up to `wait` for the call's first event. When that event ends the call with an error
  /// (no chunk came first), takes it and returns the error, so that the request can be answered
  /// with the error's own status instead of a stream; otherwise leaves every event queued. HTTP
  /// thread, before streaming starts.
  std::optional<Error> error_before_first_chunk(std::chrono::milliseconds wait);

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::string> events_;
  bool finished_ = false;
  bool chunked_ = false;              // a chunk was pushed
  std::optional<Error> early_error_;  // the call's error, when it came before any chunk
};

/// One SSE event: "event: <name>\ndata: <json>\n\n" (JSON never holds a raw newline).
std::string sse_event(const std::string& name, const protocol::json& data);

}  // namespace mlbridge::server
