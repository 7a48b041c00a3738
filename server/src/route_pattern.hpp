#pragma once

// A route's path pattern, matched segment by segment: "/v1/bridges/{name}/commands/{command}".
// A "{...}" segment matches any non-empty segment (never a '/'), every other segment only
// itself; the path must have exactly the pattern's segments. Matching works on the raw path
// (not percent-decoded), so "%2F" stays inside its segment and never reaches another route.
// Private to the server library; built before serving starts, then read-only: match() may be
// called from any thread.

#include <string>
#include <string_view>
#include <vector>

namespace mlbridge::server {

class RoutePattern {
 public:
  /// Throws std::invalid_argument for a pattern that does not start with '/' or has a '{' that
  /// is not a whole "{name}" segment (a programming error in the route table).
  explicit RoutePattern(std::string_view pattern);

  /// Whether `path` matches; if so, `captures` holds the raw texts of the "{...}" segments in
  /// order (views into `path`). `captures` is cleared first either way.
  bool match(std::string_view path, std::vector<std::string_view>& captures) const;

  /// How many "{...}" segments the pattern has.
  std::size_t capture_count() const { return capture_count_; }

 private:
  struct Segment {
    std::string literal;  // empty for a capture
    bool capture = false;
  };
  std::vector<Segment> segments_;  // after each '/' of the pattern
  std::size_t capture_count_ = 0;
};

}  // namespace mlbridge::server
