#include "mlbridge/session/session_table.hpp"

namespace mlbridge::session {

Result<Session*> SessionTable::create(const std::string& id, Clock::time_point now) {
  if (id.empty()) return fail(ErrorCategory::kInvalidArgument, "a session id must not be empty");
  if (auto it = sessions_.find(id); it != sessions_.end()) {
    if (!it->second.lost) {
      return fail(ErrorCategory::kInvalidArgument,
                  "session '" + id + "' already exists; end it first or use another id");
    }
    it->second = Session{id, std::nullopt, now, now, 0, it->second.active_calls, std::nullopt};
    return &it->second;
  }
  if (sessions_.size() >= max_sessions_) {
    return fail(
        ErrorCategory::kResourceExhausted,
        "cannot create session '" + id + "': " + std::to_string(max_sessions_) +
            " sessions exist already (sessions.max); end unused sessions or raise the limit");
  }
  auto [it, inserted] =
      sessions_.emplace(id, Session{id, std::nullopt, now, now, 0, 0, std::nullopt});
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

std::vector<std::string> SessionTable::lose_worker(std::uint64_t worker,
                                                   const std::string& reason) {
  std::vector<std::string> lost;
  for (auto& [id, session] : sessions_) {
    if (session.worker == worker && !session.lost) {
      session.lost = reason;
      lost.push_back(id);
    }
  }
  return lost;
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

}  // namespace mlbridge::session
