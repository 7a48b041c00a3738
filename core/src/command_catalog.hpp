#pragma once

// The commands each bridge's workers declared, as their `list_commands` reply describes them
// (name, namespace, description, args and result schemas): asked once per bridge object from a
// ready worker, kept until the bridge is replaced. Thread-safe; get() may wait for the answer,
// which arrives on the event loop, so it must not be called there.

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/host_snapshot.hpp"
#include "mlbridge/registry/bridge.hpp"

namespace mlbridge {

class CommandCatalog : public std::enable_shared_from_this<CommandCatalog> {
 public:
  /// The bridge's declared commands. When unknown and `ask` (a worker is ready), asks one
  /// worker (`list_commands`, unless a question is pending already) and waits up to `wait` for
  /// the answer; an empty list when it is not there by then.
  std::vector<CommandDescription> get(const registry::BridgePtr& bridge, bool ask,
                                      std::chrono::milliseconds wait);

 private:
  struct Entry {
    std::weak_ptr<registry::Bridge> bridge;
    bool asking = false;
    std::optional<std::vector<CommandDescription>> commands;
  };
  void answered(const std::string& name, const registry::Bridge* bridge,
                Result<protocol::json> reply);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Entry> entries_;
};

/// The commands of a `list_commands` reply ({"commands": [{name, namespace, description,
/// args_schema?, result_schema?}, ...]}); entries without a name are skipped.
std::vector<CommandDescription> commands_from_reply(const protocol::json& reply);

}  // namespace mlbridge
