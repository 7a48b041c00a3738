#pragma once

// `mlbridge call`: runs one command on a worker and prints the result as JSON.

#include <CLI/CLI.hpp>

namespace mlbridge::cli {

/// Adds the `call` subcommand to `app`; its callback sets `exit_code`.
void add_call_command(CLI::App& app, int& exit_code);

}  // namespace mlbridge::cli
