// Live reconfiguration of a running pool: new settings, growing and shrinking, and recycling the
// workers gradually when their init options change.

#include "pool_state.hpp"

namespace mlbridge::pool {

void Pool::State::reconfigure(PoolConfig next) {
  const PoolConfig before = config();
  const bool options_changed = next.worker.init_options != before.worker.init_options;
  {
    std::lock_guard lock(pool.config_mutex_);
    pool.config_ = std::move(next);
  }
  const PoolConfig& now = config();
  if (now.max_restarts != before.max_restarts || now.restart_window != before.restart_window) {
    restarts = health::RestartTracker(now.max_restarts, now.restart_window,
                                      now.restart_backoff_initial, now.restart_backoff_max);
  }
  if (now.max_requests != before.max_requests ||
      now.max_requests_jitter != before.max_requests_jitter) {
    for (auto& [n, slot] : slots) {
      slot->recycle_after = 0;
      if (now.max_requests == 0) continue;
      std::uniform_int_distribution<std::uint64_t> jitter(0, now.max_requests_jitter);
      slot->recycle_after = now.max_requests + jitter(rng);
    }
  }
  if (now.health_interval != before.health_interval && started &&
      pool_state == PoolState::kRunning) {
    health_timer.cancel();
    schedule_health_check();
  }
  if (options_changed) {
    ++options_generation;
    spdlog::info("bridge '{}': init options changed; recycling its workers one at a time",
                 bridge());
  }
  if (pool_state != PoolState::kRunning || !started) return;

  trim(/*overflow=*/false, now.size);
  trim(/*overflow=*/true, now.max_overflow);
  const bool idle_lazy_pool = now.lazy && queued == 0 && !started_any();
  if (!idle_lazy_pool && !restart_pending) {
    while (live_slots() < now.size) spawn_worker(false);
  }
  recycle_outdated();
  pump();
}

void Pool::State::trim(bool overflow, std::size_t keep) {
  std::vector<Slot*> live;
  for (auto& [n, slot] : slots) {
    if (slot->overflow == overflow && is_live(*slot)) live.push_back(slot.get());
  }
  if (live.size() <= keep) return;
  // Cheapest to stop first: idle, then starting, then busy; workers that hold sessions last,
  // fewest sessions first; among equals the newest.
  const auto rank = [this](const Slot* slot) {
    const int activity = slot->state == SlotState::kIdle       ? 0
                         : slot->state == SlotState::kStarting ? 1
                                                               : 2;
    return std::make_tuple(sessions.bound_to(slot->number), activity, ~slot->number);
  };
  std::stable_sort(live.begin(), live.end(),
                   [&](const Slot* a, const Slot* b) { return rank(a) < rank(b); });
  for (std::size_t i = 0; i < live.size() - keep; ++i) {
    Slot& slot = *live[i];
    const std::string& id = slot.worker->id();
    const std::size_t bound = sessions.bound_to(slot.number);
    const std::string sessions_note =
        bound == 0 ? "" : " (its " + std::to_string(bound) + " session(s) move to other workers)";
    if (slot.state == SlotState::kIdle || slot.state == SlotState::kStarting) {
      spdlog::info("bridge '{}': stopping {} worker {} to shrink the pool{}", bridge(),
                   std::string(to_string(slot.state)), id, sessions_note);
      retire_now(slot, "the pool shrinks");  // moves its sessions first (docs/sessions.md)
    } else {
      spdlog::info("bridge '{}': worker {} stops when its call ends, to shrink the pool{}",
                   bridge(), id, sessions_note);
      slot.retire_when_idle = true;
      slot.retire_reason = "the pool shrinks";
    }
  }
}

void Pool::State::recycle_outdated() {
  if (pool_state != PoolState::kRunning || restart_pending) return;
  if (slots_in(SlotState::kStarting) > 0) return;  // one at a time: its replacement comes first
  for (auto& [n, slot] : slots) {
    if (slot->generation >= options_generation || !is_live(*slot)) continue;
    if (slot->state == SlotState::kIdle) {
      ++counters.recycled;
      retire(*slot, "the bridge's options changed");
      return;
    }
    if (slot->state == SlotState::kBusy && is_concurrent(*slot)) {
      // A worker holding many calls is rarely idle: it takes no new ones and stops once they end.
      ++counters.recycled;
      retire_after_calls(*slot, "the bridge's options changed");
      return;
    }
  }
}

bool Pool::State::stop_if_marked(Slot& slot) {
  if (!slot.retire_when_idle || slot.state != SlotState::kIdle) return false;
  const std::string reason = slot.retire_reason.empty() ? "the pool shrinks" : slot.retire_reason;
  spdlog::info("bridge '{}': worker {} finished its calls; stopping it ({})", bridge(),
               slot.worker->id(), reason);
  retire_now(slot, reason);
  return true;
}

}  // namespace mlbridge::pool
