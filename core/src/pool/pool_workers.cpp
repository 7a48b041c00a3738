// Starting, replacing, recycling and retiring the workers of a pool.

#include "mlbridge/health/process_memory.hpp"
#include "pool_state.hpp"

namespace mlbridge::pool {

void Pool::State::spawn_worker(bool overflow) {
  const std::uint64_t number = next_slot++;
  auto slot = std::make_unique<Slot>();
  slot->number = number;
  slot->overflow = overflow;
  slot->generation = options_generation;
  slot->journal_position = bridge_journal.head();  // replay_journal_on_start sets it again
  worker::WorkerConfig worker_config = config().worker;
  worker_config.worker_id = bridge() + "-" + std::to_string(number);
  worker_config.cancel_pipe = config().pipeline_depth > 1;
  slot->worker = worker::Worker::create(io, std::move(worker_config), spawner);
  slot->worker->set_exit_handler(
      guarded(weak(), [number](State& self, const worker::WorkerExit& exit) {
        self.on_worker_exit(number, exit);
      }));
  auto worker = slot->worker;
  slots.emplace(number, std::move(slot));
  worker->start(guarded(weak(), [number](State& self, Result<protocol::Hello> hello) {
    self.on_worker_started(number, std::move(hello));
  }));
}

void Pool::State::on_worker_started(std::uint64_t number, Result<protocol::Hello> hello) {
  auto it = slots.find(number);
  if (it == slots.end()) return;
  Slot& slot = *it->second;
  if (!hello && (pool_state == PoolState::kDraining || slot.state == SlotState::kRetiring)) {
    slots.erase(it);  // stopped on purpose while it started: not a failure
    if (pool_state == PoolState::kDraining) check_drained();
    return;
  }
  if (!hello) {
    Error failure = std::move(hello).error();
    ++counters.failed_starts;
    publish({.kind = telemetry::EventKind::kWorkerStartFailed,
             .worker_id = slot.worker->id(),
             .detail = failure.message});
    slots.erase(it);  // the Worker object reaps its process on its own
    if (pool_state == PoolState::kDraining) {
      check_drained();
      return;
    }
    if (pool_state == PoolState::kFailed) return;  // a sibling's start already failed the pool
    if (is_configuration_failure(failure)) {
      enter_failed(std::move(failure));
      return;
    }
    last_error = failure.message;
    spdlog::warn("bridge '{}': worker start failed: {}", bridge(), failure.message);
    if (restarts.record_failure(Clock::now())) {
      enter_failed(crash_loop_error());
    } else {
      schedule_replacement();
    }
    return;
  }
  if (slot.state == SlotState::kRetiring) return;  // stopped while starting
  // Resources created without a session exist on this worker too before it takes calls.
  replay_journal_on_start(slot);
}

void Pool::State::worker_ready(Slot& slot) {
  const std::uint64_t number = slot.number;
  restarts.record_success();
  slot.state = SlotState::kIdle;
  slot.idle_since = Clock::now();
  if (config().max_requests > 0) {
    std::uniform_int_distribution<std::uint64_t> jitter(0, config().max_requests_jitter);
    slot.recycle_after = config().max_requests + jitter(rng);
  }
  publish({.kind = telemetry::EventKind::kWorkerStarted,
           .worker_id = slot.worker->id(),
           .framework = slot.worker->hello().framework,
           .commands = slot.worker->hello().commands});
  for (auto& callback : std::exchange(on_ready, {})) callback(Ok{});
  // A worker that waited for a replacement can go now.
  std::vector<Slot*> replaced;
  for (auto& [n, other] : slots) {
    if (other->retire_when_replaced && n != number) replaced.push_back(other.get());
  }
  for (Slot* other : replaced) {
    if (other->state == SlotState::kIdle) {
      retire_now(*other, "replaced");
    } else if (other->state == SlotState::kBusy && is_concurrent(*other)) {
      // Rarely idle: no new calls, and it stops once the ones it holds ended.
      retire_after_calls(*other, "replaced");
    }
  }
  pump();
  recycle_outdated();
}

void Pool::State::on_worker_exit(std::uint64_t number, const worker::WorkerExit& exit) {
  auto it = slots.find(number);
  if (it == slots.end()) return;
  std::unique_ptr<Slot> slot = std::move(it->second);
  slots.erase(it);
  const bool planned = slot->state == SlotState::kRetiring || exit.expected;
  publish({.kind = planned ? telemetry::EventKind::kWorkerStopped
                           : telemetry::EventKind::kWorkerCrashed,
           .worker_id = slot->worker->id(),
           .detail = exit.reason});
  const std::string cause = "its worker " + slot->worker->id() +
                            (planned ? " was stopped (" + exit.reason + ")" : ": " + exit.reason);
  // Calls that waited for it to replay the bridge journal never reached Python: queued again.
  const bool gave_back = slot->catch_up && !slot->catch_up->waiting.empty();
  if (slot->catch_up) give_back_waiting(nullptr, *std::exchange(slot->catch_up, nullptr));
  forget_applied_changes();
  // Its sessions are rebuilt on another worker before their next call (or lost, when their
  // journal cannot do that); calls that waited for it wait for any worker now.
  release_sessions(*slot, cause, false);
  if (pool_state == PoolState::kDraining) {
    check_drained();
    return;
  }
  if (!planned && pool_state == PoolState::kRunning) {
    spdlog::warn("bridge '{}': replacing worker {}", bridge(), slot->worker->id());
  }
  schedule_replacement();
  if (gave_back) pump();
}

// Brings the pool back to `size` workers, after the crash-loop backoff.
void Pool::State::schedule_replacement() {
  if (pool_state != PoolState::kRunning || restart_pending) return;
  if (config().lazy && queued == 0 && !started_any()) return;
  if (live_slots() >= config().size) return;
  const auto delay = restarts.backoff();
  restart_pending = true;
  restart_timer.expires_after(delay);
  restart_timer.async_wait(guarded(weak(), [](State& self, const boost::system::error_code& ec) {
    self.restart_pending = false;
    if (ec || self.pool_state != PoolState::kRunning) return;
    while (self.live_slots() < self.config().size) {
      ++self.counters.restarts;
      self.spawn_worker(false);
    }
  }));
}

Error Pool::State::crash_loop_error() const {
  return error(ErrorCategory::kBridgeUnavailable,
               "bridge '" + bridge() +
                   "' failed: " + std::to_string(restarts.failures_in_window()) +
                   " worker starts failed within restart.window_s " +
                   std::to_string(config().restart_window.count()) +
                   " s; last error: " + last_error + "; fix the cause, then restart the bridge");
}

void Pool::State::enter_failed(Error cause) {
  pool_state = PoolState::kFailed;
  cause.bridge = bridge();
  cause.command.clear();
  last_error = cause.message;
  failure = std::move(cause);
  // A start that someone waits for (Bridge::start, a registration) is reported by them, once.
  spdlog::log(on_ready.empty() ? spdlog::level::err : spdlog::level::info, "{}{}", failure.message,
              failure.traceback.empty() ? "" : "\n" + failure.traceback);
  for (auto& callback : std::exchange(on_ready, {})) callback(failure);
  fail_all_queued(failure);
}

void Pool::State::fail_all_queued(ErrorCategory category, const std::string& message) {
  fail_all_queued(error(category, message));
}

void Pool::State::fail_all_queued(const Error& cause) {
  std::vector<PendingPtr> waiting(queue.begin(), queue.end());
  queue.clear();
  for (auto& [n, slot] : slots) {
    waiting.insert(waiting.end(), slot->affinity.begin(), slot->affinity.end());
    slot->affinity.clear();
  }
  queued = 0;
  for (auto& call : waiting) {
    Error failed = cause;
    failed.command = call->request.command;
    finish(call, std::move(failed));
  }
}

// Retires a worker on purpose (recycling, idle overflow, drain).
void Pool::State::retire(Slot& slot, const std::string& reason) {
  spdlog::info("bridge '{}': retiring worker {}: {}", bridge(), slot.worker->id(), reason);
  const bool others_ready = std::any_of(slots.begin(), slots.end(), [&](const auto& entry) {
    const Slot& other = *entry.second;
    return &other != &slot && !other.retire_when_replaced &&
           (other.state == SlotState::kIdle || other.state == SlotState::kBusy ||
            other.state == SlotState::kChecking);
  });
  if (!others_ready && !slot.overflow && config().size > 0 && pool_state == PoolState::kRunning) {
    // The last ready worker keeps serving until its replacement is ready.
    slot.retire_when_replaced = true;
    ++counters.restarts;
    spawn_worker(false);
    return;
  }
  retire_now(slot, reason);
  if (!slot.overflow) schedule_replacement();
}

void Pool::State::stop_slot(Slot& slot) {
  slot.state = SlotState::kRetiring;
  slot.worker->stop();
}

void Pool::State::recycle_if_due(Slot& slot) {
  if (stop_if_marked(slot)) return;
  if (slot.retire_when_replaced || pool_state != PoolState::kRunning) return;
  if (slot.generation < options_generation) {
    recycle_outdated();
    return;
  }
  if (slot.recycle_after > 0 && slot.calls >= slot.recycle_after) {
    ++counters.recycled;
    retire(slot, "served " + std::to_string(slot.calls) + " calls (pool.max_requests)");
    return;
  }
  if (const auto rss = rss_above_limit(slot)) {
    ++counters.recycled;
    retire(slot, "RSS " + std::to_string(*rss / (1024 * 1024)) +
                     " MiB is above limits.max_memory_mb " +
                     std::to_string(*config().max_memory_mb));
  }
}

std::optional<std::uint64_t> Pool::State::rss_above_limit(const Slot& slot) const {
  if (!config().max_memory_mb) return std::nullopt;
  const auto rss = health::resident_bytes(slot.worker->pid());
  if (!rss || *rss <= *config().max_memory_mb * 1024 * 1024) return std::nullopt;
  return *rss;
}

}  // namespace mlbridge::pool
