#include "mlbridge/worker/worker.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>

#include "call_table.hpp"
#include "channel.hpp"
#include "child_process.hpp"
#include "mlbridge/process/python_traceback.hpp"
#include "worker_context.hpp"

namespace mlbridge::worker {

namespace asio = boost::asio;
using detail::ms_text;
using std::chrono::milliseconds;

std::string_view to_string(WorkerState state) {
  switch (state) {
    case WorkerState::kIdle:
      return "idle";
    case WorkerState::kStarting:
      return "starting";
    case WorkerState::kReady:
      return "ready";
    case WorkerState::kStopping:
      return "stopping";
    case WorkerState::kExited:
      return "exited";
  }
  return "unknown";
}

namespace {

// Writing to a pipe whose reader died must give EPIPE, not kill the host.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

spdlog::level::level_enum log_level(const std::string& level) {
  if (level == "debug") return spdlog::level::debug;
  if (level == "warning" || level == "warn") return spdlog::level::warn;
  if (level == "error" || level == "critical") return spdlog::level::err;
  return spdlog::level::info;
}

CallOptions timeout_only(milliseconds timeout) {
  CallOptions options;
  options.timeout = timeout;
  return options;
}

}  // namespace

// The worker's life: start (spawn, hello, init), requests, stop and exit. The process, the
// stream and the calls in flight are its parts (child_process, channel, call_table); this is
// where they meet.
struct Worker::Impl {
  Impl(Worker& owner, asio::io_context& io, process::SpawnerPtr spawner)
      : self(owner),
        io(io),
        spawner(std::move(spawner)),
        context(owner.config_,
                [&owner]() -> std::shared_ptr<void> { return owner.shared_from_this(); }),
        child(io, context),
        channel(io, context),
        calls(io, context, call_hooks()),
        startup_timer(io),
        stop_timer(io) {}

  Worker& self;
  asio::io_context& io;
  process::SpawnerPtr spawner;
  detail::WorkerContext context;
  detail::ChildProcess child;
  detail::Channel channel;
  detail::CallTable calls;
  asio::steady_timer startup_timer;
  asio::steady_timer stop_timer;

  StartHandler on_started;
  std::vector<std::function<void()>> on_stopped;
  std::optional<Error> fatal;  // why the worker is being killed, when the host decided it
  bool stop_requested = false;

  std::shared_ptr<Worker> keep_alive() { return self.shared_from_this(); }
  std::string prefix() const { return context.prefix(); }

  detail::CallTable::Hooks call_hooks() {
    detail::CallTable::Hooks hooks;
    hooks.worker_alive = [this] { return child.alive(); };
    hooks.send_cancel = [this](CallId id) {
      if (auto frame = channel.encode(protocol::to_json(protocol::Cancel{id}))) {
        channel.enqueue(std::move(*frame));
      }
    };
    hooks.interrupt = [this](CallId id) { child.interrupt(id); };
    hooks.kill_worker = [this](Error error) { kill_for(std::move(error)); };
    hooks.condemn = [this] { self.condemned_ = true; };
    return hooks;
  }

  // ---- start -------------------------------------------------------------------------------

  void start() {
    auto spec = make_process_spec(self.config_);
    channel.add_shared_blobs(spec);  // fds 3 and 4 when used
    child.add_cancel_pipe(spec);     // after them
    auto pipes = child.spawn(*spawner, spec,
                             [this](process::ExitStatus status) { on_exit(std::move(status)); });
    if (!pipes) {
      self.state_ = WorkerState::kExited;
      Error error = context.make_error(ErrorCategory::kBridgeUnavailable,
                                       prefix() + " " + pipes.error().message);
      asio::post(io,
                 [this, life = keep_alive(), error]() mutable { finish_start(std::move(error)); });
      return;
    }
    self.pid_ = child.pid();
    spdlog::debug("{} started as pid {}", prefix(), self.pid_);
    channel.open(pipes->stdin_fd, pipes->stdout_fd,
                 {[this](protocol::WorkerMessage message) { dispatch(std::move(message)); },
                  [this](const std::string& what) { protocol_violation(what); },
                  [this] { on_stdout_closed(); },
                  [this](std::uint64_t id) { return calls.wants_result_text(id); }});
    startup_timer.expires_after(self.config_.startup_timeout);
    startup_timer.async_wait([this, life = keep_alive()](const boost::system::error_code& ec) {
      if (ec || self.state_ != WorkerState::kStarting) return;
      const char* stage = self.hello_.protocol == 0 ? "sent no hello" : "did not finish init";
      kill_for(context.make_error(ErrorCategory::kBridgeUnavailable,
                                  prefix() + " " + stage + " within startup_ms " +
                                      ms_text(self.config_.startup_timeout) +
                                      "; it was killed (raise timeouts.startup_ms if the "
                                      "framework imports slowly)"));
    });
  }

  void finish_start(Result<protocol::Hello> outcome) {
    startup_timer.cancel();
    if (auto handler = std::exchange(on_started, nullptr)) handler(std::move(outcome));
  }

  void on_hello(protocol::Hello hello) {
    // A worker asked to stop before its hello arrived is on its way out: its first hello is no
    // violation, and there is nothing left to initialise.
    if (self.state_ == WorkerState::kStopping && self.hello_.protocol == 0) {
      self.hello_ = std::move(hello);
      return;
    }
    if (self.state_ != WorkerState::kStarting || self.hello_.protocol != 0) {
      protocol_violation("sent a second hello");
      return;
    }
    if (hello.protocol != protocol::kProtocolVersion) {
      kill_for(context.make_error(ErrorCategory::kBridgeUnavailable,
                                  prefix() + " speaks protocol " + std::to_string(hello.protocol) +
                                      ", but this host speaks protocol " +
                                      std::to_string(protocol::kProtocolVersion) +
                                      "; update the mlbridge Python package or the host"));
      return;
    }
    self.hello_ = std::move(hello);
    child.forget_startup_stderr();  // only a worker that never said hello needs it
    const bool concurrent = adopt_concurrency();
    self.pipelining_ = self.hello_.pipelining && !concurrent && child.has_cancel_pipe();
    if (concurrent && child.has_cancel_pipe()) {
      spdlog::debug("{} runs calls side by side: it is cancelled by messages, not the cancel pipe",
                    prefix());
      child.drop_cancel_pipe();
    } else if (!self.pipelining_ && child.has_cancel_pipe()) {
      spdlog::info(
          "{} gets one call at a time whatever pool.pipeline_depth says: its hello "
          "does not say it reads the cancel pipe (\"pipelining\": true)",
          prefix());
      child.drop_cancel_pipe();
    }
    calls.set_mode(concurrent, self.pipelining_);
    channel.use_shared_blobs(self.hello_.shared_blobs);
    const auto remaining = std::chrono::duration_cast<milliseconds>(
        startup_timer.expiry() - asio::steady_timer::clock_type::now());
    send("init", json{{"options", self.config_.init_options}},
         timeout_only(std::max(remaining, milliseconds(1))), [this](Result<json> result) {
           if (self.state_ != WorkerState::kStarting) return;
           if (!result) {
             Error error = std::move(result).error();
             error.category = ErrorCategory::kBridgeUnavailable;
             error.message = prefix() + " failed in initialize(): " + error.message;
             kill_for(std::move(error));
             return;
           }
           self.state_ = WorkerState::kReady;
           finish_start(self.hello_);
         });
  }

  // Clamps the hello's claim to [1, kMaxWorkerConcurrency] (a claim out of range is a bug in the
  // worker: said once, in the log), then to the configured pool.max_concurrency. True when the
  // worker runs calls side by side.
  bool adopt_concurrency() {
    const std::int64_t claimed = self.hello_.concurrency;
    const auto most = static_cast<std::int64_t>(kMaxWorkerConcurrency);
    const std::int64_t clamped = std::clamp<std::int64_t>(claimed, 1, most);
    if (claimed < 1) {
      spdlog::warn("{} claims concurrency {} in its hello; it is treated as 1 (one call at a time)",
                   prefix(), claimed);
    } else if (claimed > most) {
      spdlog::warn(
          "{} claims concurrency {} in its hello, more than the host lets one worker hold; it "
          "gets at most {} calls at once",
          prefix(), claimed, most);
    }
    self.hello_.concurrency = clamped;
    std::size_t capacity = static_cast<std::size_t>(clamped);
    if (self.config_.max_concurrency) capacity = std::min(capacity, *self.config_.max_concurrency);
    self.capacity_ = std::max<std::size_t>(capacity, 1);
    return clamped > 1;
  }

  // ---- requests ----------------------------------------------------------------------------

  CallId send(std::string command, json args, CallOptions options, CallHandler on_done) {
    const CallId id = calls.reserve_id();
    protocol::Request request{id,
                              command,
                              std::move(args),
                              std::move(options.session_id),
                              options.timeout.count(),
                              std::move(options.session_state),
                              std::move(options.encoded_args)};
    auto frame = channel.encode_request(std::move(request));
    if (!frame) {
      Error error = context.make_error(ErrorCategory::kInvalidArgument,
                                       "request '" + command + "' is too large to send to " +
                                           prefix() + ": " + frame.error().message,
                                       command);
      asio::post(io,
                 [handler = std::move(on_done), error]() mutable { handler(std::move(error)); });
      return id;
    }
    calls.add(id, std::move(command), std::move(options), std::move(on_done));
    channel.enqueue(std::move(*frame));
    return id;
  }

  // ---- reading -----------------------------------------------------------------------------

  void dispatch(protocol::WorkerMessage message) {
    if (auto* hello = std::get_if<protocol::Hello>(&message)) {
      on_hello(std::move(*hello));
      return;
    }
    if (self.hello_.protocol == 0 && !std::holds_alternative<protocol::Log>(message)) {
      protocol_violation("sent a message before its hello");
      return;
    }
    if (auto* response = std::get_if<protocol::Response>(&message)) {
      if (!response->id) {
        protocol_violation("answered with an error for no request id: " + response->error.type +
                           ": " + response->error.message);
        return;
      }
      calls.on_response(*response->id, std::move(*response));
    } else if (auto* chunk = std::get_if<protocol::Chunk>(&message)) {
      calls.on_chunk(std::move(*chunk));
    } else if (auto* log = std::get_if<protocol::Log>(&message)) {
      spdlog::log(log_level(log->level), "[{}/{}] {}", self.config_.bridge, self.config_.worker_id,
                  context.redactor.redact(std::move(log->message)));
    }
  }

  void on_stdout_closed() {
    if (channel.mid_frame() && !fatal) {
      fatal = context.make_error(ErrorCategory::kProtocolError,
                                 prefix() + " closed its stdout in the middle of a frame (" +
                                     std::to_string(channel.buffered()) + " bytes of it received)");
    }
    if (child.reaped()) return;
    // Without stdout the worker is useless; give it a moment to exit on its own (a worker that
    // exits closes its stdout first), then kill it and say why.
    stop_timer.expires_after(self.config_.kill_timeout);
    stop_timer.async_wait([this, life = keep_alive()](const boost::system::error_code& ec) {
      if (ec || child.reaped()) return;
      if (stop_requested) {  // on its way out anyway: the stop's own report stands
        child.signal_to_end(SIGKILL);
        return;
      }
      kill_for(context.make_error(ErrorCategory::kWorkerCrashed,
                                  prefix() +
                                      " closed its stdout (the protocol pipe) but kept running, so "
                                      "it could not answer any more; the host stopped it after " +
                                      ms_text(self.config_.kill_timeout) +
                                      " (a bridge must never close its protocol stream)"));
    });
  }

  // ---- failures and exit -------------------------------------------------------------------

  void protocol_violation(const std::string& what) {
    kill_for(context.make_error(
        ErrorCategory::kProtocolError,
        prefix() + " broke the wire protocol: " + what + "; it was killed and will be replaced"));
  }

  // Records why the host is killing the worker, then kills its group. The exit handler reports it.
  void kill_for(Error error) {
    if (!fatal) fatal = error;
    channel.halt();  // nothing it sends from now on counts
    if (self.state_ == WorkerState::kStarting) finish_start(std::move(error));
    // A condemned worker takes no more calls until its exit is reported.
    if (self.state_ == WorkerState::kReady) self.state_ = WorkerState::kStopping;
    child.signal_to_end(SIGKILL);
  }

  void on_exit(const process::ExitStatus& status) {
    const bool expected = stop_requested && !fatal;
    self.state_ = WorkerState::kExited;
    // Reported once, through the start handler, as the configuration problem it is.
    std::optional<Error> import_failure = on_started ? failed_at_import(status) : std::nullopt;

    std::string reason = fatal ? fatal->message : prefix() + " " + status.describe();
    if (fatal) {
      // kill_for() sent that SIGKILL: no need to guess at the out-of-memory killer.
      reason += status.signal == SIGKILL ? " (the host killed its process group with SIGKILL)"
                                         : " (the worker then " + status.describe() + ")";
    }
    spdlog::log(expected || import_failure ? spdlog::level::debug : spdlog::level::warn, "{}{}",
                reason, expected ? "" : child.stderr_suffix());

    if (import_failure) {
      finish_start(std::move(*import_failure));
    } else if (on_started) {
      finish_start(context.make_error(
          ErrorCategory::kBridgeUnavailable,
          prefix() + " " + status.describe() + " before it was ready" + child.stderr_suffix()));
    }
    fail_pending(status);
    close_pipes();
    for (auto& callback : std::exchange(on_stopped, {})) callback();
    if (self.on_exit_) {
      self.on_exit_(WorkerExit{status, expected, child.stderr_tail(), reason});
    }
  }

  // A worker that exited on its own before its hello, with a failure status and a Python
  // traceback on stderr, could not import its bridge script (or failed in the SDK's set-up before
  // the hello): starting it again fails the same way, so this is a configuration problem, not a
  // crash to retry.
  std::optional<Error> failed_at_import(const process::ExitStatus& status) {
    if (fatal || stop_requested || self.hello_.protocol != 0 || status.signal != 0 ||
        status.exit_code == 0) {
      return std::nullopt;
    }
    auto traceback = process::find_python_traceback(child.startup_stderr());
    if (!traceback) return std::nullopt;
    // The SDK's loader of the user's code (YAML `code:`) says in one line which module failed and
    // how ("code module 'x' failed to import: KeyError: ..."): that line is the message.
    const bool user_code = traceback->type == "UserCodeError";
    if (user_code) {
      const auto colon = traceback->exception.find(": ");
      if (colon != std::string::npos) traceback->exception.erase(0, colon + 2);
    }
    Error error = context.make_error(
        ErrorCategory::kInvalidConfiguration,
        user_code
            ? "bridge '" + self.config_.bridge + "': its declared code failed to load: " +
                  context.redactor.redact(traceback->exception) +
                  " (traceback below); fix the module or the bridge's code: key, or "
                  "install what it imports into the environment of " +
                  self.config_.python + ", then start the bridge again"
            : "bridge '" + self.config_.bridge + "': the bridge script failed at import: " +
                  context.redactor.redact(traceback->exception) + " (traceback below); fix " +
                  self.config_.script + " or install what it imports into the environment of " +
                  self.config_.python + ", then start the bridge again");
    error.retryable = false;
    error.python_type = traceback->type;
    error.traceback = context.redactor.redact(std::move(traceback->text));
    return error;
  }

  // Every call the worker still held is answered once, oldest first.
  void fail_pending(const process::ExitStatus& status) {
    while (auto oldest = calls.oldest()) {
      const auto& [id, command] = *oldest;
      Error error;
      if (!calls.has_started(id)) {
        // It waited in the worker's stdin behind the request that was running: never started.
        error = context.make_error(ErrorCategory::kWorkerCrashed,
                                   prefix() + " " + status.describe() + " before it started '" +
                                       command + "' (it was waiting behind another request)",
                                   command);
      } else if (fatal) {
        error = *fatal;
        error.command = command;
        error.message += " [during '" + command + "']";
      } else if (stop_requested) {
        error = context.make_error(
            ErrorCategory::kCancelled,
            "'" + command + "' did not finish before " + prefix() + " was stopped", command);
      } else {
        error = context.make_error(ErrorCategory::kWorkerCrashed,
                                   prefix() + " " + status.describe() + " during '" + command +
                                       "'" + child.stderr_suffix(),
                                   command);
      }
      calls.complete(id, std::move(error));
    }
  }

  void close_pipes() {
    startup_timer.cancel();
    stop_timer.cancel();
    calls.stop_timers();
    channel.close();
    child.close();
  }

  // ---- stop --------------------------------------------------------------------------------

  void stop() {
    stop_requested = true;
    self.state_ = WorkerState::kStopping;
    send("shutdown", json::object(), timeout_only(self.config_.shutdown_timeout),
         [](Result<json>) {});
    channel.close_input_when_written();
    stop_timer.expires_after(self.config_.shutdown_timeout);
    stop_timer.async_wait([this, life = keep_alive()](const boost::system::error_code& ec) {
      if (ec || child.reaped()) return;
      spdlog::warn("{} did not exit within shutdown_ms {}; sending SIGTERM", prefix(),
                   ms_text(self.config_.shutdown_timeout));
      child.signal_to_end(SIGTERM);
      stop_timer.expires_after(self.config_.kill_timeout);
      stop_timer.async_wait([this, life = keep_alive()](const boost::system::error_code& ec2) {
        if (ec2 || child.reaped()) return;
        spdlog::warn("{} ignored SIGTERM; sending SIGKILL", prefix());
        child.signal_to_end(SIGKILL);
      });
    });
  }
};

WorkerPtr Worker::create(asio::io_context& io, WorkerConfig config, process::SpawnerPtr spawner) {
  ignore_sigpipe_once();
  return WorkerPtr(new Worker(io, std::move(config), std::move(spawner)));
}

Worker::Worker(asio::io_context& io, WorkerConfig config, process::SpawnerPtr spawner)
    : config_(std::move(config)) {
  impl_ = std::make_unique<Impl>(*this, io, std::move(spawner));
}

// The child process kills its group and reaps it if that has not happened yet.
Worker::~Worker() = default;

void Worker::start(StartHandler on_started) {
  if (state_ != WorkerState::kIdle) {
    Error error = impl_->context.make_error(ErrorCategory::kInternal,
                                            impl_->prefix() + " was already started");
    asio::post(impl_->io, [handler = std::move(on_started), error]() mutable { handler(error); });
    return;
  }
  state_ = WorkerState::kStarting;
  impl_->on_started = std::move(on_started);
  impl_->start();
}

CallId Worker::call(std::string command, json args, CallOptions options, CallHandler on_done) {
  if (state_ != WorkerState::kReady) {
    Error error = impl_->context.make_error(
        ErrorCategory::kBridgeUnavailable,
        impl_->prefix() + " cannot take '" + command + "': it is " + std::string(to_string(state_)),
        command);
    asio::post(impl_->io, [handler = std::move(on_done), error]() mutable { handler(error); });
    return 0;
  }
  return impl_->send(std::move(command), std::move(args), std::move(options), std::move(on_done));
}

bool Worker::cancel(CallId id) { return impl_->calls.cancel(id); }

void Worker::stop(std::function<void()> on_stopped) {
  if (on_stopped) impl_->on_stopped.push_back(std::move(on_stopped));
  if (impl_->child.reaped() || state_ == WorkerState::kIdle) {
    state_ = WorkerState::kExited;
    impl_->child.mark_reaped();
    asio::post(impl_->io, [this, life = shared_from_this()] {
      for (auto& callback : std::exchange(impl_->on_stopped, {})) callback();
    });
    return;
  }
  if (impl_->stop_requested) return;
  impl_->stop();
}

void Worker::kill() {
  if (pid_ > 0) impl_->child.signal_to_end(SIGKILL);
}

std::size_t Worker::in_flight() const { return impl_->calls.size(); }

bool Worker::has_started(CallId id) const { return impl_->calls.has_started(id); }

std::vector<std::string> Worker::stderr_tail() const { return impl_->child.stderr_tail(); }

}  // namespace mlbridge::worker
