#pragma once

// Private to core/src/protocol: base64 decoding with AVX2 (Muła and Lemire's method: one table
// lookup by each nibble validates 32 characters, a third gives their six bits, two multiply-adds
// pack them) and encoding (their method too: a shuffle spreads 24 bytes over 32, two multiplies
// move each six bits into a byte of its own, one table lookup by range gives the characters),
// for base64.cpp's dispatch. Stateless; any thread.

#include <cstddef>
#include <cstdint>

namespace mlbridge::protocol {

/// Whether this CPU runs base64_decode_blocks_avx2: x86-64 with AVX2 (false on other CPUs and
/// architectures). Asks the CPU once.
bool base64_avx2_supported();

/// Decodes `blocks` blocks of 32 base64 characters (no padding) at `in` into 24 bytes each at
/// `out`. Writes 32 bytes per block: the caller leaves 8 bytes of room after the last block's 24
/// (bytes it writes later). False on a character outside the alphabet (`out` then holds
/// garbage). Only when base64_avx2_supported().
bool base64_decode_blocks_avx2(const char* in, std::size_t blocks, std::uint8_t* out);

/// Encodes `blocks` blocks of 24 bytes at `in` into 32 characters each at `out`. Reads 4 bytes
/// past the last block (the caller has them). Only when base64_avx2_supported().
void base64_encode_blocks_avx2(const std::uint8_t* in, std::size_t blocks, char* out);

}  // namespace mlbridge::protocol
