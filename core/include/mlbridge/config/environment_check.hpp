#pragma once

/// @file
/// Checks a bridge's environment before any worker starts: the interpreter runs, the script
/// exists, the required packages are installed (with their versions), the required variables are
/// set. Two depths: `kFind` (the default, used when a bridge starts) locates each package without
/// importing it, so a host start does not pay a heavy import (torch) twice; `kImport` (used by
/// `mlbridge check`) imports each one, which also catches a package that is installed but broken.
/// `mlbridge check` also imports the bridge script itself (`import_script`) and the user's code
/// modules (YAML `code.modules`, with `code.paths` first on sys.path), each in its own interpreter
/// with the worker's environment and within the bridge's startup timeout. Every code path must be
/// an existing directory at both depths.
/// Blocking (spawns the interpreter once); never call it on the event loop. Any other thread.

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace mlbridge::config {

struct CheckItem {
  std::string what;  ///< e.g. "python", "script", "package dspy", "env OPENAI_API_KEY"
  bool ok = false;
  std::string detail;     ///< Version or path when ok; the problem and what to do otherwise.
  std::string traceback;  ///< The Python traceback of a failed import, else empty.
};

struct EnvironmentReport {
  std::string bridge;
  std::vector<CheckItem> items;
  bool ok() const;
  /// The failed items as one sentence, for an error message.
  std::string problems() const;
};

/// How deeply required packages are checked.
enum class PackageCheck {
  kFind,    ///< importlib.util.find_spec: installed and locatable; nothing is imported.
  kImport,  ///< importlib.import_module: installed and importable (slower for heavy packages).
};

struct EnvironmentRequirements {
  std::string bridge;
  std::string python;
  std::string script;
  std::vector<std::string> required_packages;  ///< Import names.
  std::vector<std::string> required_env;
  std::map<std::string, std::string> env;  ///< The worker's environment.
  std::string working_dir;
  std::vector<std::string> code_paths;    ///< Absolute directories (YAML `code.paths`).
  std::vector<std::string> code_modules;  ///< Module names (YAML `code.modules`).
  std::chrono::milliseconds timeout = std::chrono::seconds(60);
  PackageCheck package_check = PackageCheck::kFind;
  /// Also import the script as a module (not as `__main__`, so its `main()` does not run), in a
  /// child interpreter with `env` and `working_dir` like a worker's, bounded by `timeout`: a
  /// script that fails at import is reported with its traceback; one that hangs is killed with
  /// its process group after `timeout` and reported as hanging.
  /// With it, the code modules are imported too, as a worker imports them at start (one item per
  /// module, a failed one with its traceback).
  bool import_script = false;
};

EnvironmentReport check_environment(const EnvironmentRequirements& requirements);

}  // namespace mlbridge::config
