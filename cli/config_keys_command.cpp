#include "config_keys_command.hpp"

#include <iostream>

#include "mlbridge/config/bridge_keys.hpp"

namespace mlbridge::cli {

void add_config_keys_command(CLI::App& app, int& exit_code) {
  auto* command = app.add_subcommand(
      "config-keys", "Print the reference of every bridge configuration key (Markdown)");
  command->callback([&exit_code] {
    std::cout << config::bridge_keys_markdown();
    exit_code = 0;
  });
}

}  // namespace mlbridge::cli
