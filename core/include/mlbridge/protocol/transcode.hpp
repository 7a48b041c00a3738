#pragma once

/// @file
/// DOM-free transcoding between the two payload codecs (docs/protocol.md, "Codec"): JSON text to
/// MessagePack and back in one pass each, for bodies that only pass through the host (the HTTP
/// API's command args and results). The wire rules are those of codec.hpp, byte for byte where
/// the DOM path is defined by content: `{"__bytes__": "<base64>"}` (an object with exactly that
/// one key and a string value) is MessagePack `bin` and back; integers take the smallest
/// MessagePack form (non-negative ones the unsigned forms), a double that a float represents
/// exactly is a float 32, as nlohmann's to_msgpack writes them; numbers, strings and bytes print
/// as nlohmann's dump() prints them. Two differences from the DOM path, both invisible to a
/// decoder that builds a map: keys keep the document's order (the DOM sorts them), and a repeated
/// key is passed on as it is (the DOM keeps the last).
///
/// JSON is parsed with simdjson's On Demand API (Debian's libsimdjson-dev 3.0.1), chosen by
/// measurement on this machine (best of 7, parse only, every value visited): 1 MiB of nested
/// records: nlohmann DOM 17 MB/s, nlohmann SAX 75 MB/s, RapidJSON SAX (full precision, UTF-8
/// validation) 111 MB/s, simdjson On Demand 398 MB/s; 16 MiB of bytes as base64: 58, 44, 136 and
/// 3,213 MB/s.
///
/// Stateless free functions: any thread may call them. json_to_msgpack keeps one simdjson parser
/// per thread for inputs up to 1 MiB (its buffers are reused); larger inputs get a parser of
/// their own, freed on return. It also keeps, per thread, the buffer it copies the text into
/// (simdjson needs padding after the text), the size of the largest text that thread
/// transcoded: a fresh one per call cost more than the transcoding (16 MiB of base64: 44 ms a
/// call with a fresh buffer, 12 ms with the kept one, measured).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/frame.hpp"
#include "mlbridge/protocol/nesting.hpp"

namespace mlbridge::protocol {

/// Bounds on one transcoding; exceeding one fails with invalid_argument naming the limit.
struct TranscodeLimits {
  /// Deepest nesting of arrays and objects (maps); the same limit decode_payload applies.
  std::size_t max_depth = kMaxNesting;
  /// Largest accepted input, in bytes.
  std::size_t max_input_bytes = kDefaultMaxFrameBytes;
  /// Largest output produced, in bytes.
  std::size_t max_output_bytes = kDefaultMaxFrameBytes;
};

/// Transcodes one JSON value (any type, surrounded by optional whitespace) to one MessagePack
/// value. Fails with invalid_argument, with a message naming the byte offset where it applies,
/// on: text that is not JSON, content after the value, invalid UTF-8, a malformed string escape,
/// a number outside a double's range (`1e400`), nesting deeper than `limits.max_depth`, malformed
/// base64 in a `__bytes__` value, and input or output larger than the limits. With `holds_bytes`,
/// also says whether a `__bytes__` value became a `bin` (however its key was written).
Result<std::string> json_to_msgpack(std::string_view json_text, const TranscodeLimits& limits = {},
                                    bool* holds_bytes = nullptr);

/// Transcodes exactly one MessagePack value to compact JSON text: `bin` and `ext` become
/// `{"__bytes__":"<base64>"}`, a non-finite float becomes `null` (as nlohmann's dump()). Fails
/// with invalid_argument on bytes that are not one well-formed MessagePack value (truncated,
/// trailing bytes, the reserved 0xc1 marker), a map key that is not a string, a string that is not
/// valid UTF-8, nesting deeper than `limits.max_depth`, and input or output larger than the
/// limits.
Result<std::string> msgpack_to_json(std::string_view msgpack, const TranscodeLimits& limits = {});

/// Where the bytes an ext stands for are, for exts that name bytes kept elsewhere (a shared-blob
/// reference, shared_blobs.hpp): given the ext's type and data, the bytes to print in its place
/// (the data itself for an ext it does not know), as a view valid until the next call, or the
/// error that ends the transcoding.
using ExtBytes = std::function<Result<std::span<const std::uint8_t>>(
    std::uint8_t type, std::span<const std::uint8_t> data)>;

/// msgpack_to_json, each ext printed as the bytes `ext_bytes` gives for it (called in document
/// order); fails with its error. The output limit counts those bytes (as base64).
Result<std::string> msgpack_to_json(std::string_view msgpack, const TranscodeLimits& limits,
                                    const ExtBytes& ext_bytes);

/// A DOM value printed as compact JSON text, the text to_plain_json(value).dump() prints, in two
/// fast passes (nlohmann's to_msgpack, then msgpack_to_json): for results that arrived as a DOM
/// (shared blobs, a JSON-codec worker) but leave as text, so that large bytes are not escaped
/// byte by byte by nlohmann's printer (16 MiB of base64: about 10x faster). Fails as
/// msgpack_to_json does (a string that is not UTF-8, output beyond the limits); the caller then
/// prints the DOM itself.
Result<std::string> value_to_json_text(const json& value, const TranscodeLimits& limits = {});

/// True when `text` is exactly one well-formed JSON value, surrounded by optional whitespace:
/// valid UTF-8, well-formed strings and escapes, integers within 64 bits (a larger one is refused
/// although JSON allows it: the caller's decoded path reads it as a double) and other numbers
/// within a double's range, nesting at most `max_depth`. Checked by simdjson's DOM parser without
/// building anything the caller sees (1 MiB of nested records in about 1 ms), for JSON text that
/// passes through the host as it is (a JSON-codec worker's result, json_response.hpp). Keeps one
/// parser per thread for texts up to 1 MiB, as json_to_msgpack does.
bool is_json_value(std::string_view text, std::size_t max_depth = kMaxNesting);

}  // namespace mlbridge::protocol
