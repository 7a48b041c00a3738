#pragma once

/// @file
/// Where each value of a parsed configuration came from, so that an error can name the file,
/// line and column ("config/mlbridge.yaml:12:7: bridges.dspy.pool.size must be ..."). Values are
/// addressed by JSON pointer ("/bridges/dspy/pool/size"). Plain value: filled once by the loader,
/// then read-only; any thread may read it.

#include <map>
#include <string>
#include <utility>

namespace mlbridge::config {

struct SourceMap {
  /// The file the document came from, as the user named it; "" for text without a file.
  std::string file;
  /// JSON pointer → 1-based (line, column) of the value.
  std::map<std::string, std::pair<int, int>> positions;
  /// JSON pointer → 1-based (line, column) of the key that introduces the value (map members
  /// only), so that an unknown key is reported where the key is written.
  std::map<std::string, std::pair<int, int>> key_positions;

  /// "FILE:LINE:COL" of the value at `pointer`; of its nearest known parent when the pointer is
  /// not known (e.g. a missing key); else just the file name; "" when there is no file and no
  /// position ("LINE:COL" when there is a position but no file).
  std::string where(const std::string& pointer) const;

  /// Like `where`, but the position of the key itself when known (falls back to `where`).
  std::string where_key(const std::string& pointer) const;
};

/// `base` + "/" + `token`, with the token escaped as RFC 6901 requires ("~" → "~0", "/" → "~1").
std::string append_pointer(const std::string& base, const std::string& token);

}  // namespace mlbridge::config
