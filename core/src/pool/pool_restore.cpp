// Rebuilding a session on a worker before its next call: a snapshot restore when one was taken,
// else the replay of its journal in order. A step that fails on its own (the handler raised)
// loses the session, honestly; a step cut short by its worker (stopped, hung, killed) or by the
// call's deadline fails only that call, and the session's next call rebuilds it again.

#include "pool_state.hpp"

namespace mlbridge::pool {
namespace {

// Failures that say nothing about the step itself: the worker stopped answering or died, or the
// call ran out of time or was cancelled. Replaying the same journal elsewhere can still succeed.
bool cut_short_by_the_worker(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::kTimeout:
    case ErrorCategory::kWorkerCrashed:
    case ErrorCategory::kBridgeUnavailable:
    case ErrorCategory::kCancelled:
    case ErrorCategory::kOverloaded:
      return true;
    default:
      return false;
  }
}

}  // namespace

RestorePlanPtr Pool::State::plan_restore(const session::Session& s, bool use_snapshot) const {
  auto plan = std::make_shared<RestorePlan>();
  plan->started = Clock::now();
  const auto& rules = config().session_rules;
  if (use_snapshot && s.snapshot && rules.snapshot) {
    plan->from_snapshot = true;
    plan->steps.push_back({rules.snapshot->restore, json{{"data", *s.snapshot}}, "snapshot"});
    return plan;
  }
  for (const auto& entry : s.journal.entries()) {
    plan->steps.push_back({entry.command, entry.args, entry.object});
  }
  return plan;
}

void Pool::State::restore_then_run(Slot& slot, const PendingPtr& call, session::Session& s) {
  auto plan = plan_restore(s, true);
  if (!plan->steps.empty()) {
    spdlog::info("bridge '{}': rebuilding session '{}' (from worker {}) on worker {}: {} {}",
                 bridge(), s.id, s.moved_from, slot.worker->id(), plan->steps.size(),
                 plan->from_snapshot ? "snapshot restore" : "journal entries");
  }
  next_restore_step(slot.number, call->handle, std::move(plan));
}

void Pool::State::next_restore_step(std::uint64_t slot_number, CallHandle handle,
                                    RestorePlanPtr plan) {
  auto call_it = calls.find(handle);
  auto slot_it = slots.find(slot_number);
  if (call_it == calls.end() || slot_it == slots.end()) return;
  PendingPtr call = call_it->second;
  Slot& slot = *slot_it->second;
  session::Session* s = sessions.find(call->request.session_id.value_or(""));
  if (!s) {
    on_call_done(handle, error(ErrorCategory::kCancelled,
                               "the session ended before '" + call->request.command + "' ran",
                               call->request.command));
    return;
  }
  if (plan->next == plan->steps.size()) {
    s->needs_restore = false;
    s->snapshot.reset();
    if (!plan->steps.empty()) {
      ++counters.sessions_replayed;
      counters.replay_time.record(Clock::now() - plan->started);
    }
    start_call(slot, call);
    return;
  }
  const auto& step = plan->steps[plan->next];
  worker::CallOptions options;
  options.session_id = s->id;
  options.timeout = std::chrono::duration_cast<milliseconds>(call->deadline - Clock::now());
  options.session_state = state_for(*s);
  call->worker_call = slot.worker->call(
      step.command, step.args, std::move(options),
      guarded(weak(), [slot_number, handle, plan](State& self, Result<json> result) {
        self.on_restore_step(slot_number, handle, plan, std::move(result));
      }));
}

void Pool::State::on_restore_step(std::uint64_t slot_number, CallHandle handle, RestorePlanPtr plan,
                                  Result<json> result) {
  auto call_it = calls.find(handle);
  if (call_it == calls.end()) return;
  PendingPtr call = call_it->second;
  session::Session* s = sessions.find(call->request.session_id.value_or(""));
  if (result || !s) {
    ++plan->next;
    next_restore_step(slot_number, handle, std::move(plan));
    return;
  }
  const auto& step = plan->steps[plan->next];
  const Error& failure = result.error();
  if (plan->from_snapshot && !s->journal.truncated() && !config().session_rules.setup.empty()) {
    spdlog::warn(
        "bridge '{}': restoring session '{}' from its snapshot failed ({}); replaying "
        "its journal instead",
        bridge(), s->id, failure.message);
    s->snapshot.reset();
    // The replay starts from nothing: drop whatever the failed restore left on that worker.
    discard_session_on(slot_number, s->id);
    auto replay = plan_restore(*s, false);
    replay->started = plan->started;
    next_restore_step(slot_number, handle, std::move(replay));
    return;
  }
  std::string worker_id;
  if (auto slot = slots.find(slot_number); slot != slots.end())
    worker_id = slot->second->worker->id();
  if (cut_short_by_the_worker(failure.category)) {
    const std::string what = "rebuilding session '" + s->id + "' on worker " + worker_id +
                             " was cut short at step " + std::to_string(plan->next + 1) + " of " +
                             std::to_string(plan->steps.size()) + " ('" + step.command + "')";
    spdlog::warn("bridge '{}': {}: {}; its next call rebuilds it again", bridge(), what,
                 failure.message);
    // Nothing half-restored stays on that worker; the journal is intact for the next attempt.
    s->snapshot.reset();
    discard_session_on(slot_number, s->id);
    Error cut = failure;
    cut.message =
        what + ": " + failure.message + " (the session is kept; its next call rebuilds it)";
    on_call_done(handle, std::move(cut));
    return;
  }
  const std::string why = "it left worker " + s->moved_from + " and rebuilding it on worker " +
                          worker_id + " failed at step " + std::to_string(plan->next + 1) + " of " +
                          std::to_string(plan->steps.size()) + " ('" + step.command + "' for " +
                          step.object + "): " + failure.message;
  lose_session(*s, why, slot_number);
  on_call_done(handle, error(ErrorCategory::kSessionLost,
                             "session '" + s->id + "' of bridge '" + bridge() +
                                 "' was lost: " + why + "; create the session again to continue",
                             call->request.command));
}

void Pool::State::send_cleanup(Slot& slot, const std::string& session_id,
                               worker::Worker::CallHandler on_done) {
  worker::CallOptions options;
  options.timeout = config().health_timeout;
  slot.worker->call("cleanup_session", json{{"session_id", session_id}}, std::move(options),
                    std::move(on_done));
}

void Pool::State::discard_session_on(std::uint64_t slot_number, const std::string& session_id) {
  auto slot = slots.find(slot_number);
  if (slot == slots.end()) return;
  send_cleanup(*slot->second, session_id, [](Result<json>) {});
}

void Pool::State::queue_cleanup(Slot& slot, const std::string& session_id) {
  slot.cleanups.push_back(session_id);
  run_cleanups(slot);
}

void Pool::State::run_cleanups(Slot& slot) {
  if (is_concurrent(slot)) {
    // It answers built-ins while handlers run: no need to hold it, only the session's own calls.
    if (slot.worker->state() == worker::WorkerState::kReady) send_free_cleanups(slot);
    return;
  }
  if (slot.cleanups.empty() || slot.state != SlotState::kIdle ||
      slot.worker->state() != worker::WorkerState::kReady) {
    return;
  }
  const std::string id = slot.cleanups.front();
  slot.cleanups.pop_front();
  slot.state = SlotState::kChecking;  // held, like a health check
  send_cleanup(slot, id,
               guarded(weak(), [number = slot.number, id](State& self, Result<json> result) {
                 if (!result) {
                   spdlog::warn("bridge '{}': cleanup of session '{}' failed: {}", self.bridge(),
                                id, result.error().describe());
                 }
                 auto found = self.slots.find(number);
                 if (found == self.slots.end()) return;
                 Slot& slot = *found->second;
                 if (slot.state == SlotState::kChecking &&
                     slot.worker->state() == worker::WorkerState::kReady) {
                   self.became_idle(slot);
                 }
                 self.pump();
               }));
}

void Pool::State::became_idle(Slot& slot) {
  slot.state = SlotState::kIdle;  // idle_since stays: it counts from the last caller's call
  run_cleanups(slot);
  if (slot.state == SlotState::kIdle) recycle_if_due(slot);
}

void Pool::State::lose_session(session::Session& s, const std::string& why,
                               std::optional<std::uint64_t> cleanup_on) {
  sessions.mark_lost(s, why);
  s.needs_restore = false;
  s.snapshot.reset();
  s.journal.clear();
  ++counters.sessions_lost;
  spdlog::warn("bridge '{}': session '{}' lost: {}", bridge(), s.id, why);
  // Nothing half-restored stays behind for a session created again under this id.
  if (cleanup_on) {
    if (auto slot = slots.find(*cleanup_on); slot != slots.end())
      queue_cleanup(*slot->second, s.id);
  }
  if (!s.worker) return;
  auto slot = slots.find(*s.worker);
  if (slot == slots.end()) return;
  std::vector<PendingPtr> waiting;
  for (const auto& call : slot->second->affinity) {
    if (call->request.session_id == s.id) waiting.push_back(call);
  }
  for (const auto& call : waiting) {
    unqueue(call);
    finish(call, error(ErrorCategory::kSessionLost,
                       "session '" + s.id + "' of bridge '" + bridge() + "' was lost: " + why +
                           "; create the session again to continue",
                       call->request.command));
  }
}

}  // namespace mlbridge::pool
