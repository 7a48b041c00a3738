#pragma once

/// @file
/// Finds the Python traceback in what a child interpreter wrote to stderr, so that a host can
/// report an uncaught exception (a bridge script that fails at import, say) as one error with
/// its traceback instead of as a flattened stderr tail. Pure function of its input; any thread.

#include <optional>
#include <string>
#include <string_view>

namespace mlbridge::process {

/// The uncaught exception an interpreter printed before it exited.
struct PythonTraceback {
  /// The whole report, from the first "Traceback (most recent call last):" line (or, for a
  /// SyntaxError in the script itself, which Python prints without that line, the first
  /// `  File "..."` line) to the end, chained exceptions included. Lines end with '\n'.
  std::string text;
  /// The line naming the final exception, e.g. "ModuleNotFoundError: No module named 'foo'".
  std::string exception;
  /// The final exception's class name without its module, e.g. "ModuleNotFoundError".
  std::string type;
};

/// The traceback at the end of `stderr_text`, or nullopt when it holds none (a process that
/// printed a message and called sys.exit(1), a crash in C code, nothing at all).
std::optional<PythonTraceback> find_python_traceback(std::string_view stderr_text);

}  // namespace mlbridge::process
