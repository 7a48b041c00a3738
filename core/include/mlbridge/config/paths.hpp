#pragma once

/// @file
/// How relative paths of the configuration resolve against the host root. Stateless; any
/// thread.

#include <string>

namespace mlbridge::config {

/// `path` made absolute against `root` (and lexically normalized) when relative; an absolute
/// path is only normalized; "" stays "". An empty root means the working directory.
std::string resolve_path(const std::string& root, const std::string& path);

/// Like resolve_path for a program: a bare name without '/' ("python3") is left alone, to be
/// looked up in PATH; anything with a '/' resolves as a path.
std::string resolve_program(const std::string& root, const std::string& program);

}  // namespace mlbridge::config
