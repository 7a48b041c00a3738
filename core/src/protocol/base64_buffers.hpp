#pragma once

// Private to core/src/protocol: base64 (standard alphabet, padded) into buffers the caller has
// sized, so that the codec and the transcoder write bytes once, straight into their output.
// Stateless; any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace mlbridge::protocol {

/// The standard base64 alphabet: character i stands for the six bits i. Every table of the
/// encoder and of both decoders is built from it.
inline constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Characters base64 takes for `byte_count` bytes (with padding).
constexpr std::size_t base64_encoded_size(std::size_t byte_count) {
  return (byte_count + 2) / 3 * 4;
}

/// Writes base64_encoded_size(bytes.size()) characters at `out`.
void base64_encode_to(std::span<const std::uint8_t> bytes, char* out);

/// The encoders behind base64_encode_to: the same results, at different speeds.
enum class Base64Encoder {
  kPortable,  ///< a table of character pairs, one triple at a time, on any CPU
  kAvx2,      ///< 24 bytes at a time (base64_avx2.hpp); only where the CPU has AVX2
};

/// The fastest encoder this CPU runs (the one base64_encode_to uses).
Base64Encoder base64_best_encoder();

/// base64_encode_to with a chosen encoder (tests compare them; kAvx2 only where
/// base64_best_encoder() is kAvx2).
void base64_encode_to(std::span<const std::uint8_t> bytes, char* out, Base64Encoder encoder);

/// The number of bytes `text` decodes to; nullopt when its length is not a multiple of 4 or its
/// padding is misplaced (the characters themselves are checked by base64_decode_to).
std::optional<std::size_t> base64_decoded_size(std::string_view text);

/// The decoders behind base64_decode_to: the same results, at different speeds.
enum class Base64Decoder {
  kPortable,  ///< table-driven, one quantum (4 characters) at a time, on any CPU
  kAvx2,      ///< 32 characters at a time (base64_avx2.hpp); only where the CPU has AVX2
};

/// The fastest decoder this CPU runs (the one base64_decode_to uses).
Base64Decoder base64_best_decoder();

/// Decodes `text` into base64_decoded_size(text) bytes at `out`; false on a character outside
/// the alphabet or misplaced padding (`out` then holds garbage).
bool base64_decode_to(std::string_view text, std::uint8_t* out);

/// base64_decode_to with a chosen decoder (tests compare them; kAvx2 only where
/// base64_best_decoder() is kAvx2).
bool base64_decode_to(std::string_view text, std::uint8_t* out, Base64Decoder decoder);

}  // namespace mlbridge::protocol
