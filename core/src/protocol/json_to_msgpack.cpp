#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "base64_buffers.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/transcode.hpp"
#include "msgpack_writer.hpp"
#include "padded_text.hpp"

namespace mlbridge::protocol {
namespace {

namespace od = simdjson::ondemand;
using detail::kReusedParserBytes;
using detail::padded_copy;
using msgpack_writer::put_byte;
using msgpack_writer::put_double;
using msgpack_writer::put_nil;
using msgpack_writer::put_signed;
using msgpack_writer::put_sized_header;
using msgpack_writer::put_string;
using msgpack_writer::put_unsigned;

// Space left for an array or map header until its count is known (a marker and 4 bytes).
constexpr std::size_t kContainerSlot = 5;
// Significant digits (leading zeros counted, to stay on the safe side) up to which simdjson's
// number parsing is exact.
constexpr std::size_t kExactDigits = 15;

// The header of an array or map whose count became known at its end; written over its slot.
struct Container {
  std::size_t slot = 0;  // offset of the slot in the output
  std::uint32_t count = 0;
  bool is_map = false;
};

class JsonToMsgpack {
 public:
  JsonToMsgpack(std::string_view text, const TranscodeLimits& limits)
      : text_(text), limits_(limits) {
    out_.reserve(text.size() + 16);
  }

  // Whether a `__bytes__` value became a bin.
  bool wrote_bytes() const { return wrote_bytes_; }

  Result<std::string> run(od::parser& parser) {
    // JSON allows no raw NUL byte anywhere (in strings it must be escaped), and simdjson would
    // take one for the end of the document, accepting what follows it unread.
    if (const auto nul = text_.find('\0'); nul != std::string_view::npos) {
      return fail(ErrorCategory::kInvalidArgument,
                  "JSON text holds a NUL byte at byte " + std::to_string(nul) +
                      "; JSON allows none (escape it as \\u0000 inside a string)");
    }
    const simdjson::padded_string_view padded = padded_copy(text_);
    padded_begin_ = padded.data();
    od::document doc;
    if (auto error = parser.iterate(padded).get(doc)) return failure(error, nullptr);
    od::json_type type{};
    if (auto error = doc.type().get(type)) return failure(error, location(doc));
    if (type == od::json_type::object || type == od::json_type::array) {
      od::value root;
      if (auto error = doc.get_value().get(root)) return failure(error, location(doc));
      if (auto status = value(root, 0); !status) return std::move(status).error();
    } else if (auto status = scalar(doc, type); !status) {
      return std::move(status).error();
    }
    // simdjson reports a location while there is content left after the value.
    const char* rest = nullptr;
    if (doc.current_location().get(rest) == simdjson::SUCCESS) {
      return fail(ErrorCategory::kInvalidArgument,
                  "JSON text has content after its value at byte " +
                      std::to_string(offset_of(rest)) + "; send exactly one JSON value");
    }
    write_container_headers();
    if (out_.size() > limits_.max_output_bytes) {
      return fail(ErrorCategory::kInvalidArgument,
                  "JSON text transcodes to " + std::to_string(out_.size()) +
                      " bytes of MessagePack, more than the limit of " +
                      std::to_string(limits_.max_output_bytes) + " bytes; send a smaller value");
    }
    return std::move(out_);
  }

 private:
  template <typename Source>
  const char* location(Source& source) {
    const char* at = nullptr;
    return source.current_location().get(at) == simdjson::SUCCESS ? at : nullptr;
  }

  std::size_t offset_of(const char* at) const {
    // simdjson points into its padded copy, whose offsets are the text's.
    return at ? static_cast<std::size_t>(at - padded_begin_) : text_.size();
  }

  Status value(od::value& v, std::size_t depth) {
    od::json_type type{};
    if (auto error = v.type().get(type)) return failure(error, location(v));
    switch (type) {
      case od::json_type::object: {
        if (depth + 1 > limits_.max_depth) return too_deep(location(v));
        od::object object;
        if (auto error = v.get_object().get(object)) return failure(error, location(v));
        return this->object(object, depth + 1);
      }
      case od::json_type::array: {
        if (depth + 1 > limits_.max_depth) return too_deep(location(v));
        od::array array;
        if (auto error = v.get_array().get(array)) return failure(error, location(v));
        return this->array(array, depth + 1);
      }
      default:
        return scalar(v, type);
    }
  }

  Status array(od::array& array, std::size_t depth) {
    const std::size_t index = open_container(/*is_map=*/false);
    std::uint32_t count = 0;
    for (auto element : array) {
      od::value item;
      if (auto error = element.get(item)) return failure(error, nullptr);
      if (auto status = value(item, depth); !status) return status;
      ++count;
    }
    containers_[index].count = count;
    return Ok{};
  }

  // An object whose only member is "__bytes__" with a string value is bytes (codec.hpp): the
  // string of such a member waits until the object either ends (then it is decoded into a `bin`)
  // or has another member (then it is written as the string it is). As long as every key is
  // "__bytes__", a repeated one replaces what came before, because the DOM keeps the last value
  // of a repeated key and then sees a one-key object; other repeated keys are passed on (a
  // decoder that builds a map keeps the last value too).
  Status object(od::object& object, std::size_t depth) {
    const std::size_t slot = out_.size();
    const std::size_t index = open_container(/*is_map=*/true);
    std::uint32_t count = 0;
    bool only_bytes_keys = true;
    std::optional<std::string_view> bytes_text;
    const char* bytes_at = nullptr;
    for (auto member : object) {
      od::field field;
      if (auto error = std::move(member).get(field)) return failure(error, nullptr);
      std::string_view key;
      if (auto error = field.unescaped_key().get(key)) return failure(error, nullptr);
      od::value& item = field.value();
      if (key != kBytesKey) {
        only_bytes_keys = false;
      } else if (only_bytes_keys) {
        drop_members(index);
        bytes_text.reset();
        count = 1;
        od::json_type type{};
        if (auto error = item.type().get(type)) return failure(error, location(item));
        if (type == od::json_type::string) {
          bytes_at = location(item);
          std::string_view text;
          if (auto error = bytes_string(item, text)) return failure(error, bytes_at);
          bytes_text = text;
          continue;
        }
        put_string(out_, key);
        if (auto status = value(item, depth); !status) return status;
        continue;
      }
      if (bytes_text) {
        put_string(out_, kBytesKey);
        put_string(out_, *bytes_text);
        bytes_text.reset();
      }
      put_string(out_, key);
      if (auto status = value(item, depth); !status) return status;
      ++count;
    }
    if (bytes_text && only_bytes_keys) {
      // The object was {"__bytes__": "..."}: no map after all.
      containers_.pop_back();
      out_.resize(slot);
      return write_bytes(*bytes_text, bytes_at);
    }
    containers_[index].count = count;
    return Ok{};
  }

  // The text of a string that may be base64. Base64 needs no escapes, and where it has none
  // (the usual case) the text is read in place, in the parser's padded copy of the input:
  // get_string would copy it into the parser's string buffer first, touching as many fresh
  // pages again as the body has bytes. Stage 1 has validated the whole text (UTF-8, no
  // unescaped control characters), so a string without a backslash is its own unescaped value.
  // The value is still consumed (get_raw_json_string, which copies nothing): the iteration then
  // checks what follows it, as after get_string (skipping an unconsumed value does not).
  simdjson::error_code bytes_string(od::value& item, std::string_view& text) {
    const std::string_view token = item.raw_json_token();  // "...", then any whitespace
    const std::size_t closing_quote = token.find_last_of('"');
    if (token.size() >= 2 && token.front() == '"' && closing_quote > 0 &&
        closing_quote != std::string_view::npos) {
      const std::string_view raw = token.substr(1, closing_quote - 1);
      if (raw.find('\\') == std::string_view::npos) {
        od::raw_json_string consumed;
        if (auto error = item.get_raw_json_string().get(consumed)) return error;
        text = raw;
        return simdjson::SUCCESS;
      }
    }
    return item.get_string().get(text);
  }

  // Forgets what the map at containers_[index] holds so far (and the containers inside it).
  void drop_members(std::size_t index) {
    out_.resize(containers_[index].slot + kContainerSlot);
    containers_.resize(index + 1);
  }

  // `source` is an od::value or, for a scalar document, the od::document.
  template <typename Source>
  Status scalar(Source& source, od::json_type type) {
    switch (type) {
      case od::json_type::string: {
        std::string_view text;
        if (auto error = source.get_string().get(text)) return failure(error, location(source));
        put_string(out_, text);
        return Ok{};
      }
      case od::json_type::number:
        return number(source);
      case od::json_type::boolean: {
        bool flag = false;
        if (auto error = source.get_bool().get(flag)) return failure(error, location(source));
        put_byte(out_, flag ? 0xc3 : 0xc2);
        return Ok{};
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto error = source.is_null().get(is_null); error || !is_null) {
          return failure(error ? error : simdjson::N_ATOM_ERROR, location(source));
        }
        put_nil(out_);
        return Ok{};
      }
      default:
        return failure(simdjson::TAPE_ERROR, location(source));
    }
  }

  template <typename Source>
  Status number(Source& source) {
    const char* at = location(source);
    od::number number;
    if (auto error = source.get_number().get(number)) {
      // Integers beyond 64 bits are doubles, as nlohmann parses them; simdjson's get_number
      // refuses them but get_double reads them.
      double as_double = 0;
      if (error == simdjson::NUMBER_ERROR &&
          source.get_double().get(as_double) == simdjson::SUCCESS) {
        put_double(out_, exact_double(at, as_double));
        return Ok{};
      }
      return number_failure(error, at);
    }
    switch (number.get_number_type()) {
      case od::number_type::signed_integer:
        put_signed(out_, number.get_int64());
        break;
      case od::number_type::unsigned_integer:
        put_unsigned(out_, number.get_uint64());
        break;
      default:
        put_double(out_, exact_double(at, number.get_double()));
        break;
    }
    return Ok{};
  }

  // simdjson's value of a number with more significant digits than its exact fast path takes
  // (19) can differ from the correctly rounded one in the last bit, where nlohmann (strtod) and
  // std::from_chars both round correctly: such a number is read again from its text, so the
  // transcoder's double is the DOM path's to the bit. Short numbers keep simdjson's value.
  double exact_double(const char* at, double parsed) const {
    if (at == nullptr) return parsed;
    const std::string_view rest = text_.substr(offset_of(at));
    std::size_t end = 0;
    std::size_t digits = 0;
    bool exponent = false;
    while (end < rest.size()) {
      const char c = rest[end];
      if (c >= '0' && c <= '9') {
        if (!exponent) ++digits;
      } else if (c == 'e' || c == 'E') {
        exponent = true;
      } else if (c != '-' && c != '+' && c != '.') {
        break;
      }
      ++end;
    }
    if (digits <= kExactDigits) return parsed;
    double exact = parsed;
    const auto read = std::from_chars(rest.data(), rest.data() + end, exact);
    return read.ec == std::errc() ? exact : parsed;
  }

  Status write_bytes(std::string_view text, const char* at) {
    const auto size = base64_decoded_size(text);
    if (size && *size <= std::numeric_limits<std::uint32_t>::max()) {
      put_sized_header(out_, *size, 0xc4, 0xc5, 0xc6);
      wrote_bytes_ = true;
      const std::size_t start = out_.size();
      out_.resize(start + *size);
      if (base64_decode_to(text, reinterpret_cast<std::uint8_t*>(out_.data() + start))) {
        return Ok{};
      }
    }
    return fail(ErrorCategory::kInvalidArgument,
                "malformed base64 in the __bytes__ value at byte " + std::to_string(offset_of(at)) +
                    ": expected standard base64 (A-Z a-z 0-9 + /), padded with '=' to a multiple "
                    "of 4 characters");
  }

  std::size_t open_container(bool is_map) {
    containers_.push_back(Container{out_.size(), 0, is_map});
    out_.append(kContainerSlot, '\0');
    return containers_.size() - 1;
  }

  // One pass over the output: each container's slot gets its real (smallest) header, and what
  // follows moves down over the bytes the header did not need. Slots are in output order (a
  // container opens before its contents), so every byte moves once.
  void write_container_headers() {
    if (containers_.empty()) return;
    char* data = out_.data();
    std::size_t write = containers_.front().slot;
    std::size_t read = write;
    for (const Container& container : containers_) {
      const std::size_t gap = container.slot - read;
      std::memmove(data + write, data + read, gap);
      write += gap;
      write += write_container_header(data + write, container);
      read = container.slot + kContainerSlot;
    }
    const std::size_t tail = out_.size() - read;
    std::memmove(data + write, data + read, tail);
    out_.resize(write + tail);
  }

  static std::size_t write_container_header(char* at, const Container& container) {
    const std::uint32_t n = container.count;
    if (n < 16) {
      at[0] = static_cast<char>((container.is_map ? 0x80 : 0x90) | n);
      return 1;
    }
    if (n <= 0xffff) {
      at[0] = static_cast<char>(container.is_map ? 0xde : 0xdc);
      at[1] = static_cast<char>(n >> 8);
      at[2] = static_cast<char>(n);
      return 3;
    }
    at[0] = static_cast<char>(container.is_map ? 0xdf : 0xdd);
    for (int i = 0; i < 4; ++i) at[1 + i] = static_cast<char>(n >> (8 * (3 - i)));
    return 5;
  }

  Unexpected too_deep(const char* at) const {
    return fail(ErrorCategory::kInvalidArgument,
                "JSON text nests arrays and objects more than " +
                    std::to_string(limits_.max_depth) + " levels deep (at byte " +
                    std::to_string(offset_of(at)) + "); flatten the value");
  }

  Unexpected number_failure(simdjson::error_code error, const char* at) const {
    if (error != simdjson::NUMBER_ERROR || at == nullptr) return failure(error, at);
    // The token runs to the next character that cannot be part of a number.
    const std::size_t begin = offset_of(at);
    std::size_t end = begin;
    while (end < text_.size() &&
           std::string_view("+-.eE0123456789").find(text_[end]) != std::string_view::npos) {
      ++end;
    }
    const std::string_view token = text_.substr(begin, std::min<std::size_t>(end - begin, 40));
    double ignored = 0;
    const auto parsed = std::from_chars(token.data(), token.data() + token.size(), ignored);
    const bool out_of_range = end - begin <= 40 && parsed.ec == std::errc::result_out_of_range;
    return fail(
        ErrorCategory::kInvalidArgument,
        out_of_range
            ? "number " + std::string(token) + " at byte " + std::to_string(begin) +
                  " is out of range: JSON numbers must fit a 64-bit float "
                  "(about ±1.8e308); send larger values as strings"
            : "malformed number " + std::string(token) + " at byte " + std::to_string(begin));
  }

  Unexpected failure(simdjson::error_code error, const char* at) const {
    std::string what;
    switch (error) {
      case simdjson::UTF8_ERROR:
        what =
            "is not valid UTF-8 (JSON text must be UTF-8; send binary data as "
            "{\"__bytes__\": \"<base64>\"})";
        break;
      case simdjson::STRING_ERROR:
      case simdjson::UNESCAPED_CHARS:
      case simdjson::UNCLOSED_STRING:
        what =
            "has a malformed string (a bad escape, an unpaired \\u surrogate, an unescaped "
            "control character or a missing closing quote)";
        break;
      case simdjson::EMPTY:
        what = "is empty; expected one JSON value";
        break;
      case simdjson::DEPTH_ERROR:
        what = "nests arrays and objects more than " + std::to_string(limits_.max_depth) +
               " levels deep; flatten the value";
        break;
      case simdjson::CAPACITY:
        what = "is larger than the JSON parser can take";
        break;
      case simdjson::TRAILING_CONTENT:
        what = "has content after its value; send exactly one JSON value";
        break;
      case simdjson::NUMBER_ERROR:
        what = "has a malformed number";
        break;
      default:
        what = std::string("is not valid JSON (") + simdjson::error_message(error) + ")";
        break;
    }
    if (at != nullptr) what += " at byte " + std::to_string(offset_of(at));
    return fail(ErrorCategory::kInvalidArgument, "JSON text " + what);
  }

  std::string_view text_;
  const TranscodeLimits& limits_;
  bool wrote_bytes_ = false;
  std::string out_;
  std::vector<Container> containers_;
  const char* padded_begin_ = nullptr;
};

}  // namespace

Result<std::string> json_to_msgpack(std::string_view json_text, const TranscodeLimits& limits,
                                    bool* holds_bytes) {
  if (json_text.size() > limits.max_input_bytes) {
    return fail(ErrorCategory::kInvalidArgument,
                "JSON text of " + std::to_string(json_text.size()) +
                    " bytes is larger than the limit of " + std::to_string(limits.max_input_bytes) +
                    " bytes");
  }
  JsonToMsgpack transcoder(json_text, limits);
  auto run = [&](od::parser& parser) {
    auto out = transcoder.run(parser);
    if (holds_bytes != nullptr) *holds_bytes = transcoder.wrote_bytes();
    return out;
  };
  if (json_text.size() <= kReusedParserBytes) {
    thread_local od::parser parser;
    return run(parser);
  }
  od::parser parser;
  return run(parser);
}

}  // namespace mlbridge::protocol
