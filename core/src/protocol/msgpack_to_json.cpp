#include <simdjson.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base64_buffers.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/transcode.hpp"

namespace mlbridge::protocol {
namespace {

// The MessagePack reader follows msgpack_reader.cpp (the DOM decoder) marker for marker; where
// that builds a json value, this prints what nlohmann's dump() would print for it.
class MsgpackToJson {
 public:
  MsgpackToJson(std::string_view bytes, const TranscodeLimits& limits,
                const ExtBytes* ext_bytes = nullptr)
      : begin_(reinterpret_cast<const std::uint8_t*>(bytes.data())),
        at_(begin_),
        end_(begin_ + bytes.size()),
        limits_(limits),
        ext_bytes_(ext_bytes) {
    // JSON is usually larger than MessagePack: base64 alone takes 4/3 of the bytes.
    out_.reserve(bytes.size() + bytes.size() / 2 + 16);
  }

  Result<std::string> run() {
    if (auto status = value(0); !status) return std::move(status).error();
    if (at_ != end_) {
      return fail(ErrorCategory::kInvalidArgument, "MessagePack has " + std::to_string(end_ - at_) +
                                                       " bytes after its value at byte " +
                                                       std::to_string(offset()) +
                                                       "; expected exactly one value");
    }
    if (out_.size() > limits_.max_output_bytes) return too_large();
    return std::move(out_);
  }

 private:
  std::size_t left() const { return static_cast<std::size_t>(end_ - at_); }
  std::size_t offset() const { return static_cast<std::size_t>(at_ - begin_); }

  Status value(std::size_t depth) {
    // Every element adds to the output, so checking here bounds the work on a hostile input.
    if (out_.size() > limits_.max_output_bytes) return too_large();
    if (at_ == end_) return truncated();
    const std::uint8_t marker = *at_++;
    if (marker <= 0x7f) return write_integer(static_cast<std::uint64_t>(marker));
    if (marker >= 0xe0) return write_integer(static_cast<std::int64_t>(std::int8_t(marker)));
    if ((marker & 0xf0) == 0x80) return map(marker & 0x0f, depth);
    if ((marker & 0xf0) == 0x90) return array(marker & 0x0f, depth);
    if ((marker & 0xe0) == 0xa0) return string(marker & 0x1f);
    switch (marker) {
      case 0xc0:
        return literal("null");
      case 0xc2:
        return literal("false");
      case 0xc3:
        return literal("true");
      case 0xc4:
        return sized<std::uint8_t>([&](std::size_t n) { return bytes(n); });
      case 0xc5:
        return sized<std::uint16_t>([&](std::size_t n) { return bytes(n); });
      case 0xc6:
        return sized<std::uint32_t>([&](std::size_t n) { return bytes(n); });
      case 0xc7:
        return sized<std::uint8_t>([&](std::size_t n) { return ext(n); });
      case 0xc8:
        return sized<std::uint16_t>([&](std::size_t n) { return ext(n); });
      case 0xc9:
        return sized<std::uint32_t>([&](std::size_t n) { return ext(n); });
      case 0xca: {
        std::uint32_t bits = 0;
        if (!number(bits)) return truncated();
        return write_double(static_cast<double>(std::bit_cast<float>(bits)));
      }
      case 0xcb: {
        std::uint64_t bits = 0;
        if (!number(bits)) return truncated();
        return write_double(std::bit_cast<double>(bits));
      }
      case 0xcc:
        return unsigned_number<std::uint8_t>();
      case 0xcd:
        return unsigned_number<std::uint16_t>();
      case 0xce:
        return unsigned_number<std::uint32_t>();
      case 0xcf:
        return unsigned_number<std::uint64_t>();
      case 0xd0:
        return signed_number<std::uint8_t, std::int8_t>();
      case 0xd1:
        return signed_number<std::uint16_t, std::int16_t>();
      case 0xd2:
        return signed_number<std::uint32_t, std::int32_t>();
      case 0xd3:
        return signed_number<std::uint64_t, std::int64_t>();
      case 0xd4:
        return ext(1);
      case 0xd5:
        return ext(2);
      case 0xd6:
        return ext(4);
      case 0xd7:
        return ext(8);
      case 0xd8:
        return ext(16);
      case 0xd9:
        return sized<std::uint8_t>([&](std::size_t n) { return string(n); });
      case 0xda:
        return sized<std::uint16_t>([&](std::size_t n) { return string(n); });
      case 0xdb:
        return sized<std::uint32_t>([&](std::size_t n) { return string(n); });
      case 0xdc:
        return sized<std::uint16_t>([&](std::size_t n) { return array(n, depth); });
      case 0xdd:
        return sized<std::uint32_t>([&](std::size_t n) { return array(n, depth); });
      case 0xde:
        return sized<std::uint16_t>([&](std::size_t n) { return map(n, depth); });
      case 0xdf:
        return sized<std::uint32_t>([&](std::size_t n) { return map(n, depth); });
      default:
        --at_;
        return malformed("the reserved marker 0xc1");
    }
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
  Status unsigned_number() {
    T value = 0;
    if (!number(value)) return truncated();
    return write_integer(static_cast<std::uint64_t>(value));
  }

  template <typename Bits, typename Signed>
  Status signed_number() {
    Bits bits = 0;
    if (!number(bits)) return truncated();
    return write_integer(static_cast<std::int64_t>(static_cast<Signed>(bits)));
  }

  template <typename T, typename Then>
  Status sized(Then then) {
    T length = 0;
    if (!number(length)) return truncated();
    return then(static_cast<std::size_t>(length));
  }

  Status literal(std::string_view text) {
    out_.append(text);
    return Ok{};
  }

  template <typename Integer>
  Status write_integer(Integer n) {
    char digits[24];
    const auto printed = std::to_chars(digits, digits + sizeof(digits), n);
    out_.append(digits, printed.ptr);
    return Ok{};
  }

  Status write_double(double d) {
    if (!std::isfinite(d)) return literal("null");  // as nlohmann's dump()
    char digits[64];
    const char* end = nlohmann::detail::to_chars(digits, digits + sizeof(digits), d);
    out_.append(digits, static_cast<std::size_t>(end - digits));
    return Ok{};
  }

  Status string(std::size_t n) {
    if (left() < n) return truncated();
    const std::string_view text(reinterpret_cast<const char*>(at_), n);
    if (write_escaped(text) && !simdjson::validate_utf8(text.data(), text.size())) {
      return malformed(
          "a string that is not valid UTF-8 (JSON cannot carry it; send such data "
          "as bytes)");
    }
    at_ += n;
    return Ok{};
  }

  // Escapes as nlohmann's dump() without ensure_ascii: the two-character forms where JSON has
  // them, \u00xx for the other control characters, everything else as it is. Runs of bytes that
  // need no escape are skipped eight at a time and appended in one piece. Returns whether the
  // text has a byte outside ASCII: only such text needs the (much slower per call) UTF-8 check.
  bool write_escaped(std::string_view text) {
    out_.push_back('"');
    const char* const data = text.data();
    const std::size_t n = text.size();
    std::uint64_t high_bits = 0;
    std::size_t run = 0;  // start of the characters not yet copied
    std::size_t i = 0;
    while (i < n) {
      if (n - i >= 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, data + i, sizeof(word));
        high_bits |= word;
        if (!needs_escape(word)) {
          i += 8;
          continue;
        }
      }
      const auto c = static_cast<unsigned char>(data[i]);
      high_bits |= c;
      ++i;
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      out_.append(data + run, i - 1 - run);
      run = i;
      write_escape(c);
    }
    out_.append(data + run, n - run);
    out_.push_back('"');
    return (high_bits & 0x8080808080808080ull) != 0;
  }

  // Whether one of the eight bytes of `word` is a control character, '"' or '\\' (bytes with
  // the high bit set are not). Exact as a whole, by the classic has-zero-byte bit tricks.
  static bool needs_escape(std::uint64_t word) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ull;
    constexpr std::uint64_t kHighs = 0x8080808080808080ull;
    const std::uint64_t quote = word ^ (kOnes * '"');
    const std::uint64_t backslash = word ^ (kOnes * '\\');
    const std::uint64_t below_space = (word - kOnes * 0x20) & ~word;
    const std::uint64_t is_quote = (quote - kOnes) & ~quote;
    const std::uint64_t is_backslash = (backslash - kOnes) & ~backslash;
    return ((below_space | is_quote | is_backslash) & kHighs) != 0;
  }

  void write_escape(unsigned char c) {
    switch (c) {
      case '"':
        out_.append("\\\"");
        break;
      case '\\':
        out_.append("\\\\");
        break;
      case '\b':
        out_.append("\\b");
        break;
      case '\f':
        out_.append("\\f");
        break;
      case '\n':
        out_.append("\\n");
        break;
      case '\r':
        out_.append("\\r");
        break;
      case '\t':
        out_.append("\\t");
        break;
      default: {
        constexpr char kHex[] = "0123456789abcdef";
        const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out_.append(escape, sizeof(escape));
        break;
      }
    }
  }

  Status bytes(std::size_t n) {
    if (left() < n) return truncated();
    write_bytes(std::span<const std::uint8_t>(at_, n));
    at_ += n;
    return Ok{};
  }

  void write_bytes(std::span<const std::uint8_t> bytes) {
    const std::size_t encoded = base64_encoded_size(bytes.size());
    // Bytes named by an ext (ExtBytes) are not in the input, so the first reserve did not count
    // them: make room for them, their wrapping and what the rest of the input may print, or the
    // closing "} would copy the whole text into a buffer twice its size.
    const std::size_t needed = out_.size() + encoded + 16;
    if (needed > out_.capacity()) out_.reserve(needed + left() + left() / 2);
    out_.append(R"({"__bytes__":")");
    const std::size_t start = out_.size();
    out_.resize(start + encoded);
    base64_encode_to(bytes, out_.data() + start);
    out_.append(R"("})");
  }

  // An ext is bytes with a type, which JSON has no place for (the DOM path drops it too); an
  // ExtBytes may say where the bytes it stands for are.
  Status ext(std::size_t n) {
    if (at_ == end_) return truncated();
    const std::uint8_t type = *at_++;
    if (ext_bytes_ == nullptr) return bytes(n);
    if (left() < n) return truncated();
    auto resolved = (*ext_bytes_)(type, std::span<const std::uint8_t>(at_, n));
    if (!resolved) return std::move(resolved).error();
    if (out_.size() + base64_encoded_size(resolved->size()) > limits_.max_output_bytes) {
      return too_large();
    }
    write_bytes(*resolved);
    at_ += n;
    return Ok{};
  }

  Status array(std::size_t n, std::size_t depth) {
    if (depth + 1 > limits_.max_depth) return too_deep();
    if (n > left()) return truncated();  // every element takes at least one byte
    out_.push_back('[');
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) out_.push_back(',');
      if (auto status = value(depth + 1); !status) return status;
    }
    out_.push_back(']');
    return Ok{};
  }

  Status map(std::size_t n, std::size_t depth) {
    if (depth + 1 > limits_.max_depth) return too_deep();
    if (n > left() / 2) return truncated();  // every entry takes at least two bytes
    out_.push_back('{');
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) out_.push_back(',');
      if (at_ == end_) return truncated();
      const std::uint8_t marker = *at_;
      if ((marker & 0xe0) != 0xa0 && (marker < 0xd9 || marker > 0xdb)) {
        return malformed("a map key that is not a string (JSON keys are strings)");
      }
      if (auto status = value(depth + 1); !status) return status;
      out_.push_back(':');
      if (auto status = value(depth + 1); !status) return status;
    }
    out_.push_back('}');
    return Ok{};
  }

  Unexpected truncated() const {
    return fail(ErrorCategory::kInvalidArgument,
                "MessagePack of " + std::to_string(end_ - begin_) +
                    " bytes ends in the middle of a value (at byte " + std::to_string(offset()) +
                    ")");
  }

  Unexpected malformed(const std::string& what) const {
    return fail(ErrorCategory::kInvalidArgument,
                "MessagePack has " + what + " at byte " + std::to_string(offset()));
  }

  Unexpected too_deep() const {
    return fail(ErrorCategory::kInvalidArgument,
                "MessagePack nests arrays and maps more than " + std::to_string(limits_.max_depth) +
                    " levels deep (at byte " + std::to_string(offset()) + ")");
  }

  Unexpected too_large() const {
    return fail(ErrorCategory::kInvalidArgument,
                "MessagePack of " + std::to_string(end_ - begin_) +
                    " bytes transcodes to more than the limit of " +
                    std::to_string(limits_.max_output_bytes) + " bytes of JSON");
  }

  const std::uint8_t* begin_;
  const std::uint8_t* at_;
  const std::uint8_t* end_;
  const TranscodeLimits& limits_;
  const ExtBytes* ext_bytes_;
  std::string out_;
};

}  // namespace

namespace {

Result<std::string> transcode_msgpack(std::string_view msgpack, const TranscodeLimits& limits,
                                      const ExtBytes* ext_bytes) {
  if (msgpack.size() > limits.max_input_bytes) {
    return fail(ErrorCategory::kInvalidArgument,
                "MessagePack of " + std::to_string(msgpack.size()) +
                    " bytes is larger than the limit of " + std::to_string(limits.max_input_bytes) +
                    " bytes");
  }
  return MsgpackToJson(msgpack, limits, ext_bytes).run();
}

}  // namespace

Result<std::string> msgpack_to_json(std::string_view msgpack, const TranscodeLimits& limits) {
  return transcode_msgpack(msgpack, limits, nullptr);
}

Result<std::string> msgpack_to_json(std::string_view msgpack, const TranscodeLimits& limits,
                                    const ExtBytes& ext_bytes) {
  return transcode_msgpack(msgpack, limits, &ext_bytes);
}

Result<std::string> value_to_json_text(const json& value, const TranscodeLimits& limits) {
  std::string packed;
  json::to_msgpack(value, packed);
  return msgpack_to_json(packed, limits);
}

}  // namespace mlbridge::protocol
