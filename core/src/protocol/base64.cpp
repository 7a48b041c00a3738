#include <array>

#include "base64_buffers.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::protocol {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// -1 for characters outside the alphabet (including '=', which only the last quantum may hold).
constexpr std::array<std::int8_t, 256> make_decode_table() {
  std::array<std::int8_t, 256> table{};
  for (auto& entry : table) entry = -1;
  for (int i = 0; i < 64; ++i)
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  return table;
}

constexpr auto kDecodeTable = make_decode_table();

std::int32_t sextet(char c) { return kDecodeTable[static_cast<unsigned char>(c)]; }

}  // namespace

void base64_encode_to(std::span<const std::uint8_t> bytes, char* out) {
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v =
        (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out[0] = kAlphabet[(v >> 18) & 63];
    out[1] = kAlphabet[(v >> 12) & 63];
    out[2] = kAlphabet[(v >> 6) & 63];
    out[3] = kAlphabet[v & 63];
    out += 4;
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t{bytes[i]} << 16;
    if (rest == 2) v |= std::uint32_t{bytes[i + 1]} << 8;
    out[0] = kAlphabet[(v >> 18) & 63];
    out[1] = kAlphabet[(v >> 12) & 63];
    out[2] = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out[3] = '=';
  }
}

std::optional<std::size_t> base64_decoded_size(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  return text.size() / 4 * 3 - padding;
}

bool base64_decode_to(std::string_view text, std::uint8_t* out) {
  if (text.empty()) return true;
  // Every quantum but the last has no padding: decode those four characters at a time, and
  // check all four at once (a -1 anywhere makes the OR negative).
  const std::size_t full = text.size() - 4;
  for (std::size_t i = 0; i < full; i += 4) {
    const std::int32_t a = sextet(text[i]);
    const std::int32_t b = sextet(text[i + 1]);
    const std::int32_t c = sextet(text[i + 2]);
    const std::int32_t d = sextet(text[i + 3]);
    if ((a | b | c | d) < 0) return false;
    const auto v = static_cast<std::uint32_t>((a << 18) | (b << 12) | (c << 6) | d);
    out[0] = static_cast<std::uint8_t>(v >> 16);
    out[1] = static_cast<std::uint8_t>(v >> 8);
    out[2] = static_cast<std::uint8_t>(v);
    out += 3;
  }
  // The last quantum: "xx==", "xxx=" or "xxxx"; padding only in its last two places.
  const std::string_view last = text.substr(full);
  const int padding = last[3] != '=' ? 0 : (last[2] == '=' ? 2 : 1);
  std::uint32_t v = 0;
  for (int k = 0; k < 4; ++k) {
    std::int32_t s = 0;
    if (k < 4 - padding) {
      s = sextet(last[static_cast<std::size_t>(k)]);
      if (s < 0) return false;
    }
    v = (v << 6) | static_cast<std::uint32_t>(s);
  }
  out[0] = static_cast<std::uint8_t>(v >> 16);
  if (padding < 2) out[1] = static_cast<std::uint8_t>(v >> 8);
  if (padding < 1) out[2] = static_cast<std::uint8_t>(v);
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
