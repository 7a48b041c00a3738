// The `mlbridge` command line: one subcommand per file.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "call_command.hpp"
#include "check_command.hpp"
#include "config_keys_command.hpp"
#include "plugins_command.hpp"
#include "serve_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"mlbridge: run Python ML frameworks in supervised worker pools"};
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off");
  int exit_code = 0;
  mlbridge::cli::add_call_command(app, exit_code);
  mlbridge::cli::add_check_command(app, exit_code);
  mlbridge::cli::add_config_keys_command(app, exit_code);
  mlbridge::cli::add_plugins_command(app, exit_code);
  mlbridge::cli::add_serve_command(app, exit_code);
  app.parse_complete_callback([&] { spdlog::set_level(spdlog::level::from_str(log_level)); });
  spdlog::set_default_logger(spdlog::stderr_color_mt("mlbridge"));
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
