#pragma once

/// @file
/// The replay journal of one session on one bridge: the successful setup calls still in effect,
/// in the order they ran, so that another worker can build the session's objects again. A setup
/// call replaces the entries of the object it builds; an undo call removes them; a handler may
/// also record an entry of its own (e.g. a chat turn as data). Bounded in entries and bytes: past
/// a bound the journal is marked truncated and keeps nothing, since a partial journal would
/// restore a session only half. Owned by its session; used on the pool's loop thread only.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/session/replay_rules.hpp"

namespace mlbridge::session {

struct JournalEntry {
  std::string command;
  json args;
  std::string object;  ///< What it builds, e.g. "program:qa".
  bool appended = false;
  std::size_t bytes = 0;
};

/// What a successful call does to a journal under its rules: the entry a setup call adds, or the
/// object an undo call removes (`removes`; then `entry` holds the call's command and arguments).
struct JournalChange {
  JournalEntry entry;
  bool removes = false;
  bool appended_only = false;  ///< An undo that removes only what was appended.
};

/// The change a successful call of `command` makes: nullopt when the rules journal no such
/// command; invalid_argument naming the missing key when the object cannot be named from the
/// arguments or the result. A setup entry's arguments gain the name the worker chose (found in
/// the result) so that a replay builds the same object. Stateless; any thread.
Result<std::optional<JournalChange>> describe_change(const ReplayRules& rules,
                                                     const std::string& command, const json& args,
                                                     const json& result);

/// True when `name` is `object` or lies under it ("chain:c1/history" under "chain:c1").
bool object_covers(const std::string& object, const std::string& name);

/// The bytes an entry counts against a journal's bound (command, object and arguments' JSON).
std::size_t entry_bytes(const JournalEntry& entry);

class SessionJournal {
 public:
  /// Records a successful call of `command` when the rules journal it. `args` are the arguments
  /// that were sent, `result` what came back.
  void record(const ReplayRules& rules, const std::string& command, const json& args,
              const json& result);
  /// Records an entry a handler asked for: `{"command", "args", "object", "append"}` (the
  /// `session_journal` field of a response). A malformed entry truncates the journal.
  void record_entry(const ReplayRules& rules, const json& entry);

  const std::vector<JournalEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  std::size_t bytes() const { return bytes_; }
  /// Why the journal no longer describes the session, once it does not.
  const std::optional<std::string>& truncated() const { return truncated_; }
  /// Marks the journal as unusable, keeping the first reason.
  void truncate(std::string why);
  void clear();

 private:
  void put(const ReplayRules& rules, JournalEntry entry);
  void remove(const std::string& object, bool appended_only);

  std::vector<JournalEntry> entries_;
  std::size_t bytes_ = 0;
  std::optional<std::string> truncated_;
};

}  // namespace mlbridge::session
