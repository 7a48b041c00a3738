#include "mlbridge/config/bridge_config.hpp"

#include <limits>
#include <regex>
#include <utility>

#include "mlbridge/session/replay_rules.hpp"
#include "value_reader.hpp"

namespace mlbridge::config {
namespace {

using detail::ValueReader;
using Visit = std::function<Status(const std::string&, const ValueReader&)>;

constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint64_t>::max();
// Bounds that stop typos (an extra zero) from spawning thousands of interpreters or overflowing
// clock arithmetic; real deployments sit far below them.
constexpr std::uint64_t kMaxWorkers = 1024;
constexpr std::uint64_t kMaxPipelineDepth = 16;
constexpr std::uint64_t kMaxMilliseconds = 365ull * 24 * 3600 * 1000;  // a year
constexpr std::uint64_t kMaxSeconds = kMaxMilliseconds / 1000;
constexpr std::uint64_t kMaxCount = 1'000'000'000;
constexpr std::uint64_t kMinFrameBytes = 1024;
constexpr std::uint64_t kMaxFrameBytes = 0xFFFFFFFFull;  // the 4-byte length header
constexpr std::uint64_t kMaxMemoryMb = 1ull << 30;       // an exbibyte

// Reads an integer key into a field of another type, with the range checked first.
template <typename T>
Status read_integer(const ValueReader& value, std::uint64_t min, std::uint64_t max, T& out) {
  auto number = value.integer(min, max);
  if (!number) return std::move(number).error();
  out = static_cast<T>(*number);
  return Ok{};
}

template <typename Duration>
Status read_duration(const ValueReader& value, std::uint64_t min, std::uint64_t max,
                     Duration& out) {
  auto number = value.integer(min, max);
  if (!number) return std::move(number).error();
  out = Duration(static_cast<typename Duration::rep>(*number));
  return Ok{};
}

Status read_pool(const ValueReader& section, PoolSettings& pool) {
  return section.for_each_member(
      {"size", "max_overflow", "lazy", "queue_limit", "checkout_timeout_ms", "max_requests",
       "max_requests_jitter", "idle_timeout_ms", "pipeline_depth"},
      [&](const std::string& key, const ValueReader& value) -> Status {
        if (key == "size") return read_integer(value, 0, kMaxWorkers, pool.size);
        if (key == "max_overflow") return read_integer(value, 0, kMaxWorkers, pool.max_overflow);
        if (key == "lazy") {
          auto flag = value.boolean();
          if (!flag) return std::move(flag).error();
          pool.lazy = *flag;
          return Ok{};
        }
        if (key == "queue_limit") return read_integer(value, 1, kMaxCount, pool.queue_limit);
        if (key == "checkout_timeout_ms") {
          return read_duration(value, 1, kMaxMilliseconds, pool.checkout_timeout);
        }
        if (key == "max_requests") return read_integer(value, 0, kUnbounded / 2, pool.max_requests);
        if (key == "max_requests_jitter") {
          return read_integer(value, 0, kUnbounded / 2, pool.max_requests_jitter);
        }
        if (key == "pipeline_depth") {
          return read_integer(value, 1, kMaxPipelineDepth, pool.pipeline_depth);
        }
        return read_duration(value, 1, kMaxMilliseconds, pool.idle_timeout);
      });
}

Status read_timeouts(const ValueReader& section, TimeoutSettings& timeouts) {
  return section.for_each_member({"request_ms", "startup_ms", "shutdown_ms", "cancel_grace_ms"},
                                 [&](const std::string& key, const ValueReader& value) -> Status {
                                   auto& field = key == "request_ms"    ? timeouts.request
                                                 : key == "startup_ms"  ? timeouts.startup
                                                 : key == "shutdown_ms" ? timeouts.shutdown
                                                                        : timeouts.cancel_grace;
                                   return read_duration(value, 1, kMaxMilliseconds, field);
                                 });
}

Status read_health(const ValueReader& section, HealthSettings& health) {
  return section.for_each_member(
      {"interval_ms", "timeout_ms", "max_failures"},
      [&](const std::string& key, const ValueReader& value) -> Status {
        if (key == "interval_ms") return read_duration(value, 0, kMaxMilliseconds, health.interval);
        if (key == "timeout_ms") return read_duration(value, 1, kMaxMilliseconds, health.timeout);
        return read_integer(value, 1, kMaxCount, health.max_failures);
      });
}

Status read_restart(const ValueReader& section, RestartSettings& restart) {
  return section.for_each_member({"max_restarts", "window_s"},
                                 [&](const std::string& key, const ValueReader& value) {
                                   if (key == "max_restarts")
                                     return read_integer(value, 0, kMaxCount, restart.max_restarts);
                                   return read_duration(value, 1, kMaxSeconds, restart.window);
                                 });
}

Status read_limits(const ValueReader& section, LimitSettings& limits) {
  return section.for_each_member({"max_memory_mb"},
                                 [&](const std::string&, const ValueReader& value) -> Status {
                                   if (value.value().is_null()) {
                                     limits.max_memory_mb.reset();
                                     return Ok{};
                                   }
                                   auto number = value.integer(1, kMaxMemoryMb);
                                   if (!number) return std::move(number).error();
                                   limits.max_memory_mb = *number;
                                   return Ok{};
                                 });
}

Status read_sessions(const ValueReader& section, SessionSettings& sessions) {
  return section.for_each_member(
      {"ttl_s", "max", "replay"}, [&](const std::string& key, const ValueReader& value) -> Status {
        if (key == "ttl_s") return read_duration(value, 1, kMaxSeconds, sessions.ttl);
        if (key == "replay") {
          auto rules = session::ReplayRules::from_json(value.value(), value.path());
          if (!rules) return value.error("is invalid: " + rules.error().message);
          sessions.replay = value.value();
          return Ok{};
        }
        return read_integer(value, 1, kMaxCount, sessions.max);
      });
}

Status read_retry(const ValueReader& section, ops::RetrySettings& retry) {
  return section.for_each_member(
      {"max_attempts", "backoff_initial_ms", "backoff_max_ms", "budget", "budget_percent"},
      [&](const std::string& key, const ValueReader& value) -> Status {
        if (key == "max_attempts") return read_integer(value, 1, 100, retry.max_attempts);
        if (key == "backoff_initial_ms") {
          return read_duration(value, 0, kMaxMilliseconds, retry.backoff_initial);
        }
        if (key == "backoff_max_ms") {
          return read_duration(value, 0, kMaxMilliseconds, retry.backoff_max);
        }
        if (key == "budget") return read_integer(value, 0, kMaxCount, retry.budget);
        return read_integer(value, 0, 100, retry.budget_percent);
      });
}

Status read_circuit_breaker(const ValueReader& section, ops::CircuitBreakerSettings& breaker) {
  return section.for_each_member({"failures", "cooldown_ms", "probes"},
                                 [&](const std::string& key, const ValueReader& value) -> Status {
                                   if (key == "failures")
                                     return read_integer(value, 0, kMaxCount, breaker.failures);
                                   if (key == "cooldown_ms") {
                                     return read_duration(value, 1, kMaxMilliseconds,
                                                          breaker.cooldown);
                                   }
                                   return read_integer(value, 1, kMaxCount, breaker.probes);
                                 });
}

Status read_env(const ValueReader& section, BridgeConfig& bridge) {
  return section.for_each_member(
      {"pass", "set"}, [&](const std::string& key, const ValueReader& value) -> Status {
        if (key == "pass") {
          auto names = value.string_list(/*env_names=*/true);
          if (!names) return std::move(names).error();
          bridge.env_pass = std::move(*names);
          return Ok{};
        }
        bridge.env_set.clear();
        return value.for_each_member(
            [&](const std::string& name, const ValueReader& setting) -> Status {
              if (!detail::is_env_name(name)) {
                return setting.key_error(
                    "is not an environment variable name (letters, digits and '_', not starting "
                    "with a digit)");
              }
              // Unquoted YAML numbers and booleans (HF_HUB_OFFLINE: 1) are what users write; the
              // environment only holds text, so they are taken as written.
              const json& v = setting.value();
              if (v.is_string()) {
                bridge.env_set[name] = v.get<std::string>();
              } else if (v.is_number() || v.is_boolean()) {
                bridge.env_set[name] = v.dump();
              } else {
                return setting.error("must be a string, got " + detail::describe_value(v));
              }
              return Ok{};
            });
      });
}

std::vector<std::string_view> category_names() {
  std::vector<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(ErrorCategory::kInternal); ++i) {
    names.push_back(to_string(static_cast<ErrorCategory>(i)));
  }
  return names;
}

Status read_error_override(const ValueReader& entry, ErrorOverride& rule) {
  if (!entry.value().is_object()) {
    return entry.error("must be a map like {type: RateLimitError, category: rate_limit}, got " +
                       detail::describe_value(entry.value()));
  }
  bool has_category = false;
  auto status = entry.for_each_member(
      {"type", "match", "category", "retryable"},
      [&](const std::string& key, const ValueReader& value) -> Status {
        if (key == "type") {
          auto type = value.non_empty_string();
          if (!type) return std::move(type).error();
          rule.type = std::move(*type);
        } else if (key == "match") {
          auto pattern = value.non_empty_string();
          if (!pattern) return std::move(pattern).error();
          try {
            std::regex compiled(*pattern, std::regex::ECMAScript);
          } catch (const std::regex_error& e) {
            return value.error("is not a valid regular expression (ECMAScript): " +
                               std::string(e.what()));
          }
          rule.match = std::move(*pattern);
        } else if (key == "category") {
          auto name = value.choice(category_names());
          if (!name) return std::move(name).error();
          rule.category = *parse_error_category(*name);
          has_category = true;
        } else {
          auto flag = value.boolean();
          if (!flag) return std::move(flag).error();
          rule.retryable = *flag;
        }
        return Ok{};
      });
  if (!status) return status;
  if (!has_category) {
    return entry.error("needs a category (one of " + detail::join(category_names()) + ")");
  }
  if (rule.type.empty() && rule.match.empty()) {
    return entry.error(
        "needs a type, a match, or both (a rule with neither would catch every error)");
  }
  return Ok{};
}

Status read_errors(const ValueReader& section, std::vector<ErrorOverride>& rules) {
  rules.clear();
  if (section.value().is_null()) return Ok{};
  if (!section.value().is_array()) {
    return section.error(
        "must be a list of rules like [{type: RateLimitError, category: rate_limit}], got " +
        detail::describe_value(section.value()));
  }
  for (std::size_t i = 0; i < section.value().size(); ++i) {
    ErrorOverride rule;
    if (auto status = read_error_override(section.element(i), rule); !status) return status;
    rules.push_back(std::move(rule));
  }
  return Ok{};
}

Status read_bridge_key(const std::string& key, const ValueReader& value, BridgeConfig& bridge) {
  const auto assign_string = [&](auto read, std::string& out) -> Status {
    auto text = read();
    if (!text) return std::move(text).error();
    out = std::move(*text);
    return Ok{};
  };
  const auto assign_list = [&](std::vector<std::string>& out, bool env_names) -> Status {
    auto items = value.string_list(env_names);
    if (!items) return std::move(items).error();
    out = std::move(*items);
    return Ok{};
  };
  if (key == "plugin") {
    auto name = value.non_empty_string();
    if (!name) return std::move(name).error();
    if (!detail::is_simple_name(*name)) {
      return value.error(
          "must be a plugin name of letters, digits, '_' and '-' (the library "
          "libmlbridge_<name>.so), got '" +
          *name + "'");
    }
    bridge.plugin = std::move(*name);
    return Ok{};
  }
  if (key == "script")
    return assign_string([&] { return value.non_empty_string(); }, bridge.script);
  if (key == "python") {
    auto python = value.non_empty_string();
    if (!python) return std::move(python).error();
    bridge.python = std::move(*python);
    return Ok{};
  }
  if (key == "codec") {
    auto name = value.choice({"json", "msgpack"});
    if (!name) return std::move(name).error();
    bridge.codec = *protocol::parse_codec(*name);
    return Ok{};
  }
  if (key == "max_frame_bytes") {
    return read_integer(value, kMinFrameBytes, kMaxFrameBytes, bridge.max_frame_bytes);
  }
  if (key == "shared_blob_min_bytes") {
    return read_integer(value, 0, kMaxFrameBytes, bridge.shared_blob_min_bytes);
  }
  if (key == "working_dir") {
    return assign_string([&] { return value.string(); }, bridge.working_dir);
  }
  if (key == "pool") return read_pool(value, bridge.pool);
  if (key == "timeouts") return read_timeouts(value, bridge.timeouts);
  if (key == "health") return read_health(value, bridge.health);
  if (key == "restart") return read_restart(value, bridge.restart);
  if (key == "limits") return read_limits(value, bridge.limits);
  if (key == "sessions") return read_sessions(value, bridge.sessions);
  if (key == "env") return read_env(value, bridge);
  if (key == "required_env") return assign_list(bridge.required_env, true);
  if (key == "required_packages") return assign_list(bridge.required_packages, false);
  if (key == "options") {
    if (value.value().is_null()) {
      bridge.options = json::object();
    } else if (value.value().is_object()) {
      bridge.options = value.value();
    } else {
      return value.error("must be a map, got " + detail::describe_value(value.value()));
    }
    return Ok{};
  }
  if (key == "errors") return read_errors(value, bridge.errors);
  if (key == "retry") return read_retry(value, bridge.retry);
  if (key == "circuit_breaker") return read_circuit_breaker(value, bridge.circuit_breaker);
  return assign_list(bridge.idempotent_commands, false);  // "idempotent"
}

std::string path_of_pointer(const std::string& pointer) {
  std::string path;
  std::size_t start = 1;
  while (start <= pointer.size() && pointer.size() > 1) {
    std::size_t end = pointer.find('/', start);
    if (end == std::string::npos) end = pointer.size();
    std::string token = pointer.substr(start, end - start);
    for (std::size_t at = 0; (at = token.find('~', at)) != std::string::npos; ++at) {
      token.replace(at, 2, token.compare(at, 2, "~1") == 0 ? "/" : "~");
    }
    path += (path.empty() ? "" : ".") + token;
    start = end + 1;
  }
  return path;
}

}  // namespace

Result<BridgeConfig> parse_bridge_config(const std::string& name, const json& bridge,
                                         const SourceMap* map, const std::string& pointer_prefix) {
  const ValueReader root(bridge, map, pointer_prefix, path_of_pointer(pointer_prefix),
                         pointer_prefix.empty() ? "bridge '" + name + "'" : "");
  if (!detail::is_simple_name(name)) {
    return root.key_error("is not a valid bridge name: use letters, digits, '_' and '-'");
  }
  BridgeConfig config;
  config.name = name;
  config.raw = bridge.is_null() ? json::object() : bridge;
  auto status = root.for_each_member({"plugin",          "script",
                                      "python",          "codec",
                                      "max_frame_bytes", "shared_blob_min_bytes",
                                      "working_dir",     "pool",
                                      "timeouts",        "health",
                                      "restart",         "limits",
                                      "sessions",        "env",
                                      "required_env",    "required_packages",
                                      "options",         "errors",
                                      "idempotent",      "retry",
                                      "circuit_breaker"},
                                     [&](const std::string& key, const ValueReader& value) {
                                       return read_bridge_key(key, value, config);
                                     });
  if (!status) return std::move(status).error();
  if (config.script.empty() && !config.plugin) {
    return root.key_error(
        "needs a script (the Python file that runs the bridge, e.g. script: "
        "python_bridges/examples/echo_bridge.py) or a plugin that provides one");
  }
  return config;
}

json merge_defaults(const json& defaults, const json& overrides) {
  if (overrides.is_null()) return defaults;
  if (!defaults.is_object() || !overrides.is_object()) return overrides;
  json merged = defaults;
  for (const auto& [key, value] : overrides.items()) {
    merged[key] = merged.contains(key) ? merge_defaults(merged[key], value) : value;
  }
  return merged;
}

}  // namespace mlbridge::config
