#include "mlbridge/plugin/plugin_loader.hpp"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/dll/shared_library.hpp>  // header-only with BOOST_DLL_USE_STD_FS (see CMake)
#include <filesystem>
#include <fstream>
#include <set>
#include <system_error>
#include <type_traits>
#include <utility>

#include "c_adapter.hpp"
#include "mlbridge/sdk/plugin_abi.h"
#include "plugin_rules.hpp"

namespace mlbridge::plugin {

struct PluginLoader::LogSink {
  LogCallback callback;  // empty: spdlog
};

namespace {

using detail::configuration_error;
using detail::is_plain_name;

namespace fs = std::filesystem;

constexpr std::string_view kFilePrefix = "libmlbridge_";
constexpr std::string_view kFileSuffix = ".so";

// A plugin library that loaded, with what the plugin was handed. Never destroyed: the plugin
// keeps a pointer to `logger`, whose context is this record, until the process exits.
struct LoadedPlugin {
  std::string name;
  mlbridge_host_logger logger{};
  std::mutex sink_mutex;
  std::weak_ptr<const PluginLoader::LogSink> sink;  // the latest loader's; expired: spdlog
  AdapterPtr adapter;
};

// Process-wide and never destroyed: libraries stay loaded until the host exits (unloading code
// that may still be running, or whose statics are still referenced, is a crash waiting to
// happen), and a library loaded twice, by any loader, is the same plugin.
struct Libraries {
  std::mutex mutex;
  std::vector<boost::dll::shared_library> kept;  // every library ever opened
  std::map<std::string, LoadedPlugin*> by_path;  // canonical path → plugin that loaded
};

Libraries& libraries() {
  static Libraries* const instance = new Libraries();
  return *instance;
}

LogLevel to_log_level(int level) {
  switch (level) {
    case MLBRIDGE_LOG_TRACE:
      return LogLevel::kTrace;
    case MLBRIDGE_LOG_DEBUG:
      return LogLevel::kDebug;
    case MLBRIDGE_LOG_WARN:
      return LogLevel::kWarn;
    case MLBRIDGE_LOG_ERROR:
      return LogLevel::kError;
    default:
      return LogLevel::kInfo;
  }
}

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// mlbridge_host_logger.log: called by plugins, from any thread. Nothing may escape into C.
void log_from_plugin(void* context, int level, const char* message) noexcept {
  try {
    auto* plugin = static_cast<LoadedPlugin*>(context);
    std::shared_ptr<const PluginLoader::LogSink> sink;
    {
      std::lock_guard lock(plugin->sink_mutex);
      sink = plugin->sink.lock();
    }
    const std::string_view text = message != nullptr ? message : "";
    const LogLevel severity = to_log_level(level);
    if (sink && sink->callback) {
      sink->callback(severity, plugin->name, text);
    } else {
      spdlog::log(to_spdlog(severity), "plugin '{}': {}", plugin->name, text);
    }
  } catch (...) {  // a throwing callback or logger loses the line, never the process
  }
}

// "<name>" of a file named libmlbridge_<name>.so; empty otherwise.
std::string name_from_file(const std::string& file) {
  if (file.size() <= kFilePrefix.size() + kFileSuffix.size()) return {};
  if (file.compare(0, kFilePrefix.size(), kFilePrefix) != 0) return {};
  if (file.compare(file.size() - kFileSuffix.size(), kFileSuffix.size(), kFileSuffix) != 0) {
    return {};
  }
  return file.substr(kFilePrefix.size(), file.size() - kFilePrefix.size() - kFileSuffix.size());
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// Whether `path` starts with the ELF magic. dlopen's own message for a text file ("invalid ELF
// header", "file too short") does not tell a plugin author that the file is no library at all.
bool has_elf_header(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::array<char, 4> magic{};
  return file.read(magic.data(), magic.size()) &&
         magic == std::array<char, 4>{'\x7f', 'E', 'L', 'F'};
}

// Whether canonical `file` lies inside canonical `dir`.
bool is_within(const fs::path& file, const fs::path& dir) {
  const fs::path relative = file.lexically_relative(dir);
  return !relative.empty() && *relative.begin() != ".." && relative != ".";
}

}  // namespace

PluginLoader::PluginLoader(std::vector<std::string> plugin_dirs, LogCallback log)
    : dirs_(std::move(plugin_dirs)),
      sink_(std::make_shared<const LogSink>(LogSink{std::move(log)})) {}

PluginLoader::~PluginLoader() = default;

std::string PluginLoader::library_file_name(std::string_view name) {
  return std::string(kFilePrefix) + std::string(name) + std::string(kFileSuffix);
}

Result<AdapterPtr> PluginLoader::load(const std::string& name) {
  if (!is_plain_name(name)) {
    return configuration_error("invalid plugin name '" + name +
                               "': a plugin is named by a plain name such as 'dspy' (letters, "
                               "digits, '_' and '-'), never by a path");
  }
  std::lock_guard lock(mutex_);
  if (auto cached = by_name_.find(name); cached != by_name_.end()) return cached->second;

  const std::string file = library_file_name(name);
  fs::path found;
  for (const auto& dir : dirs_) {
    std::error_code ec;
    const fs::path candidate = fs::path(dir) / file;
    if (fs::exists(candidate, ec)) {
      found = candidate;
      break;
    }
  }
  if (found.empty()) {
    if (dirs_.empty()) {
      return configuration_error("plugin '" + name + "' not found: no plugin directories are " +
                                 "configured to look for " + file + " (set host.plugin_dirs)");
    }
    return configuration_error("plugin '" + name + "' not found: no " + file + " in " +
                               join(dirs_) +
                               " (build the plugin, or add its directory to host.plugin_dirs)");
  }

  std::error_code ec;
  const fs::path canonical = fs::canonical(found, ec);
  if (ec) {
    return configuration_error("plugin '" + name + "': cannot resolve '" + found.string() +
                               "': " + ec.message());
  }
  const bool inside = std::any_of(dirs_.begin(), dirs_.end(), [&](const std::string& dir) {
    std::error_code dir_ec;
    const fs::path canonical_dir = fs::canonical(dir, dir_ec);
    return !dir_ec && is_within(canonical, canonical_dir);
  });
  if (!inside) {
    return configuration_error("plugin '" + name + "': '" + found.string() + "' resolves to '" +
                               canonical.string() + "', outside the plugin directories (" +
                               join(dirs_) +
                               "); refusing to load it (copy the library into a "
                               "plugin directory, or add its real directory to host.plugin_dirs)");
  }

  auto adapter = load_canonical(canonical.string(), name);
  if (adapter) by_name_.emplace(name, *adapter);
  return adapter;
}

Result<AdapterPtr> PluginLoader::load_path(const std::string& path) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(path, ec);
  if (ec) {
    return configuration_error("plugin library '" + path + "' cannot be opened: " + ec.message());
  }
  return load_canonical(canonical.string(), name_from_file(canonical.filename().string()));
}

Result<AdapterPtr> PluginLoader::load_canonical(const std::string& path,
                                                const std::string& expected_name) {
  Libraries& all = libraries();
  std::lock_guard lock(all.mutex);
  if (auto loaded = all.by_path.find(path); loaded != all.by_path.end()) {
    LoadedPlugin* plugin = loaded->second;
    std::lock_guard sink_lock(plugin->sink_mutex);
    plugin->sink = sink_;
    return plugin->adapter;
  }

  if (!has_elf_header(path)) {
    return configuration_error("plugin library '" + path +
                               "' is not a shared library (it has no ELF header): build the "
                               "plugin with mlbridge_add_plugin(), or remove the file from the "
                               "plugin directory");
  }
  // RTLD_NOW: a missing symbol fails here, with a message, not later in the middle of a call.
  // RTLD_LOCAL: plugins never see each other's symbols.
  boost::dll::shared_library library;
  boost::dll::fs::error_code load_error;
  dlerror();  // clear any stale message
  library.load(boost::dll::fs::path(path),
               boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, load_error);
  if (load_error || !library.is_loaded()) {
    const char* reason = dlerror();
    return configuration_error("plugin library '" + path + "' could not be loaded: " +
                               (reason != nullptr ? std::string(reason) : load_error.message()) +
                               " (is it a shared library built for this machine, with its "
                               "dependencies installed?)");
  }
  const bool has_entry = library.has(MLBRIDGE_PLUGIN_ENTRY_SYMBOL);
  const mlbridge_plugin_entry_fn entry =
      has_entry ? &library.get<std::remove_pointer_t<mlbridge_plugin_entry_fn>>(
                      MLBRIDGE_PLUGIN_ENTRY_SYMBOL)
                : nullptr;
  all.kept.push_back(std::move(library));  // whatever happens next, it stays loaded
  if (entry == nullptr) {
    return configuration_error("'" + path + "' is not an mlbridge plugin: no " +
                               MLBRIDGE_PLUGIN_ENTRY_SYMBOL +
                               " (build it with mlbridge_add_plugin() and MLBRIDGE_PLUGIN(...) "
                               "from mlbridge/sdk/plugin.hpp, or in C define "
                               "mlbridge_plugin_entry as mlbridge/sdk/plugin_abi.h declares)");
  }

  // Only the table's fixed header is read until its ABI major is known to be ours.
  auto table = copy_plugin_table(entry(), path);
  if (!table) return std::move(table).error();
  const std::string name = table->name != nullptr ? table->name : "";
  if (!expected_name.empty() && name != expected_name) {
    return configuration_error("plugin library '" + path + "' reports the name '" + name +
                               "', but a plugin's name must match its file name (" +
                               library_file_name(expected_name) +
                               "): rename the file or fix the plugin's name");
  }

  auto* plugin = new LoadedPlugin();  // never deleted, see LoadedPlugin
  plugin->name = name;
  plugin->logger.struct_size = sizeof(mlbridge_host_logger);
  plugin->logger.context = plugin;
  plugin->logger.log = &log_from_plugin;
  plugin->sink = sink_;
  if (table->set_logger != nullptr) {
    if (const int status = table->set_logger(&plugin->logger); status != MLBRIDGE_STATUS_OK) {
      return configuration_error("plugin '" + name + "' failed in set_logger (status " +
                                 std::to_string(status) + ")");
    }
  }
  auto adapter = CAdapter::create(*table, path);
  if (!adapter) return std::move(adapter).error();
  plugin->adapter = *adapter;
  all.by_path.emplace(path, plugin);
  return plugin->adapter;
}

std::vector<Result<AdapterInfo>> PluginLoader::discover() {
  std::vector<Result<AdapterInfo>> found;
  std::set<std::string> seen;
  for (const auto& dir : dirs_) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<std::string> names;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = name_from_file(it->path().filename().string());
      if (!name.empty()) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      if (!seen.insert(name).second) continue;  // shadowed by an earlier directory
      auto adapter = load(name);
      if (adapter) {
        found.emplace_back((*adapter)->info());
      } else {
        found.emplace_back(std::move(adapter).error());
      }
    }
  }
  return found;
}

}  // namespace mlbridge::plugin
