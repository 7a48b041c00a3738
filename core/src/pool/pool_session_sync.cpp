// Sessions in a shared store (host.session_store: redis://...): a call that changed its session
// answers only once the store has the change, and a session this host takes over is rebuilt
// from the store's journal. With the memory store nothing here runs.

#include "pool_state.hpp"

namespace mlbridge::pool {
namespace {

// The journal as the store keeps it: the entries in order, and why it no longer describes the
// session once it does not.
json journal_to_wire(const session::SessionJournal& journal) {
  json entries = json::array();
  for (const auto& entry : journal.entries()) {
    json wire = {{"command", entry.command}, {"object", entry.object}, {"args", entry.args}};
    if (entry.appended) wire["append"] = true;
    entries.push_back(std::move(wire));
  }
  json out = {{"entries", std::move(entries)}};
  if (journal.truncated()) out["truncated"] = *journal.truncated();
  return out;
}

// Rebuilds a journal from its wire form: the entries are recorded again in order (they were
// compacted already, so recording them reproduces the same journal).
void journal_from_wire(const session::ReplayRules& rules, const json& wire,
                       session::SessionJournal& journal) {
  if (!wire.is_object()) {
    journal.truncate("the session store holds a journal that is not a map");
    return;
  }
  if (auto entries = wire.find("entries"); entries != wire.end() && entries->is_array()) {
    for (const auto& entry : *entries) journal.record_entry(rules, entry);
  }
  if (auto why = wire.find("truncated"); why != wire.end() && why->is_string()) {
    journal.truncate(why->get<std::string>());
  }
}

}  // namespace

void Pool::State::save_then_finish(const PendingPtr& call, Result<json> result) {
  const std::string& id = *call->request.session_id;
  std::optional<json> journal;
  if (call->journal_changed) {
    if (const session::Session* s = sessions.find(id)) journal = journal_to_wire(s->journal);
  }
  call->worker_call = 0;  // done on its worker: a cancel now has nothing to interrupt
  auto kept = std::make_shared<Result<json>>(std::move(result));
  states->sync()->save_call_effects(
      id, bridge(), call->state_changed, std::move(journal),
      [weak = weak(), &io = io, handle = call->handle, kept](Status saved) {
        asio::post(io, guarded(weak, [handle, kept, saved = std::move(saved)](State& self) {
                     auto it = self.calls.find(handle);
                     if (it == self.calls.end()) return;
                     PendingPtr call = it->second;
                     if (!saved) {
                       Error e = saved.error();
                       e.bridge = self.bridge();
                       e.command = call->request.command;
                       e.message =
                           "'" + call->request.command +
                           "' ran, but its change of the session was not saved: " + e.message;
                       self.finish(call, std::move(e));
                     } else {
                       self.finish(call, std::move(*kept));
                     }
                     self.check_drained();
                   }));
      });
}

void Pool::State::replace_session(const std::string& id, const std::optional<json>& journal) {
  if (sessions.find(id)) (void)end_session(id, "replaced by the session store's copy");
  if (!journal) return;
  auto created = sessions.create(id, Clock::now());
  if (!created) {
    spdlog::warn("bridge '{}': session '{}' from the session store is not kept here: {}", bridge(),
                 id, created.error().message);
    return;
  }
  session::Session& s = **created;
  journal_from_wire(config().session_rules, *journal, s.journal);
  s.moved_from = "another host";
  if (s.journal.truncated()) {
    s.lost =
        "it moved from another host and its objects cannot be rebuilt: " + *s.journal.truncated();
    ++counters.sessions_lost;
    return;
  }
  s.needs_restore = !s.journal.empty();
}

}  // namespace mlbridge::pool
