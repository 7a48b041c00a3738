#include "mlbridge/pool/pool.hpp"

#include <boost/asio/post.hpp>
#include <future>

#include "pool_state.hpp"

namespace mlbridge::pool {

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

PoolPtr Pool::create(runtime::EventLoop& loop, PoolConfig config, process::SpawnerPtr spawner) {
  return PoolPtr(new Pool(loop, std::move(config), std::move(spawner)));
}

Pool::Pool(runtime::EventLoop& loop, PoolConfig config, process::SpawnerPtr spawner)
    : loop_(loop),
      config_(std::move(config)),
      session_states_(config_.session_states ? config_.session_states
                                             : std::make_shared<session::StateStore>()) {
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
  call->request = std::move(request);
  call->on_done = std::move(on_done);
  loop_.post([self = shared_from_this(), call = std::move(call)]() mutable {
    // On the loop thread, which owns the settings; capped at a week, so that a huge timeout
    // cannot overflow the clock.
    call->deadline =
        call->submitted + std::min<std::chrono::milliseconds>(
                              call->request.timeout.value_or(self->config_.request_timeout),
                              std::chrono::hours(24 * 7));
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

void Pool::replace_session(const std::string& id, std::optional<json> journal) {
  loop_.post([self = shared_from_this(), id, journal = std::move(journal)] {
    self->state_->replace_session(id, journal);
  });
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

PoolConfig Pool::config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

void Pool::reconfigure(PoolConfig config, std::function<void()> on_applied) {
  loop_.post([self = shared_from_this(), config = std::move(config),
              on_applied = std::move(on_applied)]() mutable {
    self->state_->reconfigure(std::move(config));
    if (on_applied) on_applied();
  });
}

void Pool::reconfigure_and_wait(PoolConfig config) {
  std::promise<void> applied;
  reconfigure(std::move(config), [&applied] { applied.set_value(); });
  applied.get_future().wait();
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
