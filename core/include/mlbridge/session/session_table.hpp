#pragma once

/// @file
/// The sessions of one pool: which worker each is bound to, when it was last used, and why it
/// was lost if its worker died. Owned by the pool and used on its event loop thread only.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/errors/result.hpp"

namespace mlbridge::session {

using Clock = std::chrono::steady_clock;

struct Session {
  std::string id;
  std::optional<std::uint64_t> worker;  ///< The slot the session is bound to, once used.
  Clock::time_point created;
  Clock::time_point last_used;
  std::uint64_t calls = 0;
  std::size_t active_calls = 0;     ///< Queued or running; a busy session never expires.
  std::optional<std::string> lost;  ///< Why the session's objects are gone, once they are.
};

/// A plain view of a session for callers.
struct SessionInfo {
  std::string id;
  std::string worker_id;  ///< Empty until bound.
  double age_s = 0;
  double idle_s = 0;
  std::uint64_t calls = 0;
  bool lost = false;
};

class SessionTable {
 public:
  explicit SessionTable(std::size_t max_sessions) : max_sessions_(max_sessions) {}

  /// Creates a session. Re-creating a lost session resets it (unbound, usable again); re-creating
  /// a live one is invalid_argument; past the maximum, resource_exhausted.
  Result<Session*> create(const std::string& id, Clock::time_point now);
  /// The session, or nullptr.
  Session* find(const std::string& id);
  /// The session, created on first use.
  Result<Session*> find_or_create(const std::string& id, Clock::time_point now);
  /// Removes a session; returns it if it existed.
  std::optional<Session> remove(const std::string& id);
  /// Marks every session bound to `worker` as lost with `reason`; returns their ids.
  std::vector<std::string> lose_worker(std::uint64_t worker, const std::string& reason);
  /// Sessions idle for longer than `ttl` with no call queued or running.
  std::vector<std::string> expired(Clock::time_point now, std::chrono::seconds ttl) const;
  /// Number of sessions bound to `worker`.
  std::size_t bound_to(std::uint64_t worker) const;

  std::size_t size() const { return sessions_.size(); }
  const std::map<std::string, Session>& all() const { return sessions_; }

 private:
  std::size_t max_sessions_;
  std::map<std::string, Session> sessions_;
};

}  // namespace mlbridge::session
