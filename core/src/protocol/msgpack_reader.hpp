#pragma once

// Private to core/src/protocol: a MessagePack decoder into nlohmann::json, used by
// decode_payload instead of json::from_msgpack. The result is the same value nlohmann builds
// (unsigned and signed integers, binary for bin and ext with the ext type as subtype, string
// keys only), but bytes and strings are copied in one piece rather than one byte at a time, so a
// 16 MiB `bin` decodes at memory speed. Stateless; any thread.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>

#include "mlbridge/protocol/nesting.hpp"

namespace mlbridge::protocol {

/// Decodes exactly one MessagePack value filling all of `bytes`; nullopt when the bytes are not
/// one well-formed value (truncated, trailing bytes, the reserved 0xc1 marker, a map key that is
/// not a string, a count larger than the bytes left could hold, nesting past kMaxNesting, see
/// mlbridge/protocol/nesting.hpp; the decoder recurses once per level).
std::optional<nlohmann::json> read_msgpack(std::span<const std::uint8_t> bytes);

}  // namespace mlbridge::protocol
