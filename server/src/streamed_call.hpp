#pragma once

// The Server-Sent Events answer of one streamed call: turns the call's chunks and result (on the
// host's event loop) into the exchange's stream. The head waits for the call's first event, a
// second at most: a call that fails before it streams anything (an unknown bridge or command,
// overloaded, an open circuit, a bad argument) is answered with its own status code and error
// body, as a call without "stream" would be. A second without events sends a ": waiting"
// comment. Thread-safe; shared by the call's callbacks and the
// exchange's timer.

#include <memory>
#include <mutex>
#include <string>

#include "exchange.hpp"
#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::server {

class StreamedCall : public std::enable_shared_from_this<StreamedCall> {
 public:
  /// `call_id` holds the call's id once Host::execute_async named it (ExecuteOptions::on_call_id
  /// runs before any event), sent as X-Mlbridge-Call-Id with the head or the error.
  StreamedCall(ExchangePtr exchange, std::shared_ptr<const std::string> call_id)
      : exchange_(std::move(exchange)), call_id_(std::move(call_id)) {}

  /// "event: chunk" with the chunk as JSON data. Host loop thread.
  void chunk(const protocol::json& chunk);
  /// "event: result" with {"result": <result_text>} (the result as compact JSON text, never a
  /// DOM) or "event: error" with the error body, then the end of the stream; or the error as a
  /// plain answer when nothing was streamed yet. Loop thread (or the caller's, for a call that
  /// failed before reaching a pool).
  void finish(const Result<std::string>& result_text);
  /// Runs every second from the first event's wait on (through Exchange::after): sends the head
  /// when nothing came yet, else a ": waiting" comment when nothing was sent since the last tick,
  /// so that proxies and clients see a live stream. The exchange's strand.
  void tick();

 private:
  void send_head_locked();

  ExchangePtr exchange_;
  std::shared_ptr<const std::string> call_id_;
  std::mutex mutex_;
  bool head_sent_ = false;
  bool finished_ = false;
  bool sent_since_tick_ = false;
};

/// One SSE event: "event: <name>\ndata: <json>\n\n" (JSON never holds a raw newline).
std::string sse_event(const std::string& name, const protocol::json& data);

}  // namespace mlbridge::server
