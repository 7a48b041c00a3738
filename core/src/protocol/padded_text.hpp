#pragma once

/// @file
/// What the protocol's simdjson readers (json_to_msgpack, is_json_value) share: the thread's
/// padded copy of a JSON text, and the size up to which a thread keeps its parser. Internal to
/// core/src/protocol.

#include <simdjson.h>

#include <cstddef>
#include <string_view>

namespace mlbridge::protocol::detail {

/// Texts up to this size reuse the thread's parser (its buffers); larger ones get a parser of
/// their own, so that a thread does not keep a 16 MiB body's buffers for the rest of its life.
inline constexpr std::size_t kReusedParserBytes = 1u << 20;

/// `text` copied into this thread's buffer with SIMDJSON_PADDING zero bytes after it: simdjson
/// reads up to that many bytes past a text's end. Each thread keeps its buffer, the size of the
/// largest text it copied: a fresh one per call cost a page fault per 4 KiB and the allocator's
/// mapping and unmapping, 32 ms of a 16 MiB body's 44 (measured, transcode_bench). The view is
/// valid until this thread's next call.
simdjson::padded_string_view padded_copy(std::string_view text);

}  // namespace mlbridge::protocol::detail
