#pragma once

/// @file
/// The journal of one bridge's resources created without a session (an anonymous call of a
/// command the replay rules journal: create_program, create_chain, load_model, ...), so that they
/// exist on every worker of the bridge (docs/sessions.md#bridge-wide-resources).
///
/// It keeps two views of the same calls:
/// - the entries still in effect, in the order they ran (the session journal's format and
///   compaction: a setup replaces what was built under its name, an undo removes it). A new
///   worker replays these before it is ready;
/// - the changes in the order they succeeded, each with a position (1, 2, ...), undos included.
///   A running worker has applied the changes up to its position and replays the later ones
///   before its next call, so that a deleted object disappears there too. Changes every worker
///   has applied are forgotten (forget_through).
///
/// Bounded like a session's journal (sessions.replay.max_entries and max_bytes): a setup call
/// that would pass a bound is refused before it runs (admit). Owned by the pool; used on its
/// event loop thread only.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "mlbridge/session/session_journal.hpp"

namespace mlbridge::session {

/// One change of the bridge journal: a call to replay on a worker that has not applied it.
struct BridgeChange {
  std::uint64_t position = 0;
  JournalEntry entry;  ///< The command and arguments to replay; the object built or removed.
  bool removes = false;
};

class BridgeJournal {
 public:
  /// Ok when an anonymous call of `command` with `args` may run: not a setup command, or one
  /// whose entry keeps the journal within the rules' bounds. Otherwise resource_exhausted saying
  /// how full the journal is and what to do (delete resources, use a session, raise the bound).
  Status admit(const ReplayRules& rules, const std::string& command, const json& args) const;

  /// Records a successful anonymous call. Returns the position of the change; 0 when the rules
  /// do not journal the command. invalid_argument when the object cannot be named (the call then
  /// stays on the worker that ran it; the caller logs why).
  Result<std::uint64_t> record(const ReplayRules& rules, const std::string& command,
                               const json& args, const json& result);

  /// The entries in effect, in order: what a new worker replays.
  const std::vector<JournalEntry>& entries() const { return entries_; }
  std::size_t bytes() const { return bytes_; }
  /// The position of the newest change (0: none yet).
  std::uint64_t head() const { return head_; }
  /// The oldest change after `position` still kept, or nullptr when there is none.
  const BridgeChange* next_after(std::uint64_t position) const;
  /// Forgets the changes up to `position` (every worker has applied them).
  void forget_through(std::uint64_t position);
  /// Changes kept for workers that have not applied them yet.
  std::size_t pending_changes() const { return changes_.size(); }

 private:
  void remove(const std::string& object, bool appended_only);

  std::vector<JournalEntry> entries_;
  std::size_t bytes_ = 0;
  std::deque<BridgeChange> changes_;
  std::uint64_t head_ = 0;
};

}  // namespace mlbridge::session
