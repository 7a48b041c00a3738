#include "mlbridge/telemetry/command_labels.hpp"

namespace mlbridge::telemetry {

void CommandLabels::declare(std::string_view framework, const std::vector<std::string>& commands) {
  if (!framework.empty()) frameworks_.emplace(framework);
  declared_.insert(commands.begin(), commands.end());
}

bool CommandLabels::is_declared(std::string_view command) const {
  if (declared_.count(command)) return true;
  const auto colon = command.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view space = command.substr(0, colon);
  // The worker answers `common:` and `<framework>:`; any other namespace is an unknown command,
  // and accepting it would let `a:echo`, `b:echo`, ... each grow a series.
  if (space != kBuiltinNamespace && !frameworks_.count(space)) return false;
  return declared_.count(command.substr(colon + 1)) > 0;
}

std::string CommandLabels::label(const std::string& command) {
  if (is_declared(command) || undeclared_.count(command)) return command;
  if (declared_.empty() && undeclared_.size() < kMaxUndeclared) {
    undeclared_.insert(command);
    return command;
  }
  return std::string(kUnknown);
}

}  // namespace mlbridge::telemetry
