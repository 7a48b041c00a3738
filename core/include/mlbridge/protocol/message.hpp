#pragma once

/// @file
/// The messages of PROTOCOL.md as C++ values, and their conversion from and to decoded payloads.
/// Plain values and stateless functions: any thread may use them.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::protocol {

/// The protocol version this host speaks.
inline constexpr int kProtocolVersion = 1;

/// First frame of a worker: who it is and what it serves.
struct Hello {
  int protocol = 0;
  std::string worker_id;
  std::int64_t pid = 0;
  std::string framework;
  std::string framework_version;
  std::string bridge_version;
  std::vector<std::string> commands;
  /// Calls the worker runs at once, as it claimed (an integer beyond the int64 range is
  /// saturated; a missing or non-integer value reads as 1). Not clamped here: the Worker clamps
  /// it to [1, worker::kMaxWorkerConcurrency] and warns about a claim out of range. Above 1 the
  /// worker understands `cancel` messages and answers requests in any order.
  std::int64_t concurrency = 1;
  bool shared_blobs =
      false;  ///< Mapped the shared-memory files the host passed (shared_blobs.hpp).
  /// Reads the cancel pipe the host passed: requests may wait in its stdin behind the running
  /// one, and a cancelled waiting request is answered `Cancelled` without running.
  bool pipelining = false;
};

/// A command's args encoded before the call (EncodedArgs::from_json, encoded_args.hpp), shared by
/// every attempt of the call and never copied.
struct PreEncodedArgs {
  /// One MessagePack map: what a MessagePack worker gets, and what the replay journals and a
  /// plugin's shape_args hook decode.
  std::string msgpack;
  /// The JSON text the map was made from, when a JSON worker decodes that text to the same value
  /// (it holds no bytes: `{"__bytes__": ...}` may be written with escapes the worker does not
  /// read as that key); empty otherwise. A JSON worker gets it spliced in as it is.
  std::string json_text;
};

/// A host → worker request.
struct Request {
  std::uint64_t id = 0;
  std::string command;
  json args = json::object();
  std::optional<std::string> session_id;
  std::optional<std::int64_t> deadline_ms;  ///< Time left for the request when sent.
  /// The session's host-side state: `{"version"}`, plus `"data"` when the worker's copy is not
  /// that version. Null: the session has no state (the field is left out).
  json session_state;
  /// When set, the args already encoded (see encoded_args.hpp): they go into the frame as they
  /// are and `args` is not sent.
  std::shared_ptr<const PreEncodedArgs> encoded_args;
};

/// A host → worker cancel of one request, for workers whose hello says concurrency > 1: the
/// worker cancels that request's task and answers it `Cancelled`; an unknown or finished id is
/// ignored. Workers at concurrency 1 are cancelled by SIGINT (and the cancel pipe) instead.
struct Cancel {
  std::uint64_t id = 0;
};

/// The error part of a failed response, as data (PROTOCOL.md `error`).
struct WireError {
  std::string type;  ///< Python exception class name ("Error" for seed string errors).
  std::string message;
  std::string traceback;
  std::string category;  ///< Optional hint from the worker, empty when absent.
};

/// A worker → host response; exactly one per request. `id` is empty when the worker could not
/// tell which request it answers (e.g. an oversize frame).
struct Response {
  std::optional<std::uint64_t> id;
  bool success = false;
  json result;
  WireError error;
  /// What a successful handler changed in the session's state: `{"base_version", "set",
  /// "unset"}`; null when nothing changed.
  json session_state;
  /// Replay journal entries the handler recorded: `[{"command", "args", "object", "append"}]`;
  /// null when none.
  json session_journal;
  /// True when `result` is a string holding the result as JSON text, transcoded straight from
  /// the frame for a call that asked for text (worker::CallOptions::result_as_json_text).
  bool result_is_json_text = false;
};

/// One piece of a streaming command's output.
struct Chunk {
  std::uint64_t id = 0;
  std::uint64_t seq = 0;
  json data;
};

/// A log line the worker sends as a frame.
struct Log {
  std::string level;
  std::string message;
};

/// Any message a worker may send.
using WorkerMessage = std::variant<Hello, Response, Chunk, Log>;

/// Reads a decoded payload as a worker message. A map without `type` is a response (seed
/// compatibility); a plain string `error` becomes `{"type": "Error", "message": <string>}`.
/// Fails with protocol_error naming the missing or mistyped field.
Result<WorkerMessage> parse_worker_message(json message);

/// The payload of a request. Takes the request by value so large args are moved, not copied.
json to_json(Request request);

/// The payload of a cancel: `{"type": "cancel", "id": ID}`.
json to_json(const Cancel& cancel);

}  // namespace mlbridge::protocol
