// Draining a pool: finishing what runs, cancelling what is left, stopping every worker.

#include "pool_state.hpp"

namespace mlbridge::pool {

void Pool::State::drain() {
  if (pool_state == PoolState::kStopped) {
    for (auto& callback : std::exchange(on_drained, {})) callback();
    return;
  }
  if (pool_state == PoolState::kDraining) return;
  const bool failed = pool_state == PoolState::kFailed;
  pool_state = PoolState::kDraining;
  maintenance_timer.cancel();
  health_timer.cancel();
  restart_timer.cancel();
  if (failed) fail_all_queued(failure);
  drain_timer.expires_after(config().shutdown_timeout);
  drain_timer.async_wait(guarded(weak(), [](State& self, const boost::system::error_code& ec) {
    if (ec || self.pool_state != PoolState::kDraining) return;
    spdlog::warn("bridge '{}': drain budget of {} used up; cancelling what is left", self.bridge(),
                 ms_text(self.config().shutdown_timeout));
    self.fail_all_queued(ErrorCategory::kCancelled,
                         "bridge '" + self.bridge() + "' shut down before the call ran");
    // A cancelled call may complete at once and leave `calls`: walk a copy.
    std::vector<PendingPtr> running;
    for (auto& [handle, call] : self.calls) running.push_back(call);
    for (auto& call : running) self.cancel_running(call);
    self.stop_all_workers();
  }));
  check_drained();
}

void Pool::State::cancel_running(const PendingPtr& call) {
  if (call->phase != PendingCall::Phase::kRunning) return;
  if (call->awaiting_journal) {
    cancel_awaiting(call);
    return;
  }
  if (auto slot = slots.find(call->slot); slot != slots.end())
    slot->second->worker->cancel(call->worker_call);
}

void Pool::State::check_drained() {
  if (pool_state != PoolState::kDraining) return;
  if (queued == 0 && calls.empty()) stop_all_workers();
  if (slots.empty()) {
    pool_state = PoolState::kStopped;
    drain_timer.cancel();
    for (auto& callback : std::exchange(on_drained, {})) callback();
  }
}

void Pool::State::stop_all_workers() {
  for (auto& [n, slot] : slots) {
    if (slot->state != SlotState::kRetiring) stop_slot(*slot);
  }
}

}  // namespace mlbridge::pool
