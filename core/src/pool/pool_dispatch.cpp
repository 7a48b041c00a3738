// Queueing calls, matching them to idle workers (session affinity first) and completing them
// exactly once.

#include "pool_state.hpp"

namespace mlbridge::pool {

void Pool::State::enqueue(PendingPtr call) {
  const auto now = call->submitted;
  const std::string& command = call->request.command;
  if (pool_state == PoolState::kFailed) {
    Error failed = failure;
    failed.command = command;
    finish(call, std::move(failed));
    return;
  }
  if (pool_state != PoolState::kRunning) {
    finish(call, error(ErrorCategory::kBridgeUnavailable,
                       "bridge '" + bridge() + "' is " + std::string(to_string(pool_state)) +
                           " and takes no new calls",
                       command));
    return;
  }
  if (queued >= config().queue_limit && !call->restore_only) {
    finish(call, error(ErrorCategory::kOverloaded,
                       "bridge '" + bridge() + "' is overloaded: " + std::to_string(queued) +
                           " calls are already waiting (pool.queue_limit); retry later or add "
                           "workers",
                       command));
    return;
  }
  if (auto admitted = admit_bridge_resource(call->request); !admitted) {
    finish(call, std::move(admitted).error());
    return;
  }
  Slot* bound = nullptr;
  if (call->request.session_id) {
    if (call->restore_only) {
      // A move whose session ended, was lost or was rebuilt meanwhile has nothing to do.
      const session::Session* s = sessions.find(*call->request.session_id);
      if (!s || s->lost || !s->needs_restore || s->worker) {
        finish(call, json::object());
        return;
      }
    }
    auto session = sessions.find_or_create(*call->request.session_id, now);
    if (!session) {
      finish(call, std::move(session).error());
      return;
    }
    session::Session& s = **session;
    if (s.lost) {
      finish(call, error(ErrorCategory::kSessionLost,
                         "session '" + s.id + "' of bridge '" + bridge() +
                             "' was lost: " + *s.lost + "; create the session again to continue",
                         command));
      return;
    }
    if (s.calls == 0 && s.active_calls == 0 && !s.worker && !call->restore_only) {
      publish({.kind = telemetry::EventKind::kSessionCreated, .session_id = s.id});
    }
    ++s.active_calls;
    s.last_used = now;
    if (s.worker) {
      auto it = slots.find(*s.worker);
      if (it != slots.end()) bound = it->second.get();
    }
  }
  ++queued;
  calls.emplace(call->handle, call);
  if (bound) {
    bound->affinity.push_back(call);
  } else {
    queue.push_back(call);
  }
  arm_wait_timer(call, now);
  pump();
}

void Pool::State::arm_wait_timer(const PendingPtr& call, Clock::time_point now) {
  call->wait_ticket =
      waits.arm(std::min(call->deadline, now + config().checkout_timeout), call->handle);
}

void Pool::State::requeue(const PendingPtr& call) {
  call->phase = PendingCall::Phase::kQueued;
  call->worker_call = 0;
  insert_in_order(queue, call);
  ++queued;
  arm_wait_timer(call, Clock::now());
}

// Removes a queued call from whichever queue holds it.
void Pool::State::unqueue(const PendingPtr& call) {
  if (remove_from(queue, call->handle)) {
    --queued;
    return;
  }
  for (auto& [n, slot] : slots) {
    if (remove_from(slot->affinity, call->handle)) {
      --queued;
      return;
    }
  }
}

void Pool::State::on_wait_expired(CallHandle handle) {
  auto it = calls.find(handle);
  if (it == calls.end()) return;
  PendingPtr call = it->second;
  call->wait_ticket.reset();  // expired: the queue forgot it already
  if (call->phase != PendingCall::Phase::kQueued) return;
  unqueue(call);
  const auto now = Clock::now();
  const auto waited = ms_text(now - call->submitted);
  if (now >= call->deadline) {
    finish(call, error(ErrorCategory::kTimeout,
                       "'" + call->request.command + "' reached its deadline after waiting " +
                           waited + " for a worker of bridge '" + bridge() + "'",
                       call->request.command));
  } else {
    finish(
        call,
        error(ErrorCategory::kOverloaded,
              "no worker of bridge '" + bridge() + "' became free for '" + call->request.command +
                  "' within checkout_timeout_ms " + ms_text(config().checkout_timeout) + " (" +
                  std::to_string(slots_in(SlotState::kBusy)) + " busy, " + std::to_string(queued) +
                  " still queued); add workers or raise pool.checkout_timeout_ms",
              call->request.command));
  }
  check_drained();
}

void Pool::State::cancel(CallHandle handle) {
  auto it = calls.find(handle);
  if (it == calls.end()) return;
  PendingPtr call = it->second;
  if (call->awaiting_journal) {
    cancel_awaiting(call);
    check_drained();
    return;
  }
  if (call->phase == PendingCall::Phase::kQueued) {
    unqueue(call);
    finish(call, error(ErrorCategory::kCancelled,
                       "'" + call->request.command + "' was cancelled while queued for bridge '" +
                           bridge() + "'; it never reached Python",
                       call->request.command));
    check_drained();
    return;
  }
  auto slot = slots.find(call->slot);
  if (slot != slots.end()) slot->second->worker->cancel(call->worker_call);
}

void Pool::State::send_head_to_session_worker(const session::Session& s) {
  PendingPtr head = queue.front();
  queue.pop_front();
  auto owner = slots.find(*s.worker);
  if (owner == slots.end()) {
    --queued;
    finish(head, error(ErrorCategory::kSessionLost,
                       "session '" + s.id + "' of bridge '" + bridge() +
                           "' lost its worker; create the session again to continue",
                       head->request.command));
    return;
  }
  insert_in_order(owner->second->affinity, head);
}

// The next call for an idle slot: the older of its own session queue's head and the shared
// queue's head.
PendingPtr Pool::State::next_call_for(Slot& slot) {
  while (!queue.empty()) {
    PendingPtr head = queue.front();
    if (!head->request.session_id) break;
    session::Session* s = sessions.find(*head->request.session_id);
    if (!s || !s->worker || *s->worker == slot.number) break;
    // Its session was bound to another worker while it waited: it must run there, in order.
    send_head_to_session_worker(*s);
  }
  PendingPtr own = slot.affinity.empty() ? nullptr : slot.affinity.front();
  PendingPtr shared = queue.empty() ? nullptr : queue.front();
  if (own && (!shared || own->seq < shared->seq)) {
    slot.affinity.pop_front();
    return own;
  }
  if (shared) queue.pop_front();
  return shared;
}

void Pool::State::pump() {
  if (pool_state != PoolState::kRunning && pool_state != PoolState::kDraining) return;
  if (queued > 0) {
    // Idle workers with fewer bound sessions first, so anonymous load avoids busy homes.
    // (Workers that hold many calls are filled by dispatch_concurrent.)
    std::vector<Slot*> idle;
    for (auto& [n, slot] : slots) {
      if (slot->state == SlotState::kIdle && !is_concurrent(*slot)) idle.push_back(slot.get());
    }
    std::stable_sort(idle.begin(), idle.end(), [&](Slot* a, Slot* b) {
      return sessions.bound_to(a->number) < sessions.bound_to(b->number);
    });
    // A retry goes to another worker than the one its last attempt failed on, when one is idle.
    if (!queue.empty() && queue.front()->request.avoid_worker) {
      const std::string& avoid = *queue.front()->request.avoid_worker;
      std::stable_partition(idle.begin(), idle.end(),
                            [&](Slot* slot) { return slot->worker->id() != avoid; });
    }
    for (Slot* slot : idle) {
      if (queued == 0) break;
      if (PendingPtr call = next_call_for(*slot)) {
        --queued;
        run(*slot, std::move(call));
      }
    }
    dispatch_concurrent();
    pipeline();
  }
  grow_if_needed();
}

void Pool::State::pipeline() {
  const std::size_t depth = config().pipeline_depth;
  for (std::size_t round = 1; round < depth && queued > 0; ++round) {
    for (auto& [n, slot] : slots) {
      if (queue.empty()) return;
      const PendingPtr& head = queue.front();
      // Sessions keep their order on their home worker, and moves and retries their own rules.
      if (head->request.session_id || head->restore_only || head->request.avoid_worker) return;
      if (slot->in_flight > round || !takes_early_call(*slot)) continue;
      PendingPtr call = head;
      queue.pop_front();
      --queued;
      run(*slot, std::move(call));
    }
  }
}

bool Pool::State::takes_early_call(const Slot& slot) const {
  if (slot.state != SlotState::kBusy || slot.exclusive || behind_journal(slot) ||
      !slot.worker->pipelining() || slot.worker->state() != worker::WorkerState::kReady ||
      slot.in_flight >= config().pipeline_depth || !slot.cleanups.empty() ||
      slot.retire_when_idle || slot.retire_when_replaced || slot.generation < options_generation) {
    return false;
  }
  if (slot.recycle_after > 0 && slot.calls + slot.in_flight >= slot.recycle_after) return false;
  // A worker past the memory limit is left to finish what it holds, go idle and be recycled.
  return !rss_above_limit(slot);
}

void Pool::State::grow_if_needed() {
  if (pool_state != PoolState::kRunning || queued == 0) return;
  if (!restart_pending) {
    while (live_slots() < config().size) spawn_worker(false);  // lazy start or a deficit
  }
  const std::size_t waiting = queue.size();
  while (waiting > slots_in(SlotState::kStarting) && slots_in(SlotState::kIdle) == 0 &&
         live_slots() < config().size + config().max_overflow) {
    spawn_worker(true);
  }
}

void Pool::State::run(Slot& slot, PendingPtr call) {
  waits.disarm(call->wait_ticket);
  const auto now = Clock::now();
  if (now >= call->deadline) {
    finish(call, error(ErrorCategory::kTimeout,
                       "'" + call->request.command + "' reached its deadline while queued",
                       call->request.command));
    return;
  }
  if (call->request.session_id) {
    session::Session* s = sessions.find(*call->request.session_id);
    if (s) sessions.bind(*s, slot.number);
  }
  call->phase = PendingCall::Phase::kRunning;
  call->slot = slot.number;
  call->started = now;
  slot.state = SlotState::kBusy;
  ++slot.in_flight;
  if (call->request.session_id) slot.running_sessions.insert(*call->request.session_id);
  if (is_concurrent(slot)) {
    // Its last call under pool.max_requests: no more are sent, and it recycles once they ended.
    if (slot.recycle_after > 0 && slot.calls + slot.in_flight >= slot.recycle_after &&
        pool_state == PoolState::kRunning) {
      ++counters.recycled;
      retire_after_calls(
          slot, "served " + std::to_string(slot.recycle_after) + " calls (pool.max_requests)");
    }
  } else if (call->request.session_id || call->restore_only) {
    slot.exclusive = true;
  }
  if (!call->restore_only) {
    counters.queue_wait.record(now - call->submitted);
    publish({.kind = telemetry::EventKind::kCallStarted,
             .worker_id = slot.worker->id(),
             .command = call->request.command,
             .session_id = call->request.session_id.value_or(""),
             .queue_wait = now - call->submitted});
    if (call->request.on_started) call->request.on_started();
  }
  // Resources created without a session on other workers exist here before the call runs.
  if (behind_journal(slot)) {
    catch_up_then_run(slot, call);
    return;
  }
  continue_call(slot, call);
}

void Pool::State::continue_call(Slot& slot, const PendingPtr& call) {
  session::Session* s =
      call->request.session_id ? sessions.find(*call->request.session_id) : nullptr;
  if (s && s->needs_restore && !s->lost) {
    restore_then_run(slot, call, *s);
    return;
  }
  start_call(slot, call);
}

void Pool::State::start_call(Slot& slot, const PendingPtr& call) {
  if (call->restore_only) {
    // Nothing to rebuild (any more): complete after the current dispatch round.
    asio::post(io, guarded(weak(), [handle = call->handle](State& self) {
                 self.on_call_done(handle, json{{"moved", true}});
               }));
    return;
  }
  // A call sent behind another keeps its request: the worker may die before it starts, and the
  // call then goes back to the queue (on_call_done).
  const bool early = slot.in_flight > 1 && !is_concurrent(slot);
  worker::CallOptions options;
  options.session_id = call->request.session_id;
  options.timeout = std::chrono::duration_cast<milliseconds>(call->deadline - Clock::now());
  options.on_chunk = early ? call->request.on_chunk : std::move(call->request.on_chunk);
  options.encoded_args = call->request.encoded_args;
  options.result_as_json_text = call->request.result_as_json_text;
  auto* s = call->request.session_id ? sessions.find(*call->request.session_id) : nullptr;
  if (s) {
    options.session_state = state_for(*s);
    options.on_session_update = [call](json state_change, json journal) {
      call->state_change = std::move(state_change);
      call->journal_entries = std::move(journal);
    };
  }
  // For the session's journal, or without a session for the bridge's.
  if ((s || !call->request.session_id) && config().session_rules.journals(call->request.command)) {
    call->journal_args = args_of(call->request);
  }
  call->worker_call = slot.worker->call(
      call->request.command, early ? json(call->request.args) : std::move(call->request.args),
      std::move(options),
      guarded(weak(), [handle = call->handle](State& self, Result<json> result) {
        self.on_call_done(handle, std::move(result));
      }));
}

void Pool::State::on_call_done(CallHandle handle, Result<json> result) {
  auto it = calls.find(handle);
  if (it == calls.end()) return;
  PendingPtr call = it->second;
  const auto now = Clock::now();
  auto slot_it = slots.find(call->slot);
  if (slot_it != slots.end()) {
    Slot& slot = *slot_it->second;
    if (slot.in_flight > 0) --slot.in_flight;
    if (slot.in_flight == 0) slot.exclusive = false;
    if (call->request.session_id) slot.running_sessions.erase(*call->request.session_id);
    if (!result && slot.worker->state() == worker::WorkerState::kExited &&
        !slot.worker->has_started(call->worker_call)) {
      // It waited behind the call the worker died in, and never reached Python.
      requeue(call);
      pump();
      return;
    }
  }
  if (!call->restore_only) {
    counters.execution.record(now - call->started);
    apply_session_effects(call, result);
    record_bridge_resource(call, call->slot, result);
  }
  if (slot_it != slots.end()) {
    Slot& slot = *slot_it->second;
    if (!call->restore_only) ++slot.calls;
    if (!result) ++slot.errors;
    if (is_concurrent(slot)) after_concurrent_call(slot);
    if (slot.state == SlotState::kBusy && slot.in_flight == 0 &&
        slot.worker->state() == worker::WorkerState::kReady) {
      slot.idle_since = now;
      became_idle(slot);
    }
  }
  if (result && !call->restore_only && (call->state_changed || call->journal_changed) &&
      states->sync()) {
    save_then_finish(call, std::move(result));  // answers once the store has the change
  } else {
    finish(call, std::move(result));
  }
  pump();
  check_drained();
}

// Completes a call exactly once: counters, session bookkeeping, telemetry, then the caller.
void Pool::State::finish(const PendingPtr& call, Result<json> result) {
  if (call->phase == PendingCall::Phase::kDone) return;
  const bool was_running = call->phase == PendingCall::Phase::kRunning;
  call->phase = PendingCall::Phase::kDone;
  waits.disarm(call->wait_ticket);
  calls.erase(call->handle);
  const auto now = Clock::now();
  if (call->restore_only) {
    if (auto* s = sessions.find(call->request.session_id.value_or("")); s && s->active_calls > 0)
      --s->active_calls;
    auto handler = std::move(call->on_done);
    handler(std::move(result));
    return;
  }
  ++counters.calls;
  if (!result) {
    if (config().translate_error) result = config().translate_error(std::move(result).error());
    ++counters.errors;
    ++counters.errors_by_category[result.error().category];
    if (result.error().bridge.empty()) result.error().bridge = bridge();
  }
  if (call->request.session_id) {
    if (auto* s = sessions.find(*call->request.session_id)) {
      if (s->active_calls > 0) --s->active_calls;
      s->last_used = now;
      ++s->calls;
    }
  }
  if (!pool.events_.empty()) {
    telemetry::Event event{.kind = telemetry::EventKind::kCallFinished,
                           .command = call->request.command,
                           .session_id = call->request.session_id.value_or("")};
    if (auto slot = slots.find(call->slot); was_running && slot != slots.end()) {
      event.worker_id = slot->second->worker->id();
    }
    if (!result) event.error = result.error().category;
    event.queue_wait = (was_running ? call->started : now) - call->submitted;
    if (was_running) event.execution = now - call->started;
    publish(std::move(event));
  }
  auto handler = std::move(call->on_done);
  handler(std::move(result));
}

}  // namespace mlbridge::pool
