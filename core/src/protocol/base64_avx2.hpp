#pragma once

// Private to core/src/protocol: base64 decoding with AVX2 (Muła and Lemire's method: one table
// lookup by each nibble validates 32 characters, a third gives their six bits, two multiply-adds
// pack them), for base64.cpp's dispatch. Stateless; any thread.

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

}  // namespace mlbridge::protocol
