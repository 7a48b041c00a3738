#include "mlbridge/registry/host_commands.hpp"

#include <array>

namespace mlbridge::registry {

bool is_host_command(std::string_view command) {
  static constexpr std::array<std::string_view, 4> kHostCommands = {"init", "shutdown", "cleanup",
                                                                    "cleanup_session"};
  // The worker also answers "common:<name>" and "<framework>:<name>"; the prefix does not matter.
  if (const auto colon = command.find(':'); colon != std::string_view::npos) {
    command.remove_prefix(colon + 1);
  }
  for (std::string_view name : kHostCommands) {
    if (command == name) return true;
  }
  return false;
}

Error no_such_command(const std::string& bridge, const std::string& command) {
  Error error = Error::make(ErrorCategory::kNotFound,
                            "bridge '" + bridge + "' has no command '" + command + "'");
  error.bridge = bridge;
  error.command = command;
  return error;
}

}  // namespace mlbridge::registry
