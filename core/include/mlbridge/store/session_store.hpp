#pragma once

/// @file
/// Where sessions live when several hosts share them (docs/sessions.md, "Sessions across
/// hosts"). A session's record (its state and, per bridge, its replay journal) is kept in a store
/// every host reaches, and a host works on a session only while it holds the session's lease.
///
/// `host.session_store: memory` (the default) uses no store at all: state and journals stay in
/// the host's memory as they always did, and none of these hooks runs. With `redis://...` the
/// host builds a RedisSessionStore (redis_session_store.hpp).
///
/// Threading: every member function may be called from any thread and returns at once; the
/// callbacks run once each, on the store's own thread (never on a pool's loop or an HTTP I/O
/// thread), and must not block.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::store {

using json = protocol::json;

/// A session's record as the store holds it.
struct StoredSession {
  bool exists = false;        ///< The store has a record of the session (it was created or used).
  std::uint64_t version = 0;  ///< Bumped by every save; 0 when there is no record.
  std::optional<json> state;  ///< Its state (a JSON map), once one was saved.
  /// By bridge: the journal in its wire form (`{"entries": [...], "truncated"?: why}`).
  std::map<std::string, json> journals;
};

/// What one save writes: the whole state when it changed, and the journals that changed.
struct SessionSave {
  std::uint64_t expected_version = 0;  ///< Compare-and-set: the version this host last saw.
  std::optional<json> state;
  std::map<std::string, json> journals;
};

/// The shared store of sessions. Every operation names this host (the store was built with its
/// id and lease length) and answers:
/// - session_moved (retryable, Error::retry_after = the other lease's time left) when another host
///   holds a live lease on the session;
/// - bridge_unavailable (retryable) naming the store when it cannot be reached.
class SessionStore {
 public:
  virtual ~SessionStore() = default;

  /// "redis 127.0.0.1:6379/0": for messages and /readyz; never a password.
  virtual std::string describe() const = 0;
  /// Whether the store is reachable now.
  virtual bool connected() const = 0;

  /// Takes (or renews) this host's lease on a session and reads its record.
  virtual void claim(const std::string& id, std::function<void(Result<StoredSession>)> done) = 0;
  /// Writes a session's changes if this host still holds it (or its lease lapsed with nobody
  /// else taking it) and the record is still at `expected_version`; renews the lease. Returns
  /// the new version; session_moved when the record changed hands or version meanwhile.
  virtual void save(const std::string& id, SessionSave save,
                    std::function<void(Result<std::uint64_t>)> done) = 0;
  /// Removes a session's record and lease; true when there was a record.
  virtual void end(const std::string& id, std::function<void(Result<bool>)> done) = 0;
  /// Renews this host's leases on the sessions named (one pipelined batch); `done` gets those
  /// still held (a lease that lapsed, or another host took, is missing), or the store's error.
  virtual void extend(std::vector<std::string> ids,
                      std::function<void(Result<std::vector<std::string>>)> done) = 0;
  /// Gives up this host's leases on the sessions named (a host that stops), so that another
  /// host takes them over at once; best effort.
  virtual void release(std::vector<std::string> ids, std::function<void()> done) = 0;
  /// Fails whatever is pending and stops; nothing may be called afterwards.
  virtual void stop() = 0;
};

using SessionStorePtr = std::shared_ptr<SessionStore>;

/// The one hook a pool calls with a shared store: writes what a call of a session changed
/// before the call's answer is delivered. Implemented by the host (SessionOwnership); absent
/// (null) with the memory store.
class SessionSync {
 public:
  virtual ~SessionSync() = default;
  /// Saves a call's effects: the session's current state when `state_changed`, and `journal`
  /// (the bridge's whole journal of the session, wire form) when it changed. `done` runs once,
  /// on any thread: Ok, or the error the call must answer with (then this host has dropped its
  /// copy of the session, and its next call loads the last saved one).
  virtual void save_call_effects(const std::string& session_id, const std::string& bridge,
                                 bool state_changed, std::optional<json> journal,
                                 std::function<void(Status)> done) = 0;
};

}  // namespace mlbridge::store
