#pragma once

// One request's way back to its client, for routes that answer later (a call through
// Host::execute_async, work on the blocking pool) or stream (Server-Sent Events). Implemented by
// the socket connection (connection.hpp) and by serve_in_memory (memory_exchange.hpp).
//
// Threading: every member may be called from any thread, the host's event loop included; none
// blocks (the socket connection posts the work to its strand). Exactly one of reply() or
// start_stream() ... end_stream() ends an exchange; later calls are ignored.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "http_message.hpp"

namespace mlbridge::server {

class Exchange {
 public:
  virtual ~Exchange() = default;

  /// Answers with a complete response.
  virtual void reply(HttpResponse response) = 0;
  /// Sends the head of a 200 text/event-stream answer, with `headers` besides its own.
  virtual void start_stream(HeaderList headers) = 0;
  /// Sends one event's text (after start_stream). When the client reads too slowly and the
  /// connection's bounded buffer fills, the connection logs it, runs the abandon action and closes.
  virtual void send_event(std::string text) = 0;
  /// Ends the stream.
  virtual void end_stream() = 0;
  /// `action` runs once when the client goes away (closes, times out, reads too slowly) before
  /// the exchange ended; at once when it already has. The route cancels its call with it.
  virtual void on_abandon(std::function<void()> action) = 0;
  /// `action` runs after `delay` unless the exchange ended or was abandoned first. At most one
  /// pending action; the in-memory exchange never runs it.
  virtual void after(std::chrono::milliseconds delay, std::function<void()> action) = 0;
};

using ExchangePtr = std::shared_ptr<Exchange>;

}  // namespace mlbridge::server
