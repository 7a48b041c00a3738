#pragma once

/// @file
/// What a caller hands a pool, and the handle that identifies a submitted call. Plain values.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/encoded_args.hpp"

namespace mlbridge::pool {

using json = protocol::json;

struct CallRequest {
  std::string command;
  json args = json::object();
  std::optional<std::string> session_id;  ///< Bound calls always run on the session's worker.
  /// Deadline from submission, covering queueing and execution; the pool default when empty.
  std::optional<std::chrono::milliseconds> timeout;
  /// Streaming chunks, in order, on the event loop thread.
  std::function<void(json)> on_chunk;
  /// A worker id this call should not run on when another worker is idle: a retry after a
  /// failure there (registry::Bridge sets it). Ignored by session-bound calls.
  std::optional<std::string> avoid_worker;
  /// When set, the args already encoded (protocol::EncodedArgs); they go to the worker as they
  /// are and `args` is ignored. Shared by retries, never copied.
  std::shared_ptr<const protocol::PreEncodedArgs> encoded_args;
  /// The result of a successful call as a json string holding its JSON text
  /// (worker::CallOptions::result_as_json_text).
  bool result_as_json_text = false;
  /// When a worker takes the call (each attempt), on the event loop thread. Optional.
  std::function<void()> on_started;
};

/// Identifies a submitted call for cancel(). 0 is never a valid handle.
using CallHandle = std::uint64_t;

}  // namespace mlbridge::pool
