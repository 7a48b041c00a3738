// Live reconfiguration of the registered bridges: a PATCH of one bridge, or a reloaded file.

#include <spdlog/spdlog.h>

#include "mlbridge/registry/registry.hpp"

namespace mlbridge::registry {
namespace {

std::string describe(const std::vector<config::KeyChange>& changes) {
  std::string text;
  for (const auto& change : changes) text += (text.empty() ? "" : ", ") + change.describe();
  return text;
}

json change_list(const std::vector<config::KeyChange>& changes) {
  json list = json::array();
  for (const auto& change : changes) list.push_back(change.describe());
  return list;
}

// The first change a running bridge cannot take, as an error; Ok when there is none.
Status refuse_fixed_keys(const std::string& bridge, const std::vector<config::KeyChange>& changes) {
  for (const auto& change : changes) {
    if (!config::needs_new_bridge(change)) continue;
    Error error = Error::make(
        ErrorCategory::kInvalidConfiguration,
        "bridge '" + bridge + "': " + change.key +
            " cannot change while the bridge runs (its workers would need a new program); "
            "unregister and register the bridge again, or change the YAML file and reload it");
    error.bridge = bridge;
    return error;
  }
  return Ok{};
}

}  // namespace

Result<std::vector<config::KeyChange>> Registry::update_bridge(const std::string& name,
                                                               const json& patch) {
  if (!patch.is_object()) {
    return fail(ErrorCategory::kInvalidArgument,
                "a bridge update is a JSON object of YAML keys, e.g. {\"pool\": {\"size\": 4}}");
  }
  if (auto allowed = policy_.allow_change("change", name); !allowed)
    return std::move(allowed).error();
  std::lock_guard serial(update_mutex_);
  auto bridge = get(name);
  if (!bridge) return std::move(bridge).error();
  const config::BridgeConfig current = (*bridge)->config();
  auto parsed = config::parse_bridge_config(current.name, config::merge_patch(current.raw, patch));
  if (!parsed) return std::move(parsed).error();
  // Before prepare(), which loads the plugin a patch might name.
  if (auto allowed = policy_.check_change(current, *parsed); !allowed) {
    return std::move(allowed).error();
  }
  auto prepared = prepare(*parsed);
  if (!prepared) return std::move(prepared).error();
  auto changes = config::diff_keys(current.raw, prepared->config.raw);
  if (auto fixed = refuse_fixed_keys(current.name, changes); !fixed)
    return std::move(fixed).error();
  if (changes.empty()) return changes;
  (*bridge)->update(std::move(prepared->config), std::move(prepared->pool));
  spdlog::info("bridge '{}' updated: {}", current.name, describe(changes));
  return changes;
}

Result<json> Registry::apply(const config::HostConfig& next,
                             const std::set<std::string>& previous) {
  std::lock_guard serial(update_mutex_);
  struct Plan {
    std::string name;
    enum { kAdd, kUpdate, kReplace } action;
    PreparedBridge prepared;
    config::BridgeConfig given;
    std::vector<config::KeyChange> changes;
  };
  std::vector<Plan> plans;
  json report = {{"added", json::array()},     {"removed", json::array()},
                 {"updated", json::object()},  {"replaced", json::array()},
                 {"unchanged", json::array()}, {"failed", json::object()}};
  // Everything is validated before anything changes.
  for (const auto& [name, given] : next.bridges) {
    auto prepared = prepare(given);
    if (!prepared) return std::move(prepared).error();
    auto existing = get(name);
    if (!existing) {
      plans.push_back({name, Plan::kAdd, std::move(*prepared), given, {}});
      continue;
    }
    auto changes = config::diff_keys((*existing)->config().raw, prepared->config.raw);
    if (changes.empty()) {
      report["unchanged"].push_back(name);
      continue;
    }
    const bool fixed = !refuse_fixed_keys(name, changes);
    plans.push_back({name, fixed ? Plan::kReplace : Plan::kUpdate, std::move(*prepared), given,
                     std::move(changes)});
  }
  for (const auto& bridge : list()) {
    const std::string name = bridge->name();
    if (next.bridges.count(name) || !previous.count(name)) continue;
    if (auto removed = remove(name); removed) {
      report["removed"].push_back(name);
    } else {
      report["failed"][name] = removed.error().describe();
    }
  }
  for (auto& plan : plans) {
    if (plan.action == Plan::kUpdate) {
      auto bridge = get(plan.name);
      if (!bridge) {
        report["failed"][plan.name] = bridge.error().describe();
        continue;
      }
      (*bridge)->update(std::move(plan.prepared.config), std::move(plan.prepared.pool));
      spdlog::info("bridge '{}' updated: {}", plan.name, describe(plan.changes));
      report["updated"][plan.name] = change_list(plan.changes);
      continue;
    }
    if (plan.action == Plan::kReplace) {
      spdlog::info("bridge '{}' is registered again: {}", plan.name, describe(plan.changes));
      (void)remove(plan.name);
    }
    if (auto added = add(plan.given, /*keep_if_start_fails=*/true); !added) {
      report["failed"][plan.name] = added.error().describe();
      continue;
    }
    report[plan.action == Plan::kAdd ? "added" : "replaced"].push_back(plan.name);
  }
  return report;
}

}  // namespace mlbridge::registry
