#pragma once

// Hosts built from YAML written by the test, with real echo-bridge workers.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mlbridge/host.hpp"
#include "test_paths.hpp"

namespace mlbridge::testing {

using namespace std::chrono_literals;

inline bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mlbridge-host-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    host_.reset();
    std::filesystem::remove_all(dir_);
  }

  /// The host section every test uses: the repository as root, the venv's python.
  std::string host_section(const std::string& extra = "") const {
    return "host:\n  root: " + std::string(MLBRIDGE_SOURCE_DIR) + "\n  python: " + python() + "\n" +
           extra;
  }

  /// A host-section line that switches runtime registration on (host.runtime_registration) with
  /// the repository's bridge folders as script directories.
  static std::string runtime_registration(
      const std::string& script_dirs = "[python_bridges, tests/support/workers]") {
    return "  runtime_registration: {enabled: true, script_dirs: " + script_dirs + "}\n";
  }

  /// An echo bridge entry with small, fast settings.
  static std::string echo_bridge_yaml(const std::string& name, const std::string& extra = "") {
    return "  " + name +
           ":\n    script: python_bridges/examples/echo_bridge.py\n    pool: {size: 1}\n"
           "    timeouts: {startup_ms: 20000, shutdown_ms: 2000}\n" +
           extra;
  }

  std::string write(const std::string& yaml) {
    const auto path = dir_ / "mlbridge.yaml";
    std::ofstream(path) << yaml;
    return path.string();
  }

  /// Loads and starts a host; fails the test on error.
  Host& start(const std::string& yaml) {
    auto host = Host::from_file(write(yaml));
    EXPECT_TRUE(host.ok()) << (host.ok() ? "" : host.error().describe());
    if (!host.ok()) throw std::runtime_error("host did not load");
    host_ = std::move(*host);
    auto started = host_->start();
    EXPECT_TRUE(started.ok()) << (started.ok() ? "" : started.error().describe());
    return *host_;
  }

  /// Loads a host and returns the error of start(only) (or of loading).
  Error start_error(const std::string& yaml, const std::vector<std::string>& only = {}) {
    auto host = Host::from_file(write(yaml));
    if (!host) return host.error();
    host_ = std::move(*host);
    auto started = host_->start(only);
    EXPECT_FALSE(started.ok()) << "start() should have failed";
    return started.ok() ? Error{} : started.error();
  }

  std::filesystem::path dir_;
  std::unique_ptr<Host> host_;
};

}  // namespace mlbridge::testing
