#include "plugins_command.hpp"

#include <iostream>
#include <memory>

#include "mlbridge/config/host_config.hpp"
#include "mlbridge/plugin/plugin_loader.hpp"

namespace mlbridge::cli {
namespace {

int run_plugins(const std::vector<std::string>& dirs) {
  plugin::PluginLoader loader(dirs);
  const auto found = loader.discover();
  if (found.empty()) {
    std::cout << "no plugins (libmlbridge_<name>.so) in:";
    for (const auto& dir : dirs) std::cout << " " << dir;
    std::cout << "\n";
    return 0;
  }
  int status = 0;
  for (const auto& entry : found) {
    if (!entry) {
      std::cout << "FAIL  " << entry.error().message << "\n";
      status = 1;
      continue;
    }
    std::cout << entry->name << "  " << entry->version << "  framework " << entry->framework
              << "  ABI " << entry->abi_major << "." << entry->abi_minor << "  " << entry->path
              << "\n      " << entry->description << "\n";
  }
  return status;
}

}  // namespace

void add_plugins_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::vector<std::string> dirs;
    std::string config;
  };
  auto options = std::make_shared<Options>();
  auto* plugins = app.add_subcommand(
      "plugins", "List the plugins found in the plugin directories, with their ABI and framework");
  plugins->add_option("--plugin-dir", options->dirs, "Directory to search (repeatable)");
  plugins->add_option("--config", options->config,
                      "Deployment YAML whose host.plugin_dirs to search");
  plugins->callback([options, &exit_code] {
    std::vector<std::string> dirs = options->dirs;
    if (!options->config.empty()) {
      auto host = config::load_host_config(options->config);
      if (!host) {
        std::cerr << "error: " << host.error().describe() << "\n";
        exit_code = 2;
        return;
      }
      dirs.insert(dirs.end(), host->plugin_dirs.begin(), host->plugin_dirs.end());
    }
    if (dirs.empty()) {
      std::cerr << "error: invalid_argument: give --config FILE or --plugin-dir DIR\n";
      exit_code = 2;
      return;
    }
    exit_code = run_plugins(dirs);
  });
}

}  // namespace mlbridge::cli
