#include "mlbridge/session/session_table.hpp"

#include "mlbridge/session/session_id.hpp"

namespace mlbridge::session {

Result<Session*> SessionTable::create(const std::string& id, Clock::time_point now) {
  if (auto valid = check_session_id(id); !valid) return std::move(valid).error();
  if (auto it = sessions_.find(id); it != sessions_.end()) {
    if (!it->second.lost) {
      return fail(ErrorCategory::kInvalidArgument,
                  "session '" + id + "' already exists; end it first or use another id");
    }
    const std::size_t active = it->second.active_calls;
    it->second = Session{};
    it->second.id = id;
    it->second.created = it->second.last_used = now;
    it->second.active_calls = active;
    it->second.state_seen = kStateUnknown;  // its old worker may hold an old copy
    return &it->second;
  }
  if (sessions_.size() >= max_sessions_) {
    return fail(
        ErrorCategory::kResourceExhausted,
        "cannot create session '" + id + "': " + std::to_string(max_sessions_) +
            " sessions exist already (sessions.max); end unused sessions or raise the limit");
  }
  Session session;
  session.id = id;
  session.created = session.last_used = now;
  auto [it, inserted] = sessions_.emplace(id, std::move(session));
  return &it->second;
}

Session* SessionTable::find(const std::string& id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

Result<Session*> SessionTable::find_or_create(const std::string& id, Clock::time_point now) {
  if (auto* session = find(id)) return session;
  return create(id, now);
}

std::optional<Session> SessionTable::remove(const std::string& id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  Session session = std::move(it->second);
  sessions_.erase(it);
  return session;
}

Released SessionTable::release_worker(std::uint64_t worker, const std::string& worker_id,
                                      const std::string& reason, bool rebuildable) {
  Released released;
  for (auto& [id, session] : sessions_) {
    if (session.worker != worker || session.lost) continue;
    if (!rebuildable) {
      session.lost = reason;
      released.lost.push_back(id);
      continue;
    }
    if (const auto& why = session.journal.truncated()) {
      session.lost = reason + ", and its objects cannot be rebuilt: " + *why;
      released.lost.push_back(id);
      continue;
    }
    session.worker.reset();
    session.state_seen = kStateUnknown;
    session.needs_restore = true;
    session.moved_from = worker_id;
    released.moved.push_back(id);
  }
  return released;
}

std::vector<std::string> SessionTable::expired(Clock::time_point now,
                                               std::chrono::seconds ttl) const {
  std::vector<std::string> ids;
  for (const auto& [id, session] : sessions_) {
    if (session.active_calls == 0 && now - session.last_used > ttl) ids.push_back(id);
  }
  return ids;
}

std::size_t SessionTable::bound_to(std::uint64_t worker) const {
  std::size_t n = 0;
  for (const auto& [id, session] : sessions_) {
    if (session.worker == worker && !session.lost) ++n;
  }
  return n;
}

std::map<std::uint64_t, std::size_t> SessionTable::bound_counts() const {
  std::map<std::uint64_t, std::size_t> counts;
  for (const auto& [id, session] : sessions_) {
    if (session.worker && !session.lost) ++counts[*session.worker];
  }
  return counts;
}

}  // namespace mlbridge::session
