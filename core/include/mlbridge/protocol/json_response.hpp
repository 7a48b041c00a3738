#pragma once

/// @file
/// The result of a JSON-codec worker's success response, found without decoding the payload:
/// what MessagePack's locate_response_result (encoded_args.hpp) is for a MessagePack worker.
/// Stateless; any thread.

#include <cstdint>
#include <optional>
#include <span>

#include "mlbridge/protocol/encoded_args.hpp"

namespace mlbridge::protocol {

/// Where a JSON response payload holds its id and result, for the one layout the Python SDK
/// writes a success in (JsonCodec.encode_result_to), exactly
/// `{"type":"response","id":<digits>,"success":true,"result":<value>}` with nothing around it:
/// the id is read and the result's bounds are found by comparing the envelope's bytes, so the
/// span costs nothing whatever the result's size. The result's text is NOT checked: the caller
/// checks it (is_json_value) before it passes it on. nullopt for any other payload (another
/// layout, an id that is not a decimal 64-bit unsigned integer, an empty result); the caller then
/// decodes the payload, which says what is wrong with it. `plain_success` is always true.
std::optional<ResponseResultSpan> locate_json_response_result(
    std::span<const std::uint8_t> payload);

}  // namespace mlbridge::protocol
