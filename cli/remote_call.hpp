#pragma once

// `mlbridge call --url`: sends one command to a running `mlbridge serve` over its HTTP API, so
// that a sequence of CLI calls shares the server's workers and sessions.

#include <optional>
#include <string>

#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::cli {

struct RemoteCall {
  std::string url;    ///< http://HOST:PORT of the server.
  std::string token;  ///< Bearer token; empty: none.
  std::string bridge;
  std::string command;
  protocol::json args = protocol::json::object();
  std::string session;  ///< Empty: none.
  int timeout_ms = 0;   ///< 0: the bridge's default.
};

/// Streams the call (Server-Sent Events): prints each chunk as one JSON line, then the result
/// (exit 0), or `error: <category>: <message>` on stderr (exit 1; 2 when the server cannot be
/// reached or the URL is malformed).
int run_remote_call(const RemoteCall& call);

}  // namespace mlbridge::cli
