#pragma once

/// @file
/// The C++ SDK for mlbridge adapter plugins: derive from `mlbridge::sdk::Adapter`, override the
/// hooks you need, and write `MLBRIDGE_PLUGIN(YourAdapter)` once in one .cpp file. The macro
/// exports the C entry point of plugin_abi.h and turns every hook into a C function that catches
/// every exception, so nothing but status codes and strings cross into the host.
///
/// Header-only; needs C++17 and nlohmann/json. Build the plugin with `mlbridge_add_plugin()`
/// (CMake package `mlbridge`), which names it libmlbridge_<name>.so, hides every symbol but the
/// entry point, links `mlbridge::sdk`, fails the link when MLBRIDGE_PLUGIN is missing, and with
/// `BRIDGE_SCRIPT` copies the Python bridge script beside the library and makes it the default
/// `script` (see bridge_script()).
///
/// Threading: the host constructs the adapter once (on the first call of the entry point) and
/// then calls its const hooks from any thread, concurrently; keep them free of unguarded mutable
/// state. Lifetime: the adapter lives until the process exits (the host never unloads plugins).
///
/// ```cpp
/// #include <mlbridge/sdk/plugin.hpp>
/// class NotesAdapter : public mlbridge::sdk::Adapter {
///   mlbridge::sdk::PluginInfo info() const override {
///     return {"notes", "1.0.0", "notes", "Notes for mlbridge"};
///   }
///   mlbridge::sdk::json defaults() const override { return {{"pool", {{"size", 1}}}}; }
/// };
/// MLBRIDGE_PLUGIN(NotesAdapter)
/// ```

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mlbridge/sdk/plugin_abi.h"

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>  // dladdr: where this plugin's library was loaded from
#define MLBRIDGE_SDK_HAS_DLADDR 1
#endif

#if defined(__GNUC__) && !defined(_WIN32)
#define MLBRIDGE_SDK_HIDDEN __attribute__((visibility("hidden")))
#else
#define MLBRIDGE_SDK_HIDDEN
#endif

namespace mlbridge::sdk {

using json = nlohmann::json;

/// Who the plugin is. `name` must match the library's file name: libmlbridge_<name>.so.
struct PluginInfo {
  std::string name;         ///< e.g. "dspy"; letters, digits, '_', '-'.
  std::string version;      ///< The plugin's own version, e.g. "1.0.0".
  std::string framework;    ///< The framework it adapts, e.g. "dspy".
  std::string description;  ///< One line, shown by `mlbridge plugins`.
};

/// Severity of a log line sent to the host.
enum class LogLevel : int {
  kTrace = MLBRIDGE_LOG_TRACE,
  kDebug = MLBRIDGE_LOG_DEBUG,
  kInfo = MLBRIDGE_LOG_INFO,
  kWarn = MLBRIDGE_LOG_WARN,
  kError = MLBRIDGE_LOG_ERROR,
};

/// Writes one line to the host's log (tagged there with the plugin's name). Before the host has
/// handed over its logger the line goes to stderr. Any thread; never throws.
void log(LogLevel level, std::string_view message) noexcept;

/// The directory this plugin's shared library was loaded from, with a trailing '/', or "" when
/// the platform cannot tell. Any thread; never throws (out of memory gives "").
inline std::string library_directory() noexcept;

/// The path of `file_name` in library_directory(), or "" when that is unknown. Any thread.
inline std::string beside_library(std::string_view file_name) noexcept {
  try {
    std::string directory = library_directory();
    return directory.empty() ? std::string() : directory.append(file_name);
  } catch (...) {
    return {};
  }
}

/// The bridge script that `mlbridge_add_plugin(... BRIDGE_SCRIPT <file>)` copies beside this
/// plugin's library: its full path, or "" when the plugin was built without BRIDGE_SCRIPT (or
/// the library's directory is unknown). When `Adapter::defaults()` has no "script", the SDK
/// makes this the default `script` itself, so most plugins never call it. Any thread.
inline std::string bridge_script() noexcept {
#ifdef MLBRIDGE_PLUGIN_BRIDGE_SCRIPT
  return beside_library(MLBRIDGE_PLUGIN_BRIDGE_SCRIPT);
#else
  return {};
#endif
}

/// One error translation rule for `Adapter::error_rules()`: Python exception `type` (qualified,
/// "litellm.RateLimitError", or its last part, "RateLimitError"; empty matches any type) →
/// mlbridge `category` ("rate_limit", "authentication", ...), optionally only when the
/// ECMAScript regex `match` is found in the message, and optionally overriding whether a retry
/// may succeed.
inline json error_rule(std::string type, std::string category, std::string match = {},
                       std::optional<bool> retryable = std::nullopt) {
  json rule = {{"type", std::move(type)}, {"category", std::move(category)}};
  if (!match.empty()) rule["match"] = std::move(match);
  if (retryable) rule["retryable"] = *retryable;
  return rule;
}

/// The host's retry attempts a bridge config (the YAML keys as JSON, as `validate` gets it) asks
/// for: `retry.max_attempts` where it is written as an integer, else `when_absent` (the value the
/// plugin's `defaults()` give). For plugins whose framework retries by itself, to refuse a
/// config where both layers would retry.
inline long host_retry_attempts(const json& bridge, long when_absent) {
  const auto retry = bridge.find("retry");
  if (retry == bridge.end() || !retry->is_object()) return when_absent;
  const auto attempts = retry->find("max_attempts");
  if (attempts == retry->end() || !attempts->is_number_integer()) return when_absent;
  return attempts->get<long>();
}

/// The resource verbs the host asks about.
inline constexpr std::string_view kResourceVerbs[] = {"create", "get", "list", "execute", "delete"};

/// An explicit resource map: (kind, verb) → command. For `Adapter::resource_command()` when the
/// bridge's commands do not follow the `<verb>_<kind>` convention.
///
/// ```cpp
/// const ResourceMap map{{"note", "create", "put"}, {"note", "get", "get"}};
/// map.find("create", "note");  // "put"
/// ```
class ResourceMap {
 public:
  struct Entry {
    std::string kind;
    std::string verb;
    std::string command;
  };

  ResourceMap() = default;
  ResourceMap(std::initializer_list<Entry> entries) {
    for (const auto& entry : entries) add(entry.kind, entry.verb, entry.command);
  }

  /// Maps one verb on one kind to a command (replacing an earlier mapping).
  ResourceMap& add(std::string kind, std::string verb, std::string command) {
    commands_[{std::move(kind), std::move(verb)}] = std::move(command);
    return *this;
  }
  /// Maps every verb of kResourceVerbs on `kind` by the convention `<verb>_<kind>`.
  ResourceMap& add_kind(const std::string& kind) {
    for (auto verb : kResourceVerbs) add(kind, std::string(verb), std::string(verb) + "_" + kind);
    return *this;
  }

  /// The command for `verb` on `kind`, or nullopt.
  std::optional<std::string> find(std::string_view verb, std::string_view kind) const {
    auto found = commands_.find({std::string(kind), std::string(verb)});
    if (found == commands_.end()) return std::nullopt;
    return found->second;
  }

 private:
  std::map<std::pair<std::string, std::string>, std::string> commands_;
};

/// Base class of a C++ plugin. Only info() is required; every other hook has a neutral default.
/// A hook may throw: the exception is caught at the boundary and the host reports its what()
/// together with the plugin's name.
class Adapter {
 public:
  virtual ~Adapter() = default;

  /// Name, version, framework and description. Called once, when the plugin is first loaded.
  virtual PluginInfo info() const = 0;

  /// Defaults for the bridge config: a JSON object with YAML bridge keys, e.g.
  /// `{"script": "python_bridges/dspy_bridge.py", "required_packages": ["dspy"],
  /// "pool": {"size": 2}}`. The bridge's YAML overrides them key by key. Default: {}.
  /// Without a "script" here, a plugin built with `mlbridge_add_plugin(... BRIDGE_SCRIPT f)`
  /// gets the copy of `f` beside its library as its default script (bridge_script()).
  virtual json defaults() const { return json::object(); }

  /// Checks the bridge's merged config (YAML keys, defaults applied). Returns an empty string
  /// when it is fine, or a message naming the key ("options.lm.model must be a string").
  virtual std::string validate(const json& /*bridge_config*/) const { return {}; }

  /// Error translation rules, a JSON array of error_rule(...) objects; first match wins; the
  /// bridge's YAML `errors:` come before them. Default: none.
  virtual json error_rules() const { return json::array(); }

  /// The resource kinds the bridge has, mapped by the `<verb>_<kind>` convention by the default
  /// resource_command() ("create" + "program" → "create_program"). Default: none.
  virtual std::vector<std::string> resource_kinds() const { return {}; }

  /// The command for a resource verb on a kind, or nullopt when there is none. Default: the
  /// `<verb>_<kind>` convention for the kinds of resource_kinds(). Override it (for instance
  /// with a ResourceMap) when the commands are named otherwise.
  virtual std::optional<std::string> resource_command(std::string_view verb,
                                                      std::string_view kind) const {
    for (const auto& declared : resource_kinds()) {
      if (declared == kind && !verb.empty()) {
        return std::string(verb) + "_" + std::string(kind);
      }
    }
    return std::nullopt;
  }

  /// Rewrites a command's arguments before they are sent to a worker (fill defaults, rename
  /// keys). Throw std::invalid_argument to refuse the call; its message reaches the caller as
  /// an invalid_argument error (so do nlohmann's type_error and out_of_range). Bytes values
  /// appear as {"__bytes__": "<base64>"} objects: pass them on untouched. Default: unchanged.
  virtual json shape_args(std::string_view /*command*/, json args) const { return args; }

  /// How the bridge's sessions survive the loss of their worker: which commands build session
  /// objects (replayed in order on another worker), which remove them, and optionally a
  /// snapshot/restore pair. Use session_setup()/session_undo() to build it, e.g.
  /// `{{"setup", {session_setup("create_program", "program:{program_id}")}},
  ///   {"undo", {session_undo("delete_program", "program:{program_id}")}}}`.
  /// Default: none (see docs/sessions.md).
  virtual json session_rules() const { return json::object(); }
};

/// One setup rule for `Adapter::session_rules()`: `command` builds the session object named
/// `object` (`{arg}` stands for an argument, or the result's field, of that name); with `append`
/// it adds to the object instead of replacing it.
inline json session_setup(std::string command, std::string object, bool append = false) {
  json rule = {{"command", std::move(command)}, {"object", std::move(object)}};
  if (append) rule["append"] = true;
  return rule;
}

/// One undo rule for `Adapter::session_rules()`: `command` removes the object named `object` and
/// everything under it (`object/...`); with `appended_only`, only what was appended to it.
inline json session_undo(std::string command, std::string object, bool appended_only = false) {
  json rule = {{"command", std::move(command)}, {"object", std::move(object)}};
  if (appended_only) rule["appended_only"] = true;
  return rule;
}

// Everything below is the machinery behind MLBRIDGE_PLUGIN. Hidden, so that no two plugins (or
// a plugin and the host) ever share it, whatever the build's visibility settings.
namespace detail MLBRIDGE_SDK_HIDDEN {

// Any address inside the plugin's library tells dladdr which file it is (library_directory());
// hidden like the rest of detail, so every plugin has its own.
inline const char kAddressInThisLibrary = 0;

struct State {
  std::atomic<const mlbridge_host_logger*> logger{nullptr};
  const Adapter* adapter = nullptr;
  PluginInfo info;
  mlbridge_plugin_v1 table{};
};

// Never destroyed: hooks and log() may run on other threads while the process exits.
inline State& state() {
  static State* const instance = new State();
  return *instance;
}

// A malloc'ed copy, released by free_string(). nullptr when out of memory.
inline char* copy_string(std::string_view text) noexcept {
  auto* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (copy == nullptr) return nullptr;
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return copy;
}

inline std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

inline int fail(char** error_out, int status, std::string_view message) noexcept {
  if (error_out != nullptr) *error_out = copy_string(message);
  return status;
}

// Runs a hook body; turns every exception into a status and a message. `refusals` says whether
// std::invalid_argument (and nlohmann's type_error/out_of_range) mean "refused" (INVALID) rather
// than "the hook failed" (ERROR).
template <typename Body>
int guard(char** error_out, const char* hook, bool refusals, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::invalid_argument& e) {
    return fail(error_out, refusals ? MLBRIDGE_STATUS_INVALID : MLBRIDGE_STATUS_ERROR, e.what());
  } catch (const json::type_error& e) {
    return fail(error_out, refusals ? MLBRIDGE_STATUS_INVALID : MLBRIDGE_STATUS_ERROR, e.what());
  } catch (const json::out_of_range& e) {
    return fail(error_out, refusals ? MLBRIDGE_STATUS_INVALID : MLBRIDGE_STATUS_ERROR, e.what());
  } catch (const std::exception& e) {
    return fail(error_out, MLBRIDGE_STATUS_ERROR, e.what());
  } catch (...) {
    return fail(error_out, MLBRIDGE_STATUS_ERROR,
                std::string("unknown exception thrown by ") + hook + "()");
  }
}

inline int set_logger(const mlbridge_host_logger* logger) noexcept {
  state().logger.store(logger, std::memory_order_release);
  return MLBRIDGE_STATUS_OK;
}

inline int get_defaults(char** json_out, char** error_out) noexcept {
  return guard(error_out, "defaults", false, [&]() -> int {
    json defaults = state().adapter->defaults();
    if (!defaults.is_object()) {
      return fail(error_out, MLBRIDGE_STATUS_ERROR,
                  "defaults() must return a JSON object, not " + std::string(defaults.type_name()));
    }
    if (!defaults.contains("script")) {
      if (std::string script = bridge_script(); !script.empty()) defaults["script"] = script;
    }
    *json_out = copy_string(dump(defaults));
    return MLBRIDGE_STATUS_OK;
  });
}

inline int validate(const char* bridge_config_json, char** error_out) noexcept {
  return guard(error_out, "validate", false, [&]() -> int {
    const std::string problem = state().adapter->validate(json::parse(bridge_config_json));
    if (problem.empty()) return MLBRIDGE_STATUS_OK;
    return fail(error_out, MLBRIDGE_STATUS_INVALID, problem);
  });
}

inline int get_error_rules(char** json_out, char** error_out) noexcept {
  return guard(error_out, "error_rules", false, [&]() -> int {
    const json rules = state().adapter->error_rules();
    if (!rules.is_array()) {
      return fail(error_out, MLBRIDGE_STATUS_ERROR,
                  "error_rules() must return a JSON array, not " + std::string(rules.type_name()));
    }
    *json_out = copy_string(dump(rules));
    return MLBRIDGE_STATUS_OK;
  });
}

inline int resource_command(const char* verb, const char* kind, char** command_out,
                            char** error_out) noexcept {
  return guard(error_out, "resource_command", false, [&]() -> int {
    const auto command = state().adapter->resource_command(verb, kind);
    if (!command) return MLBRIDGE_STATUS_NOT_FOUND;
    *command_out = copy_string(*command);
    return MLBRIDGE_STATUS_OK;
  });
}

inline int shape_args(const char* command, const char* args_json, char** json_out,
                      char** error_out) noexcept {
  return guard(error_out, "shape_args", true, [&]() -> int {
    json args = json::parse(args_json);
    json shaped = state().adapter->shape_args(command, args);
    // Unchanged arguments go back as NULL: the host keeps its own copy and parses nothing.
    if (shaped != args) *json_out = copy_string(dump(shaped));
    return MLBRIDGE_STATUS_OK;
  });
}

inline int get_session_rules(char** json_out, char** error_out) noexcept {
  return guard(error_out, "session_rules", false, [&]() -> int {
    const json rules = state().adapter->session_rules();
    if (!rules.is_object()) {
      return fail(
          error_out, MLBRIDGE_STATUS_ERROR,
          "session_rules() must return a JSON object, not " + std::string(rules.type_name()));
    }
    *json_out = copy_string(dump(rules));
    return MLBRIDGE_STATUS_OK;
  });
}

inline void free_string(char* str) noexcept { std::free(str); }

// Builds the adapter and the table once; nullptr (with a line on stderr: the host's logger is
// not known yet) when the adapter's constructor or info() throws.
template <typename T>
const mlbridge_plugin_v1* entry() noexcept {
  static_assert(std::is_base_of_v<Adapter, T>,
                "MLBRIDGE_PLUGIN(ClassName): ClassName must derive from mlbridge::sdk::Adapter");
  static const mlbridge_plugin_v1* const table = []() noexcept -> const mlbridge_plugin_v1* {
    try {
      State& s = state();
      s.adapter = new T();  // never deleted: the library is never unloaded
      s.info = s.adapter->info();
      mlbridge_plugin_v1& t = s.table;
      t.abi_major = MLBRIDGE_PLUGIN_ABI_MAJOR;
      t.abi_minor = MLBRIDGE_PLUGIN_ABI_MINOR;
      t.struct_size = static_cast<uint32_t>(sizeof(mlbridge_plugin_v1));
      t.name = s.info.name.c_str();
      t.version = s.info.version.c_str();
      t.framework = s.info.framework.c_str();
      t.description = s.info.description.c_str();
      t.set_logger = &detail::set_logger;
      t.get_defaults = &detail::get_defaults;
      t.validate = &detail::validate;
      t.get_error_rules = &detail::get_error_rules;
      t.resource_command = &detail::resource_command;
      t.shape_args = &detail::shape_args;
      t.free_string = &detail::free_string;
      t.get_session_rules = &detail::get_session_rules;
      return &t;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mlbridge plugin: initialisation failed: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "mlbridge plugin: initialisation failed: unknown exception\n");
    }
    return nullptr;
  }();
  return table;
}

}  // namespace MLBRIDGE_SDK_HIDDEN

inline std::string library_directory() noexcept {
#ifdef MLBRIDGE_SDK_HAS_DLADDR
  try {
    Dl_info where{};
    if (dladdr(&detail::kAddressInThisLibrary, &where) == 0 || where.dli_fname == nullptr) {
      return {};
    }
    const std::string path = where.dli_fname;
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
  } catch (...) {
    return {};
  }
#else
  return {};
#endif
}

inline void log(LogLevel level, std::string_view message) noexcept {
  try {
    const std::string line(message);
    const mlbridge_host_logger* logger = detail::state().logger.load(std::memory_order_acquire);
    if (logger != nullptr && logger->log != nullptr) {
      logger->log(logger->context, static_cast<int>(level), line.c_str());
    } else {
      std::fprintf(stderr, "[mlbridge plugin] %s\n", line.c_str());
    }
  } catch (...) {  // out of memory while copying the message: drop the line
  }
}

}  // namespace mlbridge::sdk

/// Makes `ClassName` (derived from mlbridge::sdk::Adapter, default-constructible) the plugin of
/// this library: defines the exported `mlbridge_plugin_entry`. Use once per plugin, at namespace
/// scope in one .cpp file.
#define MLBRIDGE_PLUGIN(ClassName)                                                          \
  extern "C" MLBRIDGE_PLUGIN_EXPORT const mlbridge_plugin_v1* mlbridge_plugin_entry(void) { \
    return ::mlbridge::sdk::detail::entry<ClassName>();                                     \
  }
