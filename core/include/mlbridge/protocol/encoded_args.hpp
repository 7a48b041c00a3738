#pragma once

/// @file
/// Request frames whose `args` were encoded before the call (by json_to_msgpack from a request
/// body): the envelope is encoded around the args (encode_request_frame), so the args never
/// become a DOM. Stateless; any thread.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/message.hpp"
#include "mlbridge/protocol/shared_blobs.hpp"
#include "mlbridge/protocol/transcode.hpp"

namespace mlbridge::protocol {

/// A command's args encoded once, before the call: what a worker gets when the body of a request
/// only passes through the host (Host::execute_async_encoded). Made only from JSON text by
/// json_to_msgpack, so its bytes are always well formed. Immutable and cheap to copy (the encoding
/// is shared: retries and the frame read the same one); any thread.
class EncodedArgs {
 public:
  /// Transcodes `json_text`, which must be a JSON object, in one pass, and keeps the text too
  /// when a JSON worker may get it as it is (PreEncodedArgs::json_text: no bytes in it).
  /// invalid_argument with json_to_msgpack's messages, or saying that args must be an object.
  static Result<EncodedArgs> from_json(std::string_view json_text,
                                       const TranscodeLimits& limits = {});
  /// The MessagePack map.
  std::string_view msgpack() const { return encoded_->msgpack; }
  /// Both encodings, as a request carries them (Request::encoded_args); never null.
  const std::shared_ptr<const PreEncodedArgs>& shared() const { return encoded_; }

 private:
  explicit EncodedArgs(std::shared_ptr<const PreEncodedArgs> encoded)
      : encoded_(std::move(encoded)) {}
  std::shared_ptr<const PreEncodedArgs> encoded_;
};

/// A command's result as compact JSON text, bytes as `{"__bytes__": "<base64>"}`.
struct EncodedResult {
  std::string json_text;
};

/// True when `msgpack` starts with a MessagePack map marker: command args must be a map (a JSON
/// object). Does not validate the rest (json_to_msgpack made it).
bool is_msgpack_map(std::string_view msgpack);

/// The value of encoded args as a DOM, for the few paths that need one (a session's replay
/// journal); null when the bytes are not one well-formed MessagePack value.
json decode_encoded_args(std::string_view msgpack);

/// Where a MessagePack response payload holds its top-level "id" and "result" (offsets into the
/// payload, result as [begin, end)), found by skipping values without decoding them.
struct ResponseResultSpan {
  std::uint64_t id = 0;
  std::size_t begin = 0;
  std::size_t end = 0;
  /// The payload holds nothing but `"type": "response"`, the id, `"success": true` and the
  /// result (the SDK's encode_result_to): the whole response is known without decoding any of it.
  bool plain_success = false;
};
/// nullopt when the payload is not a well-formed map with string keys, an unsigned "id" and a
/// "result".
std::optional<ResponseResultSpan> locate_response_result(std::span<const std::uint8_t> payload);

/// True when MessagePack `value` holds an ext of `type` at any depth (e.g. a shared blob
/// reference, shared_blobs.hpp); also true when the bytes are malformed.
bool contains_ext_type(std::span<const std::uint8_t> value, std::uint8_t type);

/// Encoded args with their large bytes moved to shared memory (move_large_bins_out).
struct MovedBins {
  std::string msgpack;          ///< The args, each moved bin replaced by its reference (an ext).
  std::size_t moved_bytes = 0;  ///< The bytes moved: they count towards the frame's limit.
};

/// The MessagePack value `msgpack` (well formed: json_to_msgpack made it) with every bin of at
/// least `min_bytes` stored in `blobs` (the producer) and replaced by its reference, at any depth,
/// in one flat pass without a DOM; bins the file cannot take stay inline. nullopt when nothing
/// moved (also when `min_bytes` is 0, the value is shorter than `min_bytes`, or the bytes are
/// malformed). The caller rolls `blobs` back (SharedBlobs::mark) when the frame is not sent.
std::optional<MovedBins> move_large_bins_out(std::string_view msgpack, SharedBlobs& blobs,
                                             std::size_t min_bytes);

/// Encodes `request` as a complete frame whose args are `args_msgpack` (one MessagePack value),
/// `request.args` left out. The same value as encode_frame(to_json(request with those args as a
/// DOM), codec, max_frame_bytes), without the args ever becoming a DOM: for the MessagePack codec
/// the envelope is written field by field (keys in the DOM's sorted order) around the args as
/// they are, the same bytes; for the JSON codec the envelope is printed from its DOM and the
/// args are spliced in: `args_json` as it is when given (PreEncodedArgs::json_text, the same
/// value), else `args_msgpack` transcoded to JSON text in one pass (msgpack_to_json, the same
/// bytes as the DOM path but for key order). Fails with protocol_error when the frame would
/// exceed `max_frame_bytes`, invalid_argument when the JSON codec cannot carry the args (a string
/// that is not UTF-8).
Result<std::vector<std::uint8_t>> encode_request_frame(Request request,
                                                       std::string_view args_msgpack, Codec codec,
                                                       std::size_t max_frame_bytes,
                                                       std::string_view args_json = {});

}  // namespace mlbridge::protocol
