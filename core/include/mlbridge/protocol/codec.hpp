#pragma once

/// @file
/// The two payload codecs of PROTOCOL.md. Both map payloads to nlohmann::json values; bytes are
/// `json::binary_t` in memory, MessagePack `bin` on the wire, and `{"__bytes__": "<base64>"}` in
/// JSON. Stateless free functions: any thread may call them.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "mlbridge/errors/result.hpp"

namespace mlbridge::protocol {

/// The key of the one-member JSON object that carries bytes: {"__bytes__": "<base64>"}.
inline constexpr std::string_view kBytesKey = "__bytes__";

using json = nlohmann::json;

/// Wire encoding of every frame of one worker connection, chosen at spawn.
enum class Codec { kJson, kMsgpack };

/// "json" or "msgpack" (the spelling of `--codec`).
std::string_view to_string(Codec codec);
/// Parses "json" / "msgpack"; nullopt otherwise.
std::optional<Codec> parse_codec(std::string_view name);

/// Encodes `message` as a complete frame (4-byte header + payload) ready to write.
/// Fails with protocol_error when the payload would exceed `max_frame_bytes`.
Result<std::vector<std::uint8_t>> encode_frame(const json& message, Codec codec,
                                               std::size_t max_frame_bytes);

/// Decodes one payload. Fails with protocol_error when the bytes do not decode or do not decode
/// to a map (every message of the protocol is a map).
Result<json> decode_payload(std::span<const std::uint8_t> payload, Codec codec);

/// A copy of `value` with every bytes value replaced by `{"__bytes__": "<base64>"}`, so that it
/// can be printed or sent as plain JSON (the CLI and the HTTP API use it).
json to_plain_json(const json& value);

/// The inverse of to_plain_json, in place: every `{"__bytes__": "<base64>"}` object becomes a bytes
/// value, so that plain JSON from a client reaches the worker as bytes with either codec (the
/// HTTP API uses it on a command's args). Fails with protocol_error on malformed base64.
Status from_plain_json(json& value);

/// Encodes bytes as standard base64 (with padding).
std::string base64_encode(std::span<const std::uint8_t> bytes);
/// Decodes standard base64; nullopt on a malformed input.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

}  // namespace mlbridge::protocol
