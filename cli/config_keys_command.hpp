#pragma once

// `mlbridge config-keys`: prints, as a Markdown table, the reference of every bridge key (type,
// range, default, whether a running bridge takes a change) from the table the reader uses
// (mlbridge/config/bridge_keys.hpp); docs/configuration.md carries its output.

#include <CLI/CLI.hpp>

namespace mlbridge::cli {

void add_config_keys_command(CLI::App& app, int& exit_code);

}  // namespace mlbridge::cli
