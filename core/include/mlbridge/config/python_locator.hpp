#pragma once

/// @file
/// Which Python interpreter runs workers when the configuration does not say. Any thread.

#include <string>
#include <string_view>

namespace mlbridge::config {

/// `$MLBRIDGE_PYTHON` when set; else `<project_root>/.venv/bin/python` when it exists (the venv
/// the setup script makes); else `python3` from PATH.
std::string default_python(std::string_view project_root);

}  // namespace mlbridge::config
