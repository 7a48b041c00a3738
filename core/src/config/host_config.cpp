#include "mlbridge/config/host_config.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <utility>

#include "mlbridge/config/paths.hpp"
#include "mlbridge/config/python_locator.hpp"
#include "mlbridge/config/yaml_loader.hpp"
#include "mlbridge/session/session_id.hpp"
#include "mlbridge/store/redis_url.hpp"
#include "value_reader.hpp"

namespace mlbridge::config {
namespace {

using detail::ValueReader;

constexpr std::uint64_t kMaxBodyBytes = 1ull << 32;
// Polling longer than a tenth of a second would only burn CPU: no call is that fast.
constexpr std::uint64_t kMaxLoopSpinUs = 100000;
constexpr std::uint64_t kMaxLoopSpinMaxCalls = 1000000;
constexpr std::uint64_t kMaxSessions = 10'000'000;
constexpr std::uint64_t kMaxTotalStateBytes = 1ull << 40;

// HOST:PORT, HOST being a name, an IPv4 address or a bracketed IPv6 address.
bool is_listen_address(const std::string& text) {
  std::size_t colon;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string::npos || close < 2 || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return false;
    }
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 ||
        text.find(':') != colon) {  // an unbracketed IPv6 address is ambiguous
      return false;
    }
  }
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoul(port) <= 65535;
}

// A browser origin as browsers send it: http:// or https://, a host, an optional port, no path.
bool is_origin(const std::string& text) {
  for (const std::string scheme : {"http://", "https://"}) {
    if (text.rfind(scheme, 0) != 0) continue;
    const std::string rest = text.substr(scheme.size());
    return !rest.empty() && rest.find_first_of("/?#@ \t") == std::string::npos;
  }
  return false;
}

// A Host header value: a name or address, optionally ":port"; no scheme, path or spaces.
bool is_host_value(const std::string& text) {
  return !text.empty() && text.find_first_of("/?#@ \t") == std::string::npos;
}

Result<std::vector<std::string>> read_checked_list(const ValueReader& value,
                                                   bool (*valid)(const std::string&),
                                                   const std::string& expected) {
  auto list = value.string_list();
  if (!list) return std::move(list).error();
  for (std::size_t i = 0; i < list->size(); ++i) {
    if (!valid((*list)[i])) {
      return value.element(i).error("must be " + expected + ", got '" + (*list)[i] + "'");
    }
  }
  return list;
}

struct HostKeys {
  std::string root;
  std::string python;
  std::vector<std::string> plugin_dirs;
  std::vector<std::string> registration_pythons;
  std::vector<std::string> registration_script_dirs;
  // Which spelling switched runtime registration on or off, for the "both given" check.
  bool old_registration_key = false;
  bool new_registration_key = false;
};

Status read_runtime_registration(const ValueReader& section, HostConfig& host, HostKeys& keys) {
  return section.for_each_member({"enabled", "pythons", "script_dirs", "env_pass"},
                                 [&](const std::string& key, const ValueReader& value) -> Status {
                                   if (key == "enabled") {
                                     auto enabled = value.boolean();
                                     if (!enabled) return std::move(enabled).error();
                                     host.runtime_registration.enabled = *enabled;
                                     keys.new_registration_key = true;
                                     return Ok{};
                                   }
                                   auto list = value.string_list(/*env_names=*/key == "env_pass");
                                   if (!list) return std::move(list).error();
                                   if (key == "pythons")
                                     keys.registration_pythons = std::move(*list);
                                   if (key == "script_dirs")
                                     keys.registration_script_dirs = std::move(*list);
                                   if (key == "env_pass")
                                     host.runtime_registration.env_pass = std::move(*list);
                                   return Ok{};
                                 });
}

constexpr std::uint64_t kMaxCallResultsTtlMs = 7ull * 24 * 60 * 60 * 1000;
constexpr std::uint64_t kMaxCallResults = 10'000'000;

Status read_call_results(const ValueReader& section, CallResultsConfig& out) {
  return section.for_each_member({"ttl_ms", "max"},
                                 [&](const std::string& key, const ValueReader& value) -> Status {
                                   if (key == "ttl_ms") {
                                     auto ttl = value.integer(1, kMaxCallResultsTtlMs);
                                     if (!ttl) return std::move(ttl).error();
                                     out.ttl_ms = static_cast<std::int64_t>(*ttl);
                                     return Ok{};
                                   }
                                   auto max = value.integer(1, kMaxCallResults);
                                   if (!max) return std::move(max).error();
                                   out.max = static_cast<std::size_t>(*max);
                                   return Ok{};
                                 });
}

Status read_host(const ValueReader& section, HostConfig& host, HostKeys& paths) {
  return section.for_each_member(
      {"root",
       "python",
       "plugin_dirs",
       "listen",
       "auth_token_env",
       "default_bridge",
       "runtime_registration",
       "allow_runtime_registration",
       "allowed_origins",
       "allowed_hosts",
       "allow_unauthenticated_remote",
       "log_level",
       "log_format",
       "max_body_bytes",
       "session_state_max_bytes",
       "loop_spin_us",
       "loop_spin_max_calls",
       "max_sessions",
       "session_state_total_max_bytes",
       "call_results",
       "session_store",
       "session_lease_ms",
       "session_claim_wait_ms",
       "id"},
      [&](const std::string& key, const ValueReader& value) -> Status {
        const auto take = [](auto result, auto& out) -> Status {
          if (!result) return std::move(result).error();
          out = std::move(*result);
          return Ok{};
        };
        if (key == "call_results") return read_call_results(value, host.call_results);
        if (key == "session_store") {
          auto where = value.non_empty_string();
          if (!where) return std::move(where).error();
          if (*where != "memory") {
            if (auto url = store::parse_redis_url(*where); !url) {
              return value.error("must be 'memory' or redis://[:PASSWORD@]HOST:PORT[/DB]: " +
                                 url.error().message);
            }
          }
          host.session_store = std::move(*where);
          return Ok{};
        }
        if (key == "session_lease_ms") {
          auto lease = value.integer(100, 3600000);
          if (!lease) return std::move(lease).error();
          host.session_lease_ms = static_cast<std::int64_t>(*lease);
          return Ok{};
        }
        if (key == "session_claim_wait_ms") {
          auto wait = value.integer(0, 3600000);
          if (!wait) return std::move(wait).error();
          host.session_claim_wait_ms = static_cast<std::int64_t>(*wait);
          return Ok{};
        }
        if (key == "id") {
          auto id = value.non_empty_string();
          if (!id) return std::move(id).error();
          if (auto valid = session::check_session_id(*id); !valid) {
            return value.error("must be 1 to 128 characters from A-Z a-z 0-9 . _ : -, got '" + *id +
                               "'");
          }
          host.id = std::move(*id);
          return Ok{};
        }
        if (key == "max_sessions") {
          auto count = value.integer(1, kMaxSessions);
          if (!count) return std::move(count).error();
          host.max_sessions = static_cast<std::size_t>(*count);
          return Ok{};
        }
        if (key == "session_state_total_max_bytes") {
          auto bytes = value.integer(1, kMaxTotalStateBytes);
          if (!bytes) return std::move(bytes).error();
          host.session_state_total_max_bytes = static_cast<std::size_t>(*bytes);
          return Ok{};
        }
        if (key == "root") return take(value.non_empty_string(), paths.root);
        if (key == "python") return take(value.non_empty_string(), paths.python);
        if (key == "plugin_dirs") return take(value.string_list(), paths.plugin_dirs);
        if (key == "listen") {
          auto listen = value.string();
          if (!listen) return std::move(listen).error();
          if (!is_listen_address(*listen)) {
            return value.error("must be HOST:PORT (e.g. 127.0.0.1:8787 or [::1]:8787), got '" +
                               *listen + "'");
          }
          host.listen = std::move(*listen);
          return Ok{};
        }
        if (key == "auth_token_env") {
          auto name = value.string();
          if (!name) return std::move(name).error();
          if (!name->empty() && !detail::is_env_name(*name)) {
            return value.error(
                "must name an environment variable (letters, digits and '_'), got '" + *name + "'");
          }
          host.auth_token_env = std::move(*name);
          return Ok{};
        }
        if (key == "default_bridge") return take(value.string(), host.default_bridge);
        if (key == "runtime_registration") return read_runtime_registration(value, host, paths);
        if (key == "allow_runtime_registration") {  // the old spelling of .enabled
          paths.old_registration_key = true;
          return take(value.boolean(), host.runtime_registration.enabled);
        }
        if (key == "allowed_origins") {
          return take(read_checked_list(value, is_origin,
                                        "a browser origin such as https://ops.example.com "
                                        "(scheme, host and optional port; no path)"),
                      host.allowed_origins);
        }
        if (key == "allowed_hosts") {
          return take(read_checked_list(value, is_host_value,
                                        "a Host header value such as api.example.com or "
                                        "api.example.com:8787 (no scheme, no path)"),
                      host.allowed_hosts);
        }
        if (key == "allow_unauthenticated_remote") {
          return take(value.boolean(), host.allow_unauthenticated_remote);
        }
        if (key == "log_level") {
          return take(value.choice({"trace", "debug", "info", "warn", "error", "critical", "off"}),
                      host.log_level);
        }
        if (key == "log_format") return take(value.choice({"text", "json"}), host.log_format);
        if (key == "loop_spin_us") {
          auto spin = value.integer(0, kMaxLoopSpinUs);
          if (!spin) return std::move(spin).error();
          host.loop_spin_us = static_cast<int>(*spin);
          return Ok{};
        }
        if (key == "loop_spin_max_calls") {
          auto most = value.integer(0, kMaxLoopSpinMaxCalls);
          if (!most) return std::move(most).error();
          host.loop_spin_max_calls = static_cast<int>(*most);
          return Ok{};
        }
        if (key == "session_state_max_bytes") {
          auto bytes = value.integer(1, kMaxBodyBytes);
          if (!bytes) return std::move(bytes).error();
          host.session_state_max_bytes = static_cast<std::size_t>(*bytes);
          return Ok{};
        }
        auto bytes = value.integer(1, kMaxBodyBytes);
        if (!bytes) return std::move(bytes).error();
        host.max_body_bytes = static_cast<std::size_t>(*bytes);
        return Ok{};
      });
}

Status read_bridges(const ValueReader& section, HostConfig& host, const SourceMap& map) {
  return section.for_each_member([&](const std::string& name, const ValueReader& value) -> Status {
    auto bridge = parse_bridge_config(name, value.value(), &map, value.pointer());
    if (!bridge) return std::move(bridge).error();
    host.bridges.emplace(name, std::move(*bridge));
    return Ok{};
  });
}

std::string current_directory() {
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  return ec ? std::string(".") : cwd.string();
}

}  // namespace

Result<HostConfig> parse_host_config(const json& doc, const SourceMap& map) {
  const ValueReader root(doc, &map, "", "", "");
  HostConfig host;
  host.source = map.file;
  HostKeys paths;
  auto status = root.for_each_member(
      {"host", "bridges"}, [&](const std::string& key, const ValueReader& value) {
        return key == "host" ? read_host(value, host, paths) : read_bridges(value, host, map);
      });
  if (!status) return std::move(status).error();

  host.root = resolve_path(current_directory(), paths.root.empty() ? "." : paths.root);
  host.python =
      paths.python.empty() ? default_python(host.root) : resolve_program(host.root, paths.python);
  for (const auto& dir : paths.plugin_dirs)
    host.plugin_dirs.push_back(resolve_path(host.root, dir));
  for (const auto& python : paths.registration_pythons)
    host.runtime_registration.pythons.push_back(resolve_program(host.root, python));
  for (const auto& dir : paths.registration_script_dirs)
    host.runtime_registration.script_dirs.push_back(resolve_path(host.root, dir));

  if (paths.old_registration_key && paths.new_registration_key) {
    return root.member("host")
        .member("allow_runtime_registration")
        .key_error(
            "is the old spelling of host.runtime_registration.enabled; keep only the new key");
  }
  const auto& passable = host.runtime_registration.env_pass;
  if (!host.auth_token_env.empty() &&
      std::find(passable.begin(), passable.end(), host.auth_token_env) != passable.end()) {
    return root.member("host")
        .member("runtime_registration")
        .member("env_pass")
        .error(
            "lists " + host.auth_token_env +
            ", the host's own token (host.auth_token_env): a registered bridge must never see it; "
            "remove it from the list");
  }

  if (!host.default_bridge.empty() && !host.bridges.count(host.default_bridge)) {
    std::string known;
    for (const auto& [name, bridge] : host.bridges) known += (known.empty() ? "" : ", ") + name;
    const ValueReader value = root.member("host").member("default_bridge");
    return value.error("names '" + host.default_bridge +
                       "', which is not a configured bridge (configured: " +
                       (known.empty() ? "none" : known) + ")");
  }
  return host;
}

Result<HostConfig> load_host_config(const std::string& path) {
  SourceMap map;
  auto doc = load_yaml_file(path, map);
  if (!doc) return std::move(doc).error();
  return parse_host_config(*doc, map);
}

}  // namespace mlbridge::config
