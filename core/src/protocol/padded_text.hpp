#pragma once

/// @file
/// The thread's padded copy of a JSON text, for simdjson (internal to core/src/protocol).

#include <simdjson.h>

#include <string_view>

namespace mlbridge::protocol::detail {

/// `text` copied into this thread's buffer with SIMDJSON_PADDING zero bytes after it: simdjson
/// reads up to that many bytes past a text's end. Each thread keeps its buffer, the size of the
/// largest text it copied: a fresh one per call cost a page fault per 4 KiB and the allocator's
/// mapping and unmapping, 32 ms of a 16 MiB body's 44 (measured, transcode_bench). The view is
/// valid until this thread's next call.
simdjson::padded_string_view padded_copy(std::string_view text);

}  // namespace mlbridge::protocol::detail
