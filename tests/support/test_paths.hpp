#pragma once

// Where tests find the interpreter and the Python scripts of this checkout.

#include <string>

#include "mlbridge/config/python_locator.hpp"

namespace mlbridge::testing {

inline std::string source_path(const std::string& relative) {
  return std::string(MLBRIDGE_SOURCE_DIR) + "/" + relative;
}
inline std::string python() { return config::default_python(MLBRIDGE_SOURCE_DIR); }
inline std::string echo_bridge() { return source_path("python_bridges/examples/echo_bridge.py"); }
inline std::string misbehaving_worker() {
  return source_path("tests/support/workers/misbehaving_worker.py");
}
/// A bridge script whose import fails with ModuleNotFoundError (and a traceback on stderr).
inline std::string import_error_bridge() {
  return source_path("tests/support/workers/import_error_bridge.py");
}

}  // namespace mlbridge::testing
