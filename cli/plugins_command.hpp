#pragma once

// `mlbridge plugins`: lists the plugins found in the plugin directories.

#include <CLI/CLI.hpp>

namespace mlbridge::cli {

void add_plugins_command(CLI::App& app, int& exit_code);

}  // namespace mlbridge::cli
