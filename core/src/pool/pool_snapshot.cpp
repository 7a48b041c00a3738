// PoolStats snapshots of a pool.

#include "mlbridge/health/process_memory.hpp"
#include "pool_state.hpp"

namespace mlbridge::pool {

PoolStats Pool::State::snapshot() const {
  PoolStats stats = counters;
  stats.bridge = bridge();
  stats.state = pool_state;
  stats.last_error = pool_state == PoolState::kFailed ? last_error : "";
  stats.queue_length = queued;
  stats.sessions = sessions.size();
  for (const auto& [n, slot] : slots) {
    WorkerStats w;
    w.id = slot->worker->id();
    w.pid = slot->worker->pid();
    w.state = std::string(to_string(slot->state));
    w.overflow = slot->overflow;
    w.calls = slot->calls;
    w.errors = slot->errors;
    w.sessions = sessions.bound_to(n);
    w.health_checks = slot->health_checks;
    w.in_flight = slot->in_flight;
    w.capacity = slot->worker->capacity();
    stats.in_flight += slot->in_flight;
    if (w.pid > 0) w.rss_bytes = health::resident_bytes(w.pid).value_or(0);
    stats.workers.push_back(std::move(w));
    if (slot->state == SlotState::kBusy || slot->state == SlotState::kChecking) ++stats.busy;
    if (slot->state == SlotState::kIdle) ++stats.idle;
    if (slot->state == SlotState::kStarting) ++stats.starting;
  }
  return stats;
}

}  // namespace mlbridge::pool
