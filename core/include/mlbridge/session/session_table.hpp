#pragma once

/// @file
/// The sessions of one pool: which worker each is bound to, when it was last used, the replay
/// journal that rebuilds its objects on another worker, and why it was lost if that is no longer
/// possible. Owned by the pool and used on its event loop thread only.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/session/session_journal.hpp"

namespace mlbridge::session {

using Clock = std::chrono::steady_clock;

/// Session::state_seen when the worker's copy of the state is not known.
inline constexpr std::uint64_t kStateUnknown = ~std::uint64_t{0};

struct Session {
  std::string id;
  /// The slot the session is bound to, once used. Changed only through the SessionTable (bind,
  /// mark_lost, release_worker), like `lost`: the table counts the sessions bound to each worker.
  std::optional<std::uint64_t> worker;
  Clock::time_point created;
  Clock::time_point last_used;
  std::uint64_t calls = 0;
  std::size_t active_calls = 0;     ///< Queued or running; a busy session never expires.
  std::optional<std::string> lost;  ///< Why the session's objects are gone, once they are.

  SessionJournal journal;  ///< The setup calls still in effect, to rebuild its objects.
  /// Its objects must be built on its next worker (journal replay or snapshot restore) before
  /// its next call runs there: set when its worker is gone or it was moved off on purpose.
  bool needs_restore = false;
  std::optional<json> snapshot;  ///< The data the snapshot `save` command returned, if taken.
  std::string moved_from;        ///< The worker it left, for messages.
  /// The version of the host-side state its bound worker holds: 0 (the empty state of a
  /// session new to the worker) or kStateUnknown (send the state with the next call).
  std::uint64_t state_seen = 0;
};

/// The outcome of releasing a worker's sessions.
struct Released {
  std::vector<std::string> moved;  ///< Unbound; rebuilt on their next worker.
  std::vector<std::string> lost;   ///< Cannot be rebuilt (truncated journal): marked lost.
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
  /// a live one is invalid_argument, and so is an id that breaks session::check_session_id; past
  /// the maximum, resource_exhausted.
  Result<Session*> create(const std::string& id, Clock::time_point now);
  /// The session, or nullptr.
  Session* find(const std::string& id);
  /// The session, created on first use.
  Result<Session*> find_or_create(const std::string& id, Clock::time_point now);
  /// Removes a session; returns it if it existed.
  std::optional<Session> remove(const std::string& id);
  /// Binds `session` (one of this table's, not bound yet) to `worker`.
  void bind(Session& session, std::uint64_t worker);
  /// Marks `session` (one of this table's) lost, `why` telling why.
  void mark_lost(Session& session, std::string why);
  /// Unbinds every session of `worker` (which is gone or going): a session whose journal still
  /// describes it is flagged needs_restore; one whose journal was truncated is lost, `reason`
  /// and the journal's reason telling why. Without `rebuildable` (the bridge declares no
  /// session rules, so the host cannot know what the worker held) every one is lost.
  Released release_worker(std::uint64_t worker, const std::string& worker_id,
                          const std::string& reason, bool rebuildable);
  /// Sessions idle for longer than `ttl` with no call queued or running.
  std::vector<std::string> expired(Clock::time_point now, std::chrono::seconds ttl) const;
  /// Number of sessions bound to `worker` and not lost (kept as they change: no scan).
  std::size_t bound_to(std::uint64_t worker) const;
  /// Number of sessions bound to each worker that has any, not lost (kept as they change).
  const std::map<std::uint64_t, std::size_t>& bound_counts() const { return bound_; }

  std::size_t size() const { return sessions_.size(); }
  const std::map<std::string, Session>& all() const { return sessions_; }

 private:
  // A session counted in bound_ (bound and not lost) stops counting.
  void unbind_count(const Session& session);

  std::size_t max_sessions_;
  std::map<std::string, Session> sessions_;
  std::map<std::uint64_t, std::size_t> bound_;  // worker -> sessions bound to it, not lost
};

}  // namespace mlbridge::session
