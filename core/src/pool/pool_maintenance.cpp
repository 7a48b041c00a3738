// Periodic work: session expiry, retiring idle overflow workers, health checks.

#include "pool_state.hpp"

namespace mlbridge::pool {

void Pool::State::schedule_maintenance() {
  maintenance_timer.expires_after(config().maintenance_interval);
  maintenance_timer.async_wait(
      guarded(weak(), [](State& self, const boost::system::error_code& ec) {
        if (ec || self.pool_state != PoolState::kRunning) return;
        self.maintain();
        self.schedule_maintenance();
      }));
}

void Pool::State::maintain() {
  const auto now = Clock::now();
  for (const auto& id : sessions.expired(now, config().session_ttl)) {
    (void)end_session(id, "idle longer than sessions.ttl_s");
  }
  std::vector<Slot*> idle_overflow;
  for (auto& [n, slot] : slots) {
    if (slot->overflow && slot->state == SlotState::kIdle &&
        now - slot->idle_since > config().idle_timeout && sessions.bound_to(n) == 0) {
      idle_overflow.push_back(slot.get());
    }
  }
  for (Slot* slot : idle_overflow)
    retire(*slot, "overflow worker idle longer than pool.idle_timeout_ms");
}

void Pool::State::schedule_health_check() {
  if (config().health_interval.count() <= 0) return;
  health_timer.expires_after(config().health_interval);
  health_timer.async_wait(guarded(weak(), [](State& self, const boost::system::error_code& ec) {
    if (ec || self.pool_state != PoolState::kRunning) return;
    self.check_health();
    self.schedule_health_check();
  }));
}

void Pool::State::check_health() {
  for (auto& [number, slot] : slots) {
    if (is_concurrent(*slot)) {
      // It answers pings while its handlers run: checked busy or idle, one ping at a time.
      if ((slot->state != SlotState::kIdle && slot->state != SlotState::kBusy) ||
          slot->health_pending || slot->worker->state() != worker::WorkerState::kReady) {
        continue;
      }
      slot->health_pending = true;
    } else {
      if (slot->state != SlotState::kIdle) continue;
      slot->state = SlotState::kChecking;
    }
    worker::CallOptions options;
    options.timeout = config().health_timeout;
    slot->worker->call("ping", json::object(), std::move(options),
                       guarded(weak(), [number = number](State& self, Result<json> result) {
                         self.on_health_result(number, std::move(result));
                       }));
  }
}

void Pool::State::on_health_result(std::uint64_t number, Result<json> result) {
  auto it = slots.find(number);
  if (it == slots.end()) return;
  Slot& slot = *it->second;
  slot.health_pending = false;
  if (result) {
    slot.health_failures = 0;
    ++slot.health_checks;
  } else if (++slot.health_failures >= config().health_max_failures ||
             slot.worker->state() != worker::WorkerState::kReady) {
    spdlog::warn("bridge '{}': worker {} failed {} health checks in a row ({}); replacing it",
                 bridge(), slot.worker->id(), slot.health_failures, result.error().message);
    slot.worker->kill();
    return;
  }
  if (slot.state == SlotState::kChecking && slot.worker->state() == worker::WorkerState::kReady) {
    became_idle(slot);
  }
  if (is_concurrent(slot) && slot.in_flight == 0 && !slot.worker->accepting() &&
      slot.worker->state() == worker::WorkerState::kReady) {
    retire_after_calls(slot, "it was condemned (a call ignored its cancel)");
  }
  pump();
}

}  // namespace mlbridge::pool
