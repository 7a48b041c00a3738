// Sessions that outlive their worker: host-side state sent to workers and stored back, the
// journal of setup calls, and moving sessions off a worker that is gone or going.

#include "pool_state.hpp"

namespace mlbridge::pool {

json Pool::State::state_for(session::Session& s) {
  const auto version = states->version(s.id);
  if (version == s.state_seen) return version == 0 ? json() : json{{"version", version}};
  auto snapshot = states->get(s.id);
  s.state_seen = snapshot.version;
  return json{{"version", snapshot.version}, {"data", std::move(snapshot.data)}};
}

void Pool::State::apply_session_effects(const PendingPtr& call, Result<json>& result) {
  if (!call->request.session_id) return;
  session::Session* s = sessions.find(*call->request.session_id);
  if (!s) return;
  if (!result) {
    // The worker may not have seen the state this call carried: send it again next time.
    s->state_seen = session::kStateUnknown;
    return;
  }
  if (s->lost) return;
  const auto& rules = config().session_rules;
  if (call->journal_args) {
    s->journal.record(rules, call->request.command, *call->journal_args, *result);
    call->journal_changed = true;
  }
  if (rules.is_not_replayable(call->request.command)) {
    call->journal_changed = true;
    s->journal.truncate("'" + call->request.command +
                        "' changed the session in a way no replay can repeat "
                        "(sessions.replay.not_replayable)");
  }
  if (!call->journal_entries.is_null()) call->journal_changed = true;
  if (call->journal_entries.is_array()) {
    for (const auto& entry : call->journal_entries) s->journal.record_entry(rules, entry);
  } else if (!call->journal_entries.is_null()) {
    s->journal.truncate("'" + call->request.command +
                        "' sent a session_journal that is not a list of entries");
  }
  if (call->state_change.is_null()) return;
  auto change = session::StateChange::from_wire(call->state_change);
  Result<session::AppliedChange> applied =
      change ? states->apply(s->id, *change) : Result<session::AppliedChange>(change.error());
  if (!applied) {
    s->state_seen =
        session::kStateUnknown;  // the worker holds a state the host refused: replace it next time
    Error e = std::move(applied).error();
    e.bridge = bridge();
    e.command = call->request.command;
    e.message = "'" + call->request.command + "' ran, but its change of the session state was " +
                "refused: " + e.message;
    result = std::move(e);
    return;
  }
  s->state_seen = applied->worker_current ? applied->version : session::kStateUnknown;
  call->state_changed = true;
}

session::Released Pool::State::release_sessions(Slot& slot, const std::string& cause,
                                                bool planned) {
  // A dead worker's sessions come back from their journals; a live one's also by snapshot.
  const auto& rules = config().session_rules;
  const bool rebuildable = !rules.setup.empty() || (planned && rules.snapshot.has_value());
  auto released = sessions.release_worker(slot.number, slot.worker->id(), cause, rebuildable);
  counters.sessions_lost += released.lost.size();
  for (const auto& id : released.lost) {
    spdlog::warn("bridge '{}': session '{}' lost: {}", bridge(), id, *sessions.find(id)->lost);
  }
  // Calls that waited for this worker: a session that will be rebuilt waits in the shared queue
  // (in submission order); one that cannot be rebuilt fails.
  for (auto& call : std::exchange(slot.affinity, {})) {
    const std::string id = call->request.session_id.value_or("");
    const session::Session* s = sessions.find(id);
    if (s && s->lost) {
      --queued;
      finish(call, error(ErrorCategory::kSessionLost,
                         "session '" + id + "' of bridge '" + bridge() + "' was lost: " + *s->lost +
                             "; create the session again to continue",
                         call->request.command));
      continue;
    }
    insert_in_order(queue, call);
  }
  return released;
}

void Pool::State::retire_now(Slot& slot, const std::string& reason) {
  if (pool_state != PoolState::kRunning || sessions.bound_to(slot.number) == 0) {
    stop_slot(slot);
    return;
  }
  slot.state = SlotState::kRetiring;  // no more calls; its sessions move first
  const std::string cause = "its worker " + slot.worker->id() + " was retired (" + reason + ")";
  const auto& snapshot = config().session_rules.snapshot;
  if (!snapshot || slot.worker->state() != worker::WorkerState::kReady) {
    auto released = release_sessions(slot, cause, true);
    counters.sessions_moved += released.moved.size();
    stop_slot(slot);
    enqueue_moves(released.moved);
    pump();
    return;
  }
  // Snapshot each session on the old worker while its calls wait there, then stop it and restore
  // the sessions elsewhere. A session whose snapshot fails is rebuilt from its journal instead.
  std::vector<std::string> ids;
  for (const auto& [id, s] : sessions.all()) {
    if (s.worker == slot.number && !s.lost) ids.push_back(id);
  }
  auto waiting = std::make_shared<std::size_t>(ids.size());
  auto failed = std::make_shared<std::map<std::string, std::string>>();
  for (const auto& id : ids) {
    worker::CallOptions options;
    options.session_id = id;
    options.timeout = config().request_timeout;
    slot.worker->call(snapshot->save, json::object(), std::move(options),
                      guarded(weak(), [number = slot.number, id, waiting, failed, cause](
                                          State& self, Result<json> data) {
                        session::Session* s = self.sessions.find(id);
                        if (s && s->worker == number) {
                          if (data) {
                            s->snapshot = std::move(*data);
                          } else {
                            (*failed)[id] = data.error().message;
                          }
                        }
                        if (--*waiting == 0) self.finish_move_off(number, cause, *failed);
                      }));
  }
}

void Pool::State::finish_move_off(std::uint64_t number, const std::string& cause,
                                  const std::map<std::string, std::string>& failed) {
  auto it = slots.find(number);
  if (it == slots.end()) return;  // it died meanwhile: its exit released the sessions
  Slot& slot = *it->second;
  auto released = release_sessions(slot, cause, true);
  counters.sessions_moved += released.moved.size();
  stop_slot(slot);
  const auto& rules = config().session_rules;
  for (const auto& [id, why] : failed) {
    session::Session* s = sessions.find(id);
    if (!s || s->lost) continue;
    if (rules.setup.empty()) {
      lose_session(*s, cause + ", and saving its snapshot there ('" + rules.snapshot->save +
                           "') failed: " + why);
    } else {
      spdlog::warn(
          "bridge '{}': snapshot of session '{}' failed ({}); it will be rebuilt from "
          "its journal",
          bridge(), id, why);
    }
  }
  enqueue_moves(released.moved);
  pump();
}

void Pool::State::enqueue_moves(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    auto call = std::make_shared<PendingCall>();
    call->handle = pool.next_handle_++;
    call->seq = next_seq++;
    call->restore_only = true;
    call->request.command = "(move session)";
    call->request.session_id = id;
    call->submitted = Clock::now();
    call->deadline = call->submitted + config().request_timeout;
    call->on_done = [](Result<json>) {};
    enqueue(std::move(call));
  }
}

}  // namespace mlbridge::pool
