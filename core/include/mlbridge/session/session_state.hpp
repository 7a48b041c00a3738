#pragma once

/// @file
/// Session state kept on the host: one JSON map per session id, shared by every bridge the
/// session uses, versioned so that a worker never runs with a stale copy, and bounded in size.
///
/// Versions come from one counter of the store, so a version is never reused, not even by a
/// session that was ended and created again: a worker that saw version V of a session has
/// exactly the data the store held at V.
///
/// Threading: every member function is thread-safe (one mutex); the host's API threads and the
/// pools' event loop threads use the same store. Ownership: shared (StateStorePtr) by the host
/// and its pools.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::store {
class SessionSync;
}

namespace mlbridge::session {

using json = protocol::json;

/// Default bound of one session's state, in bytes of its compact JSON text.
inline constexpr std::size_t kDefaultMaxStateBytes = 1024 * 1024;
/// Default bound of all sessions' states together, in the same bytes.
inline constexpr std::size_t kDefaultMaxTotalStateBytes = 256 * 1024 * 1024;

/// One session's state at one version. Version 0 means: no state was ever set (an empty map).
struct StateSnapshot {
  std::uint64_t version = 0;
  json data = json::object();
};

/// What a worker's handler changed: top-level keys set and removed, against the version the
/// worker had (the `session_state` field of a response; see docs/sessions.md).
struct StateChange {
  std::uint64_t base_version = 0;
  json set = json::object();
  std::vector<std::string> unset;

  /// Reads the wire form `{"base_version", "set", "unset"}`; protocol_error when malformed.
  static Result<StateChange> from_wire(const json& wire);
};

/// The outcome of applying a worker's change.
struct AppliedChange {
  std::uint64_t version = 0;  ///< The state's new version.
  /// False when the state changed on the host while the handler ran (the worker's copy was
  /// older than the one its change was merged into): the worker must be sent the new state.
  bool worker_current = true;
};

class StateStore {
 public:
  /// `max_bytes` bounds one session's state (resource_exhausted past it), `total_max_bytes` all
  /// of them together (overloaded past it: end sessions or raise
  /// host.session_state_total_max_bytes).
  explicit StateStore(std::size_t max_bytes = kDefaultMaxStateBytes,
                      std::size_t total_max_bytes = kDefaultMaxTotalStateBytes)
      : max_bytes_(max_bytes), total_max_bytes_(total_max_bytes) {}

  /// The state of a session: version 0 and {} when none was set.
  StateSnapshot get(const std::string& id) const;
  /// The current version of a session's state (0: none). Cheap: no copy of the data.
  std::uint64_t version(const std::string& id) const;
  /// Replaces a session's state. invalid_argument unless `data` is a JSON object;
  /// resource_exhausted past the size bound. Returns the new version.
  Result<std::uint64_t> set(const std::string& id, json data);
  /// Merges `patch` into the state (RFC 7386 JSON merge patch: null removes a key).
  Result<std::uint64_t> update(const std::string& id, const json& patch);
  /// Applies a worker's change (top-level set/unset) onto the current state.
  Result<AppliedChange> apply(const std::string& id, const StateChange& change);
  /// Forgets a session's state (the session ended).
  void erase(const std::string& id);
  /// Puts in the state another host saved (a session taken over through the session store),
  /// under a new version of this store: versions never go back, so no worker of this host can
  /// take its old copy for the current one. Bounded like set() (overloaded, resource_exhausted).
  Result<std::uint64_t> install(const std::string& id, json data);

  /// The hook that writes sessions' changes to a shared store before calls answer (Redis; see
  /// store/session_store.hpp); null with the memory store. Set once, by the host, before any pool
  /// uses this store; read without a lock afterwards.
  void set_sync(std::shared_ptr<store::SessionSync> sync) { sync_ = std::move(sync); }
  store::SessionSync* sync() const { return sync_.get(); }

  std::size_t max_bytes() const { return max_bytes_; }
  std::size_t total_max_bytes() const { return total_max_bytes_; }
  /// The bytes all states take now (compact JSON).
  std::size_t total_bytes() const;

 private:
  Result<std::uint64_t> store(const std::string& id, json data);  // mutex held

  struct Stored {
    StateSnapshot snapshot;
    std::size_t bytes = 0;  // of snapshot.data's compact JSON
  };

  mutable std::mutex mutex_;
  std::size_t max_bytes_;
  std::size_t total_max_bytes_;
  std::size_t total_bytes_ = 0;
  std::uint64_t next_version_ = 1;
  std::map<std::string, Stored> states_;
  std::shared_ptr<store::SessionSync> sync_;
};

using StateStorePtr = std::shared_ptr<StateStore>;

}  // namespace mlbridge::session
