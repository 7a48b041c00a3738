// base64 (core/src/protocol/base64.cpp) against a plain reference that handles one character at a
// time: every length the fast loops split differently, padding in every form, and a bad
// character at every position (the decoders check validity once per block). Every decoder this
// CPU runs is tested on its own: the portable one always, the AVX2 one where the CPU has it.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base64_buffers.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::protocol {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::vector<Base64Decoder> decoders() {
  std::vector<Base64Decoder> all = {Base64Decoder::kPortable};
  if (base64_best_decoder() == Base64Decoder::kAvx2) all.push_back(Base64Decoder::kAvx2);
  return all;
}

const char* name(Base64Decoder decoder) {
  return decoder == Base64Decoder::kAvx2 ? "avx2" : "portable";
}

std::optional<std::vector<std::uint8_t>> decode(std::string_view text, Base64Decoder decoder) {
  const auto size = base64_decoded_size(text);
  if (!size) return std::nullopt;
  std::vector<std::uint8_t> out(*size);
  if (!base64_decode_to(text, out.data(), decoder)) return std::nullopt;
  return out;
}

std::vector<std::uint8_t> sample_bytes(std::size_t n) {
  std::vector<std::uint8_t> bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * 151 + 29);
  return bytes;
}

std::string reference_encode(const std::vector<std::uint8_t>& bytes) {
  std::string out;
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (const std::uint8_t byte : bytes) {
    bits = (bits << 8) | byte;
    bit_count += 8;
    while (bit_count >= 6) {
      bit_count -= 6;
      out += kAlphabet[(bits >> bit_count) & 63];
    }
  }
  if (bit_count > 0) out += kAlphabet[(bits << (6 - bit_count)) & 63];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

TEST(Base64, EncodesAndDecodesEveryLengthUpTo300LikeTheReference) {
  for (std::size_t n = 0; n <= 300; ++n) {
    const auto bytes = sample_bytes(n);
    const std::string encoded = base64_encode(bytes);
    EXPECT_EQ(encoded, reference_encode(bytes)) << n << " bytes";
    EXPECT_EQ(base64_decode(encoded), bytes) << n << " bytes";
    for (const Base64Decoder decoder : decoders()) {
      EXPECT_EQ(decode(encoded, decoder), bytes) << n << " bytes, " << name(decoder);
    }
  }
}

std::vector<Base64Encoder> encoders() {
  std::vector<Base64Encoder> all = {Base64Encoder::kPortable};
  if (base64_best_encoder() == Base64Encoder::kAvx2) all.push_back(Base64Encoder::kAvx2);
  return all;
}

std::string encode(const std::vector<std::uint8_t>& bytes, Base64Encoder encoder) {
  std::string out(base64_encoded_size(bytes.size()), '\0');
  base64_encode_to(bytes, out.data(), encoder);
  return out;
}

TEST(Base64, EveryEncoderEncodesEveryLengthUpTo300LikeTheReference) {
  for (const Base64Encoder encoder : encoders()) {
    for (std::size_t n = 0; n <= 300; ++n) {
      const auto bytes = sample_bytes(n);
      EXPECT_EQ(encode(bytes, encoder), reference_encode(bytes))
          << n << " bytes, " << (encoder == Base64Encoder::kAvx2 ? "avx2" : "portable");
    }
  }
}

TEST(Base64, EveryEncoderEncodesEveryByteValueInEveryPositionOfABlock) {
  // 24 bytes are one AVX2 block; 52 bytes make two blocks and a tail.
  for (const Base64Encoder encoder : encoders()) {
    for (std::size_t position = 0; position < 52; ++position) {
      for (int value = 0; value < 256; ++value) {
        std::vector<std::uint8_t> bytes(52, 0x5a);
        bytes[position] = static_cast<std::uint8_t>(value);
        ASSERT_EQ(encode(bytes, encoder), reference_encode(bytes)) << position << ", " << value;
      }
    }
  }
}

TEST(Base64, DecodesEveryCharacterOfTheAlphabetInEveryPositionOfABlock) {
  // 32 characters are one AVX2 block; 64 more keep the blocks' loop going.
  for (const Base64Decoder decoder : decoders()) {
    for (std::size_t shift = 0; shift < 64; ++shift) {
      std::string text;
      for (std::size_t i = 0; i < 96; ++i) text += kAlphabet[(i + shift) % 64];
      std::vector<std::uint8_t> expected;
      std::uint32_t bits = 0;
      for (std::size_t i = 0; i < text.size(); ++i) {
        bits = (bits << 6) | static_cast<std::uint32_t>(kAlphabet.find(text[i]));
        if (i % 4 == 3) {
          expected.push_back(static_cast<std::uint8_t>(bits >> 16));
          expected.push_back(static_cast<std::uint8_t>(bits >> 8));
          expected.push_back(static_cast<std::uint8_t>(bits));
          bits = 0;
        }
      }
      EXPECT_EQ(decode(text, decoder), expected) << shift << ", " << name(decoder);
    }
  }
}

TEST(Base64, EncodesEveryByteValueInEveryPositionOfATriple) {
  for (int position = 0; position < 3; ++position) {
    for (int value = 0; value < 256; ++value) {
      std::vector<std::uint8_t> bytes(9, 0x5a);
      bytes[3 + position] = static_cast<std::uint8_t>(value);
      EXPECT_EQ(base64_encode(bytes), reference_encode(bytes));
      EXPECT_EQ(base64_decode(reference_encode(bytes)), bytes);
    }
  }
}

TEST(Base64, DecodesLengthsZeroToNine) {
  // Lengths that are no multiple of 4 are refused whatever the characters.
  const std::string text = "Zm9vYmFyYmF6";  // "foobarbaz"
  for (std::size_t n = 0; n <= 9; ++n) {
    const auto decoded = base64_decode(text.substr(0, n));
    if (n % 4 != 0) {
      EXPECT_FALSE(decoded.has_value()) << n;
      continue;
    }
    ASSERT_TRUE(decoded.has_value()) << n;
    EXPECT_EQ(std::string(decoded->begin(), decoded->end()), std::string("foobarbaz", n / 4 * 3));
  }
}

TEST(Base64, TakesPaddingOnlyAtTheEndOfTheLastQuantum) {
  EXPECT_EQ(base64_decode("Zg=="), (std::vector<std::uint8_t>{'f'}));
  EXPECT_EQ(base64_decode("Zm8="), (std::vector<std::uint8_t>{'f', 'o'}));
  EXPECT_EQ(base64_decode("Zm9vZg=="), (std::vector<std::uint8_t>{'f', 'o', 'o', 'f'}));
  for (const char* bad : {"====", "Z===", "=Zg=", "Z=g=", "Zg=a", "=AAA", "A=AA", "Zg==Zg==",
                          "Zm8=Zm9v", "Zm9v====", "Zm9vYmFyYmF6Zg==Zg==", "Zm9v=", "Zm9vZ==="}) {
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
  }
}

TEST(Base64, RefusesABadCharacterAtEveryPosition) {
  // Long enough for the AVX2 blocks, the two-quanta loop, the one-quantum loop and the last
  // quantum.
  const std::string valid = reference_encode(sample_bytes(96));  // 128 characters, no padding
  const char bad_characters[] = {'!', '-',  '_',    ' ',    '\n',   '.',    ':', '@', '[', '`',
                                 '{', '\0', '\x7f', '\x80', '\xaf', '\xff', '=', '"', '*', ','};
  for (const Base64Decoder decoder : decoders()) {
    ASSERT_TRUE(decode(valid, decoder).has_value());
    for (const char bad : bad_characters) {
      for (std::size_t position = 0; position < valid.size(); ++position) {
        // '=' in the last two places is padding (then the quantum's other characters decide).
        if (bad == '=' && position >= valid.size() - 2) continue;
        std::string text = valid;
        text[position] = bad;
        EXPECT_FALSE(decode(text, decoder).has_value())
            << "byte " << static_cast<int>(static_cast<unsigned char>(bad)) << " at " << position
            << ", " << name(decoder);
      }
    }
  }
}

TEST(Base64, RefusesABadCharacterAtEveryPositionOfShortTexts) {
  for (std::size_t quanta = 1; quanta <= 4; ++quanta) {
    const std::string valid = reference_encode(sample_bytes(quanta * 3));
    for (std::size_t position = 0; position < valid.size(); ++position) {
      std::string text = valid;
      text[position] = '*';
      EXPECT_FALSE(base64_decode(text).has_value()) << quanta << " quanta, position " << position;
    }
  }
}

}  // namespace
}  // namespace mlbridge::protocol
