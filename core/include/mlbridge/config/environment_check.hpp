#pragma once

/// @file
/// Checks a bridge's environment before any worker starts: the interpreter runs, the script
/// exists, the required packages import (with their versions), the required variables are set.
/// Blocking (spawns the interpreter once); never call it on the event loop. Any other thread.

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace mlbridge::config {

struct CheckItem {
  std::string what;  ///< e.g. "python", "script", "package dspy", "env OPENAI_API_KEY"
  bool ok = false;
  std::string detail;  ///< Version or path when ok; the problem and what to do otherwise.
};

struct EnvironmentReport {
  std::string bridge;
  std::vector<CheckItem> items;
  bool ok() const;
  /// The failed items as one sentence, for an error message.
  std::string problems() const;
};

struct EnvironmentRequirements {
  std::string bridge;
  std::string python;
  std::string script;
  std::vector<std::string> required_packages;  ///< Import names.
  std::vector<std::string> required_env;
  std::map<std::string, std::string> env;  ///< The worker's environment.
  std::string working_dir;
  std::chrono::milliseconds timeout = std::chrono::seconds(60);
};

EnvironmentReport check_environment(const EnvironmentRequirements& requirements);

}  // namespace mlbridge::config
