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
  unbind_count(it->second);
  Session session = std::move(it->second);
  sessions_.erase(it);
  return session;
}

void SessionTable::bind(Session& session, std::uint64_t worker) {
  if (session.worker) return;
  session.worker = worker;
  if (!session.lost) ++bound_[worker];
}

void SessionTable::mark_lost(Session& session, std::string why) {
  unbind_count(session);
  session.lost = std::move(why);
}

void SessionTable::unbind_count(const Session& session) {
  if (!session.worker || session.lost) return;
  auto it = bound_.find(*session.worker);
  if (it == bound_.end()) return;
  if (--it->second == 0) bound_.erase(it);
}

Released SessionTable::release_worker(std::uint64_t worker, const std::string& worker_id,
                                      const std::string& reason, bool rebuildable) {
  Released released;
  for (auto& [id, session] : sessions_) {
    if (session.worker != worker || session.lost) continue;
    unbind_count(session);  // lost, or unbound, below
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
  const auto it = bound_.find(worker);
  return it == bound_.end() ? 0 : it->second;
}

}  // namespace mlbridge::session
