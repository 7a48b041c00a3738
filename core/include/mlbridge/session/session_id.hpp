#pragma once

/// @file
/// The one rule for a session id, applied wherever an id enters the host: the C++ API
/// (mlbridge::Host), the HTTP routes (a command body's "session", the session routes) and the
/// CLI (`--session`). An id is 1 to 128 characters from `A-Z a-z 0-9 . _ : -`, so that it fits
/// in a URL path segment, a header, a log line and a Redis key as it is, and never carries a
/// separator ('/'), a control character or a megabyte of text (docs/sessions.md#session-ids).
/// Stateless; any thread.

#include <cstddef>
#include <string_view>

#include "mlbridge/errors/result.hpp"

namespace mlbridge::session {

/// The longest session id, in bytes.
inline constexpr std::size_t kMaxSessionIdLength = 128;

/// Whether `id` is a valid session id (see the file comment).
bool is_valid_session_id(std::string_view id);

/// Ok for a valid id; otherwise invalid_argument saying what is wrong with it (quoting at most
/// its first characters, escaped) and what an id may hold.
Status check_session_id(std::string_view id);

}  // namespace mlbridge::session
