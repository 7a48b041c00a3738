#include "msgpack_reader.hpp"

#include <bit>
#include <cstring>
#include <string>

namespace mlbridge::protocol {
namespace {

using json = nlohmann::json;

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes)
      : at_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  bool done() const { return at_ == end_; }

  // Reads one value into `out`; false on malformed input.
  bool value(json& out, int depth) {
    if (depth > static_cast<int>(kMaxNesting)) return false;
    std::uint8_t marker = 0;
    if (!byte(marker)) return false;
    if (marker <= 0x7f) return out = json(static_cast<std::uint64_t>(marker)), true;
    if (marker >= 0xe0) return out = json(static_cast<std::int64_t>(std::int8_t(marker))), true;
    if ((marker & 0xf0) == 0x80) return map(out, marker & 0x0f, depth);
    if ((marker & 0xf0) == 0x90) return array(out, marker & 0x0f, depth);
    if ((marker & 0xe0) == 0xa0) return string(out, marker & 0x1f);
    switch (marker) {
      case 0xc0:
        return out = nullptr, true;
      case 0xc2:
        return out = false, true;
      case 0xc3:
        return out = true, true;
      case 0xc4:
        return sized<std::uint8_t>([&](std::size_t n) { return binary(out, n, std::nullopt); });
      case 0xc5:
        return sized<std::uint16_t>([&](std::size_t n) { return binary(out, n, std::nullopt); });
      case 0xc6:
        return sized<std::uint32_t>([&](std::size_t n) { return binary(out, n, std::nullopt); });
      case 0xc7:
        return sized<std::uint8_t>([&](std::size_t n) { return ext(out, n); });
      case 0xc8:
        return sized<std::uint16_t>([&](std::size_t n) { return ext(out, n); });
      case 0xc9:
        return sized<std::uint32_t>([&](std::size_t n) { return ext(out, n); });
      case 0xca: {
        std::uint32_t bits = 0;
        if (!number(bits)) return false;
        return out = static_cast<double>(std::bit_cast<float>(bits)), true;
      }
      case 0xcb: {
        std::uint64_t bits = 0;
        if (!number(bits)) return false;
        return out = std::bit_cast<double>(bits), true;
      }
      case 0xcc:
        return unsigned_number<std::uint8_t>(out);
      case 0xcd:
        return unsigned_number<std::uint16_t>(out);
      case 0xce:
        return unsigned_number<std::uint32_t>(out);
      case 0xcf:
        return unsigned_number<std::uint64_t>(out);
      case 0xd0:
        return signed_number<std::uint8_t, std::int8_t>(out);
      case 0xd1:
        return signed_number<std::uint16_t, std::int16_t>(out);
      case 0xd2:
        return signed_number<std::uint32_t, std::int32_t>(out);
      case 0xd3:
        return signed_number<std::uint64_t, std::int64_t>(out);
      case 0xd4:
        return ext(out, 1);
      case 0xd5:
        return ext(out, 2);
      case 0xd6:
        return ext(out, 4);
      case 0xd7:
        return ext(out, 8);
      case 0xd8:
        return ext(out, 16);
      case 0xd9:
        return sized<std::uint8_t>([&](std::size_t n) { return string(out, n); });
      case 0xda:
        return sized<std::uint16_t>([&](std::size_t n) { return string(out, n); });
      case 0xdb:
        return sized<std::uint32_t>([&](std::size_t n) { return string(out, n); });
      case 0xdc:
        return sized<std::uint16_t>([&](std::size_t n) { return array(out, n, depth); });
      case 0xdd:
        return sized<std::uint32_t>([&](std::size_t n) { return array(out, n, depth); });
      case 0xde:
        return sized<std::uint16_t>([&](std::size_t n) { return map(out, n, depth); });
      case 0xdf:
        return sized<std::uint32_t>([&](std::size_t n) { return map(out, n, depth); });
      default:
        return false;  // 0xc1: never used
    }
  }

 private:
  std::size_t left() const { return static_cast<std::size_t>(end_ - at_); }

  bool byte(std::uint8_t& out) {
    if (at_ == end_) return false;
    out = *at_++;
    return true;
  }

  // A big-endian unsigned integer of sizeof(T) bytes.
  template <typename T>
  bool number(T& out) {
    if (left() < sizeof(T)) return false;
    T value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) value = static_cast<T>((value << 8) | at_[i]);
    at_ += sizeof(T);
    out = value;
    return true;
  }

  template <typename T>
  bool unsigned_number(json& out) {
    T value = 0;
    if (!number(value)) return false;
    out = static_cast<std::uint64_t>(value);
    return true;
  }

  template <typename Bits, typename Signed>
  bool signed_number(json& out) {
    Bits bits = 0;
    if (!number(bits)) return false;
    out = static_cast<std::int64_t>(static_cast<Signed>(bits));
    return true;
  }

  // Reads a length of type T, then hands it to `then`.
  template <typename T, typename Then>
  bool sized(Then then) {
    T length = 0;
    if (!number(length)) return false;
    return then(static_cast<std::size_t>(length));
  }

  bool string(json& out, std::size_t n) {
    if (left() < n) return false;
    out = json::string_t(reinterpret_cast<const char*>(at_), n);
    at_ += n;
    return true;
  }

  bool binary(json& out, std::size_t n, std::optional<std::uint8_t> subtype) {
    if (left() < n) return false;
    json::binary_t::container_type bytes(at_, at_ + n);
    at_ += n;
    out = subtype ? json::binary(std::move(bytes), *subtype) : json::binary(std::move(bytes));
    return true;
  }

  // An ext: a one-byte type, then n bytes; kept as binary with the type as subtype.
  bool ext(json& out, std::size_t n) {
    std::uint8_t type = 0;
    if (!byte(type)) return false;
    return binary(out, n, type);
  }

  bool array(json& out, std::size_t n, int depth) {
    if (n > left()) return false;  // every element takes at least one byte
    out = json::array();
    auto& items = out.get_ref<json::array_t&>();
    items.resize(n);
    for (auto& item : items) {
      if (!value(item, depth + 1)) return false;
    }
    return true;
  }

  bool map(json& out, std::size_t n, int depth) {
    if (n > left() / 2) return false;  // every entry takes at least two bytes
    out = json::object();
    auto& entries = out.get_ref<json::object_t&>();
    json key;
    for (std::size_t i = 0; i < n; ++i) {
      if (!value(key, depth + 1) || !key.is_string()) return false;
      if (!value(entries[std::move(key.get_ref<json::string_t&>())], depth + 1)) return false;
    }
    return true;
  }

  const std::uint8_t* at_;
  const std::uint8_t* end_;
};

}  // namespace

std::optional<nlohmann::json> read_msgpack(std::span<const std::uint8_t> bytes) {
  Reader reader(bytes);
  json value;
  if (!reader.value(value, 0) || !reader.done()) return std::nullopt;
  return value;
}

}  // namespace mlbridge::protocol
