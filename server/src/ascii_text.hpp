#pragma once

// ASCII text helpers of HTTP (header names and schemes compare case-insensitively, header values
// are trimmed of optional whitespace). Private to the server library; any thread.

#include <strings.h>

#include <string>
#include <string_view>

namespace mlbridge::server {

/// `text` with A-Z turned into a-z (no locale; HTTP names are ASCII).
inline std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

/// Whether `a` and `b` are the same ASCII text but for case (header names, schemes, tokens).
inline bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

/// `text` without leading and trailing spaces and tabs (HTTP's optional whitespace, OWS).
inline std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace mlbridge::server
