// Workers that hold many calls at once (hello concurrency above 1): filling their slots call by
// call, one running call per session, and retiring them once their calls ended (recycling, a
// condemned worker) instead of waiting for an idle moment that a busy worker never has.

#include <algorithm>
#include <tuple>
#include <vector>

#include "pool_state.hpp"

namespace mlbridge::pool {

bool Pool::State::takes_concurrent_call(const Slot& slot) const {
  if (!is_concurrent(slot) || slot.retire_when_idle) return false;
  if (slot.state != SlotState::kIdle && slot.state != SlotState::kBusy) return false;
  if (!slot.worker->accepting() || slot.in_flight >= slot.worker->capacity()) return false;
  // Never more than pool.max_requests calls: the worker recycles once they ended.
  return slot.recycle_after == 0 || slot.calls + slot.in_flight < slot.recycle_after;
}

void Pool::State::dispatch_concurrent() {
  const bool any = std::any_of(slots.begin(), slots.end(),
                               [](const auto& entry) { return is_concurrent(*entry.second); });
  if (!any) return;
  // A pass may complete calls and re-enter pump(): every loop re-reads the queues it walks.
  const auto run_all_bound = [this] {
    std::vector<std::uint64_t> numbers;
    for (auto& [n, slot] : slots) {
      if (is_concurrent(*slot) && !slot->affinity.empty()) numbers.push_back(n);
    }
    for (std::uint64_t n : numbers) {
      if (auto it = slots.find(n); it != slots.end()) run_bound_calls(*it->second);
    }
  };
  run_all_bound();
  while (!queue.empty()) {
    PendingPtr head = queue.front();
    if (head->request.session_id) {
      session::Session* s = sessions.find(*head->request.session_id);
      // Its session was bound to a worker while it waited (its first call started there): it
      // runs there, after the session's running call.
      if (s && s->worker) {
        send_head_to_session_worker(*s);
        continue;
      }
    }
    Slot* target = least_loaded_for(*head);
    if (!target) break;  // every slot is taken: the call waits (checkout timeout, deadline)
    queue.pop_front();
    --queued;
    run(*target, std::move(head));
  }
  run_all_bound();
}

void Pool::State::run_bound_calls(Slot& slot) {
  const std::uint64_t number = slot.number;
  // Sessions whose older call still waits: their later calls keep their place behind it.
  std::set<std::string> held;
  std::size_t index = 0;
  while (true) {
    auto it = slots.find(number);
    if (it == slots.end()) return;  // stopped by what a call's completion did
    Slot& current = *it->second;
    if (index >= current.affinity.size() || !takes_concurrent_call(current)) return;
    PendingPtr call = current.affinity[index];
    const std::string id = call->request.session_id.value_or("");
    if (current.running_sessions.contains(id) || held.contains(id)) {
      held.insert(id);
      ++index;
      continue;
    }
    current.affinity.erase(current.affinity.begin() + static_cast<std::ptrdiff_t>(index));
    --queued;
    run(current, std::move(call));
  }
}

Slot* Pool::State::least_loaded_for(const PendingCall& call) {
  std::vector<Slot*> open;
  for (auto& [n, slot] : slots) {
    if (takes_concurrent_call(*slot)) open.push_back(slot.get());
  }
  if (open.size() <= 1) return open.empty() ? nullptr : open.front();
  const auto& bound = sessions.bound_counts();
  const auto sessions_on = [&bound](const Slot& slot) -> std::size_t {
    const auto it = bound.find(slot.number);
    return it == bound.end() ? 0 : it->second;
  };
  // A session stays on the worker its first call binds it to, so a new session's load is the
  // session's whole life: spreading new sessions by calls in flight at that moment (which sessions
  // created in a burst see unevenly) left one worker with three times the other's sessions.
  const bool binds_session = call.request.session_id.has_value();
  auto rank = [&](const Slot& slot) {
    const bool avoided =
        call.request.avoid_worker && slot.worker->id() == *call.request.avoid_worker;
    const std::size_t running = slot.in_flight;
    const std::size_t homed = sessions_on(slot);
    return binds_session ? std::make_tuple(avoided, homed, running, slot.number)
                         : std::make_tuple(avoided, running, homed, slot.number);
  };
  return *std::min_element(open.begin(), open.end(),
                           [&](const Slot* a, const Slot* b) { return rank(*a) < rank(*b); });
}

void Pool::State::after_concurrent_call(Slot& slot) {
  if (slot.worker->state() == worker::WorkerState::kReady) send_free_cleanups(slot);
  if (slot.retire_when_idle || slot.worker->state() != worker::WorkerState::kReady) return;
  if (!slot.worker->accepting()) {
    retire_after_calls(slot,
                       "a call ignored its cancel for timeouts.cancel_grace_ms (the worker is "
                       "condemned)");
    return;
  }
  if (pool_state != PoolState::kRunning || slot.in_flight == 0) return;  // idle: recycle_if_due
  if (const auto rss = rss_above_limit(slot)) {
    ++counters.recycled;
    retire_after_calls(slot, "RSS " + std::to_string(*rss / (1024 * 1024)) +
                                 " MiB is above limits.max_memory_mb " +
                                 std::to_string(*config().max_memory_mb));
  }
}

void Pool::State::retire_after_calls(Slot& slot, const std::string& reason) {
  if (slot.retire_when_idle || slot.state == SlotState::kRetiring) return;
  spdlog::info("bridge '{}': worker {} takes no new calls and stops when its {} call(s) ended: {}",
               bridge(), slot.worker->id(), slot.in_flight, reason);
  slot.retire_when_idle = true;
  slot.retire_when_replaced = false;
  slot.retire_reason = reason;
  const bool overflow = slot.overflow;
  if (slot.in_flight == 0 && slot.state == SlotState::kIdle) stop_if_marked(slot);
  // It no longer counts towards the pool's size: its replacement starts now, not when it stops.
  if (!overflow) schedule_replacement();
}

void Pool::State::send_free_cleanups(Slot& slot) {
  for (auto it = slot.cleanups.begin(); it != slot.cleanups.end();) {
    if (slot.running_sessions.contains(*it)) {
      ++it;
      continue;
    }
    const std::string id = *it;
    it = slot.cleanups.erase(it);
    // Answered while the worker's other calls run; nothing waits for it.
    send_cleanup(slot, id, guarded(weak(), [id](State& self, Result<json> result) {
                   if (!result) {
                     spdlog::warn("bridge '{}': cleanup of session '{}' failed: {}", self.bridge(),
                                  id, result.error().describe());
                   }
                 }));
  }
}

}  // namespace mlbridge::pool
