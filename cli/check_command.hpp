#pragma once

// `mlbridge check`: validates a deployment and reports each bridge's environment.

#include <CLI/CLI.hpp>

namespace mlbridge::cli {

void add_check_command(CLI::App& app, int& exit_code);

}  // namespace mlbridge::cli
