#include "mlbridge/protocol/codec.hpp"

#include <string>

#include "mlbridge/protocol/frame.hpp"
#include "mlbridge/protocol/nesting.hpp"
#include "msgpack_reader.hpp"

namespace mlbridge::protocol {
namespace {

bool contains_binary(const json& value) {
  switch (value.type()) {
    case json::value_t::binary:
      return true;
    case json::value_t::object:
      for (const auto& item : value.items()) {
        if (contains_binary(item.value())) return true;
      }
      return false;
    case json::value_t::array:
      for (const auto& item : value) {
        if (contains_binary(item)) return true;
      }
      return false;
    default:
      return false;
  }
}

// JSON has no bytes: replace every binary value by {"__bytes__": base64}.
json with_bytes_as_base64(const json& value) {
  switch (value.type()) {
    case json::value_t::binary:
      return json{{kBytesKey, base64_encode(value.get_binary())}};
    case json::value_t::object: {
      json out = json::object();
      for (const auto& item : value.items()) out[item.key()] = with_bytes_as_base64(item.value());
      return out;
    }
    case json::value_t::array: {
      json out = json::array();
      for (const auto& item : value) out.push_back(with_bytes_as_base64(item));
      return out;
    }
    default:
      return value;
  }
}

// An upper bound of `value`'s MessagePack size, so that a frame is allocated once: growing it
// while encoding copied a 16 MiB payload about twice over and faulted in every new page.
std::size_t msgpack_size_bound(const json& value) {
  constexpr std::size_t kLongestHeader = 9;  // a marker and up to 8 bytes of length or value
  switch (value.type()) {
    case json::value_t::string:
      return kLongestHeader + value.get_ref<const json::string_t&>().size();
    case json::value_t::binary:
      return kLongestHeader + value.get_binary().size();
    case json::value_t::array: {
      std::size_t size = kLongestHeader;
      for (const auto& item : value) size += msgpack_size_bound(item);
      return size;
    }
    case json::value_t::object: {
      std::size_t size = kLongestHeader;
      for (const auto& [key, item] : value.get_ref<const json::object_t&>()) {
        size += kLongestHeader + key.size() + msgpack_size_bound(item);
      }
      return size;
    }
    default:
      return kLongestHeader;
  }
}

}  // namespace

std::string_view to_string(Codec codec) { return codec == Codec::kJson ? "json" : "msgpack"; }

std::optional<Codec> parse_codec(std::string_view name) {
  if (name == "json") return Codec::kJson;
  if (name == "msgpack") return Codec::kMsgpack;
  return std::nullopt;
}

json to_plain_json(const json& value) {
  return contains_binary(value) ? with_bytes_as_base64(value) : value;
}

Result<std::vector<std::uint8_t>> encode_frame(const json& message, Codec codec,
                                               std::size_t max_frame_bytes) {
  std::vector<std::uint8_t> frame(kFrameHeaderBytes);
  if (codec == Codec::kMsgpack) {
    frame.reserve(kFrameHeaderBytes + msgpack_size_bound(message));
    json::to_msgpack(message, frame);  // appends after the header placeholder
  } else {
    std::string text;
    try {
      text = contains_binary(message) ? with_bytes_as_base64(message).dump() : message.dump();
    } catch (const json::type_error& error) {
      // nlohmann throws on a string that is not UTF-8; on the event loop that would end the host.
      return fail(ErrorCategory::kInvalidArgument,
                  std::string("a string in the message is not valid UTF-8, which the JSON codec "
                              "cannot carry (send such data as bytes, or use codec: msgpack): ") +
                      error.what());
    }
    frame.insert(frame.end(), text.begin(), text.end());
  }
  const std::size_t payload_size = frame.size() - kFrameHeaderBytes;
  if (auto status = check_frame_size(payload_size, max_frame_bytes); !status) {
    return std::move(status).error();
  }
  write_frame_header(frame.data(), static_cast<std::uint32_t>(payload_size));
  return frame;
}

Result<json> decode_payload(std::span<const std::uint8_t> payload, Codec codec) {
  json value;
  if (codec == Codec::kMsgpack) {
    // Not json::from_msgpack: it copies bytes and strings one byte at a time (a 16 MiB `bin`
    // took most of an echo's time); read_msgpack builds the same value in bulk copies.
    auto decoded = read_msgpack(payload);
    value = decoded ? std::move(*decoded) : json(json::value_t::discarded);
  } else {
    const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    if (json_nesting_depth(text) > kMaxNesting) {
      return fail(ErrorCategory::kProtocolError, "payload of " + std::to_string(payload.size()) +
                                                     " bytes nests arrays and objects more than " +
                                                     std::to_string(kMaxNesting) + " levels deep");
    }
    value = json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
  }
  if (value.is_discarded()) {
    return fail(ErrorCategory::kProtocolError, "payload of " + std::to_string(payload.size()) +
                                                   " bytes is not valid " +
                                                   std::string(to_string(codec)));
  }
  if (!value.is_object()) {
    return fail(ErrorCategory::kProtocolError, std::string("payload decodes to a ") +
                                                   value.type_name() +
                                                   ", but every protocol message is a map");
  }
  if (codec == Codec::kJson) {
    if (auto status = from_plain_json(value); !status) return std::move(status).error();
  }
  return value;
}

Status from_plain_json(json& value) {
  if (value.is_object()) {
    if (value.size() == 1) {
      auto it = value.find(kBytesKey);
      if (it != value.end() && it->is_string()) {
        auto bytes = base64_decode(it->get_ref<const std::string&>());
        if (!bytes)
          return fail(ErrorCategory::kProtocolError, "malformed base64 in a __bytes__ value");
        value = json::binary(std::move(*bytes));
        return Ok{};
      }
    }
    for (auto& item : value.items()) {
      if (auto status = from_plain_json(item.value()); !status) return status;
    }
  } else if (value.is_array()) {
    for (auto& item : value) {
      if (auto status = from_plain_json(item); !status) return status;
    }
  }
  return Ok{};
}

}  // namespace mlbridge::protocol
