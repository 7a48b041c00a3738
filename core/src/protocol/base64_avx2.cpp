#include "base64_avx2.hpp"

#include "base64_buffers.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MLBRIDGE_BASE64_AVX2 1
#else
#define MLBRIDGE_BASE64_AVX2 0
#endif

namespace mlbridge::protocol {

#if MLBRIDGE_BASE64_AVX2
namespace {

constexpr bool in_base64_alphabet(int c) {
  for (int i = 0; i < 64; ++i) {
    if (kBase64Alphabet[i] == c) return true;
  }
  return false;
}

// Three 16-byte tables (twice, one per 128-bit lane, as vpshufb looks up within a lane), built
// from the alphabet so they cannot disagree with it.
struct Avx2Tables {
  // By a character's low nibble: bit h is set when the character (h << 4 | low) is in the
  // alphabet. A character is valid when its row (high nibble) has its bit set here.
  alignas(32) std::int8_t valid_rows[32];
  // By the high nibble: the bit of that row; none for 8..15, so no byte >= 0x80 is valid.
  alignas(32) std::int8_t row_bit[32];
  // By the high nibble: what to add to a character for its six bits ('/' is set apart: it
  // shares its row with '+').
  alignas(32) std::int8_t offset[32];
};

constexpr Avx2Tables make_avx2_tables() {
  Avx2Tables tables{};
  for (int lane = 0; lane < 2; ++lane) {
    for (int low = 0; low < 16; ++low) {
      unsigned rows = 0;
      for (int high = 0; high < 8; ++high) {
        if (in_base64_alphabet(high << 4 | low)) rows |= 1u << high;
      }
      tables.valid_rows[lane * 16 + low] = static_cast<std::int8_t>(rows);
    }
    for (int high = 0; high < 16; ++high) {
      tables.row_bit[lane * 16 + high] = high < 8 ? static_cast<std::int8_t>(1u << high) : 0;
      int offset = 0;
      if (high == 2) offset = 62 - '+';
      if (high == 3) offset = 52 - '0';
      if (high == 4 || high == 5) offset = 0 - 'A';
      if (high == 6 || high == 7) offset = 26 - 'a';
      tables.offset[lane * 16 + high] = static_cast<std::int8_t>(offset);
    }
  }
  return tables;
}

constexpr Avx2Tables kAvx2Tables = make_avx2_tables();

}  // namespace

bool base64_avx2_supported() {
  static const bool supported = __builtin_cpu_supports("avx2");
  return supported;
}

__attribute__((target("avx2"))) bool base64_decode_blocks_avx2(const char* in, std::size_t blocks,
                                                               std::uint8_t* out) {
  const __m256i valid_rows =
      _mm256_load_si256(reinterpret_cast<const __m256i*>(kAvx2Tables.valid_rows));
  const __m256i row_bit = _mm256_load_si256(reinterpret_cast<const __m256i*>(kAvx2Tables.row_bit));
  const __m256i offsets = _mm256_load_si256(reinterpret_cast<const __m256i*>(kAvx2Tables.offset));
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  const __m256i slash = _mm256_set1_epi8('/');
  const __m256i slash_offset = _mm256_set1_epi8(63 - '/');
  // Pairs of sextets into 12 bits (first * 64 + second), then pairs of those into 24.
  const __m256i pack_pairs = _mm256_set1_epi32(0x01400140);
  const __m256i pack_quads = _mm256_set1_epi32(0x00011000);
  // Each 32-bit lane holds its 3 bytes little-endian: big-endian order, 12 bytes per 128 bits,
  // then the two lanes' 12 bytes side by side.
  const __m256i byte_order =
      _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5, 4, 10,
                       9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i lanes_together = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
  for (std::size_t block = 0; block < blocks; ++block, in += 32, out += 24) {
    const __m256i chars = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in));
    const __m256i high = _mm256_and_si256(_mm256_srli_epi32(chars, 4), nibble);
    const __m256i low = _mm256_and_si256(chars, nibble);
    const __m256i row_ok =
        _mm256_and_si256(_mm256_shuffle_epi8(valid_rows, low), _mm256_shuffle_epi8(row_bit, high));
    if (_mm256_movemask_epi8(_mm256_cmpeq_epi8(row_ok, _mm256_setzero_si256())) != 0) {
      return false;
    }
    const __m256i offset = _mm256_blendv_epi8(_mm256_shuffle_epi8(offsets, high), slash_offset,
                                              _mm256_cmpeq_epi8(chars, slash));
    const __m256i sextets = _mm256_add_epi8(chars, offset);
    const __m256i quads = _mm256_madd_epi16(_mm256_maddubs_epi16(sextets, pack_pairs), pack_quads);
    const __m256i bytes =
        _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(quads, byte_order), lanes_together);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), bytes);
  }
  return true;
}

__attribute__((target("avx2"))) void base64_encode_blocks_avx2(const std::uint8_t* in,
                                                               std::size_t blocks, char* out) {
  // Each 32-bit lane gets one triple's bytes as (b1, b0, b2, b1), 12 bytes per 128 bits.
  const __m256i spread = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10, 1, 0,
                                          2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
  // Sextets 0 and 2 of each triple by a high multiply, 1 and 3 by a low one, each in a byte.
  const __m256i high_sextets = _mm256_set1_epi32(0x0fc0fc00);
  const __m256i high_shifts = _mm256_set1_epi32(0x04000040);
  const __m256i low_sextets = _mm256_set1_epi32(0x003f03f0);
  const __m256i low_shifts = _mm256_set1_epi32(0x01000010);
  // Characters by range: 0..25 'A'.., 26..51 'a'.., 52..61 '0'.., 62 '+', 63 '/'. Saturating
  // subtraction of 51 numbers the ranges from 52 up (1..12), 0..25 are set apart as 13.
  const __m256i fifty_one = _mm256_set1_epi8(51);
  const __m256i twenty_six = _mm256_set1_epi8(26);
  const __m256i thirteen = _mm256_set1_epi8(13);
  const __m256i shifts =
      _mm256_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                       '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0,
                       'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                       '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
  for (std::size_t block = 0; block < blocks; ++block, in += 24, out += 32) {
    const __m256i bytes = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 12)), 1);
    const __m256i spread_bytes = _mm256_shuffle_epi8(bytes, spread);
    const __m256i sextets = _mm256_or_si256(
        _mm256_mulhi_epu16(_mm256_and_si256(spread_bytes, high_sextets), high_shifts),
        _mm256_mullo_epi16(_mm256_and_si256(spread_bytes, low_sextets), low_shifts));
    const __m256i range =
        _mm256_or_si256(_mm256_subs_epu8(sextets, fifty_one),
                        _mm256_and_si256(_mm256_cmpgt_epi8(twenty_six, sextets), thirteen));
    const __m256i chars = _mm256_add_epi8(sextets, _mm256_shuffle_epi8(shifts, range));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), chars);
  }
}

#else

bool base64_avx2_supported() { return false; }

bool base64_decode_blocks_avx2(const char*, std::size_t, std::uint8_t*) { return false; }

void base64_encode_blocks_avx2(const std::uint8_t*, std::size_t, char*) {}

#endif

}  // namespace mlbridge::protocol

#undef MLBRIDGE_BASE64_AVX2
