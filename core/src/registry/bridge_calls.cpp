// The road of one call through a bridge: argument shaping, the circuit breaker, the pool, and
// retries of idempotent commands; also fire-and-forget calls.

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>

#include "mlbridge/registry/bridge.hpp"
#include "mlbridge/registry/host_commands.hpp"

namespace mlbridge::registry {

using Clock = std::chrono::steady_clock;

// A call that may take several attempts. Touched on the loop thread, except `mutex`-guarded
// members, which cancel() reads from any thread.
struct Bridge::Call {
  pool::CallRequest request;  // the template of every attempt (args kept for retries)
  pool::CallHandler on_done;
  RetryObserver on_retry;
  std::shared_ptr<const ops::RetryPolicy> policy;
  bool retriable = false;  // an idempotent, unstreamed command
  std::uint32_t attempt = 0;
  Clock::time_point deadline;
  Clock::time_point attempt_started;  // of the current attempt: how long a retry may take
  std::unique_ptr<boost::asio::steady_timer> backoff;

  std::mutex mutex;
  pool::CallHandle first_handle = 0;
  pool::CallHandle current_handle = 0;
  bool cancelled = false;
  bool done = false;
};

namespace {

std::string attempts_text(std::uint32_t attempts) {
  return std::to_string(attempts) + (attempts == 1 ? " attempt" : " attempts");
}

Error with_attempts(Error error, std::uint32_t attempts, const std::string& why_stopped) {
  error.message += " (gave up after " + attempts_text(attempts) +
                   (why_stopped.empty() ? "" : "; " + why_stopped) + ")";
  return error;
}

}  // namespace

pool::CallHandle Bridge::execute(pool::CallRequest request, pool::CallHandler on_done,
                                 RetryObserver on_retry) {
  // Every client call enters here; the host's own built-ins reach workers by other roads.
  if (is_host_command(request.command)) {
    on_done(no_such_command(name(), request.command));
    return 0;
  }
  if (request.encoded_args && adapter_->shapes_args()) {
    // The plugin's hook needs the args as a DOM: decode them, then take the normal path.
    request.args = protocol::decode_encoded_args(request.encoded_args->msgpack);
    request.encoded_args.reset();
  }
  auto shaped = adapter_->shape_args(request.command, std::move(request.args));
  if (!shaped) {
    Error error = std::move(shaped).error();
    error.bridge = name();
    error.command = request.command;
    on_done(std::move(error));
    return 0;
  }
  request.args = std::move(*shaped);
  auto call = std::make_shared<Call>();
  std::chrono::milliseconds default_timeout{};
  {
    std::lock_guard lock(mutex_);
    call->policy = policy_;
    default_timeout = config_.timeouts.request;
  }
  call->retriable = call->policy->settings().max_attempts > 1 &&
                    call->policy->is_idempotent(request.command) && !request.on_chunk;
  // Capped at a week, like the pool's, so that a huge timeout cannot overflow the clock.
  call->deadline =
      Clock::now() + std::min<std::chrono::milliseconds>(request.timeout.value_or(default_timeout),
                                                         std::chrono::hours(24 * 7));
  call->request = std::move(request);
  call->on_done = std::move(on_done);
  call->on_retry = std::move(on_retry);
  if (call->retriable) budget_.deposit();
  run_attempt(call);
  std::lock_guard lock(call->mutex);
  if (call->retriable && !call->done && call->first_handle != 0) {
    std::lock_guard calls_lock(calls_mutex_);
    retriable_calls_[call->first_handle] = call;
  }
  return call->first_handle;
}

void Bridge::run_attempt(const CallPtr& call) {
  ++call->attempt;
  call->attempt_started = Clock::now();
  auto admission = breaker_.admit(Clock::now(), name(), call->request.command);
  if (!admission.allowed) {
    Error error = std::move(*admission.rejection);
    complete(call, call->attempt > 1 ? with_attempts(std::move(error), call->attempt, "") : error);
    return;
  }
  pool::CallRequest attempt;
  attempt.command = call->request.command;
  attempt.args = call->retriable ? call->request.args : std::move(call->request.args);
  attempt.session_id = call->request.session_id;
  attempt.on_chunk = std::move(call->request.on_chunk);
  attempt.timeout = call->request.timeout;
  attempt.avoid_worker = call->request.avoid_worker;
  attempt.encoded_args = call->request.encoded_args;
  attempt.result_as_json_text = call->request.result_as_json_text;
  attempt.on_started = call->request.on_started;
  if (call->retriable) {  // later attempts get what is left of the call's deadline
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(call->deadline - Clock::now());
    attempt.timeout = std::max(left, std::chrono::milliseconds(1));
  }
  const bool probe = admission.probe;
  const auto handle =
      pool_->submit(std::move(attempt), [self = shared_from_this(), call, probe](Result<json> r) {
        self->on_attempt_done(call, probe, std::move(r));
      });
  bool cancelled = false;
  {
    std::lock_guard lock(call->mutex);
    if (call->first_handle == 0) call->first_handle = handle;
    call->current_handle = handle;
    cancelled = call->cancelled;
  }
  if (cancelled) pool_->cancel(handle);  // cancelled while this attempt was being submitted
}

void Bridge::on_attempt_done(const CallPtr& call, bool probe, Result<json> result) {
  const auto now = Clock::now();
  breaker_.record(result ? nullptr : &result.error(), probe, now);
  if (result || !call->retriable) return complete(call, std::move(result));
  Error error = std::move(result).error();
  const auto& settings = call->policy->settings();
  bool cancelled = false;
  {
    std::lock_guard lock(call->mutex);
    cancelled = call->cancelled;
  }
  if (cancelled) return complete(call, std::move(error));  // complete() takes the lock itself
  if (!ops::RetryPolicy::is_retryable(error)) {
    return complete(call, call->attempt > 1 ? with_attempts(std::move(error), call->attempt, "")
                                            : std::move(error));
  }
  if (call->attempt >= settings.max_attempts) {
    return complete(
        call, with_attempts(std::move(error), call->attempt,
                            "retry.max_attempts is " + std::to_string(settings.max_attempts)));
  }
  const auto delay = call->policy->backoff(call->attempt + 1, rng_);
  const auto last_attempt = now - call->attempt_started;
  if (!ops::RetryPolicy::fits_before_deadline(now, delay, last_attempt, call->deadline)) {
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(last_attempt);
    return complete(call, with_attempts(std::move(error), call->attempt,
                                        "no time left before the call's deadline for another "
                                        "attempt like the last, which took " +
                                            std::to_string(took.count()) + " ms"));
  }
  if (!budget_.withdraw()) {
    return complete(call, with_attempts(std::move(error), call->attempt,
                                        "the retry budget of bridge '" + name() +
                                            "' is used up (retry.budget, retry.budget_percent)"));
  }
  spdlog::info("bridge '{}': retrying '{}' (attempt {} of {}) in {} ms after {}", name(),
               call->request.command, call->attempt + 1, settings.max_attempts, delay.count(),
               error.describe());
  if (call->on_retry) call->on_retry(call->attempt + 1, error);
  if (!error.worker_id.empty()) call->request.avoid_worker = error.worker_id;
  call->backoff = std::make_unique<boost::asio::steady_timer>(loop_.context(), delay);
  call->backoff->async_wait([self = shared_from_this(), call,
                             error = std::move(error)](const boost::system::error_code&) mutable {
    bool cancelled = false;
    {
      std::lock_guard lock(call->mutex);
      cancelled = call->cancelled;
    }
    if (cancelled) {
      error.category = ErrorCategory::kCancelled;
      error.retryable = false;
      error.message = "'" + call->request.command + "' was cancelled while waiting to retry";
      return self->complete(call, std::move(error));
    }
    if (self->draining_) {
      return self->complete(
          call, with_attempts(std::move(error), call->attempt, "the bridge is draining"));
    }
    self->run_attempt(call);
  });
}

void Bridge::stop_retrying() {
  draining_ = true;
  std::vector<CallPtr> waiting;
  {
    std::lock_guard lock(calls_mutex_);
    for (const auto& [handle, call] : retriable_calls_) waiting.push_back(call);
  }
  // Calls waiting out a backoff end now, with their last error, instead of after the pool went.
  loop_.run_sync([&] {
    for (const auto& call : waiting) {
      if (call->backoff) call->backoff->cancel();
    }
  });
}

void Bridge::complete(const CallPtr& call, Result<json> result) {
  pool::CallHandle first = 0;
  {
    std::lock_guard lock(call->mutex);
    call->done = true;
    first = call->first_handle;
  }
  if (call->retriable && first != 0) {
    std::lock_guard lock(calls_mutex_);
    retriable_calls_.erase(first);
  }
  auto handler = std::move(call->on_done);
  handler(std::move(result));
}

void Bridge::cancel(pool::CallHandle handle) {
  CallPtr call;
  {
    std::lock_guard lock(calls_mutex_);
    if (auto it = retriable_calls_.find(handle); it != retriable_calls_.end()) call = it->second;
  }
  if (!call) {
    pool_->cancel(handle);
    return;
  }
  pool::CallHandle current = 0;
  {
    std::lock_guard lock(call->mutex);
    call->cancelled = true;
    current = call->current_handle;
  }
  pool_->cancel(current);
  // A call waiting out its backoff is woken so it completes as cancelled.
  loop_.post([call] {
    if (call->backoff) call->backoff->cancel();
  });
}

std::future<Result<json>> Bridge::execute(pool::CallRequest request) {
  auto promise = std::make_shared<std::promise<Result<json>>>();
  auto future = promise->get_future();
  execute(std::move(request),
          [promise](Result<json> result) { promise->set_value(std::move(result)); });
  return future;
}

pool::CallHandle Bridge::cast(pool::CallRequest request, const std::string& call_id,
                              pool::CallHandler on_done) {
  ++casts_;
  const std::string command = request.command;
  return execute(std::move(request), [self = shared_from_this(), call_id, command,
                                      on_done = std::move(on_done)](Result<json> result) {
    if (!result) {
      ++self->cast_failures_;
      spdlog::warn("fire-and-forget call {} ('{}' on bridge '{}') failed: {}", call_id, command,
                   self->name(), result.error().describe());
    }
    if (on_done) on_done(std::move(result));
  });
}

}  // namespace mlbridge::registry
