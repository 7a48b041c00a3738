#pragma once

// `mlbridge serve`: runs a deployment as an HTTP service until SIGTERM or SIGINT, then drains.

#include <CLI/CLI.hpp>

namespace mlbridge::cli {

void add_serve_command(CLI::App& app, int& exit_code);

}  // namespace mlbridge::cli
