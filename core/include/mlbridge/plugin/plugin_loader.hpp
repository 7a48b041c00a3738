#pragma once

/// @file
/// Finds and loads adapter plugins (libmlbridge_<name>.so, built with the SDK of
/// sdk/include/mlbridge/sdk) and hands them out as plugin::Adapter.
///
/// Loading checks, in order: the name is a plain name; the file is in one of the plugin
/// directories (after resolving symlinks); it is a loadable shared library; it exports
/// `mlbridge_plugin_entry`; its table's ABI major is this host's (read before anything else of
/// the plugin is called); its identity; then the host's logger is handed over and the plugin's
/// defaults and error rules are read once. Every failure is invalid_configuration with a
/// message that names the plugin or file and says what to do.
///
/// Libraries are never unloaded: they stay in a process-wide list until the host exits, and a
/// library loaded twice (by any loader) yields the same adapter.
///
/// Threading: every member function is thread-safe. Ownership: the loader owns nothing the
/// adapters need; adapters (AdapterPtr) may outlive it.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/plugin/adapter.hpp"

namespace mlbridge::plugin {

/// Severity of a plugin's log line (the MLBRIDGE_LOG_* levels of plugin_abi.h).
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

/// Receives the log lines of plugins, tagged with the plugin's name. Runs on whichever thread the
/// plugin logs from, possibly concurrently; keep it short and thread-safe.
using LogCallback =
    std::function<void(LogLevel level, std::string_view plugin, std::string_view message)>;

class PluginLoader {
 public:
  /// `plugin_dirs` are searched in order (the first match wins); relative paths are taken
  /// relative to the current directory, so pass absolute ones. `log` receives the plugins' log
  /// lines; empty sends them to the host's default spdlog logger as "plugin '<name>': ...".
  /// When several loaders load one plugin, the latest loader's callback receives its lines, and
  /// once that loader is destroyed they go to spdlog.
  explicit PluginLoader(std::vector<std::string> plugin_dirs, LogCallback log = {});
  ~PluginLoader();
  PluginLoader(const PluginLoader&) = delete;
  PluginLoader& operator=(const PluginLoader&) = delete;

  /// Loads plugin `name` ("dspy" → the first libmlbridge_dspy.so in the plugin directories).
  /// A second call with the same name returns the same adapter. invalid_configuration when the
  /// name is not a plain name, no directory holds the file (the message lists the directories
  /// searched), the file resolves outside the plugin directories, or loading fails (see the
  /// file comment).
  Result<AdapterPtr> load(const std::string& name);

  /// Loads the plugin library at `path`, wherever it is (for tests and `mlbridge plugins`).
  /// When the file is named libmlbridge_<name>.so the plugin must report that name.
  Result<AdapterPtr> load_path(const std::string& path);

  /// Every libmlbridge_*.so in the plugin directories (sorted by name within a directory; a
  /// name shadowed by an earlier directory is left out), each with its info or its load error.
  std::vector<Result<AdapterInfo>> discover();

  const std::vector<std::string>& plugin_dirs() const { return dirs_; }

  /// "libmlbridge_<name>.so".
  static std::string library_file_name(std::string_view name);

  /// Where the log lines of one loader's plugins go (opaque; shared with the loaded libraries).
  struct LogSink;

 private:
  Result<AdapterPtr> load_canonical(const std::string& path, const std::string& expected_name);

  const std::vector<std::string> dirs_;
  std::shared_ptr<const LogSink> sink_;
  std::mutex mutex_;
  std::map<std::string, AdapterPtr> by_name_;
};

}  // namespace mlbridge::plugin
