#include <array>
#include <bit>
#include <cstring>

#include "base64_avx2.hpp"
#include "base64_buffers.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::protocol {
namespace {

// Decoding looks each of a quantum's four characters up in a table of its own that holds the
// character's six bits already shifted to their place in the quantum's 24 bits, so a quantum is
// four loads and three ORs. A character outside the alphabet (including '=', which only the last
// quantum may hold) has kInvalidBit set in every table: one test per block of quanta finds it.
constexpr std::uint32_t kInvalidBit = 0x80000000u;

using DecodeTable = std::array<std::uint32_t, 256>;

constexpr DecodeTable make_decode_table(int shift) {
  DecodeTable table{};
  for (auto& entry : table) entry = kInvalidBit;
  for (int i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<std::uint32_t>(i) << shift;
  }
  return table;
}

constexpr DecodeTable kSextet0 = make_decode_table(18);
constexpr DecodeTable kSextet1 = make_decode_table(12);
constexpr DecodeTable kSextet2 = make_decode_table(6);
constexpr DecodeTable kSextet3 = make_decode_table(0);

// The quantum's 24 bits (with kInvalidBit set when one of its characters is outside the
// alphabet). `at` points at four characters.
inline std::uint32_t quantum_bits(const char* at) {
  return kSextet0[static_cast<unsigned char>(at[0])] | kSextet1[static_cast<unsigned char>(at[1])] |
         kSextet2[static_cast<unsigned char>(at[2])] | kSextet3[static_cast<unsigned char>(at[3])];
}

inline void store_quantum(std::uint32_t bits, std::uint8_t* out) {
  out[0] = static_cast<std::uint8_t>(bits >> 16);
  out[1] = static_cast<std::uint8_t>(bits >> 8);
  out[2] = static_cast<std::uint8_t>(bits);
}

// Two quanta (48 bits) as one 8-byte store; the last two bytes written are the next quantum's
// place, which the caller fills afterwards.
inline void store_two_quanta(std::uint32_t first, std::uint32_t second, std::uint8_t* out) {
  const std::uint64_t bits = (std::uint64_t{first} << 40) | (std::uint64_t{second} << 16);
  std::uint64_t big_endian = bits;
  if constexpr (std::endian::native == std::endian::little) {
    big_endian = __builtin_bswap64(bits);
  }
  std::memcpy(out, &big_endian, sizeof(big_endian));
}

// Encoding looks up two characters at once: the pair for each 12-bit half of three bytes.
using PairTable = std::array<std::array<char, 2>, 4096>;

constexpr PairTable make_pair_table() {
  PairTable table{};
  for (std::size_t i = 0; i < table.size(); ++i)
    table[i] = {kBase64Alphabet[i >> 6], kBase64Alphabet[i & 63]};
  return table;
}

constexpr PairTable kPairs = make_pair_table();

}  // namespace

Base64Encoder base64_best_encoder() {
  return base64_avx2_supported() ? Base64Encoder::kAvx2 : Base64Encoder::kPortable;
}

void base64_encode_to(std::span<const std::uint8_t> bytes, char* out) {
  static const Base64Encoder best = base64_best_encoder();
  base64_encode_to(bytes, out, best);
}

void base64_encode_to(std::span<const std::uint8_t> bytes, char* out, Base64Encoder encoder) {
  const std::uint8_t* in = bytes.data();
  const std::uint8_t* const whole_end = in + bytes.size() / 3 * 3;
  // With AVX2, blocks of 24 bytes while 4 more follow them (each block reads 28); then triples.
  if (encoder == Base64Encoder::kAvx2 && bytes.size() >= 24 + 4) {
    const std::size_t blocks = (bytes.size() - 4) / 24;
    base64_encode_blocks_avx2(in, blocks, out);
    in += blocks * 24;
    out += blocks * 32;
  }
  for (; in != whole_end; in += 3, out += 4) {
    const std::uint32_t v = (std::uint32_t{in[0]} << 16) | (std::uint32_t{in[1]} << 8) | in[2];
    std::memcpy(out, kPairs[v >> 12].data(), 2);
    std::memcpy(out + 2, kPairs[v & 0xfff].data(), 2);
  }
  const std::size_t rest = bytes.size() % 3;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t{in[0]} << 16;
    if (rest == 2) v |= std::uint32_t{in[1]} << 8;
    out[0] = kBase64Alphabet[(v >> 18) & 63];
    out[1] = kBase64Alphabet[(v >> 12) & 63];
    out[2] = rest == 2 ? kBase64Alphabet[(v >> 6) & 63] : '=';
    out[3] = '=';
  }
}

std::optional<std::size_t> base64_decoded_size(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  return text.size() / 4 * 3 - padding;
}

Base64Decoder base64_best_decoder() {
  return base64_avx2_supported() ? Base64Decoder::kAvx2 : Base64Decoder::kPortable;
}

bool base64_decode_to(std::string_view text, std::uint8_t* out) {
  static const Base64Decoder best = base64_best_decoder();
  return base64_decode_to(text, out, best);
}

bool base64_decode_to(std::string_view text, std::uint8_t* out, Base64Decoder decoder) {
  if (text.empty()) return true;
  // Every quantum but the last has no padding. With AVX2, blocks of 32 characters while at
  // least three whole quanta follow them (their 9 bytes take the 8 extra ones a block's store
  // writes). Then two quanta at a time while at least one more follows them (its bytes take the
  // two extra ones the 8-byte store writes), then one at a time.
  const char* in = text.data();
  const char* const full_end = in + text.size() - 4;
  if (decoder == Base64Decoder::kAvx2 && full_end - in >= 32 + 12) {
    const auto blocks = static_cast<std::size_t>(full_end - in - 12) / 32;
    if (!base64_decode_blocks_avx2(in, blocks, out)) return false;
    in += blocks * 32;
    out += blocks * 24;
  }
  while (full_end - in >= 12) {
    const std::uint32_t first = quantum_bits(in);
    const std::uint32_t second = quantum_bits(in + 4);
    if ((first | second) & kInvalidBit) return false;
    store_two_quanta(first, second, out);
    in += 8;
    out += 6;
  }
  for (; in != full_end; in += 4, out += 3) {
    const std::uint32_t bits = quantum_bits(in);
    if (bits & kInvalidBit) return false;
    store_quantum(bits, out);
  }
  // The last quantum: "xx==", "xxx=" or "xxxx"; padding only in its last two places.
  const int padding = in[3] != '=' ? 0 : (in[2] == '=' ? 2 : 1);
  const char last[4] = {in[0], in[1], padding == 2 ? 'A' : in[2], padding >= 1 ? 'A' : in[3]};
  const std::uint32_t bits = quantum_bits(last);
  if (bits & kInvalidBit) return false;
  out[0] = static_cast<std::uint8_t>(bits >> 16);
  if (padding < 2) out[1] = static_cast<std::uint8_t>(bits >> 8);
  if (padding < 1) out[2] = static_cast<std::uint8_t>(bits);
  return true;
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::string out(base64_encoded_size(bytes.size()), '\0');
  base64_encode_to(bytes, out.data());
  return out;
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  const auto size = base64_decoded_size(text);
  if (!size) return std::nullopt;
  std::vector<std::uint8_t> out(*size);
  if (!base64_decode_to(text, out.data())) return std::nullopt;
  return out;
}

}  // namespace mlbridge::protocol
