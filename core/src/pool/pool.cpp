#include "mlbridge/pool/pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <random>
#include <unordered_map>

#include "mlbridge/health/process_memory.hpp"
#include "mlbridge/health/restart_tracker.hpp"
#include "mlbridge/worker/worker.hpp"

namespace mlbridge::pool {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string_view to_string(PoolState state) {
  switch (state) {
    case PoolState::kRunning:
      return "running";
    case PoolState::kFailed:
      return "failed";
    case PoolState::kDraining:
      return "draining";
    case PoolState::kStopped:
      return "stopped";
  }
  return "unknown";
}

namespace {

std::string ms_text(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(d).count()) + " ms";
}

enum class SlotState { kStarting, kIdle, kBusy, kChecking, kRetiring };

std::string_view to_string(SlotState state) {
  switch (state) {
    case SlotState::kStarting:
      return "starting";
    case SlotState::kIdle:
      return "idle";
    case SlotState::kBusy:
      return "busy";
    case SlotState::kChecking:
      return "checking";
    case SlotState::kRetiring:
      return "retiring";
  }
  return "unknown";
}

struct PendingCall {
  enum class Phase { kQueued, kRunning, kDone };
  CallHandle handle = 0;
  std::uint64_t seq = 0;
  CallRequest request;
  CallHandler on_done;
  Clock::time_point submitted;
  Clock::time_point deadline;
  Clock::time_point started;
  std::unique_ptr<asio::steady_timer> wait_timer;
  Phase phase = Phase::kQueued;
  std::uint64_t slot = 0;
  worker::CallId worker_call = 0;
};
using PendingPtr = std::shared_ptr<PendingCall>;

struct Slot {
  std::uint64_t number = 0;
  worker::WorkerPtr worker;
  SlotState state = SlotState::kStarting;
  bool overflow = false;
  bool retire_when_replaced = false;  // the last ready worker, to retire once another is ready
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  std::uint64_t recycle_after = 0;  // 0: never
  std::size_t health_failures = 0;
  Clock::time_point idle_since;
  std::deque<PendingPtr> affinity;  // calls of sessions bound to this worker, oldest first
};

bool remove_from(std::deque<PendingPtr>& queue, CallHandle handle) {
  auto it = std::find_if(queue.begin(), queue.end(),
                         [handle](const PendingPtr& call) { return call->handle == handle; });
  if (it == queue.end()) return false;
  queue.erase(it);
  return true;
}

}  // namespace

struct Pool::State {
  State(Pool& owner, asio::io_context& io, process::SpawnerPtr spawner)
      : pool(owner),
        io(io),
        spawner(std::move(spawner)),
        sessions(owner.config_.max_sessions),
        restarts(owner.config_.max_restarts, owner.config_.restart_window,
                 owner.config_.restart_backoff_initial, owner.config_.restart_backoff_max),
        maintenance_timer(io),
        health_timer(io),
        restart_timer(io),
        drain_timer(io),
        rng(std::random_device{}()) {}

  Pool& pool;
  asio::io_context& io;
  process::SpawnerPtr spawner;
  PoolState pool_state = PoolState::kRunning;
  bool started = false;
  std::string last_error;

  std::map<std::uint64_t, std::unique_ptr<Slot>> slots;
  std::uint64_t next_slot = 1;
  std::deque<PendingPtr> queue;  // anonymous calls and calls of unbound sessions
  std::size_t queued = 0;        // in `queue` and in every slot's affinity queue
  std::unordered_map<CallHandle, PendingPtr> calls;  // queued or running
  std::uint64_t next_seq = 1;

  session::SessionTable sessions;
  health::RestartTracker restarts;
  asio::steady_timer maintenance_timer;
  asio::steady_timer health_timer;
  asio::steady_timer restart_timer;
  asio::steady_timer drain_timer;
  bool restart_pending = false;
  std::mt19937_64 rng;

  std::vector<std::function<void(Status)>> on_ready;
  std::vector<std::function<void()>> on_drained;

  PoolStats counters;  // the counting fields only; the rest is filled in by snapshot()

  const PoolConfig& config() const { return pool.config_; }
  const std::string& bridge() const { return pool.config_.worker.bridge; }
  std::weak_ptr<Pool> weak() { return pool.weak_from_this(); }

  // Runs `fn` on this state if the pool still exists: for handlers that may outlive it.
  template <typename Fn>
  static auto guarded(std::weak_ptr<Pool> weak, Fn fn) {
    return [weak = std::move(weak), fn = std::move(fn)](auto&&... args) mutable {
      if (auto pool = weak.lock()) fn(*pool->state_, std::forward<decltype(args)>(args)...);
    };
  }

  Error error(ErrorCategory category, std::string message, const std::string& command = {}) {
    Error e = Error::make(category, std::move(message));
    e.bridge = bridge();
    e.command = command;
    return e;
  }

  void publish(telemetry::Event event) {
    event.bridge = bridge();
    pool.events_.publish(event);
  }

  // ---- workers -----------------------------------------------------------------------------

  std::size_t live_slots() const {
    return static_cast<std::size_t>(
        std::count_if(slots.begin(), slots.end(), [](const auto& entry) {
          return entry.second->state != SlotState::kRetiring && !entry.second->retire_when_replaced;
        }));
  }

  std::size_t slots_in(SlotState state) const {
    return static_cast<std::size_t>(
        std::count_if(slots.begin(), slots.end(),
                      [state](const auto& entry) { return entry.second->state == state; }));
  }

  void spawn_worker(bool overflow) {
    const std::uint64_t number = next_slot++;
    auto slot = std::make_unique<Slot>();
    slot->number = number;
    slot->overflow = overflow;
    worker::WorkerConfig worker_config = config().worker;
    worker_config.worker_id = bridge() + "-" + std::to_string(number);
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

  void on_worker_started(std::uint64_t number, Result<protocol::Hello> hello) {
    auto it = slots.find(number);
    if (it == slots.end()) return;
    Slot& slot = *it->second;
    if (!hello && (pool_state == PoolState::kDraining || slot.state == SlotState::kRetiring)) {
      slots.erase(it);  // stopped on purpose while it started: not a failure
      if (pool_state == PoolState::kDraining) check_drained();
      return;
    }
    if (!hello) {
      const Error& failure = hello.error();
      ++counters.failed_starts;
      last_error = failure.message;
      spdlog::warn("bridge '{}': worker start failed: {}", bridge(), failure.message);
      publish({.kind = telemetry::EventKind::kWorkerStartFailed,
               .worker_id = slot.worker->id(),
               .detail = failure.message});
      slots.erase(it);  // the Worker object reaps its process on its own
      if (pool_state == PoolState::kDraining) {
        check_drained();
        return;
      }
      if (restarts.record_failure(Clock::now())) {
        enter_failed();
      } else {
        schedule_replacement();
      }
      return;
    }
    if (slot.state == SlotState::kRetiring) return;  // stopped while starting
    restarts.record_success();
    slot.state = SlotState::kIdle;
    slot.idle_since = Clock::now();
    if (config().max_requests > 0) {
      std::uniform_int_distribution<std::uint64_t> jitter(0, config().max_requests_jitter);
      slot.recycle_after = config().max_requests + jitter(rng);
    }
    publish({.kind = telemetry::EventKind::kWorkerStarted, .worker_id = slot.worker->id()});
    for (auto& callback : std::exchange(on_ready, {})) callback(Ok{});
    // A worker that waited for a replacement can go now.
    for (auto& [n, other] : slots) {
      if (other->retire_when_replaced && n != number && other->state == SlotState::kIdle) {
        stop_slot(*other);
      }
    }
    pump();
  }

  void on_worker_exit(std::uint64_t number, const worker::WorkerExit& exit) {
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
    sessions.lose_worker(number, cause);
    // Calls waiting for this worker's sessions cannot run anywhere else.
    for (auto& call : std::exchange(slot->affinity, {})) {
      --queued;
      const std::string id = call->request.session_id.value_or("");
      finish(call, error(ErrorCategory::kSessionLost,
                         "session '" + id + "' of bridge '" + bridge() + "' was lost: " + cause +
                             "; create the session again to continue",
                         call->request.command));
    }
    if (pool_state == PoolState::kDraining) {
      check_drained();
      return;
    }
    if (!planned && pool_state == PoolState::kRunning) {
      spdlog::warn("bridge '{}': replacing worker {}", bridge(), slot->worker->id());
    }
    schedule_replacement();
  }

  // Brings the pool back to `size` workers, after the crash-loop backoff.
  void schedule_replacement() {
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

  bool started_any() const { return !slots.empty() || counters.restarts > 0 || counters.calls > 0; }

  void enter_failed() {
    pool_state = PoolState::kFailed;
    const std::string message =
        "bridge '" + bridge() + "' failed: " + std::to_string(restarts.failures_in_window()) +
        " worker starts failed within restart.window_s " +
        std::to_string(config().restart_window.count()) + " s; last error: " + last_error +
        "; fix the cause, then restart the bridge";
    spdlog::error("{}", message);
    last_error = message;
    for (auto& callback : std::exchange(on_ready, {})) {
      callback(error(ErrorCategory::kBridgeUnavailable, message));
    }
    fail_all_queued(ErrorCategory::kBridgeUnavailable, message);
  }

  void fail_all_queued(ErrorCategory category, const std::string& message) {
    std::vector<PendingPtr> waiting(queue.begin(), queue.end());
    queue.clear();
    for (auto& [n, slot] : slots) {
      waiting.insert(waiting.end(), slot->affinity.begin(), slot->affinity.end());
      slot->affinity.clear();
    }
    queued = 0;
    for (auto& call : waiting) finish(call, error(category, message, call->request.command));
  }

  // Retires a worker on purpose (recycling, idle overflow, drain).
  void retire(Slot& slot, const std::string& reason) {
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
    stop_slot(slot);
    if (!slot.overflow) schedule_replacement();
  }

  void stop_slot(Slot& slot) {
    slot.state = SlotState::kRetiring;
    slot.worker->stop();
  }

  // ---- calls -------------------------------------------------------------------------------

  void enqueue(PendingPtr call) {
    const auto now = call->submitted;
    const std::string& command = call->request.command;
    if (pool_state == PoolState::kFailed) {
      finish(call, error(ErrorCategory::kBridgeUnavailable, last_error, command));
      return;
    }
    if (pool_state != PoolState::kRunning) {
      finish(call, error(ErrorCategory::kBridgeUnavailable,
                         "bridge '" + bridge() + "' is " + std::string(to_string(pool_state)) +
                             " and takes no new calls",
                         command));
      return;
    }
    if (queued >= config().queue_limit) {
      finish(call, error(ErrorCategory::kOverloaded,
                         "bridge '" + bridge() + "' is overloaded: " + std::to_string(queued) +
                             " calls are already waiting (pool.queue_limit); retry later or add "
                             "workers",
                         command));
      return;
    }
    Slot* bound = nullptr;
    if (call->request.session_id) {
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
      if (s.calls == 0 && s.active_calls == 0 && !s.worker) {
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
    const auto wait_until = std::min(call->deadline, now + config().checkout_timeout);
    call->wait_timer = std::make_unique<asio::steady_timer>(io, wait_until);
    call->wait_timer->async_wait(
        guarded(weak(), [handle = call->handle](State& self, const boost::system::error_code& ec) {
          if (!ec) self.on_wait_expired(handle);
        }));
    pump();
  }

  // Removes a queued call from whichever queue holds it.
  void unqueue(const PendingPtr& call) {
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

  void on_wait_expired(CallHandle handle) {
    auto it = calls.find(handle);
    if (it == calls.end() || it->second->phase != PendingCall::Phase::kQueued) return;
    PendingPtr call = it->second;
    unqueue(call);
    const auto now = Clock::now();
    const auto waited = ms_text(now - call->submitted);
    if (now >= call->deadline) {
      finish(call, error(ErrorCategory::kTimeout,
                         "'" + call->request.command + "' reached its deadline after waiting " +
                             waited + " for a worker of bridge '" + bridge() + "'",
                         call->request.command));
    } else {
      finish(call, error(ErrorCategory::kOverloaded,
                         "no worker of bridge '" + bridge() + "' became free for '" +
                             call->request.command + "' within checkout_timeout_ms " +
                             ms_text(config().checkout_timeout) + " (" +
                             std::to_string(slots_in(SlotState::kBusy)) + " busy, " +
                             std::to_string(queued) +
                             " still queued); add workers or raise pool.checkout_timeout_ms",
                         call->request.command));
    }
    check_drained();
  }

  void cancel(CallHandle handle) {
    auto it = calls.find(handle);
    if (it == calls.end()) return;
    PendingPtr call = it->second;
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

  // The next call for an idle slot: the older of its own session queue's head and the shared
  // queue's head.
  PendingPtr next_call_for(Slot& slot) {
    while (!queue.empty()) {
      PendingPtr head = queue.front();
      if (!head->request.session_id) break;
      session::Session* s = sessions.find(*head->request.session_id);
      if (!s || !s->worker || *s->worker == slot.number) break;
      // Its session was bound to another worker while it waited: it must run there, in order.
      queue.pop_front();
      auto owner = slots.find(*s->worker);
      if (owner == slots.end()) {
        --queued;
        finish(head, error(ErrorCategory::kSessionLost,
                           "session '" + s->id + "' of bridge '" + bridge() +
                               "' lost its worker; create the session again to continue",
                           head->request.command));
        continue;
      }
      auto& affinity = owner->second->affinity;
      auto pos = std::find_if(affinity.begin(), affinity.end(),
                              [&](const PendingPtr& c) { return c->seq > head->seq; });
      affinity.insert(pos, head);
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

  void pump() {
    if (pool_state != PoolState::kRunning && pool_state != PoolState::kDraining) return;
    if (queued > 0) {
      // Idle workers with fewer bound sessions first, so anonymous load avoids busy homes.
      std::vector<Slot*> idle;
      for (auto& [n, slot] : slots) {
        if (slot->state == SlotState::kIdle) idle.push_back(slot.get());
      }
      std::stable_sort(idle.begin(), idle.end(), [&](Slot* a, Slot* b) {
        return sessions.bound_to(a->number) < sessions.bound_to(b->number);
      });
      for (Slot* slot : idle) {
        if (queued == 0) break;
        if (PendingPtr call = next_call_for(*slot)) {
          --queued;
          run(*slot, std::move(call));
        }
      }
    }
    grow_if_needed();
  }

  void grow_if_needed() {
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

  void run(Slot& slot, PendingPtr call) {
    call->wait_timer->cancel();
    const auto now = Clock::now();
    if (now >= call->deadline) {
      finish(call, error(ErrorCategory::kTimeout,
                         "'" + call->request.command + "' reached its deadline while queued",
                         call->request.command));
      return;
    }
    if (call->request.session_id) {
      if (auto* s = sessions.find(*call->request.session_id); s && !s->worker)
        s->worker = slot.number;
    }
    call->phase = PendingCall::Phase::kRunning;
    call->slot = slot.number;
    call->started = now;
    counters.queue_wait.record(now - call->submitted);
    slot.state = SlotState::kBusy;
    publish({.kind = telemetry::EventKind::kCallStarted,
             .worker_id = slot.worker->id(),
             .command = call->request.command,
             .session_id = call->request.session_id.value_or(""),
             .queue_wait = now - call->submitted});
    worker::CallOptions options;
    options.session_id = call->request.session_id;
    options.timeout = std::chrono::duration_cast<milliseconds>(call->deadline - now);
    options.on_chunk = std::move(call->request.on_chunk);
    call->worker_call = slot.worker->call(
        call->request.command, std::move(call->request.args), std::move(options),
        guarded(weak(), [handle = call->handle](State& self, Result<json> result) {
          self.on_call_done(handle, std::move(result));
        }));
  }

  void on_call_done(CallHandle handle, Result<json> result) {
    auto it = calls.find(handle);
    if (it == calls.end()) return;
    PendingPtr call = it->second;
    const auto now = Clock::now();
    counters.execution.record(now - call->started);
    auto slot_it = slots.find(call->slot);
    if (slot_it != slots.end()) {
      Slot& slot = *slot_it->second;
      ++slot.calls;
      if (!result) ++slot.errors;
      if (slot.state == SlotState::kBusy && slot.worker->state() == worker::WorkerState::kReady) {
        slot.state = SlotState::kIdle;
        slot.idle_since = now;
        recycle_if_due(slot);
      }
    }
    finish(call, std::move(result));
    pump();
    check_drained();
  }

  void recycle_if_due(Slot& slot) {
    if (slot.retire_when_replaced || pool_state != PoolState::kRunning) return;
    if (slot.recycle_after > 0 && slot.calls >= slot.recycle_after) {
      ++counters.recycled;
      retire(slot, "served " + std::to_string(slot.calls) + " calls (pool.max_requests)");
      return;
    }
    if (config().max_memory_mb) {
      const auto rss = health::resident_bytes(slot.worker->pid());
      const std::uint64_t limit = *config().max_memory_mb * 1024 * 1024;
      if (rss && *rss > limit) {
        ++counters.recycled;
        retire(slot, "RSS " + std::to_string(*rss / (1024 * 1024)) +
                         " MiB is above limits.max_memory_mb " +
                         std::to_string(*config().max_memory_mb));
      }
    }
  }

  // Completes a call exactly once: counters, session bookkeeping, telemetry, then the caller.
  void finish(const PendingPtr& call, Result<json> result) {
    if (call->phase == PendingCall::Phase::kDone) return;
    const bool was_running = call->phase == PendingCall::Phase::kRunning;
    call->phase = PendingCall::Phase::kDone;
    if (call->wait_timer) call->wait_timer->cancel();
    calls.erase(call->handle);
    const auto now = Clock::now();
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

  // ---- sessions ----------------------------------------------------------------------------

  Result<session::SessionInfo> create_session(const std::string& id) {
    auto created = sessions.create(id, Clock::now());
    if (!created) {
      Error e = std::move(created).error();
      e.bridge = bridge();
      return e;
    }
    publish({.kind = telemetry::EventKind::kSessionCreated, .session_id = id});
    return info(**created);
  }

  Status end_session(const std::string& id, const std::string& why) {
    auto removed = sessions.remove(id);
    if (!removed) {
      return error(ErrorCategory::kNotFound,
                   "bridge '" + bridge() + "' has no session '" + id + "'");
    }
    if (removed->worker) {
      auto it = slots.find(*removed->worker);
      if (it != slots.end()) {
        Slot& slot = *it->second;
        // Calls of the session still waiting for its worker will not run.
        std::vector<PendingPtr> dropped;
        for (auto& call : slot.affinity) {
          if (call->request.session_id == id) dropped.push_back(call);
        }
        for (auto& call : dropped) {
          unqueue(call);
          finish(call,
                 error(ErrorCategory::kCancelled,
                       "session '" + id + "' ended before '" + call->request.command + "' ran",
                       call->request.command));
        }
        if (slot.worker->state() == worker::WorkerState::kReady) {
          worker::CallOptions options;
          options.timeout = config().health_timeout;
          slot.worker->call("cleanup_session", json{{"session_id", id}}, std::move(options),
                            [bridge = bridge(), id](Result<json> result) {
                              if (!result) {
                                spdlog::warn("bridge '{}': cleanup of session '{}' failed: {}",
                                             bridge, id, result.error().describe());
                              }
                            });
        }
      }
    }
    spdlog::debug("bridge '{}': session '{}' ended ({})", bridge(), id, why);
    publish({.kind = telemetry::EventKind::kSessionEnded, .session_id = id, .detail = why});
    return Ok{};
  }

  session::SessionInfo info(const session::Session& s) const {
    const auto now = Clock::now();
    session::SessionInfo result;
    result.id = s.id;
    if (s.worker) {
      if (auto it = slots.find(*s.worker); it != slots.end())
        result.worker_id = it->second->worker->id();
    }
    result.age_s = std::chrono::duration<double>(now - s.created).count();
    result.idle_s = std::chrono::duration<double>(now - s.last_used).count();
    result.calls = s.calls;
    result.lost = s.lost.has_value();
    return result;
  }

  // ---- periodic work -----------------------------------------------------------------------

  void schedule_maintenance() {
    maintenance_timer.expires_after(config().maintenance_interval);
    maintenance_timer.async_wait(
        guarded(weak(), [](State& self, const boost::system::error_code& ec) {
          if (ec || self.pool_state != PoolState::kRunning) return;
          self.maintain();
          self.schedule_maintenance();
        }));
  }

  void maintain() {
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

  void schedule_health_check() {
    if (config().health_interval.count() <= 0) return;
    health_timer.expires_after(config().health_interval);
    health_timer.async_wait(guarded(weak(), [](State& self, const boost::system::error_code& ec) {
      if (ec || self.pool_state != PoolState::kRunning) return;
      self.check_health();
      self.schedule_health_check();
    }));
  }

  void check_health() {
    for (auto& [number, slot] : slots) {
      if (slot->state != SlotState::kIdle) continue;
      slot->state = SlotState::kChecking;
      worker::CallOptions options;
      options.timeout = config().health_timeout;
      slot->worker->call("ping", json::object(), std::move(options),
                         guarded(weak(), [number = number](State& self, Result<json> result) {
                           self.on_health_result(number, std::move(result));
                         }));
    }
  }

  void on_health_result(std::uint64_t number, Result<json> result) {
    auto it = slots.find(number);
    if (it == slots.end()) return;
    Slot& slot = *it->second;
    if (result) {
      slot.health_failures = 0;
    } else if (++slot.health_failures >= config().health_max_failures ||
               slot.worker->state() != worker::WorkerState::kReady) {
      spdlog::warn("bridge '{}': worker {} failed {} health checks in a row ({}); replacing it",
                   bridge(), slot.worker->id(), slot.health_failures, result.error().message);
      slot.worker->kill();
      return;
    }
    if (slot.state == SlotState::kChecking && slot.worker->state() == worker::WorkerState::kReady) {
      slot.state = SlotState::kIdle;
      recycle_if_due(slot);
    }
    pump();
  }

  // ---- drain -------------------------------------------------------------------------------

  void drain() {
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
    if (failed) fail_all_queued(ErrorCategory::kBridgeUnavailable, last_error);
    drain_timer.expires_after(config().shutdown_timeout);
    drain_timer.async_wait(guarded(weak(), [](State& self, const boost::system::error_code& ec) {
      if (ec || self.pool_state != PoolState::kDraining) return;
      spdlog::warn("bridge '{}': drain budget of {} used up; cancelling what is left",
                   self.bridge(), ms_text(self.config().shutdown_timeout));
      self.fail_all_queued(ErrorCategory::kCancelled,
                           "bridge '" + self.bridge() + "' shut down before the call ran");
      for (auto& [handle, call] : self.calls) self.cancel_running(call);
      self.stop_all_workers();
    }));
    check_drained();
  }

  void cancel_running(const PendingPtr& call) {
    if (call->phase != PendingCall::Phase::kRunning) return;
    if (auto slot = slots.find(call->slot); slot != slots.end())
      slot->second->worker->cancel(call->worker_call);
  }

  void check_drained() {
    if (pool_state != PoolState::kDraining) return;
    if (queued == 0 && calls.empty()) stop_all_workers();
    if (slots.empty()) {
      pool_state = PoolState::kStopped;
      drain_timer.cancel();
      for (auto& callback : std::exchange(on_drained, {})) callback();
    }
  }

  void stop_all_workers() {
    for (auto& [n, slot] : slots) {
      if (slot->state != SlotState::kRetiring) stop_slot(*slot);
    }
  }

  // ---- stats -------------------------------------------------------------------------------

  PoolStats snapshot() const {
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
      if (w.pid > 0) w.rss_bytes = health::resident_bytes(w.pid).value_or(0);
      stats.workers.push_back(std::move(w));
      if (slot->state == SlotState::kBusy || slot->state == SlotState::kChecking) ++stats.busy;
      if (slot->state == SlotState::kIdle) ++stats.idle;
      if (slot->state == SlotState::kStarting) ++stats.starting;
    }
    return stats;
  }
};

PoolPtr Pool::create(runtime::EventLoop& loop, PoolConfig config, process::SpawnerPtr spawner) {
  return PoolPtr(new Pool(loop, std::move(config), std::move(spawner)));
}

Pool::Pool(runtime::EventLoop& loop, PoolConfig config, process::SpawnerPtr spawner)
    : loop_(loop), config_(std::move(config)) {
  state_ = std::make_unique<State>(*this, loop.context(), std::move(spawner));
}

Pool::~Pool() {
  // The state's timers and workers belong to the loop thread: destroy them there.
  if (loop_.in_loop_thread()) return;
  std::shared_ptr<State> state(std::move(state_));
  loop_.post([state]() mutable { state.reset(); });
}

void Pool::start(std::function<void(Status)> on_ready) {
  loop_.post([self = shared_from_this(), on_ready = std::move(on_ready)]() mutable {
    State& state = *self->state_;
    if (state.started) {
      if (on_ready) on_ready(Ok{});
      return;
    }
    state.started = true;
    state.schedule_maintenance();
    state.schedule_health_check();
    if (self->config_.lazy || self->config_.size == 0) {
      if (on_ready) on_ready(Ok{});
      return;
    }
    if (on_ready) state.on_ready.push_back(std::move(on_ready));
    for (std::size_t i = 0; i < self->config_.size; ++i) state.spawn_worker(false);
  });
}

Status Pool::start_and_wait() {
  std::promise<Status> ready;
  start([&ready](Status status) { ready.set_value(std::move(status)); });
  return ready.get_future().get();
}

CallHandle Pool::submit(CallRequest request, CallHandler on_done) {
  const CallHandle handle = next_handle_++;
  auto call = std::make_shared<PendingCall>();
  call->handle = handle;
  call->submitted = Clock::now();
  // Capped at a week, so that a huge timeout cannot overflow the clock.
  call->deadline = call->submitted + std::min<std::chrono::milliseconds>(
                                         request.timeout.value_or(config_.request_timeout),
                                         std::chrono::hours(24 * 7));
  call->request = std::move(request);
  call->on_done = std::move(on_done);
  loop_.post([self = shared_from_this(), call = std::move(call)]() mutable {
    call->seq = self->state_->next_seq++;
    self->state_->enqueue(std::move(call));
  });
  return handle;
}

std::future<Result<json>> Pool::submit(CallRequest request) {
  auto promise = std::make_shared<std::promise<Result<json>>>();
  auto future = promise->get_future();
  submit(std::move(request),
         [promise](Result<json> result) { promise->set_value(std::move(result)); });
  return future;
}

Result<json> Pool::call(CallRequest request) { return submit(std::move(request)).get(); }

void Pool::cancel(CallHandle handle) {
  loop_.post([self = shared_from_this(), handle] { self->state_->cancel(handle); });
}

Result<session::SessionInfo> Pool::create_session(const std::string& id) {
  return loop_.run_sync([&] { return state_->create_session(id); });
}

Status Pool::end_session(const std::string& id) {
  return loop_.run_sync([&] { return state_->end_session(id, "ended by the caller"); });
}

std::vector<session::SessionInfo> Pool::sessions() {
  return loop_.run_sync([&] {
    std::vector<session::SessionInfo> list;
    for (const auto& [id, s] : state_->sessions.all()) list.push_back(state_->info(s));
    return list;
  });
}

PoolStats Pool::stats() {
  return loop_.run_sync([&] { return state_->snapshot(); });
}

void Pool::restart() {
  loop_.post([self = shared_from_this()] {
    State& state = *self->state_;
    if (state.pool_state != PoolState::kFailed) return;
    spdlog::info("bridge '{}': restarting after failure", state.bridge());
    state.pool_state = PoolState::kRunning;
    state.restarts.reset();
    state.last_error.clear();
    state.schedule_maintenance();
    state.schedule_health_check();
    while (state.live_slots() < self->config_.size) state.spawn_worker(false);
  });
}

void Pool::drain(std::function<void()> on_drained) {
  loop_.post([self = shared_from_this(), on_drained = std::move(on_drained)]() mutable {
    if (on_drained) self->state_->on_drained.push_back(std::move(on_drained));
    self->state_->drain();
  });
}

void Pool::drain_and_wait() {
  std::promise<void> drained;
  drain([&drained] { drained.set_value(); });
  drained.get_future().wait();
}

}  // namespace mlbridge::pool
