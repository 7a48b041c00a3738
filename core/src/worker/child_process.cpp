#include "child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mlbridge::worker::detail {

namespace asio = boost::asio;

namespace {

// What a worker wrote to stderr before its hello is kept (its last bytes, up to this bound) to
// find an import-time traceback in; the stderr tail keeps only a few lines of it.
constexpr std::size_t kStartupStderrBytes = 64 * 1024;

}  // namespace

ChildProcess::ChildProcess(asio::io_context& io, const WorkerContext& context)
    : io_(io),
      context_(context),
      stderr_log_(context.config.bridge + "/" + context.config.worker_id,
                  context.config.stderr_tail_lines, context.redactor) {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    process::signal_group(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void ChildProcess::add_cancel_pipe(process::ProcessSpec& spec) {
  if (!context_.config.cancel_pipe) return;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    spdlog::warn("{}: no cancel pipe ({}); it gets one request at a time", context_.prefix(),
                 std::strerror(errno));
    return;
  }
  cancel_read_ = process::UniqueFd(fds[0]);
  cancel_write_ = process::UniqueFd(fds[1]);
  ::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK);
  spec.env["MLBRIDGE_CANCEL_FD"] = std::to_string(3 + spec.inherited_fds.size());
  spec.inherited_fds.push_back(fds[0]);
}

Result<ChildProcess::ProtocolPipes> ChildProcess::spawn(process::Spawner& spawner,
                                                        const process::ProcessSpec& spec,
                                                        ExitHandler on_exit) {
  auto child = spawner.spawn(spec);
  cancel_read_.reset();  // the child has its copy
  if (!child) {
    reaped_ = true;
    return fail(ErrorCategory::kBridgeUnavailable,
                "could not be started: " + child.error().message);
  }
  if (!child->pid_fd.valid()) {
    // Exit detection relies on pidfds (Linux 5.3+); without one the worker cannot be supervised.
    process::signal_group(child->pid, SIGKILL);
    ::waitpid(child->pid, nullptr, 0);
    reaped_ = true;
    return fail(ErrorCategory::kBridgeUnavailable,
                "could not be supervised: pidfd_open is not available (mlbridge needs Linux 5.3 "
                "or newer)");
  }
  pid_ = child->pid;
  on_exit_ = std::move(on_exit);
  stderr_pipe_.emplace(io_, child->stderr_fd.release());
  pid_pipe_.emplace(io_, child->pid_fd.release());
  read_stderr();
  wait_for_exit();
  return ProtocolPipes{child->stdin_fd.release(), child->stdout_fd.release()};
}

bool ChildProcess::interrupt(std::uint64_t id) {
  if (!alive()) return false;
  if (cancel_write_.valid()) {
    // An 8-byte write to a pipe is atomic.
    std::array<std::uint8_t, 8> bytes{};
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(id >> (56 - 8 * i));
    ssize_t written;
    do {
      written = ::write(cancel_write_.get(), bytes.data(), bytes.size());
    } while (written < 0 && errno == EINTR);
    if (written != static_cast<ssize_t>(bytes.size())) return false;
  }
  ::kill(pid_, SIGINT);
  return true;
}

void ChildProcess::signal_to_end(int signal) {
  if (reaped_ || pid_ <= 0) return;
  (signal == SIGKILL ? host_sent_sigkill_ : host_sent_sigterm_) = true;
  process::signal_group(pid_, signal);
}

void ChildProcess::forget_startup_stderr() {
  keep_startup_stderr_ = false;
  std::string().swap(startup_stderr_);
}

std::string ChildProcess::stderr_suffix() const {
  const std::string tail = stderr_log_.summary();
  return tail.empty() ? "" : " (last stderr: " + tail + ")";
}

void ChildProcess::read_stderr() {
  stderr_pipe_->async_read_some(
      asio::buffer(stderr_buffer_),
      [this, life = context_.keep_alive()](const boost::system::error_code& ec, std::size_t n) {
        if (ec || n == 0) return;
        on_stderr({stderr_buffer_.data(), n});
        read_stderr();
      });
}

void ChildProcess::on_stderr(std::string_view bytes) {
  stderr_log_.feed(bytes);
  if (!keep_startup_stderr_) return;
  startup_stderr_.append(bytes);
  if (startup_stderr_.size() > kStartupStderrBytes) {
    startup_stderr_.erase(0, startup_stderr_.size() - kStartupStderrBytes);
  }
}

// Reads what is left in the stderr pipe without waiting (the process has exited).
void ChildProcess::drain_stderr_now() {
  if (!stderr_pipe_ || !stderr_pipe_->is_open()) return;
  for (;;) {
    const ssize_t n =
        ::read(stderr_pipe_->native_handle(), stderr_buffer_.data(), stderr_buffer_.size());
    if (n <= 0) break;
    on_stderr({stderr_buffer_.data(), static_cast<std::size_t>(n)});
  }
  stderr_log_.flush();
}

void ChildProcess::wait_for_exit() {
  pid_pipe_->async_wait(asio::posix::stream_descriptor::wait_read,
                        [this, life = context_.keep_alive()](const boost::system::error_code& ec) {
                          if (ec == asio::error::operation_aborted) return;
                          on_exit();
                        });
}

void ChildProcess::on_exit() {
  // Kill what the worker may have left in its group, then reap the leader (pid stays reserved
  // until then, so the group id cannot have been reused).
  process::signal_group(pid_, SIGKILL);
  int wait_status = 0;
  pid_t reaped_pid;
  do {
    reaped_pid = ::waitpid(pid_, &wait_status, WNOHANG);
  } while (reaped_pid < 0 && errno == EINTR);
  if (reaped_pid == 0) {  // not yet: wait again
    wait_for_exit();
    return;
  }
  reaped_ = true;
  drain_stderr_now();
  auto status = process::ExitStatus::from_wait_status(wait_status);
  status.sent_by_host = (status.signal == SIGKILL && host_sent_sigkill_) ||
                        (status.signal == SIGTERM && host_sent_sigterm_);
  if (auto handler = std::exchange(on_exit_, nullptr)) handler(status);
}

void ChildProcess::close() {
  for (auto* pipe : {&stderr_pipe_, &pid_pipe_}) {
    if (*pipe && (*pipe)->is_open()) (*pipe)->close();
  }
}

}  // namespace mlbridge::worker::detail
