#include "mlbridge/session/bridge_journal.hpp"

#include <algorithm>

namespace mlbridge::session {

Status BridgeJournal::admit(const ReplayRules& rules, const std::string& command,
                            const json& args) const {
  const SetupRule* setup = rules.setup_for(command);
  if (setup == nullptr) return Ok{};
  JournalEntry entry{command, args.is_null() ? json::object() : args, setup->object, setup->append,
                     0};
  // The object's name when the arguments give it: an entry that replaces an older one frees its
  // bytes and its place.
  std::size_t freed_bytes = 0;
  std::size_t freed_entries = 0;
  if (auto object = fill_object(setup->object, args, json())) {
    entry.object = *object;
    if (!setup->append) {
      for (const auto& e : entries_) {
        if (object_covers(*object, e.object)) {
          freed_bytes += e.bytes;
          ++freed_entries;
        }
      }
    }
  }
  const std::size_t bytes = bytes_ - freed_bytes + entry_bytes(entry);
  const std::size_t count = entries_.size() - freed_entries + 1;
  const char* key = nullptr;
  std::string what;
  if (bytes > rules.max_bytes) {
    key = "max_bytes";
    what = std::to_string(bytes_) + " bytes of " + std::to_string(rules.max_bytes);
  } else if (count > rules.max_entries) {
    key = "max_entries";
    what = std::to_string(entries_.size()) + " entries of " + std::to_string(rules.max_entries);
  }
  if (key == nullptr) return Ok{};
  return fail(ErrorCategory::kResourceExhausted,
              "'" + command + "' without a session would pass the bound of the bridge's " +
                  "resources created without a session (they hold " + what + ", sessions.replay." +
                  key +
                  "); delete the ones no longer needed, create this one in a session, or raise "
                  "sessions.replay." +
                  key);
}

Result<std::uint64_t> BridgeJournal::record(const ReplayRules& rules, const std::string& command,
                                            const json& args, const json& result) {
  auto change = describe_change(rules, command, args, result);
  if (!change) return std::move(change).error();
  if (!*change) return std::uint64_t{0};
  JournalChange& c = **change;
  if (c.removes) {
    remove(c.entry.object, c.appended_only);
  } else {
    if (!c.entry.appended) remove(c.entry.object, false);
    bytes_ += c.entry.bytes;
    entries_.push_back(c.entry);
  }
  changes_.push_back(BridgeChange{++head_, std::move(c.entry), c.removes});
  return head_;
}

const BridgeChange* BridgeJournal::next_after(std::uint64_t position) const {
  for (const auto& change : changes_) {
    if (change.position > position) return &change;
  }
  return nullptr;
}

void BridgeJournal::forget_through(std::uint64_t position) {
  while (!changes_.empty() && changes_.front().position <= position) changes_.pop_front();
}

void BridgeJournal::remove(const std::string& object, bool appended_only) {
  auto gone = std::remove_if(entries_.begin(), entries_.end(), [&](const JournalEntry& e) {
    return object_covers(object, e.object) && (!appended_only || e.appended);
  });
  for (auto it = gone; it != entries_.end(); ++it) bytes_ -= it->bytes;
  entries_.erase(gone, entries_.end());
}

}  // namespace mlbridge::session
