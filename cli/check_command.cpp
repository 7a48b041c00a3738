#include "check_command.hpp"

#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "mlbridge/config/environment_check.hpp"
#include "mlbridge/config/host_config.hpp"
#include "mlbridge/registry/registry.hpp"
#include "mlbridge/runtime/event_loop.hpp"

namespace mlbridge::cli {
namespace {

// One line per item; a failed import adds its traceback below it, indented, in one block.
void print_item(const config::CheckItem& item) {
  std::cout << "  " << (item.ok ? "ok  " : "FAIL") << "  " << std::left << std::setw(28)
            << item.what << item.detail << "\n";
  std::istringstream traceback(item.traceback);
  for (std::string line; std::getline(traceback, line);) std::cout << "        " << line << "\n";
}

int run_check(const std::string& path) {
  auto host = config::load_host_config(path);
  if (!host) {
    std::cout << "config " << path << ": FAIL\n  " << host.error().message << "\n";
    return 1;
  }
  std::cout << "config " << path << ": ok (" << host->bridges.size() << " bridges)\n";
  runtime::EventLoop loop;
  registry::Registry registry(loop, *host);
  bool all_ok = true;
  for (const auto& [name, bridge] : host->bridges) {
    std::cout << "bridge " << name << " (plugin: " << bridge.plugin.value_or("generic") << ")\n";
    auto prepared = registry.prepare(bridge);
    if (!prepared) {
      print_item({"configuration", false, prepared.error().message});
      all_ok = false;
      continue;
    }
    const auto& info = prepared->adapter->info();
    print_item(
        {"adapter", true,
         info.name + " " + info.version + (info.path.empty() ? "" : " (" + info.path + ")")});
    auto requirements = prepared->requirements();
    requirements.package_check = config::PackageCheck::kImport;  // also catch broken installs
    requirements.import_script = true;  // what a worker does first, without running its main()
    const auto report = config::check_environment(requirements);
    for (const auto& item : report.items) print_item(item);
    all_ok = all_ok && report.ok();
  }
  std::cout << (all_ok ? "all checks passed\n" : "problems found: see FAIL lines above\n");
  return all_ok ? 0 : 1;
}

}  // namespace

void add_check_command(CLI::App& app, int& exit_code) {
  auto path = std::make_shared<std::string>("config/mlbridge.yaml");
  auto* check =
      app.add_subcommand("check", "Validate a deployment and check each bridge's environment");
  check->add_option("--config", *path, "Deployment YAML")->capture_default_str();
  check->callback([path, &exit_code] { exit_code = run_check(*path); });
}

}  // namespace mlbridge::cli
