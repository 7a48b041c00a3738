#pragma once

// The check both codec fuzzers make: a payload that decodes must encode again as a frame, and
// that frame must decode to the same value (bytes included). A decode failure must be a
// protocol_error, never a crash or an exception.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/frame.hpp"

namespace mlbridge::fuzz {

inline void check(bool condition) {
  if (!condition) std::abort();
}

// NaN is the one value that is not equal to itself; values holding one are compared by dump.
inline bool same_value(const protocol::json& a, const protocol::json& b) {
  if (a == b) return true;
  const auto replace = protocol::json::error_handler_t::replace;
  return a.dump(-1, ' ', false, replace) == b.dump(-1, ' ', false, replace);
}

inline void check_round_trip(std::span<const std::uint8_t> payload, protocol::Codec codec) {
  auto decoded = protocol::decode_payload(payload, codec);
  if (!decoded) {
    check(decoded.error().category == ErrorCategory::kProtocolError);
    return;
  }
  check(decoded->is_object());
  // Printable as plain JSON (what the CLI and the HTTP API do with results).
  (void)protocol::to_plain_json(*decoded);
  auto frame = protocol::encode_frame(*decoded, codec, protocol::kDefaultMaxFrameBytes);
  if (!frame) {
    check(frame.error().category == ErrorCategory::kProtocolError);
    return;
  }
  check(frame->size() > protocol::kFrameHeaderBytes);
  check(protocol::read_frame_header(frame->data()) == frame->size() - protocol::kFrameHeaderBytes);
  auto again = protocol::decode_payload(
      std::span<const std::uint8_t>(*frame).subspan(protocol::kFrameHeaderBytes), codec);
  check(again.ok());
  check(same_value(*decoded, *again));
}

}  // namespace mlbridge::fuzz
