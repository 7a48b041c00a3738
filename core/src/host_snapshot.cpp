// The JSON views of a HostSnapshot (what Bridge::describe() and Host::stats() reported before the
// snapshot existed, key for key).

#include "mlbridge/host_snapshot.hpp"

namespace mlbridge {

using json = protocol::json;

json describe_json(const BridgeSnapshot& bridge) {
  const auto& stats = bridge.pool;
  json workers = json::array();
  for (const auto& w : stats.workers) workers.push_back(pool::to_json(w));
  json out = {{"name", bridge.name},
              {"plugin", bridge.plugin},
              {"framework", bridge.framework},
              {"state", std::string(pool::to_string(stats.state))},
              {"ready", bridge.ready},
              {"workers", workers},
              {"queue_length", stats.queue_length},
              {"in_flight", stats.in_flight},
              {"calls", stats.calls},
              {"errors", stats.errors},
              {"restarts", stats.restarts},
              {"sessions", stats.sessions}};
  if (!stats.last_error.empty()) out["last_error"] = stats.last_error;
  out["circuit"] = ops::stats_json(bridge.circuit);
  if (!bridge.circuit.opened_at.empty()) {
    out["circuit"]["opened_at"] = bridge.circuit.opened_at;
    out["circuit"]["last_error"] = bridge.circuit.last_error;
  }
  out["retries"] = ops::stats_json(bridge.retry);
  out["casts"] = ops::stats_json(bridge.casts);
  return out;
}

json detail_json(const BridgeSnapshot& bridge) {
  json out = describe_json(bridge);
  json commands = json::array();
  for (const auto& command : bridge.commands) commands.push_back(to_json(command));
  out["commands"] = std::move(commands);
  return out;
}

json stats_json(const HostSnapshot& snapshot) {
  json out = json::object();
  for (const auto& bridge : snapshot.bridges) out[bridge.name] = pool::to_json(bridge.pool);
  return out;
}

json to_json(const CommandDescription& command) {
  json out = {{"name", command.name},
              {"namespace", command.namespace_},
              {"description", command.description}};
  if (!command.args_schema.is_null()) out["args_schema"] = command.args_schema;
  if (!command.result_schema.is_null()) out["result_schema"] = command.result_schema;
  return out;
}

std::optional<CommandDescription> command_from_json(const json& entry) {
  if (!entry.is_object()) return std::nullopt;
  const auto name = entry.find("name");
  if (name == entry.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return std::nullopt;
  }
  CommandDescription command;
  command.name = name->get<std::string>();
  const auto text = [&](const char* key) {
    const auto it = entry.find(key);
    return it != entry.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  command.namespace_ = text("namespace");
  command.description = text("description");
  const auto schema = [&](const char* key) -> json {
    const auto it = entry.find(key);
    return it != entry.end() && it->is_object() ? *it : json(nullptr);
  };
  command.args_schema = schema("args_schema");
  command.result_schema = schema("result_schema");
  return command;
}

json to_json(const SessionStoreSnapshot& store) {
  json out = {{"kind", store.kind},
              {"connected", store.connected},
              {"host_id", store.host_id},
              {"held", store.held}};
  if (!store.address.empty()) out["address"] = store.address;
  return out;
}

}  // namespace mlbridge
