// Resources of the whole bridge: what anonymous calls of journaled commands build (a program, a
// chain, a model) exists on every worker. The bridge journal records them once they succeeded;
// a running worker replays the changes it missed before its next call, a new worker the entries
// in effect before it is ready. Replays are host calls: no client call is counted for them. A
// step that fails restarts its worker (logged with the entry), never skipped.

#include "mlbridge/protocol/encoded_args.hpp"
#include "pool_state.hpp"

namespace mlbridge::pool {

json Pool::State::args_of(const CallRequest& request) {
  return request.encoded_args ? protocol::decode_encoded_args(request.encoded_args->msgpack)
                              : request.args;
}

Status Pool::State::admit_bridge_resource(const CallRequest& request) const {
  const auto& rules = config().session_rules;
  if (request.session_id || rules.setup_for(request.command) == nullptr) return Ok{};
  auto admitted = bridge_journal.admit(rules, request.command, args_of(request));
  if (!admitted) {
    Error e = std::move(admitted).error();
    e.bridge = bridge();
    e.command = request.command;
    return e;
  }
  return Ok{};
}

void Pool::State::record_bridge_resource(const PendingPtr& call, std::uint64_t slot_number,
                                         const Result<json>& result) {
  if (call->request.session_id || !call->journal_args || !result) return;
  auto position = bridge_journal.record(config().session_rules, call->request.command,
                                        *call->journal_args, *result);
  auto slot = slots.find(slot_number);
  const std::string worker_id = slot != slots.end() ? slot->second->worker->id() : "?";
  if (!position) {
    spdlog::warn("bridge '{}': {}; it exists on worker {} only", bridge(), position.error().message,
                 worker_id);
    return;
  }
  if (*position == 0) return;
  spdlog::debug("bridge '{}': change {} of the bridge journal: '{}' on worker {}", bridge(),
                *position, call->request.command, worker_id);
  // The worker that ran it has it; when it had applied every change before, it is up to date.
  if (slot != slots.end() && slot->second->journal_position + 1 == *position) {
    slot->second->journal_position = *position;
  }
  forget_applied_changes();
}

bool Pool::State::behind_journal(const Slot& slot) const {
  return slot.catch_up != nullptr || slot.journal_position < bridge_journal.head();
}

void Pool::State::catch_up_then_run(Slot& slot, const PendingPtr& call) {
  call->awaiting_journal = true;
  if (slot.catch_up) {
    slot.catch_up->waiting.push_back(call->handle);
    return;
  }
  slot.catch_up = std::make_shared<JournalCatchUp>();
  slot.catch_up->slot = slot.number;
  slot.catch_up->started = Clock::now();
  slot.catch_up->waiting.push_back(call->handle);
  next_journal_step(slot.catch_up);
}

void Pool::State::replay_journal_on_start(Slot& slot) {
  slot.journal_position = bridge_journal.head();
  if (bridge_journal.entries().empty()) {
    worker_ready(slot);
    return;
  }
  auto catch_up = std::make_shared<JournalCatchUp>();
  catch_up->slot = slot.number;
  catch_up->starting = true;
  catch_up->started = Clock::now();
  catch_up->initial = bridge_journal.entries();
  slot.catch_up = catch_up;
  spdlog::info("bridge '{}': worker {} replays {} resource(s) created without a session", bridge(),
               slot.worker->id(), catch_up->initial.size());
  next_journal_step(catch_up);
}

void Pool::State::next_journal_step(const JournalCatchUpPtr& catch_up) {
  auto it = slots.find(catch_up->slot);
  if (it == slots.end() || it->second->catch_up != catch_up) return;
  Slot& slot = *it->second;
  // Stopped meanwhile: its exit gives the waiting calls back.
  if (slot.state == SlotState::kRetiring) return;
  const session::JournalEntry* entry = nullptr;
  std::uint64_t position = 0;
  if (catch_up->next_initial < catch_up->initial.size()) {
    entry = &catch_up->initial[catch_up->next_initial];
    catch_up->step = "entry " + std::to_string(catch_up->next_initial + 1) + " of " +
                     std::to_string(catch_up->initial.size());
  } else if (const auto* change = bridge_journal.next_after(slot.journal_position)) {
    entry = &change->entry;
    position = change->position;
    catch_up->step = "change " + std::to_string(position);
  } else {
    finish_catch_up(slot);
    return;
  }
  catch_up->step += " ('" + entry->command + "' for " + entry->object + ")";
  worker::CallOptions options;
  options.timeout = config().request_timeout;
  slot.worker->call(entry->command, entry->args, std::move(options),
                    guarded(weak(), [catch_up, position](State& self, Result<json> result) {
                      self.on_journal_step(catch_up, position, std::move(result));
                    }));
}

void Pool::State::on_journal_step(const JournalCatchUpPtr& catch_up, std::uint64_t position,
                                  Result<json> result) {
  auto it = slots.find(catch_up->slot);
  if (it == slots.end() || it->second->catch_up != catch_up) return;
  Slot& slot = *it->second;
  if (slot.state == SlotState::kRetiring) return;
  if (!result) {
    journal_replay_failed(slot, catch_up, result.error());
    return;
  }
  ++catch_up->replayed;
  if (catch_up->next_initial < catch_up->initial.size()) {
    ++catch_up->next_initial;
  } else {
    slot.journal_position = position;
    forget_applied_changes();
  }
  next_journal_step(catch_up);
}

void Pool::State::finish_catch_up(Slot& slot) {
  const std::uint64_t number = slot.number;
  JournalCatchUpPtr catch_up = std::exchange(slot.catch_up, nullptr);
  spdlog::debug("bridge '{}': worker {} applied {} change(s) of the bridge journal in {}", bridge(),
                slot.worker->id(), catch_up->replayed, ms_text(Clock::now() - catch_up->started));
  if (catch_up->starting) {
    worker_ready(slot);
    return;
  }
  for (CallHandle handle : catch_up->waiting) {
    auto call_it = calls.find(handle);
    auto slot_it = slots.find(number);
    if (call_it == calls.end() || slot_it == slots.end()) continue;
    PendingPtr call = call_it->second;
    if (call->phase != PendingCall::Phase::kRunning || !call->awaiting_journal) continue;
    call->awaiting_journal = false;
    if (Clock::now() >= call->deadline) {
      on_call_done(handle,
                   error(ErrorCategory::kTimeout,
                         "'" + call->request.command + "' reached its deadline while worker " +
                             slot_it->second->worker->id() +
                             " replayed the bridge's resources created without a session",
                         call->request.command));
      continue;
    }
    continue_call(*slot_it->second, call);
  }
}

void Pool::State::journal_replay_failed(Slot& slot, const JournalCatchUpPtr& catch_up,
                                        const Error& failure) {
  const std::string what =
      "worker " + slot.worker->id() + " failed to replay " + catch_up->step +
      " of the bridge's resources created without a session: " + failure.describe();
  spdlog::error("bridge '{}': {}; restarting the worker", bridge(), what);
  slot.catch_up.reset();
  give_back_waiting(&slot, *catch_up);
  if (catch_up->starting) {
    ++counters.failed_starts;
    last_error = what;
    publish({.kind = telemetry::EventKind::kWorkerStartFailed,
             .worker_id = slot.worker->id(),
             .detail = what});
    stop_slot(slot);
    if (restarts.record_failure(Clock::now())) {
      enter_failed(crash_loop_error());
    } else {
      schedule_replacement();
    }
    return;
  }
  if (slot.in_flight == 0) {
    stop_slot(slot);
    schedule_replacement();
  } else {
    retire_after_calls(slot, what);  // a worker that runs other calls stops once they ended
  }
  pump();
}

void Pool::State::give_back_waiting(Slot* slot, JournalCatchUp& catch_up) {
  for (CallHandle handle : std::exchange(catch_up.waiting, {})) {
    auto it = calls.find(handle);
    if (it == calls.end()) continue;
    PendingPtr call = it->second;
    if (call->phase != PendingCall::Phase::kRunning || !call->awaiting_journal) continue;
    call->awaiting_journal = false;
    if (slot) {
      if (slot->in_flight > 0) --slot->in_flight;
      if (slot->in_flight == 0) slot->exclusive = false;
      if (call->request.session_id) slot->running_sessions.erase(*call->request.session_id);
    }
    if (pool_state != PoolState::kRunning) {
      finish(call,
             error(ErrorCategory::kBridgeUnavailable,
                   "bridge '" + bridge() + "' stopped before '" + call->request.command + "' ran",
                   call->request.command));
      continue;
    }
    requeue(call);
  }
}

void Pool::State::cancel_awaiting(const PendingPtr& call) {
  call->awaiting_journal = false;
  on_call_done(call->handle,
               error(ErrorCategory::kCancelled,
                     "'" + call->request.command + "' was cancelled before it ran on bridge '" +
                         bridge() + "'; it never reached Python",
                     call->request.command));
}

void Pool::State::forget_applied_changes() {
  if (bridge_journal.pending_changes() == 0) return;
  std::uint64_t applied = bridge_journal.head();
  for (const auto& [n, slot] : slots) applied = std::min(applied, slot->journal_position);
  bridge_journal.forget_through(applied);
}

}  // namespace mlbridge::pool
