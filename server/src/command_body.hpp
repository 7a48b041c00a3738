#pragma once

// The body of a command call ({"args", "session", "timeout_ms", "stream", "reply"},
// docs/http-api.md) read without a JSON DOM where it can be: a scanner splits the body's top-level
// members, and the raw text of "args" is transcoded to MessagePack in one pass
// (protocol::EncodedArgs). Only a body the scanner does not take as it is goes through nlohmann's
// DOM: a bad body (so that every refusal keeps the DOM path's message), a key or session id written
// with escapes, a repeated key, and a "reply": false call (Host::cast takes a DOM). Private to the
// server library; plain functions, any thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/host.hpp"
#include "mlbridge/protocol/encoded_args.hpp"

namespace mlbridge::server {

/// The longest "timeout_ms" a body may ask for: a week.
inline constexpr std::int64_t kMaxCommandTimeoutMs = 7LL * 24 * 3600 * 1000;

/// A command body, checked. The args are in `encoded` (the DOM-free path) or else in `args`.
struct CommandBody {
  std::optional<protocol::EncodedArgs> encoded;
  protocol::json args = protocol::json::object();
  ExecuteOptions options;
  bool stream = false;
  bool reply = true;
  /// Which path read the body (for tests and the benchmark's notes).
  bool read_without_dom() const { return encoded.has_value(); }
};

/// The top-level members of a command body as the scanner found them: raw texts, not yet
/// checked beyond their JSON shape. nullopt (from split_command_body) means "not a plain body":
/// the caller reads it through the DOM.
struct CommandMembers {
  std::string_view args;  ///< The raw text of the "args" value ("" when absent).
  std::optional<std::string> session;
  std::optional<std::int64_t> timeout_ms;
  std::optional<bool> stream;
  std::optional<bool> reply;
};

/// Splits a body that is one JSON object whose keys are among the five, each once and written
/// without escapes, "session" a string of printable ASCII without escapes, "timeout_ms" an
/// integer from 1 to kMaxCommandTimeoutMs, "stream" and "reply" true or false. "args" is only
/// delimited (brackets and strings), not validated: its transcoding does that. Anything else:
/// nullopt.
std::optional<CommandMembers> split_command_body(std::string_view text);

/// Reads a command body: the scanner and the transcoder where they take it, the DOM otherwise
/// (with the DOM's error messages for every bad body).
Result<CommandBody> read_command_body(std::string_view text);

}  // namespace mlbridge::server
