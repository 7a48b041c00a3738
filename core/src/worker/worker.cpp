#include "mlbridge/worker/worker.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <mutex>

#include "mlbridge/process/python_traceback.hpp"
#include "mlbridge/runtime/deadline_queue.hpp"
#include "stderr_collector.hpp"

namespace mlbridge::worker {

namespace asio = boost::asio;
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

// async_write's own completion conditions cap each write at 64 KiB, so a 16 MiB frame took 256
// writes, each a trip through the loop; let every write fill as much of the 1 MiB pipe as it can.
std::size_t whole_pipe_writes(const boost::system::error_code& ec, std::size_t /*written*/) {
  return ec ? 0 : std::numeric_limits<std::size_t>::max();
}

std::string ms_text(milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

// What a worker wrote to stderr before its hello is kept (its last bytes, up to this bound) to
// find an import-time traceback in; the stderr tail keeps only a few lines of it.
constexpr std::size_t kStartupStderrBytes = 64 * 1024;

// The longest a condemned worker waits for its other calls' deadlines before it is killed.
constexpr milliseconds kCondemnedHardBoundCap = std::chrono::minutes(10);

spdlog::level::level_enum log_level(const std::string& level) {
  if (level == "debug") return spdlog::level::debug;
  if (level == "warning" || level == "warn") return spdlog::level::warn;
  if (level == "error" || level == "critical") return spdlog::level::err;
  return spdlog::level::info;
}

}  // namespace

struct PendingCall {
  enum class Interrupt { kNone, kTimeout, kCancel };
  std::string command;
  Worker::CallHandler on_done;
  std::function<void(json)> on_chunk;
  std::function<void(json, json)> on_session_update;
  // Its deadline in Impl::deadlines, until it completes or the deadline passed.
  std::optional<runtime::DeadlineQueue::Ticket> deadline;
  // Started when the call was interrupted: how long the worker has to honour SIGINT.
  std::unique_ptr<asio::steady_timer> grace_timer;
  milliseconds timeout{0};
  Interrupt interrupt = Interrupt::kNone;
};

CallOptions timeout_only(milliseconds timeout) {
  CallOptions options;
  options.timeout = timeout;
  return options;
}

struct Worker::Impl {
  Impl(Worker& owner, asio::io_context& io, process::SpawnerPtr spawner)
      : self(owner),
        io(io),
        spawner(std::move(spawner)),
        reader(owner.config_.max_frame_bytes),
        redactor(telemetry::Redactor::for_environment(owner.config_.env)),
        stderr_log(owner.config_.bridge + "/" + owner.config_.worker_id,
                   owner.config_.stderr_tail_lines, redactor),
        startup_timer(io),
        stop_timer(io),
        retire_timer(io),
        deadlines(io, [this](CallId id) { on_deadline(id); }) {}

  Worker& self;
  asio::io_context& io;
  process::SpawnerPtr spawner;
  std::optional<asio::posix::stream_descriptor> stdin_pipe, stdout_pipe, stderr_pipe, pid_pipe;
  // Shared memory for large bytes (protocol/shared_blobs.hpp): created at spawn, used once the
  // hello says the worker mapped them, dropped otherwise.
  std::optional<protocol::SharedBlobs> blobs_out, blobs_in;
  bool shared_blobs = false;
  // The cancel pipe (WorkerConfig::cancel_pipe): the host writes the 8-byte big-endian id of each
  // request it cancels, then sends SIGINT; the worker's SIGINT handler reads the ids. The read end
  // is the child's, closed here once it was spawned.
  process::UniqueFd cancel_read, cancel_write;
  // Requests written to the worker and not yet answered by it, oldest first. A worker serving one
  // request at a time runs the front one; the others wait in its stdin.
  std::deque<CallId> unanswered;
  protocol::FrameReader reader;
  // The worker's secrets (env values), blanked out of its stderr, log frames and errors.
  telemetry::Redactor redactor;
  StderrCollector stderr_log;
  std::array<char, 8192> stderr_buffer{};
  std::string startup_stderr;  // stderr before the hello, the last kStartupStderrBytes of it
  asio::steady_timer startup_timer;
  asio::steady_timer stop_timer;
  // A condemned worker's hard bound: when it fires, the group is killed whatever still runs.
  asio::steady_timer retire_timer;
  runtime::DeadlineQueue deadlines;  // every pending call's timeout
  // The hello says the worker runs calls side by side (concurrency > 1): it answers in any order
  // and is cancelled per call by a `cancel` message, never by SIGINT.
  bool concurrent = false;

  std::map<CallId, PendingCall> pending;  // ordered by id: the oldest is the running one
  CallId next_id = 1;
  // Frames waiting for the next write, and the ones the current write carries. Everything queued
  // while a write is under way goes out together in the next one (one writev, one wake-up of the
  // worker), so a burst of pipelined requests costs the worker one read.
  std::vector<std::vector<std::uint8_t>> write_queue, being_written;
  std::vector<asio::const_buffer> write_buffers;
  bool writing = false;
  bool close_stdin_when_written = false;

  StartHandler on_started;
  std::vector<std::function<void()>> on_stopped;
  std::optional<Error> fatal;  // why the worker is being killed, when the host decided it
  bool stop_requested = false;
  bool reaped = false;
  // Signals the host sent to the worker's group to end it: its exit is then not a mystery.
  bool host_sent_sigterm = false;
  bool host_sent_sigkill = false;

  std::shared_ptr<Worker> keep_alive() { return self.shared_from_this(); }

  // ---- errors ------------------------------------------------------------------------------

  std::string prefix() const {
    return "bridge '" + self.config_.bridge + "': worker " + self.config_.worker_id;
  }

  Error make_error(ErrorCategory category, std::string message, const std::string& command = {}) {
    Error error = Error::make(category, std::move(message));
    error.bridge = self.config_.bridge;
    error.command = command;
    error.worker_id = self.config_.worker_id;
    return error;
  }

  std::string stderr_suffix() const {
    const std::string tail = stderr_log.summary();
    return tail.empty() ? "" : " (last stderr: " + tail + ")";
  }

  // Ends the worker's process group and remembers that the host did it, so that the exit report
  // does not guess at another sender.
  void signal_to_end(int signal) {
    if (reaped) return;
    (signal == SIGKILL ? host_sent_sigkill : host_sent_sigterm) = true;
    process::signal_group(self.pid_, signal);
  }

  // ---- start -------------------------------------------------------------------------------

  // The spec to spawn, with the shared-memory files when this worker may use them. A system that
  // refuses them costs nothing but speed: every byte then goes through the pipe.
  process::ProcessSpec spawn_spec() {
    auto spec = make_process_spec(self.config_);
    add_shared_blobs(spec);
    add_cancel_pipe(spec);
    return spec;
  }

  void add_shared_blobs(process::ProcessSpec& spec) {
    if (self.config_.codec != protocol::Codec::kMsgpack ||
        self.config_.shared_blob_min_bytes == 0) {
      return;
    }
    const std::size_t bound = 2 * self.config_.max_frame_bytes;
    auto out = protocol::SharedBlobs::create("mlbridge-to-" + self.config_.worker_id, bound);
    auto in = protocol::SharedBlobs::create("mlbridge-from-" + self.config_.worker_id, bound);
    if (!out || !in) {
      spdlog::warn("{}: large bytes go through the pipe: {}", prefix(),
                   (out ? in.error() : out.error()).message);
      return;
    }
    spec.inherited_fds = {out->fd(), in->fd()};
    spec.env["MLBRIDGE_SHARED_BLOBS"] =
        "3,4," + std::to_string(self.config_.shared_blob_min_bytes) + "," + std::to_string(bound);
    blobs_out.emplace(std::move(*out));
    blobs_in.emplace(std::move(*in));
  }

  // Without the pipe (none asked for, or none to be had) the worker gets one request at a time.
  void add_cancel_pipe(process::ProcessSpec& spec) {
    if (!self.config_.cancel_pipe) return;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      spdlog::warn("{}: no cancel pipe ({}); it gets one request at a time", prefix(),
                   std::strerror(errno));
      return;
    }
    cancel_read = process::UniqueFd(fds[0]);
    cancel_write = process::UniqueFd(fds[1]);
    ::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    spec.env["MLBRIDGE_CANCEL_FD"] = std::to_string(3 + spec.inherited_fds.size());
    spec.inherited_fds.push_back(fds[0]);
  }

  // Tells the worker which request to drop or interrupt: the id on the cancel pipe, then SIGINT,
  // whose handler reads it. An 8-byte write to a pipe is atomic; false if it could not be made.
  bool signal_cancel(CallId id) {
    std::array<std::uint8_t, 8> bytes{};
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(id >> (56 - 8 * i));
    ssize_t written;
    do {
      written = ::write(cancel_write.get(), bytes.data(), bytes.size());
    } while (written < 0 && errno == EINTR);
    if (written != static_cast<ssize_t>(bytes.size())) return false;
    ::kill(self.pid_, SIGINT);
    return true;
  }

  void start() {
    auto child = spawner->spawn(spawn_spec());
    cancel_read.reset();  // the child has its copy
    if (!child) {
      self.state_ = WorkerState::kExited;
      reaped = true;
      Error error = make_error(ErrorCategory::kBridgeUnavailable,
                               prefix() + " could not be started: " + child.error().message);
      asio::post(io,
                 [this, life = keep_alive(), error]() mutable { finish_start(std::move(error)); });
      return;
    }
    if (!child->pid_fd.valid()) {
      // Exit detection relies on pidfds (Linux 5.3+); without one the worker cannot be supervised.
      process::signal_group(child->pid, SIGKILL);
      ::waitpid(child->pid, nullptr, 0);
      self.state_ = WorkerState::kExited;
      reaped = true;
      Error error = make_error(ErrorCategory::kBridgeUnavailable,
                               prefix() +
                                   " could not be supervised: pidfd_open is not available "
                                   "(mlbridge needs Linux 5.3 or newer)");
      asio::post(io,
                 [this, life = keep_alive(), error]() mutable { finish_start(std::move(error)); });
      return;
    }
    self.pid_ = child->pid;
    stdin_pipe.emplace(io, child->stdin_fd.release());
    stdout_pipe.emplace(io, child->stdout_fd.release());
    stderr_pipe.emplace(io, child->stderr_fd.release());
    pid_pipe.emplace(io, child->pid_fd.release());
    spdlog::debug("{} started as pid {}", prefix(), self.pid_);
    read_stdout();
    read_stderr();
    wait_for_exit();
    startup_timer.expires_after(self.config_.startup_timeout);
    startup_timer.async_wait([this, life = keep_alive()](const boost::system::error_code& ec) {
      if (ec || self.state_ != WorkerState::kStarting) return;
      const char* stage = self.hello_.protocol == 0 ? "sent no hello" : "did not finish init";
      kill_for(make_error(ErrorCategory::kBridgeUnavailable,
                          prefix() + " " + stage + " within startup_ms " +
                              ms_text(self.config_.startup_timeout) +
                              "; it was killed (raise timeouts.startup_ms if the framework "
                              "imports slowly)"));
    });
  }

  // Clamps the hello's claim to [1, kMaxWorkerConcurrency] (a claim out of range is a bug in the
  // worker: said once, in the log), then to the configured pool.max_concurrency.
  void adopt_concurrency() {
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
    concurrent = clamped > 1;
    std::size_t capacity = static_cast<std::size_t>(clamped);
    if (self.config_.max_concurrency) capacity = std::min(capacity, *self.config_.max_concurrency);
    self.capacity_ = std::max<std::size_t>(capacity, 1);
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
      kill_for(make_error(ErrorCategory::kBridgeUnavailable,
                          prefix() + " speaks protocol " + std::to_string(hello.protocol) +
                              ", but this host speaks protocol " +
                              std::to_string(protocol::kProtocolVersion) +
                              "; update the mlbridge Python package or the host"));
      return;
    }
    self.hello_ = std::move(hello);
    std::string().swap(startup_stderr);  // only a worker that never said hello needs it
    adopt_concurrency();
    self.pipelining_ = self.hello_.pipelining && !concurrent && cancel_write.valid();
    if (concurrent && cancel_write.valid()) {
      spdlog::debug("{} runs calls side by side: it is cancelled by messages, not the cancel pipe",
                    prefix());
      cancel_write.reset();
    } else if (!self.pipelining_ && cancel_write.valid()) {
      spdlog::info(
          "{} gets one call at a time whatever pool.pipeline_depth says: its hello "
          "does not say it reads the cancel pipe (\"pipelining\": true)",
          prefix());
      cancel_write.reset();
    }
    shared_blobs = self.hello_.shared_blobs && blobs_out && blobs_in;
    if (!shared_blobs) {
      blobs_out.reset();
      blobs_in.reset();
    }
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

  // ---- requests ----------------------------------------------------------------------------

  CallId send(std::string command, json args, CallOptions options, CallHandler on_done) {
    const CallId id = next_id++;
    const milliseconds timeout = options.timeout;
    protocol::Request request{id,
                              command,
                              std::move(args),
                              std::move(options.session_id),
                              timeout.count(),
                              std::move(options.session_state)};
    auto frame = encode_request(std::move(request));
    if (!frame) {
      Error error = make_error(ErrorCategory::kInvalidArgument,
                               "request '" + command + "' is too large to send to " + prefix() +
                                   ": " + frame.error().message,
                               command);
      asio::post(io,
                 [handler = std::move(on_done), error]() mutable { handler(std::move(error)); });
      return id;
    }
    PendingCall call;
    call.command = std::move(command);
    call.on_done = std::move(on_done);
    call.on_chunk = std::move(options.on_chunk);
    call.on_session_update = std::move(options.on_session_update);
    call.timeout = timeout;
    // Capped at a week, like the pool's, so that a huge timeout cannot overflow the clock.
    call.deadline = deadlines.arm(asio::steady_timer::clock_type::now() +
                                      std::min<milliseconds>(timeout, std::chrono::hours(24 * 7)),
                                  id);
    pending.emplace(id, std::move(call));
    if (!concurrent) unanswered.push_back(id);
    enqueue(std::move(*frame));
    return id;
  }

  // The request's frame, its large bytes moved to shared memory when the worker takes them. The
  // frame limit covers the moved bytes too, as if they were inline.
  Result<std::vector<std::uint8_t>> encode_request(protocol::Request request) {
    json message = protocol::to_json(std::move(request));
    if (!shared_blobs) {
      return protocol::encode_frame(message, self.config_.codec, self.config_.max_frame_bytes);
    }
    const auto mark = blobs_out->mark();
    const std::size_t moved =
        protocol::move_blobs_out(message, *blobs_out, self.config_.shared_blob_min_bytes);
    const std::size_t limit = self.config_.max_frame_bytes;
    auto frame = moved > limit ? Result<std::vector<std::uint8_t>>(fail(
                                     ErrorCategory::kProtocolError,
                                     "its bytes add up to " + std::to_string(moved) +
                                         ", more than max_frame_bytes " + std::to_string(limit)))
                               : protocol::encode_frame(message, self.config_.codec, limit - moved);
    if (!frame) blobs_out->rollback(mark);
    return frame;
  }

  void enqueue(std::vector<std::uint8_t> frame) {
    write_queue.push_back(std::move(frame));
    if (!writing) write_next();
  }

  void write_next() {
    being_written.clear();
    if (write_queue.empty() || !stdin_pipe || !stdin_pipe->is_open()) {
      writing = false;
      if (close_stdin_when_written && stdin_pipe) stdin_pipe->close();
      return;
    }
    writing = true;
    being_written.swap(write_queue);
    write_buffers.clear();
    for (const auto& frame : being_written) write_buffers.push_back(asio::buffer(frame));
    asio::async_write(
        *stdin_pipe, write_buffers, whole_pipe_writes,
        [this, life = keep_alive()](const boost::system::error_code& ec, std::size_t) {
          if (ec) {
            // The worker is gone or closed stdin; its exit fails the calls.
            write_queue.clear();
            being_written.clear();
            writing = false;
            return;
          }
          write_next();
        });
  }

  void complete(CallId id, Result<json> outcome) {
    auto it = pending.find(id);
    if (it == pending.end()) return;
    PendingCall call = std::move(it->second);
    pending.erase(it);
    deadlines.disarm(call.deadline);
    call.on_done(std::move(outcome));
  }

  void on_response(protocol::Response response) {
    if (!response.id) {
      protocol_violation("answered with an error for no request id: " + response.error.type + ": " +
                         response.error.message);
      return;
    }
    const bool was_sent =
        concurrent ? *response.id > 0 && *response.id < next_id : answered(*response.id);
    auto it = pending.find(*response.id);
    if (it == pending.end()) {
      // A late answer for a call that already completed (timed out or cancelled) or an id that
      // was never sent: drop it, never hand it to another caller.
      spdlog::log(was_sent ? spdlog::level::debug : spdlog::level::warn,
                  "{} answered request {} that nobody waits for; dropped", prefix(), *response.id);
      return;
    }
    PendingCall& call = it->second;
    if (response.success) {
      if (call.on_session_update &&
          (!response.session_state.is_null() || !response.session_journal.is_null())) {
        call.on_session_update(std::move(response.session_state),
                               std::move(response.session_journal));
      }
      complete(*response.id, std::move(response.result));
      return;
    }
    const auto& wire = response.error;
    if (wire.type == "Cancelled" && call.interrupt != PendingCall::Interrupt::kNone) {
      complete(*response.id, interrupt_error(call, "; the worker stopped it and kept serving"));
      return;
    }
    auto category = parse_error_category(wire.category).value_or(ErrorCategory::kInternal);
    if (wire.type == "Cancelled") category = ErrorCategory::kCancelled;
    Error error = make_error(category,
                             redactor.redact("'" + call.command + "' failed on " + prefix() + ": " +
                                             wire.type + ": " + wire.message),
                             call.command);
    error.python_type = wire.type;
    error.traceback = redactor.redact(wire.traceback);
    complete(*response.id, std::move(error));
  }

  void on_chunk(protocol::Chunk chunk) {
    auto it = pending.find(chunk.id);
    if (it == pending.end()) return;  // the call is gone: drop its chunks too
    if (it->second.on_chunk) it->second.on_chunk(std::move(chunk.data));
  }

  // ---- deadlines and cancellation ------------------------------------------------------------

  Error interrupt_error(const PendingCall& call, const std::string& outcome) {
    if (call.interrupt == PendingCall::Interrupt::kTimeout) {
      return make_error(ErrorCategory::kTimeout,
                        "'" + call.command + "' on " + prefix() + " did not finish within " +
                            ms_text(call.timeout) + outcome,
                        call.command);
    }
    return make_error(
        ErrorCategory::kCancelled,
        "'" + call.command + "' on " + prefix() + " was cancelled by the caller" + outcome,
        call.command);
  }

  // Takes an answered request off `unanswered` (with any older ones: a worker serving one request
  // at a time answers in order). False if the worker was never sent that id.
  bool answered(CallId id) {
    if (std::find(unanswered.begin(), unanswered.end(), id) == unanswered.end()) return false;
    while (!unanswered.empty() && unanswered.front() <= id) unanswered.pop_front();
    return true;
  }

  // The running call is the oldest unanswered one when the worker serves one request at a time;
  // only then does SIGINT reach the right handler.
  bool is_running(CallId id) const {
    return self.hello_.concurrency == 1 && !unanswered.empty() && unanswered.front() == id;
  }

  void interrupt(CallId id, PendingCall::Interrupt kind) {
    auto it = pending.find(id);
    if (it == pending.end() || it->second.interrupt != PendingCall::Interrupt::kNone) return;
    PendingCall& call = it->second;
    call.interrupt = kind;
    if (concurrent && self.pid_ > 0 && !reaped) {
      send_cancel(id, call);
      return;
    }
    const bool running = is_running(id) && self.pid_ > 0 && !reaped;
    if (!running) {
      // Not started yet (or not targetable): complete now; a later answer is dropped. A request
      // waiting in a pipelining worker's stdin is named on the cancel pipe, so that the worker
      // answers it without running it.
      if (self.pipelining_ && self.pid_ > 0 && !reaped) signal_cancel(id);
      complete(id, interrupt_error(call, " (it had not started on the worker)"));
      return;
    }
    // A pipelining worker acts only on a SIGINT whose id is on the pipe (should the write fail,
    // the grace period below ends it like any worker that ignores SIGINT).
    if (self.pipelining_) {
      signal_cancel(id);
    } else {
      ::kill(self.pid_, SIGINT);
    }
    call.grace_timer = std::make_unique<asio::steady_timer>(io, self.config_.cancel_grace);
    call.grace_timer->async_wait(
        [this, life = keep_alive(), id](const boost::system::error_code& ec) {
          if (ec) return;
          auto found = pending.find(id);
          if (found == pending.end()) return;
          Error error = interrupt_error(
              found->second, "; it ignored SIGINT for " + ms_text(self.config_.cancel_grace) +
                                 ", so the worker was killed and will be replaced");
          // Condemn the worker before its caller hears of it: the caller's handler must not see a
          // ready worker and hand it the next call.
          kill_for(make_error(
              ErrorCategory::kWorkerCrashed,
              prefix() + " was killed because '" + error.command + "' ignored cancellation",
              error.command));
          complete(id, error);
        });
  }

  // A worker running calls side by side is sent `{"type": "cancel", "id": ID}` and has
  // cancel_grace to answer the call. A call it does not answer in time is answered at once and
  // condemns the worker (the other calls it holds keep running).
  void send_cancel(CallId id, PendingCall& call) {
    if (auto frame = protocol::encode_frame(protocol::to_json(protocol::Cancel{id}),
                                            self.config_.codec, self.config_.max_frame_bytes)) {
      enqueue(std::move(*frame));
    }
    call.grace_timer = std::make_unique<asio::steady_timer>(io, self.config_.cancel_grace);
    call.grace_timer->async_wait(
        [this, life = keep_alive(), id](const boost::system::error_code& ec) {
          if (ec) return;
          auto found = pending.find(id);
          if (found == pending.end()) return;
          Error error =
              interrupt_error(found->second, "; the worker ignored its cancel for " +
                                                 ms_text(self.config_.cancel_grace) +
                                                 ", so it takes no new calls and will be retired");
          // Condemned before the caller hears of it: its handler must not hand it the next call.
          condemn(error.command);
          complete(id, std::move(error));
        });
  }

  // The worker takes no new calls (accepting() is false); its owner stops it once the calls it
  // holds have ended. Should that not happen, the group is killed at a hard bound: the latest
  // deadline of the calls it holds (capped) plus cancel_grace, when every one of them has been
  // answered anyway.
  void condemn(const std::string& command) {
    if (self.condemned_) return;
    self.condemned_ = true;
    spdlog::warn(
        "{} takes no new calls: '{}' ignored its cancel for cancel_grace_ms {}; the {} other "
        "call(s) it holds may finish, then it is retired (killed at the latest in {})",
        prefix(), command, ms_text(self.config_.cancel_grace), pending.size() - 1,
        ms_text(hard_bound()));
    retire_timer.expires_after(hard_bound());
    retire_timer.async_wait(
        [this, life = keep_alive(), command](const boost::system::error_code& ec) {
          if (ec || reaped) return;
          kill_for(make_error(ErrorCategory::kWorkerCrashed,
                              prefix() + " was killed at its hard bound: '" + command +
                                  "' had ignored its cancel and the worker was not retired in "
                                  "time",
                              command));
        });
  }

  milliseconds hard_bound() const {
    const auto now = asio::steady_timer::clock_type::now();
    milliseconds latest{0};
    for (const auto& [id, call] : pending) {
      // An interrupted call is answered within cancel_grace whatever the worker does.
      if (!call.deadline || call.interrupt != PendingCall::Interrupt::kNone) continue;
      latest =
          std::max(latest, std::chrono::duration_cast<milliseconds>((*call.deadline)->first - now));
    }
    return std::min(latest, kCondemnedHardBoundCap) + self.config_.cancel_grace;
  }

  void on_deadline(CallId id) {
    auto it = pending.find(id);
    if (it == pending.end()) return;
    it->second.deadline.reset();  // expired: the queue forgot it already
    auto life = keep_alive();     // the caller may drop the worker when it hears of the timeout
    interrupt(id, PendingCall::Interrupt::kTimeout);
  }

  // ---- reading -----------------------------------------------------------------------------

  void read_stdout() {
    auto region = reader.prepare();
    stdout_pipe->async_read_some(
        asio::buffer(region.data(), region.size()),
        [this, life = keep_alive()](const boost::system::error_code& ec, std::size_t n) {
          if (ec == asio::error::operation_aborted) return;
          if (ec || n == 0) {
            on_stdout_closed();
            return;
          }
          reader.commit(n);
          if (drain_frames()) read_stdout();
        });
  }

  // Handles every complete frame; false once the stream is unusable.
  bool drain_frames() {
    while (!fatal) {
      auto next = reader.next();
      if (!next) {
        protocol_violation(next.error().message);
        return false;
      }
      if (!*next) return true;
      auto decoded = protocol::decode_payload(**next, self.config_.codec);
      if (!decoded) {
        protocol_violation(decoded.error().message);
        return false;
      }
      if (shared_blobs) {
        const std::size_t budget = self.config_.max_frame_bytes - (*next)->size();
        if (auto in = protocol::bring_blobs_in(*decoded, *blobs_in, budget); !in) {
          protocol_violation(in.error().message);
          return false;
        }
      }
      auto message = protocol::parse_worker_message(std::move(*decoded));
      if (!message) {
        protocol_violation(message.error().message);
        return false;
      }
      dispatch(std::move(*message));
    }
    return false;
  }

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
      on_response(std::move(*response));
    } else if (auto* chunk = std::get_if<protocol::Chunk>(&message)) {
      on_chunk(std::move(*chunk));
    } else if (auto* log = std::get_if<protocol::Log>(&message)) {
      spdlog::log(log_level(log->level), "[{}/{}] {}", self.config_.bridge, self.config_.worker_id,
                  redactor.redact(std::move(log->message)));
    }
  }

  void on_stdout_closed() {
    if (reader.mid_frame() && !fatal) {
      fatal = make_error(ErrorCategory::kProtocolError,
                         prefix() + " closed its stdout in the middle of a frame (" +
                             std::to_string(reader.buffered()) + " bytes of it received)");
    }
    if (reaped) return;
    // Without stdout the worker is useless; give it a moment to exit on its own (a worker that
    // exits closes its stdout first), then kill it and say why.
    stop_timer.expires_after(self.config_.kill_timeout);
    stop_timer.async_wait([this, life = keep_alive()](const boost::system::error_code& ec) {
      if (ec || reaped) return;
      if (stop_requested) {  // on its way out anyway: the stop's own report stands
        signal_to_end(SIGKILL);
        return;
      }
      kill_for(make_error(ErrorCategory::kWorkerCrashed,
                          prefix() +
                              " closed its stdout (the protocol pipe) but kept running, so it "
                              "could not answer any more; the host stopped it after " +
                              ms_text(self.config_.kill_timeout) +
                              " (a bridge must never close its protocol stream)"));
    });
  }

  void read_stderr() {
    stderr_pipe->async_read_some(
        asio::buffer(stderr_buffer),
        [this, life = keep_alive()](const boost::system::error_code& ec, std::size_t n) {
          if (ec || n == 0) return;
          on_stderr({stderr_buffer.data(), n});
          read_stderr();
        });
  }

  void on_stderr(std::string_view bytes) {
    stderr_log.feed(bytes);
    if (self.hello_.protocol != 0) return;
    startup_stderr.append(bytes);
    if (startup_stderr.size() > kStartupStderrBytes) {
      startup_stderr.erase(0, startup_stderr.size() - kStartupStderrBytes);
    }
  }

  // Reads what is left in the stderr pipe without waiting (the process has exited).
  void drain_stderr_now() {
    if (!stderr_pipe || !stderr_pipe->is_open()) return;
    for (;;) {
      const ssize_t n =
          ::read(stderr_pipe->native_handle(), stderr_buffer.data(), stderr_buffer.size());
      if (n <= 0) break;
      on_stderr({stderr_buffer.data(), static_cast<std::size_t>(n)});
    }
    stderr_log.flush();
  }

  // ---- failures and exit -------------------------------------------------------------------

  void protocol_violation(const std::string& what) {
    kill_for(make_error(
        ErrorCategory::kProtocolError,
        prefix() + " broke the wire protocol: " + what + "; it was killed and will be replaced"));
  }

  // Records why the host is killing the worker, then kills its group. The exit handler reports it.
  void kill_for(Error error) {
    if (!fatal) fatal = error;
    if (self.state_ == WorkerState::kStarting) finish_start(std::move(error));
    // A condemned worker takes no more calls until its exit is reported.
    if (self.state_ == WorkerState::kReady) self.state_ = WorkerState::kStopping;
    signal_to_end(SIGKILL);
  }

  void wait_for_exit() {
    pid_pipe->async_wait(asio::posix::stream_descriptor::wait_read,
                         [this, life = keep_alive()](const boost::system::error_code& ec) {
                           if (ec == asio::error::operation_aborted) return;
                           on_exit();
                         });
  }

  void on_exit() {
    // Kill what the worker may have left in its group, then reap the leader (pid stays reserved
    // until then, so the group id cannot have been reused).
    process::signal_group(self.pid_, SIGKILL);
    int wait_status = 0;
    pid_t reaped_pid;
    do {
      reaped_pid = ::waitpid(self.pid_, &wait_status, WNOHANG);
    } while (reaped_pid < 0 && errno == EINTR);
    if (reaped_pid == 0) {  // not yet: wait again
      wait_for_exit();
      return;
    }
    reaped = true;
    drain_stderr_now();
    auto status = process::ExitStatus::from_wait_status(wait_status);
    status.sent_by_host = (status.signal == SIGKILL && host_sent_sigkill) ||
                          (status.signal == SIGTERM && host_sent_sigterm);
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
                reason, expected ? "" : stderr_suffix());

    if (import_failure) {
      finish_start(std::move(*import_failure));
    } else if (on_started) {
      finish_start(make_error(
          ErrorCategory::kBridgeUnavailable,
          prefix() + " " + status.describe() + " before it was ready" + stderr_suffix()));
    }
    fail_pending(status);
    close_pipes();
    for (auto& callback : std::exchange(on_stopped, {})) callback();
    if (self.on_exit_) {
      self.on_exit_(WorkerExit{status, expected, stderr_log.tail(), reason});
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
    auto traceback = process::find_python_traceback(startup_stderr);
    if (!traceback) return std::nullopt;
    Error error = make_error(
        ErrorCategory::kInvalidConfiguration,
        "bridge '" + self.config_.bridge + "': the bridge script failed at import: " +
            redactor.redact(traceback->exception) + " (traceback below); fix " +
            self.config_.script + " or install what it imports into the environment of " +
            self.config_.python + ", then start the bridge again");
    error.retryable = false;
    error.python_type = traceback->type;
    error.traceback = redactor.redact(std::move(traceback->text));
    return error;
  }

  void fail_pending(const process::ExitStatus& status) {
    while (!pending.empty()) {
      const CallId id = pending.begin()->first;
      const std::string command = pending.begin()->second.command;
      Error error;
      if (!self.has_started(id)) {
        // It waited in the worker's stdin behind the request that was running: never started.
        error = make_error(ErrorCategory::kWorkerCrashed,
                           prefix() + " " + status.describe() + " before it started '" + command +
                               "' (it was waiting behind another request)",
                           command);
      } else if (fatal) {
        error = *fatal;
        error.command = command;
        error.message += " [during '" + command + "']";
      } else if (stop_requested) {
        error = make_error(ErrorCategory::kCancelled,
                           "'" + command + "' did not finish before " + prefix() + " was stopped",
                           command);
      } else {
        error = make_error(
            ErrorCategory::kWorkerCrashed,
            prefix() + " " + status.describe() + " during '" + command + "'" + stderr_suffix(),
            command);
      }
      complete(id, std::move(error));
    }
  }

  void close_pipes() {
    startup_timer.cancel();
    stop_timer.cancel();
    retire_timer.cancel();
    for (auto* pipe : {&stdin_pipe, &stdout_pipe, &stderr_pipe, &pid_pipe}) {
      if (*pipe && (*pipe)->is_open()) (*pipe)->close();
    }
    write_queue.clear();
  }

  // ---- stop --------------------------------------------------------------------------------

  void stop() {
    stop_requested = true;
    self.state_ = WorkerState::kStopping;
    send("shutdown", json::object(), timeout_only(self.config_.shutdown_timeout),
         [](Result<json>) {});
    close_stdin_when_written = true;
    if (!writing) write_next();
    stop_timer.expires_after(self.config_.shutdown_timeout);
    stop_timer.async_wait([this, life = keep_alive()](const boost::system::error_code& ec) {
      if (ec || reaped) return;
      spdlog::warn("{} did not exit within shutdown_ms {}; sending SIGTERM", prefix(),
                   ms_text(self.config_.shutdown_timeout));
      signal_to_end(SIGTERM);
      stop_timer.expires_after(self.config_.kill_timeout);
      stop_timer.async_wait([this, life = keep_alive()](const boost::system::error_code& ec2) {
        if (ec2 || reaped) return;
        spdlog::warn("{} ignored SIGTERM; sending SIGKILL", prefix());
        signal_to_end(SIGKILL);
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

Worker::~Worker() {
  if (pid_ > 0 && impl_ && !impl_->reaped) {
    process::signal_group(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void Worker::start(StartHandler on_started) {
  if (state_ != WorkerState::kIdle) {
    Error error =
        impl_->make_error(ErrorCategory::kInternal, impl_->prefix() + " was already started");
    asio::post(impl_->io, [handler = std::move(on_started), error]() mutable { handler(error); });
    return;
  }
  state_ = WorkerState::kStarting;
  impl_->on_started = std::move(on_started);
  impl_->start();
}

CallId Worker::call(std::string command, json args, CallOptions options, CallHandler on_done) {
  if (state_ != WorkerState::kReady) {
    Error error = impl_->make_error(
        ErrorCategory::kBridgeUnavailable,
        impl_->prefix() + " cannot take '" + command + "': it is " + std::string(to_string(state_)),
        command);
    asio::post(impl_->io, [handler = std::move(on_done), error]() mutable { handler(error); });
    return 0;
  }
  return impl_->send(std::move(command), std::move(args), std::move(options), std::move(on_done));
}

bool Worker::cancel(CallId id) {
  if (impl_->pending.find(id) == impl_->pending.end()) return false;
  impl_->interrupt(id, PendingCall::Interrupt::kCancel);
  return true;
}

void Worker::stop(std::function<void()> on_stopped) {
  if (on_stopped) impl_->on_stopped.push_back(std::move(on_stopped));
  if (impl_->reaped || state_ == WorkerState::kIdle) {
    state_ = WorkerState::kExited;
    impl_->reaped = true;
    asio::post(impl_->io, [this, life = shared_from_this()] {
      for (auto& callback : std::exchange(impl_->on_stopped, {})) callback();
    });
    return;
  }
  if (impl_->stop_requested) return;
  impl_->stop();
}

void Worker::kill() {
  if (pid_ > 0) impl_->signal_to_end(SIGKILL);
}

std::size_t Worker::in_flight() const { return impl_->pending.size(); }

bool Worker::has_started(CallId id) const {
  const auto& unanswered = impl_->unanswered;
  if (std::find(unanswered.begin(), unanswered.end(), id) == unanswered.end()) return true;
  return hello_.concurrency != 1 || unanswered.front() == id;
}

std::vector<std::string> Worker::stderr_tail() const { return impl_->stderr_log.tail(); }

}  // namespace mlbridge::worker
