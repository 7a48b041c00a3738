// Creating and ending the sessions of a pool.

#include "pool_state.hpp"

namespace mlbridge::pool {

Result<session::SessionInfo> Pool::State::create_session(const std::string& id) {
  auto created = sessions.create(id, Clock::now());
  if (!created) {
    Error e = std::move(created).error();
    e.bridge = bridge();
    return e;
  }
  publish({.kind = telemetry::EventKind::kSessionCreated, .session_id = id});
  return info(**created);
}

Status Pool::State::end_session(const std::string& id, const std::string& why) {
  auto removed = sessions.remove(id);
  if (!removed) {
    return error(ErrorCategory::kNotFound, "bridge '" + bridge() + "' has no session '" + id + "'");
  }
  if (removed->worker) {
    auto it = slots.find(*removed->worker);
    if (it != slots.end()) {
      Slot& slot = *it->second;
      // Calls of the session still waiting for its worker will not run.
      std::vector<PendingPtr> dropped;
      for (auto& call : slot.affinity) {
        if (call->request.session_id == id) dropped.push_back(call);
      }
      for (auto& call : dropped) {
        unqueue(call);
        finish(call, error(ErrorCategory::kCancelled,
                           "session '" + id + "' ended before '" + call->request.command + "' ran",
                           call->request.command));
      }
      if (slot.worker->state() == worker::WorkerState::kReady) queue_cleanup(slot, id);
    }
  }
  if (owns_states) states->erase(id);
  spdlog::debug("bridge '{}': session '{}' ended ({})", bridge(), id, why);
  publish({.kind = telemetry::EventKind::kSessionEnded, .session_id = id, .detail = why});
  return Ok{};
}

session::SessionInfo Pool::State::info(const session::Session& s) const {
  const auto now = Clock::now();
  session::SessionInfo result;
  result.id = s.id;
  if (s.worker) {
    if (auto it = slots.find(*s.worker); it != slots.end())
      result.worker_id = it->second->worker->id();
  }
  result.age_s = std::chrono::duration<double>(now - s.created).count();
  result.idle_s = std::chrono::duration<double>(now - s.last_used).count();
  result.calls = s.calls;
  result.lost = s.lost.has_value();
  return result;
}

}  // namespace mlbridge::pool
