#pragma once

/// @file
/// Which command names of one bridge get a metric series of their own. A client can send any
/// string as a command; counting each under its own name would let it grow `/metrics` without
/// bound (5,000 made-up names took it from 5 KB to 26 MB). So a command keeps its name only when
/// the bridge's workers declared it in their hello (bare, `common:<name>` or
/// `<framework>:<name>`), and every other name shares the label `_unknown`. Until a worker has
/// declared anything (a call that timed out in the queue of a bridge whose workers never started),
/// the first kMaxUndeclared names keep theirs. Distinct labels per bridge are therefore at most
/// three per declared command, plus kMaxUndeclared, plus one.
///
/// Threading: not thread-safe; its owner (CallMetrics) holds the lock.

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace mlbridge::telemetry {

class CommandLabels {
 public:
  /// The label every command the bridge does not declare is counted under.
  static constexpr std::string_view kUnknown = "_unknown";
  /// The namespace of the built-in commands every bridge answers (`common:ping`).
  static constexpr std::string_view kBuiltinNamespace = "common";
  /// Names that keep their own label before any worker declared the bridge's commands.
  static constexpr std::size_t kMaxUndeclared = 16;

  /// Adds the commands a worker's hello declared (bare names) and its framework, the namespace of
  /// its own commands. Workers of one bridge run the same script, so this only grows.
  void declare(std::string_view framework, const std::vector<std::string>& commands);

  /// The label for `command`: the name itself, or kUnknown.
  std::string label(const std::string& command);

 private:
  bool is_declared(std::string_view command) const;

  std::set<std::string, std::less<>> declared_;
  std::set<std::string, std::less<>> frameworks_;
  std::set<std::string, std::less<>> undeclared_;  // names labelled before any declaration
};

}  // namespace mlbridge::telemetry
