#pragma once

// Helpers shared by the config tests: YAML text → HostConfig, temporary files, and scoped
// environment variables (restored on destruction, so tests stay independent).

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "mlbridge/config/host_config.hpp"
#include "mlbridge/config/yaml_loader.hpp"

namespace mlbridge::config::testing {

/// Parses YAML text as if it came from `file`.
inline Result<HostConfig> parse_text(const std::string& yaml,
                                     const std::string& file = "test.yaml") {
  SourceMap map;
  auto doc = parse_yaml(yaml, file, map);
  if (!doc) return std::move(doc).error();
  return parse_host_config(*doc, map);
}

/// The message of a failed result, for EXPECT_THAT-less substring checks.
template <typename T>
std::string message_of(const Result<T>& result) {
  return result.ok() ? std::string("<ok>") : result.error().message;
}

/// Sets (or unsets, with nullopt) a variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) {
      ::setenv(name_.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

/// A fresh directory removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "mlbridge-config-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  /// Writes `text` to `name` inside the directory; returns the full path.
  std::string write(const std::string& name, const std::string& text) const {
    const auto file = path_ / name;
    std::ofstream(file) << text;
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace mlbridge::config::testing
