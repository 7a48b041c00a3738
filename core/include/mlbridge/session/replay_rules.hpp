#pragma once

/// @file
/// Which commands of a bridge build a session's objects, which remove them, and how to move a
/// session cheaply: declared by the plugin (Adapter::session_rules) and the YAML
/// `sessions.replay` key, in one JSON form:
///
/// ```json
/// {"setup": [{"command": "create_program", "object": "program:{program_id}"},
///            {"command": "configure_lm", "object": "lm"}],
///  "undo":  [{"command": "delete_program", "object": "program:{program_id}"}],
///  "snapshot": {"save": "export_session", "restore": "import_session"},
///  "not_replayable": ["fine_tune"],
///  "max_entries": 256, "max_bytes": 4194304}
/// ```
///
/// `object` names what a command builds or removes; `{name}` is replaced by the argument `name`
/// (or, for a setup command, by the result's `name` when the arguments have none: the host then
/// writes it into the journaled arguments, so a replay builds the same id). A setup command
/// replaces what was built under the same name before (and everything under `name/...`);
/// `"append": true` adds to it instead. An undo command removes the object and everything under
/// it (`"appended_only": true`: only what was appended to it). A `not_replayable` command changes
/// a session's objects in a way no replay can repeat: once one succeeds in a session, its journal
/// is marked truncated, so a later rebuild fails with `session_lost` naming the command instead
/// of bringing the session back different. Plain values; any thread.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::session {

using json = protocol::json;

struct SetupRule {
  std::string command;
  std::string object;   ///< A name template, e.g. "program:{program_id}".
  bool append = false;  ///< Adds to the object instead of replacing it.
};

struct UndoRule {
  std::string command;
  std::string object;
  bool appended_only = false;  ///< Removes only what setup rules with `append` added.
};

/// Commands that export a session's objects as data and build them again from it. `save` runs
/// on the old worker (session-scoped, no arguments) and returns the data; `restore` runs on the
/// new one with `{"data": <that result>}`.
struct SnapshotRule {
  std::string save;
  std::string restore;
};

struct ReplayRules {
  std::vector<SetupRule> setup;
  std::vector<UndoRule> undo;
  std::optional<SnapshotRule> snapshot;
  std::vector<std::string> not_replayable;  ///< Commands whose effects no replay can repeat.
  std::size_t max_entries = 256;            ///< Journal entries kept per session, at most.
  std::size_t max_bytes = 4 * 1024 * 1024;  ///< Bytes of journaled arguments per session.

  /// Reads the JSON form above. `where` prefixes messages ("sessions.replay"); fails with
  /// invalid_configuration naming the key.
  static Result<ReplayRules> from_json(const json& rules, const std::string& where);
  json to_json() const;

  /// `overrides` (e.g. the YAML's) key by key over this (e.g. the plugin's): a list given there
  /// replaces the list here.
  ReplayRules merged_with(const json& overrides) const;

  const SetupRule* setup_for(const std::string& command) const;
  const UndoRule* undo_for(const std::string& command) const;
  /// True when `command` (or its namespaced form) is listed in `not_replayable`.
  bool is_not_replayable(const std::string& command) const;
  /// True when `command` is a setup or an undo command (its arguments must be kept).
  bool journals(const std::string& command) const {
    return setup_for(command) != nullptr || undo_for(command) != nullptr;
  }
};

/// Fills an object template from `args` (then `fallback`, e.g. a result). nullopt when a
/// placeholder has no string or integer value in either; `filled` then names the missing key.
std::optional<std::string> fill_object(const std::string& object_template, const json& args,
                                       const json& fallback, std::string* missing = nullptr);

}  // namespace mlbridge::session
