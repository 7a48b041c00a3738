#include "mlbridge/protocol/encoded_args.hpp"

#include <cstring>
#include <limits>

#include "mlbridge/protocol/frame.hpp"
#include "mlbridge/protocol/transcode.hpp"
#include "msgpack_reader.hpp"
#include "msgpack_writer.hpp"

namespace mlbridge::protocol {
namespace {

constexpr std::string_view kJsonArgsNull = R"({"args":null)";
// The string "response" (a fixstr of 8 bytes).
constexpr std::string_view kMsgpackResponseType("\xa8response", 9);

std::size_t msgpack_map_header_size(std::uint8_t marker) {
  if ((marker & 0xf0) == 0x80) return 1;
  if (marker == 0xde) return 3;
  if (marker == 0xdf) return 5;
  return 0;
}

bool holds_at(const std::vector<std::uint8_t>& frame, std::size_t at, std::string_view text) {
  return frame.size() >= at + text.size() &&
         std::memcmp(frame.data() + at, text.data(), text.size()) == 0;
}

// Reads a big-endian unsigned integer of `size` bytes at `at`; false past `end`.
bool read_length(const std::uint8_t*& at, const std::uint8_t* end, std::size_t size,
                 std::uint64_t& out) {
  if (static_cast<std::size_t>(end - at) < size) return false;
  out = 0;
  for (std::size_t i = 0; i < size; ++i) out = (out << 8) | at[i];
  at += size;
  return true;
}

// The bytes after `marker` that a scalar, string, bin or ext holds (its length read first where
// it has one), or the values an array or map adds; false on malformed or truncated input.
bool value_extent(std::uint8_t marker, const std::uint8_t*& at, const std::uint8_t* end,
                  std::uint64_t& skip, std::uint64_t& children) {
  skip = 0;
  children = 0;
  if (marker <= 0x7f || marker >= 0xe0 || marker == 0xc0 || marker == 0xc2 || marker == 0xc3) {
    return true;
  }
  if ((marker & 0xf0) == 0x80) return children = 2u * (marker & 0x0fu), true;
  if ((marker & 0xf0) == 0x90) return children = marker & 0x0fu, true;
  if ((marker & 0xe0) == 0xa0) return skip = marker & 0x1fu, true;
  switch (marker) {
    case 0xc4:
    case 0xd9:
      return read_length(at, end, 1, skip);
    case 0xc5:
    case 0xda:
      return read_length(at, end, 2, skip);
    case 0xc6:
    case 0xdb:
      return read_length(at, end, 4, skip);
    case 0xc7:
      return read_length(at, end, 1, skip) && (++skip, true);
    case 0xc8:
      return read_length(at, end, 2, skip) && (++skip, true);
    case 0xc9:
      return read_length(at, end, 4, skip) && (++skip, true);
    case 0xcc:
    case 0xd0:
      return skip = 1, true;
    case 0xcd:
    case 0xd1:
    case 0xd4:
      return skip = 2, true;
    case 0xd5:
      return skip = 3, true;
    case 0xca:
    case 0xce:
    case 0xd2:
      return skip = 4, true;
    case 0xd6:
      return skip = 5, true;
    case 0xcb:
    case 0xcf:
    case 0xd3:
      return skip = 8, true;
    case 0xd7:
      return skip = 9, true;
    case 0xd8:
      return skip = 17, true;
    case 0xdc:
      return read_length(at, end, 2, children);
    case 0xdd:
      return read_length(at, end, 4, children);
    case 0xde:
      return read_length(at, end, 2, children) && (children *= 2, true);
    case 0xdf:
      return read_length(at, end, 4, children) && (children *= 2, true);
    default:
      return false;  // 0xc1
  }
}

// Skips one MessagePack value and everything it contains without recursing (`pending` counts
// the values still to skip). False on malformed or truncated input.
bool skip_value(const std::uint8_t*& at, const std::uint8_t* end) {
  std::uint64_t pending = 1;
  while (pending > 0) {
    if (at == end) return false;
    const std::uint8_t marker = *at++;
    --pending;
    std::uint64_t skip = 0;
    std::uint64_t children = 0;
    if (!value_extent(marker, at, end, skip, children)) return false;
    if (static_cast<std::uint64_t>(end - at) < skip) return false;
    at += skip;
    pending += children;
  }
  return true;
}

// A string key at `at`; false when the value there is not a string.
bool read_key(const std::uint8_t*& at, const std::uint8_t* end, std::string_view& key) {
  if (at == end) return false;
  const std::uint8_t marker = *at++;
  if ((marker & 0xe0) != 0xa0 && (marker < 0xd9 || marker > 0xdb)) return false;
  std::uint64_t size = 0;
  std::uint64_t children = 0;
  if (!value_extent(marker, at, end, size, children)) return false;
  if (static_cast<std::uint64_t>(end - at) < size) return false;
  key = std::string_view(reinterpret_cast<const char*>(at), size);
  at += size;
  return true;
}

// The JSON frame: the envelope printed from its DOM (with a null "args"), the args spliced in
// where the null was: their JSON text when the caller has it, else transcoded in one pass.
Result<std::vector<std::uint8_t>> json_request_frame(Request request, std::string_view args_msgpack,
                                                     std::string_view args_json,
                                                     std::size_t max_frame_bytes) {
  request.args = nullptr;
  auto encoded = encode_frame(to_json(std::move(request)), Codec::kJson, max_frame_bytes);
  if (!encoded) return encoded;
  const std::vector<std::uint8_t>& frame = *encoded;
  // nlohmann's objects keep their keys sorted, and "args" sorts before every other key of a
  // request (command, deadline_ms, id, session_id, session_state, type): it comes first.
  if (!holds_at(frame, kFrameHeaderBytes, kJsonArgsNull)) {
    return fail(ErrorCategory::kInternal,
                "encode_request_frame: the request does not start with a null \"args\"");
  }
  std::string printed;
  if (args_json.empty()) {
    TranscodeLimits limits;  // the frame's size is checked below, as for any frame
    limits.max_input_bytes = limits.max_output_bytes = std::numeric_limits<std::size_t>::max();
    auto text = msgpack_to_json(args_msgpack, limits);
    if (!text) return std::move(text).error();
    printed = std::move(*text);
    args_json = printed;
  }
  const std::size_t value_at = kFrameHeaderBytes + kJsonArgsNull.size() - 4;
  const std::size_t value_size = 4;  // null
  const std::size_t payload_size = frame.size() - kFrameHeaderBytes - value_size + args_json.size();
  if (auto status = check_frame_size(payload_size, max_frame_bytes); !status) {
    return std::move(status).error();
  }
  std::vector<std::uint8_t> out;
  out.reserve(kFrameHeaderBytes + payload_size);
  out.insert(out.end(), frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(value_at));
  // Bytes, not chars: inserting the string's chars into the vector converted them one by one
  // (~20 ms for 16 MiB); this is one memmove.
  const auto* args_bytes = reinterpret_cast<const std::uint8_t*>(args_json.data());
  out.insert(out.end(), args_bytes, args_bytes + args_json.size());
  out.insert(out.end(), frame.begin() + static_cast<std::ptrdiff_t>(value_at + value_size),
             frame.end());
  write_frame_header(out.data(), static_cast<std::uint32_t>(payload_size));
  return out;
}

// The MessagePack frame, written field by field.
Result<std::vector<std::uint8_t>> msgpack_request_frame(const Request& request,
                                                        std::string_view args_msgpack,
                                                        std::size_t max_frame_bytes) {
  namespace mw = msgpack_writer;
  // The keys in the order of to_json's sorted map: args, command, deadline_ms, id, session_id,
  // session_state, type.
  std::vector<std::uint8_t> session_state;
  if (!request.session_state.is_null()) json::to_msgpack(request.session_state, session_state);
  const std::size_t entries = 5 + (request.deadline_ms ? 1 : 0) + (session_state.empty() ? 0 : 1);
  std::vector<std::uint8_t> out;
  out.reserve(kFrameHeaderBytes + 96 + request.command.size() +
              (request.session_id ? request.session_id->size() : 0) + args_msgpack.size() +
              session_state.size());
  out.resize(kFrameHeaderBytes);
  mw::put_map_header(out, entries);
  mw::put_string(out, "args");
  mw::put_bytes(out, args_msgpack);
  mw::put_string(out, "command");
  mw::put_string(out, request.command);
  if (request.deadline_ms) {
    mw::put_string(out, "deadline_ms");
    mw::put_signed(out, *request.deadline_ms);
  }
  mw::put_string(out, "id");
  mw::put_unsigned(out, request.id);
  mw::put_string(out, "session_id");
  if (request.session_id) {
    mw::put_string(out, *request.session_id);
  } else {
    mw::put_nil(out);
  }
  if (!session_state.empty()) {
    mw::put_string(out, "session_state");
    out.insert(out.end(), session_state.begin(), session_state.end());
  }
  mw::put_string(out, "type");
  mw::put_string(out, "request");
  const std::size_t payload_size = out.size() - kFrameHeaderBytes;
  if (auto status = check_frame_size(payload_size, max_frame_bytes); !status) {
    return std::move(status).error();
  }
  write_frame_header(out.data(), static_cast<std::uint32_t>(payload_size));
  return out;
}

}  // namespace

bool contains_ext_type(std::span<const std::uint8_t> value, std::uint8_t type) {
  const std::uint8_t* at = value.data();
  const std::uint8_t* const end = at + value.size();
  while (at != end) {  // values in order, containers' headers included: a flat walk
    const std::uint8_t marker = *at++;
    std::uint64_t skip = 0;
    std::uint64_t children = 0;
    if (!value_extent(marker, at, end, skip, children)) return true;  // unknown: assume so
    const bool is_ext = (marker >= 0xc7 && marker <= 0xc9) || (marker >= 0xd4 && marker <= 0xd8);
    if (is_ext && at != end && *at == type) return true;
    if (static_cast<std::uint64_t>(end - at) < skip) return true;
    at += skip;
  }
  return false;
}

std::optional<ResponseResultSpan> locate_response_result(std::span<const std::uint8_t> payload) {
  const std::uint8_t* const begin = payload.data();
  const std::uint8_t* const end = begin + payload.size();
  const std::uint8_t* at = begin;
  if (at == end) return std::nullopt;
  const std::uint8_t marker = *at++;
  std::uint64_t skip = 0;
  std::uint64_t children = 0;
  const bool is_map = (marker & 0xf0) == 0x80 || marker == 0xde || marker == 0xdf;
  if (!is_map || !value_extent(marker, at, end, skip, children)) return std::nullopt;
  ResponseResultSpan span;
  bool has_id = false;
  bool has_result = false;
  bool is_response = false;
  bool succeeded = false;
  bool has_others = false;
  for (std::uint64_t entry = 0; entry < children / 2; ++entry) {
    std::string_view key;
    if (!read_key(at, end, key)) return std::nullopt;
    const std::uint8_t* const value = at;
    if (!skip_value(at, end)) return std::nullopt;
    const std::string_view value_bytes(reinterpret_cast<const char*>(value),
                                       static_cast<std::size_t>(at - value));
    if (key == "type") {
      is_response = value_bytes == kMsgpackResponseType;
    } else if (key == "success") {
      succeeded = value_bytes == "\xc3";
    } else if (key != "result" && key != "id") {
      has_others = true;
    }
    if (key == "result") {
      span.begin = static_cast<std::size_t>(value - begin);
      span.end = static_cast<std::size_t>(at - begin);
      has_result = true;
    } else if (key == "id") {
      // An unsigned integer: a positive fixint or uint 8/16/32/64.
      const std::uint8_t* number = value + 1;
      if (*value <= 0x7f) {
        span.id = *value;
      } else if (*value < 0xcc || *value > 0xcf ||
                 !read_length(number, end, std::size_t{1} << (*value - 0xcc), span.id)) {
        return std::nullopt;
      }
      has_id = true;
    }
  }
  if (at != end || !has_id || !has_result) return std::nullopt;
  span.plain_success = is_response && succeeded && !has_others;
  return span;
}

std::optional<MovedBins> move_large_bins_out(std::string_view msgpack, SharedBlobs& blobs,
                                             std::size_t min_bytes) {
  if (min_bytes == 0 || msgpack.size() < min_bytes) return std::nullopt;
  const auto* const begin = reinterpret_cast<const std::uint8_t*>(msgpack.data());
  const std::uint8_t* const end = begin + msgpack.size();
  const std::uint8_t* at = begin;
  const std::uint8_t* copied = begin;  // what lies before it is in moved.msgpack already
  MovedBins moved;
  while (at != end) {  // values in order, containers' headers included: a flat walk
    const std::uint8_t* const value = at;
    const std::uint8_t marker = *at++;
    std::uint64_t skip = 0;
    std::uint64_t children = 0;
    if (!value_extent(marker, at, end, skip, children)) return std::nullopt;
    if (static_cast<std::uint64_t>(end - at) < skip) return std::nullopt;
    const bool is_bin = marker == 0xc4 || marker == 0xc5 || marker == 0xc6;
    if (is_bin && skip >= min_bytes) {
      if (auto reference = blobs.store(std::span<const std::uint8_t>(at, skip))) {
        const auto& data = reference->get_binary();
        moved.msgpack.append(reinterpret_cast<const char*>(copied), value - copied);
        // ext 8: marker, length, type, data (what nlohmann writes for the same reference).
        moved.msgpack.push_back(static_cast<char>(0xc7));
        moved.msgpack.push_back(static_cast<char>(data.size()));
        moved.msgpack.push_back(static_cast<char>(kSharedBlobExt));
        moved.msgpack.append(reinterpret_cast<const char*>(data.data()), data.size());
        moved.moved_bytes += skip;
        copied = at + skip;
      }
    }
    at += skip;
  }
  if (moved.moved_bytes == 0) return std::nullopt;
  moved.msgpack.append(reinterpret_cast<const char*>(copied), end - copied);
  return moved;
}

Result<EncodedArgs> EncodedArgs::from_json(std::string_view json_text,
                                           const TranscodeLimits& limits) {
  bool holds_bytes = false;
  auto msgpack = json_to_msgpack(json_text, limits, &holds_bytes);
  if (!msgpack) return std::move(msgpack).error();
  if (!is_msgpack_map(*msgpack)) {
    return fail(ErrorCategory::kInvalidArgument,
                "a command's args must be a JSON object ({\"name\": value, ...})");
  }
  PreEncodedArgs encoded;
  encoded.msgpack = std::move(*msgpack);
  // A worker reading the text would miss a "__bytes__" key written with escapes: with bytes in
  // the args it gets them transcoded.
  if (!holds_bytes) encoded.json_text = std::string(json_text);
  return EncodedArgs(std::make_shared<const PreEncodedArgs>(std::move(encoded)));
}

json decode_encoded_args(std::string_view msgpack) {
  auto value = read_msgpack(
      std::span(reinterpret_cast<const std::uint8_t*>(msgpack.data()), msgpack.size()));
  return value ? std::move(*value) : json(nullptr);
}

bool is_msgpack_map(std::string_view msgpack) {
  return !msgpack.empty() && msgpack_map_header_size(static_cast<std::uint8_t>(msgpack[0])) != 0;
}

Result<std::vector<std::uint8_t>> encode_request_frame(Request request,
                                                       std::string_view args_msgpack, Codec codec,
                                                       std::size_t max_frame_bytes,
                                                       std::string_view args_json) {
  if (codec == Codec::kMsgpack)
    return msgpack_request_frame(request, args_msgpack, max_frame_bytes);
  return json_request_frame(std::move(request), args_msgpack, args_json, max_frame_bytes);
}

}  // namespace mlbridge::protocol
