#include "mlbridge/registry/registration_policy.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <map>

#include "mlbridge/config/paths.hpp"
#include "mlbridge/config/python_locator.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::registry {
namespace {

namespace fs = std::filesystem;

// Variables a registration may not set in env.set, upper case. Each group says why.
// How interpreters, the dynamic loader and shells start, and the programs they call.
constexpr std::array kDeniedNames = {"ENV",
                                     "BASH_ENV",
                                     "SHELLOPTS",
                                     "BASHOPTS",
                                     "PS4",
                                     "PROMPT_COMMAND",
                                     "IFS",
                                     "GLOBIGNORE",
                                     "HOME",
                                     "TMPDIR",
                                     "BROWSER",
                                     "EDITOR",
                                     "VISUAL",
                                     "PAGER",
                                     "NETRC",
                                     "HOSTALIASES",
                                     "RES_OPTIONS",
                                     "LOCALDOMAIN",
                                     "PERL5OPT",
                                     "PERL5LIB",
                                     "PERLLIB",
                                     "RUBYOPT",
                                     "RUBYLIB",
                                     "NODE_OPTIONS",
                                     "JAVA_TOOL_OPTIONS",
                                     "_JAVA_OPTIONS"};
constexpr std::array kDeniedPrefixes = {"PYTHON", "LD_",  "DYLD_",    "BASH_FUNC_", "MALLOC_",
                                        "GLIBC_", "GIT_", "OPENSSL_", "XDG_",       "MLBRIDGE_"};
// Names that say they hold a path (…PATH, …_HOME, …_DIR, …_FILE, caches, CA bundles, config
// files) or a destination of network traffic (proxies, URLs, endpoints, hosts, API bases).
constexpr std::array kDeniedSuffixes = {"PATH",   "_HOME",   "_DIR",      "_DIRS",   "_FILE",
                                        "_CACHE", "_BUNDLE", "_CONF",     "_CONFIG", "_PROXY",
                                        "_URL",   "_URI",    "_ENDPOINT", "_HOST",   "_BASE"};

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// Symlinks resolved where the path exists, "." and ".." removed everywhere.
fs::path real_path(const std::string& path) {
  std::error_code ec;
  fs::path real = fs::weakly_canonical(path, ec);
  if (ec) real = fs::path(path).lexically_normal();
  // "/a/b/" and "/a/b" are the same directory.
  if (real.has_relative_path() && real.filename().empty()) real = real.parent_path();
  return real;
}

// Whether `path` is `dir` itself (when `or_equal`) or lies below it; both real paths.
bool is_within(const fs::path& path, const fs::path& dir, bool or_equal) {
  const fs::path relative = path.lexically_relative(dir);
  if (relative.empty()) return false;
  if (relative == ".") return or_equal;
  return *relative.begin() != "..";
}

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text.empty() ? "none" : text;
}

Unexpected refuse(const config::BridgeConfig& bridge, const std::string& what) {
  Error error = Error::make(ErrorCategory::kInvalidConfiguration,
                            "bridge '" + bridge.name + "': runtime registration refused: " + what);
  error.bridge = bridge.name;
  return Unexpected{std::move(error)};
}

bool within_any(const fs::path& real, const std::vector<std::string>& dirs) {
  return std::any_of(dirs.begin(), dirs.end(), [&](const std::string& dir) {
    return is_within(real, real_path(dir), /*or_equal=*/true);
  });
}

// Where `top` (a module's first segment) is found in `dir` as Python's path finder would: a
// package directory or a module file. Empty when it is not there.
fs::path module_in(const fs::path& dir, const std::string& top) {
  std::error_code ec;
  if (fs::is_directory(dir / top, ec)) return dir / top;
  if (fs::is_regular_file(dir / (top + ".py"), ec)) return dir / (top + ".py");
  return {};
}

}  // namespace

RegistrationPolicy::RegistrationPolicy(const config::HostConfig& host)
    : enabled_(host.runtime_registration.enabled),
      root_(config::resolve_path("", host.root.empty() ? "." : host.root)),
      env_pass_(host.runtime_registration.env_pass),
      auth_token_env_(host.auth_token_env) {
  // As config::to_pool_config resolves a bridge's interpreter, so that both name the same file.
  const std::string host_python = host.python.empty() ? config::default_python(root_) : host.python;
  pythons_.push_back(config::resolve_program(root_, host_python));
  for (const auto& python : host.runtime_registration.pythons) {
    pythons_.push_back(config::resolve_program(root_, python));
  }
  for (const auto& dir : host.runtime_registration.script_dirs) {
    script_dirs_.push_back(config::resolve_path(root_, dir));
  }
}

Status RegistrationPolicy::allow_change(std::string_view action, const std::string& bridge) const {
  if (enabled_) return Ok{};
  Error error = Error::make(
      ErrorCategory::kInvalidConfiguration,
      "cannot " + std::string(action) + " bridge '" + bridge +
          "': runtime registration is switched off on this host. Change the YAML file and "
          "reload it (SIGHUP), or switch it on with host.runtime_registration.enabled: true "
          "(which also needs host.auth_token_env for `mlbridge serve`)");
  error.bridge = bridge;
  return Unexpected{std::move(error)};
}

bool RegistrationPolicy::may_set_variable(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (std::string_view denied : kDeniedNames) {
    if (upper == denied) return false;
  }
  for (std::string_view prefix : kDeniedPrefixes) {
    if (upper.rfind(prefix, 0) == 0) return false;
  }
  for (std::string_view suffix : kDeniedSuffixes) {
    if (ends_with(upper, suffix)) return false;
  }
  return true;
}

Status RegistrationPolicy::check_python(const config::BridgeConfig& bridge) const {
  if (!bridge.python) return Ok{};  // host.python
  const std::string python = config::resolve_program(root_, *bridge.python);
  if (std::find(pythons_.begin(), pythons_.end(), python) != pythons_.end()) return Ok{};
  return refuse(bridge, "python '" + *bridge.python +
                            "' is not an interpreter it may use (allowed: " + joined(pythons_) +
                            "); leave python out to use host.python, or ask the operator to list "
                            "it in host.runtime_registration.pythons");
}

Status RegistrationPolicy::check_script(const config::BridgeConfig& bridge) const {
  if (bridge.script.empty()) return Ok{};  // the plugin's default script
  const fs::path script = real_path(config::resolve_path(root_, bridge.script));
  for (const auto& dir : script_dirs_) {
    if (is_within(script, real_path(dir), /*or_equal=*/false)) return Ok{};
  }
  if (script_dirs_.empty()) {
    return refuse(bridge, "script '" + bridge.script +
                              "' cannot be named: host.runtime_registration.script_dirs lists no "
                              "directory, so a registration can only use its plugin's default "
                              "script; leave script out, or ask the operator to list a directory");
  }
  return refuse(bridge, "script '" + bridge.script + "' (real path " + script.string() +
                            ") is outside the script directories (" + joined(script_dirs_) +
                            ", host.runtime_registration.script_dirs); put the script there");
}

Status RegistrationPolicy::check_working_dir(const config::BridgeConfig& bridge) const {
  if (bridge.working_dir.empty()) return Ok{};  // the root
  const fs::path dir = real_path(config::resolve_path(root_, bridge.working_dir));
  if (dir == real_path(root_)) return Ok{};
  for (const auto& allowed : script_dirs_) {
    if (is_within(dir, real_path(allowed), /*or_equal=*/true)) return Ok{};
  }
  return refuse(bridge, "working_dir '" + bridge.working_dir + "' (real path " + dir.string() +
                            ") is neither the host root nor inside a script directory (" +
                            joined(script_dirs_) +
                            ", host.runtime_registration.script_dirs); leave working_dir out");
}

// Code paths go first on the workers' sys.path, so they are held to the rule scripts are held to.
Status RegistrationPolicy::check_code_path(const config::BridgeConfig& bridge,
                                           const std::string& path) const {
  const fs::path real = real_path(config::resolve_path(root_, path));
  if (within_any(real, script_dirs_)) return Ok{};
  return refuse(bridge, "code.paths entry '" + path + "' (real path " + real.string() +
                            ") is outside the script directories (" + joined(script_dirs_) +
                            ", host.runtime_registration.script_dirs); put the code there, or "
                            "declare the bridge in the YAML file");
}

// A declared module's objects become callable by name, so a registration may only declare
// modules of its own code: each module's top-level package must be found in one of its code paths
// (whose real paths lie in a script directory), never an installed package or the standard
// library (declaring `subprocess` would let requests name `subprocess:run`).
Status RegistrationPolicy::check_code_module(const config::BridgeConfig& bridge,
                                             const std::string& module) const {
  const std::string top = module.substr(0, module.find('.'));
  for (const auto& path : bridge.code.paths) {
    const fs::path found = module_in(config::resolve_path(root_, path), top);
    if (found.empty()) continue;
    const fs::path real = real_path(found.string());
    if (within_any(real, script_dirs_)) return Ok{};
    return refuse(bridge, "code.modules entry '" + module + "' is found at " + found.string() +
                              ", whose real path " + real.string() +
                              " is outside the script directories (" + joined(script_dirs_) +
                              ", host.runtime_registration.script_dirs)");
  }
  return refuse(bridge, "code.modules entry '" + module +
                            "' is not a package or module in the "
                            "registration's code.paths (" +
                            joined(bridge.code.paths) +
                            "): a registration may only declare its own code, not installed or "
                            "standard-library modules; declare such a bridge in the YAML file");
}

Status RegistrationPolicy::check_env_pass(const config::BridgeConfig& bridge,
                                          const std::string& name) const {
  // The host's token never reaches a registered bridge, even where a HostConfig built in code
  // lists it (the YAML reader refuses that).
  if (name != auth_token_env_ &&
      std::find(env_pass_.begin(), env_pass_.end(), name) != env_pass_.end()) {
    return Ok{};
  }
  return refuse(bridge,
                "env.pass names " + name +
                    ", which is not a host variable it may pass (allowed: " + joined(env_pass_) +
                    "); ask the operator to list it in host.runtime_registration.env_pass");
}

Status RegistrationPolicy::check_env_set(const config::BridgeConfig& bridge,
                                         const std::string& name) const {
  if (may_set_variable(name)) return Ok{};
  return refuse(bridge, "env.set may not set " + name +
                            ": it changes how an interpreter, the loader or a shell starts, names "
                            "a path, or says where traffic goes (see docs/http-api.md, runtime "
                            "registration); declare such a bridge in the YAML file instead");
}

namespace {

using protocol::json;

// Every key in `value` that names a host variable for the bridge to read (`…_env`, as the
// framework bridges' api_key_env), by its path ("options.lm.api_key_env") with the value.
void collect_variable_references(const json& value, const std::string& path,
                                 std::map<std::string, json>& out) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      const std::string here = path + "." + key;
      if (key.size() >= 4 && key.compare(key.size() - 4, 4, "_env") == 0) out[here] = item;
      collect_variable_references(item, here, out);
    }
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      collect_variable_references(value[i], path + "[" + std::to_string(i) + "]", out);
    }
  }
}

std::map<std::string, json> variable_references(const json& options) {
  std::map<std::string, json> out;
  collect_variable_references(options, "options", out);
  return out;
}

}  // namespace

Status RegistrationPolicy::check_options(const config::BridgeConfig& current,
                                         const config::BridgeConfig& next) const {
  // What the operator's YAML gave a bridge stays; a request may not add or change a reference.
  const auto before = variable_references(current.options);
  for (const auto& [path, value] : variable_references(next.options)) {
    const auto same = before.find(path);
    if (same != before.end() && same->second == value) continue;
    return refuse(next, path +
                            " names a host variable for the bridge to read: a registration cannot "
                            "pair a host key with an endpoint of its choosing (the key would go "
                            "wherever the request says); declare such a bridge in the YAML file");
  }
  return Ok{};
}

Status RegistrationPolicy::check_bridge(const config::BridgeConfig& bridge) const {
  static const config::BridgeConfig kNothingYet;  // every value the bridge names is new
  return check_change(kNothingYet, bridge);
}

Status RegistrationPolicy::check_change(const config::BridgeConfig& current,
                                        const config::BridgeConfig& next) const {
  if (next.python != current.python) {
    if (auto checked = check_python(next); !checked) return checked;
  }
  if (next.script != current.script) {
    if (auto checked = check_script(next); !checked) return checked;
  }
  if (next.working_dir != current.working_dir) {
    if (auto checked = check_working_dir(next); !checked) return checked;
  }
  // Any change of code is checked whole: a module is judged by the paths it is found in.
  if (next.code.paths != current.code.paths || next.code.modules != current.code.modules) {
    for (const auto& path : next.code.paths) {
      if (auto checked = check_code_path(next, path); !checked) return checked;
    }
    for (const auto& module : next.code.modules) {
      if (auto checked = check_code_module(next, module); !checked) return checked;
    }
  }
  for (const auto& name : next.env_pass) {
    const auto& before = current.env_pass;
    if (std::find(before.begin(), before.end(), name) != before.end()) continue;
    if (auto checked = check_env_pass(next, name); !checked) return checked;
  }
  for (const auto& [name, value] : next.env_set) {
    const auto before = current.env_set.find(name);
    if (before != current.env_set.end() && before->second == value) continue;
    if (auto checked = check_env_set(next, name); !checked) return checked;
  }
  if (next.options != current.options) {
    if (auto checked = check_options(current, next); !checked) return checked;
  }
  return Ok{};
}

}  // namespace mlbridge::registry
