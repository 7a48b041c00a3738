#pragma once

/// @file
/// What a bridge registered, changed, restarted or removed while the host runs may do, as the
/// operator's `host.runtime_registration` allows. Runtime registration is code execution (a
/// registration names an interpreter, a script and its environment), so it is off unless the
/// operator switched it on, and even then it may only name the interpreters, script directories
/// and host variables the operator listed, and may not set variables that change how an
/// interpreter, loader or shell starts or where its traffic and files go.
///
/// The registry checks every runtime change here first, before it loads a plugin, checks an
/// environment or starts a process. The bearer token of the HTTP API is the server's matter.
///
/// Threading: immutable after construction; any thread. Checks read the file system (real paths
/// of scripts and directories) and run nothing.

#include <string>
#include <string_view>
#include <vector>

#include "mlbridge/config/bridge_config.hpp"
#include "mlbridge/config/host_config.hpp"
#include "mlbridge/errors/result.hpp"

namespace mlbridge::registry {

class RegistrationPolicy {
 public:
  /// Copies what it needs from `host` (host.runtime_registration, root, python, auth_token_env).
  explicit RegistrationPolicy(const config::HostConfig& host);

  bool enabled() const { return enabled_; }

  /// Ok when runtime changes are switched on; otherwise invalid_configuration saying that
  /// `action` ("register", "change", "restart", "remove") of bridge `bridge` is refused and
  /// which key switches it on.
  Status allow_change(std::string_view action, const std::string& bridge) const;

  /// Checks what a registration names, all of it: `python` (host.python or one of
  /// runtime_registration.pythons), `script` and `working_dir` (inside a script directory by
  /// real path; working_dir may also be the root), `code.paths` (each inside or equal to a script
  /// directory by real path) and `code.modules` (each module's top-level package or file found in
  /// one of those code paths, its real path in a script directory: never an installed or
  /// standard-library module), every `env.pass` variable (listed in
  /// runtime_registration.env_pass), every `env.set` variable (may_set_variable), and
  /// `options`, which may not name a host variable for the bridge to read (a `…_env` key such
  /// as `api_key_env`: a registration cannot pair a host key with an endpoint it chooses).
  /// invalid_configuration naming the bridge, the key, the value and what to do.
  Status check_bridge(const config::BridgeConfig& bridge) const;

  /// The same for a change of a running bridge: only the values that differ from `current`
  /// are checked, so a bridge declared in the YAML file keeps what the file gave it.
  Status check_change(const config::BridgeConfig& current, const config::BridgeConfig& next) const;

  /// Whether a registration may set variable `name` in `env.set`: no variable that changes how
  /// an interpreter, the dynamic loader or a shell starts (PYTHON*, LD_*, BASH_ENV, ENV, ...),
  /// that names a path or a place programs are found (…PATH, HOME, …_HOME, …_DIR, …_FILE, ...),
  /// that says where network traffic goes or whom it trusts (…_PROXY, …_URL, …_ENDPOINT,
  /// SSL_CERT_FILE, ...), nor the host's own (MLBRIDGE_*). Compared case-insensitively.
  /// docs/http-api.md lists the rules.
  static bool may_set_variable(std::string_view name);

 private:
  Status check_python(const config::BridgeConfig& bridge) const;
  Status check_script(const config::BridgeConfig& bridge) const;
  Status check_working_dir(const config::BridgeConfig& bridge) const;
  Status check_code_path(const config::BridgeConfig& bridge, const std::string& path) const;
  Status check_code_module(const config::BridgeConfig& bridge, const std::string& module) const;
  Status check_env_pass(const config::BridgeConfig& bridge, const std::string& name) const;
  Status check_env_set(const config::BridgeConfig& bridge, const std::string& name) const;
  Status check_options(const config::BridgeConfig& current, const config::BridgeConfig& next) const;

  bool enabled_ = false;
  std::string root_;                  // absolute, lexically normal
  std::vector<std::string> pythons_;  // host.python first
  std::vector<std::string> script_dirs_;
  std::vector<std::string> env_pass_;
  std::string auth_token_env_;
};

}  // namespace mlbridge::registry
