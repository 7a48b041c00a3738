#include "command_catalog.hpp"

#include <spdlog/spdlog.h>

namespace mlbridge {

namespace {
// A worker answers list_commands at once; a slow answer means a busy bridge, asked again later.
constexpr std::chrono::milliseconds kAskTimeout{10000};
}  // namespace

std::vector<CommandDescription> commands_from_reply(const protocol::json& reply) {
  std::vector<CommandDescription> out;
  if (!reply.is_object()) return out;
  const auto list = reply.find("commands");
  if (list == reply.end() || !list->is_array()) return out;
  for (const auto& entry : *list) {
    if (auto command = command_from_json(entry)) out.push_back(std::move(*command));
  }
  return out;
}

std::vector<CommandDescription> CommandCatalog::get(const registry::BridgePtr& bridge, bool ask,
                                                    std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  Entry& entry = entries_[bridge->name()];
  if (entry.bridge.lock() != bridge) entry = Entry{bridge, false, std::nullopt};
  if (entry.commands) return *entry.commands;
  if (!ask) return {};
  if (!entry.asking) {
    entry.asking = true;
    pool::CallRequest request;
    request.command = "list_commands";
    request.timeout = kAskTimeout;
    lock.unlock();
    bridge->execute(std::move(request), [self = shared_from_this(), name = bridge->name(),
                                         raw = bridge.get()](Result<protocol::json> reply) {
      self->answered(name, raw, std::move(reply));
    });
    lock.lock();
  }
  changed_.wait_for(lock, wait, [&] {
    const auto it = entries_.find(bridge->name());
    return it == entries_.end() || it->second.commands || !it->second.asking;
  });
  const auto it = entries_.find(bridge->name());
  if (it == entries_.end() || !it->second.commands) return {};
  return *it->second.commands;
}

void CommandCatalog::answered(const std::string& name, const registry::Bridge* bridge,
                              Result<protocol::json> reply) {
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(name);
    if (it == entries_.end() || it->second.bridge.lock().get() != bridge) return;
    it->second.asking = false;
    if (reply) {
      it->second.commands = commands_from_reply(*reply);
    } else {
      spdlog::debug("bridge '{}': list_commands failed, asked again later: {}", name,
                    reply.error().describe());
    }
  }
  changed_.notify_all();
}

}  // namespace mlbridge
