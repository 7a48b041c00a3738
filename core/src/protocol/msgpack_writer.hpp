#pragma once

/// @file
/// Appends MessagePack values to a byte buffer (a std::string or a std::vector<std::uint8_t>), in
/// the smallest forms, exactly as nlohmann's to_msgpack writes them: a value written here and the
/// same value written through a DOM are the same bytes. Plain functions over the caller's buffer;
/// no state, any thread.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace mlbridge::protocol::msgpack_writer {

template <class Buffer>
void put_byte(Buffer& out, std::uint8_t byte) {
  out.push_back(static_cast<typename Buffer::value_type>(byte));
}

template <class Buffer>
void put_bytes(Buffer& out, std::string_view bytes) {
  const auto* data = reinterpret_cast<const typename Buffer::value_type*>(bytes.data());
  out.insert(out.end(), data, data + bytes.size());
}

/// A marker, then `value` big-endian.
template <class Buffer, class T>
void put_big_endian(Buffer& out, std::uint8_t marker, T value) {
  typename Buffer::value_type bytes[1 + sizeof(T)];
  bytes[0] = static_cast<typename Buffer::value_type>(marker);
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    bytes[1 + i] = static_cast<typename Buffer::value_type>(value >> (8 * (sizeof(T) - 1 - i)));
  }
  out.insert(out.end(), bytes, bytes + sizeof(bytes));
}

template <class Buffer>
void put_unsigned(Buffer& out, std::uint64_t n) {
  if (n < 128) {
    put_byte(out, static_cast<std::uint8_t>(n));
  } else if (n <= 0xff) {
    put_byte(out, 0xcc);
    put_byte(out, static_cast<std::uint8_t>(n));
  } else if (n <= 0xffff) {
    put_big_endian(out, 0xcd, static_cast<std::uint16_t>(n));
  } else if (n <= 0xffffffff) {
    put_big_endian(out, 0xce, static_cast<std::uint32_t>(n));
  } else {
    put_big_endian(out, 0xcf, n);
  }
}

/// A non-negative number as put_unsigned writes it (MessagePack does not tell them apart).
template <class Buffer>
void put_signed(Buffer& out, std::int64_t n) {
  if (n >= 0) return put_unsigned(out, static_cast<std::uint64_t>(n));
  if (n >= -32) {
    put_byte(out, static_cast<std::uint8_t>(static_cast<std::int8_t>(n)));
  } else if (n >= std::numeric_limits<std::int8_t>::min()) {
    put_byte(out, 0xd0);
    put_byte(out, static_cast<std::uint8_t>(static_cast<std::int8_t>(n)));
  } else if (n >= std::numeric_limits<std::int16_t>::min()) {
    put_big_endian(out, 0xd1, static_cast<std::uint16_t>(static_cast<std::int16_t>(n)));
  } else if (n >= std::numeric_limits<std::int32_t>::min()) {
    put_big_endian(out, 0xd2, static_cast<std::uint32_t>(static_cast<std::int32_t>(n)));
  } else {
    put_big_endian(out, 0xd3, static_cast<std::uint64_t>(n));
  }
}

/// A float 32 where it holds the value exactly (nlohmann's write_compact_float), else a float 64.
template <class Buffer>
void put_double(Buffer& out, double d) {
  const bool fits_float = d >= static_cast<double>(std::numeric_limits<float>::lowest()) &&
                          d <= static_cast<double>(std::numeric_limits<float>::max()) &&
                          static_cast<double>(static_cast<float>(d)) == d;
  if (fits_float) {
    put_big_endian(out, 0xca, std::bit_cast<std::uint32_t>(static_cast<float>(d)));
  } else {
    put_big_endian(out, 0xcb, std::bit_cast<std::uint64_t>(d));
  }
}

/// The header of a value of `n` bytes or entries in its 8-, 16- or 32-bit form.
template <class Buffer>
void put_sized_header(Buffer& out, std::size_t n, std::uint8_t marker8, std::uint8_t marker16,
                      std::uint8_t marker32) {
  if (n <= 0xff) {
    put_byte(out, marker8);
    put_byte(out, static_cast<std::uint8_t>(n));
  } else if (n <= 0xffff) {
    put_big_endian(out, marker16, static_cast<std::uint16_t>(n));
  } else {
    put_big_endian(out, marker32, static_cast<std::uint32_t>(n));
  }
}

template <class Buffer>
void put_string(Buffer& out, std::string_view text) {
  if (text.size() < 32) {
    put_byte(out, static_cast<std::uint8_t>(0xa0 | text.size()));
  } else {
    put_sized_header(out, text.size(), 0xd9, 0xda, 0xdb);
  }
  put_bytes(out, text);
}

template <class Buffer>
void put_nil(Buffer& out) {
  put_byte(out, 0xc0);
}

/// A map of `n` entries (a fixmap up to 15, as nlohmann writes it; no 8-bit form exists).
template <class Buffer>
void put_map_header(Buffer& out, std::size_t n) {
  if (n <= 15) {
    put_byte(out, static_cast<std::uint8_t>(0x80 | n));
  } else if (n <= 0xffff) {
    put_big_endian(out, 0xde, static_cast<std::uint16_t>(n));
  } else {
    put_big_endian(out, 0xdf, static_cast<std::uint32_t>(n));
  }
}

}  // namespace mlbridge::protocol::msgpack_writer
