#pragma once

/// @file
/// One nesting limit for every decoder of outside data: HTTP request bodies and worker frames in
/// either codec. nlohmann::json parses any depth, but copying, encoding, printing and freeing a
/// value recurse once per level, so a few megabytes of '[' would overflow the host's stack.
/// Values this deep come only from accidents or attacks. Stateless; any thread.

#include <cstddef>
#include <string_view>

namespace mlbridge::protocol {

/// Deepest accepted nesting of arrays and objects (maps).
inline constexpr std::size_t kMaxNesting = 256;

/// The deepest nesting of arrays and objects in JSON text (brackets inside strings do not count),
/// counting no further once it passes `stop_above`. Reads the text only; does not validate it.
std::size_t json_nesting_depth(std::string_view text, std::size_t stop_above = kMaxNesting);

}  // namespace mlbridge::protocol
