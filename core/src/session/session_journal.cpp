#include "mlbridge/session/session_journal.hpp"

#include <algorithm>

namespace mlbridge::session {

bool object_covers(const std::string& object, const std::string& name) {
  return name == object ||
         (name.size() > object.size() && name.compare(0, object.size(), object) == 0 &&
          name[object.size()] == '/');
}

std::size_t entry_bytes(const JournalEntry& entry) {
  return entry.command.size() + entry.object.size() +
         entry.args.dump(-1, ' ', false, json::error_handler_t::replace).size();
}

Result<std::optional<JournalChange>> describe_change(const ReplayRules& rules,
                                                     const std::string& command, const json& args,
                                                     const json& result) {
  if (const UndoRule* undo = rules.undo_for(command)) {
    std::string missing;
    auto object = fill_object(undo->object, args, result, &missing);
    if (!object) {
      return fail(ErrorCategory::kInvalidArgument,
                  "'" + command + "' removed an object the journal cannot name (no '" + missing +
                      "' in its arguments)");
    }
    JournalChange change;
    change.entry = JournalEntry{command, args.is_null() ? json::object() : args, *object, false, 0};
    change.removes = true;
    change.appended_only = undo->appended_only;
    change.entry.bytes = entry_bytes(change.entry);
    return std::optional<JournalChange>(std::move(change));
  }
  const SetupRule* setup = rules.setup_for(command);
  if (setup == nullptr) return std::optional<JournalChange>();
  std::string missing;
  auto object = fill_object(setup->object, args, result, &missing);
  if (!object) {
    return fail(ErrorCategory::kInvalidArgument,
                "'" + command + "' built an object the journal cannot name (no '" + missing +
                    "' in its arguments or result)");
  }
  JournalEntry entry{command, args, *object, setup->append, 0};
  // A name the worker chose (found in the result) is pinned, so a replay builds the same one.
  if (entry.args.is_null()) entry.args = json::object();  // no arguments: {} to Python too
  if (entry.args.is_object() && result.is_object()) {
    const auto& tmpl = setup->object;
    for (std::size_t open = tmpl.find('{'); open != std::string::npos;
         open = tmpl.find('{', open + 1)) {
      const auto close = tmpl.find('}', open);
      if (close == std::string::npos) break;
      const std::string key = tmpl.substr(open + 1, close - open - 1);
      if (!entry.args.contains(key) || entry.args[key].is_null()) {
        if (auto it = result.find(key); it != result.end()) entry.args[key] = *it;
      }
    }
  }
  entry.bytes = entry_bytes(entry);
  return std::optional<JournalChange>(JournalChange{std::move(entry), false, false});
}

void SessionJournal::record(const ReplayRules& rules, const std::string& command, const json& args,
                            const json& result) {
  if (truncated_) return;
  auto change = describe_change(rules, command, args, result);
  if (!change) {
    truncate(change.error().message);
    return;
  }
  if (!*change) return;
  if ((*change)->removes) {
    remove((*change)->entry.object, (*change)->appended_only);
    return;
  }
  put(rules, std::move((*change)->entry));
}

void SessionJournal::record_entry(const ReplayRules& rules, const json& wire) {
  if (truncated_) return;
  if (!wire.is_object() || !wire.contains("command") || !wire["command"].is_string() ||
      !wire.contains("object") || !wire["object"].is_string() ||
      wire["object"].get_ref<const std::string&>().empty()) {
    truncate("a handler recorded a malformed journal entry (needs 'command', 'object', 'args')");
    return;
  }
  JournalEntry entry;
  entry.command = wire["command"].get<std::string>();
  entry.object = wire["object"].get<std::string>();
  entry.args = wire.contains("args") ? wire["args"] : json::object();
  entry.appended =
      wire.contains("append") && wire["append"].is_boolean() && wire["append"].get<bool>();
  put(rules, std::move(entry));
}

void SessionJournal::put(const ReplayRules& rules, JournalEntry entry) {
  if (!entry.appended) remove(entry.object, false);
  entry.bytes = entry_bytes(entry);
  bytes_ += entry.bytes;
  entries_.push_back(std::move(entry));
  if (entries_.size() > rules.max_entries) {
    truncate("the journal passed its bound of " + std::to_string(rules.max_entries) +
             " entries (sessions.replay.max_entries)");
  } else if (bytes_ > rules.max_bytes) {
    truncate("the journal passed its bound of " + std::to_string(rules.max_bytes) +
             " bytes (sessions.replay.max_bytes)");
  }
}

void SessionJournal::remove(const std::string& object, bool appended_only) {
  auto gone = std::remove_if(entries_.begin(), entries_.end(), [&](const JournalEntry& e) {
    return object_covers(object, e.object) && (!appended_only || e.appended);
  });
  for (auto it = gone; it != entries_.end(); ++it) bytes_ -= it->bytes;
  entries_.erase(gone, entries_.end());
}

void SessionJournal::truncate(std::string why) {
  if (!truncated_) truncated_ = std::move(why);
  entries_.clear();
  bytes_ = 0;
}

void SessionJournal::clear() {
  entries_.clear();
  bytes_ = 0;
  truncated_.reset();
}

}  // namespace mlbridge::session
