#include "mlbridge/session/session_id.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

namespace mlbridge::session {
namespace {

constexpr std::size_t kQuotedPrefix = 40;

bool is_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

// The start of an id as printable ASCII: an invalid id may hold control bytes, NULs or megabytes,
// none of which belong in a message or a log line.
std::string quoted_prefix(std::string_view id) {
  std::string out = "'";
  for (char c : id.substr(0, kQuotedPrefix)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\'' && c != '\\') {
      out += c;
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    }
  }
  out += id.size() > kQuotedPrefix ? "'..." : "'";
  return out;
}

}  // namespace

bool is_valid_session_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxSessionIdLength &&
         std::all_of(id.begin(), id.end(), is_id_char);
}

Status check_session_id(std::string_view id) {
  if (is_valid_session_id(id)) return Ok{};
  static const std::string kRule =
      "a session id is 1 to " + std::to_string(kMaxSessionIdLength) +
      " characters from A-Z a-z 0-9 . _ : - (no '/', spaces or control characters)";
  if (id.empty()) return fail(ErrorCategory::kInvalidArgument, "empty session id; " + kRule);
  if (id.size() > kMaxSessionIdLength) {
    return fail(ErrorCategory::kInvalidArgument, "session id " + quoted_prefix(id) + " is " +
                                                     std::to_string(id.size()) +
                                                     " characters long; " + kRule);
  }
  const auto bad = std::find_if_not(id.begin(), id.end(), is_id_char);
  return fail(ErrorCategory::kInvalidArgument,
              "session id " + quoted_prefix(id) + " holds the character " +
                  quoted_prefix(std::string_view(&*bad, 1)) + " at position " +
                  std::to_string(bad - id.begin()) + "; " + kRule);
}

}  // namespace mlbridge::session
