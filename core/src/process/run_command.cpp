#include "mlbridge/process/run_command.hpp"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

namespace mlbridge::process {

Result<CommandOutput> run_command(const ProcessSpec& spec, std::chrono::milliseconds timeout) {
  auto child = ExecSpawner().spawn(spec);
  if (!child) return std::move(child).error();
  child->stdin_fd.reset();
  CommandOutput output;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true;
  char buffer[8192];
  while (out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      signal_group(child->pid, SIGKILL);
      ::waitpid(child->pid, nullptr, 0);
      return fail(ErrorCategory::kTimeout, "'" + spec.executable + "' did not finish within " +
                                               std::to_string(timeout.count()) + " ms");
    }
    pollfd fds[2] = {{out_open ? child->stdout_fd.get() : -1, POLLIN, 0},
                     {err_open ? child->stderr_fd.get() : -1, POLLIN, 0}};
    ::poll(fds, 2, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (i == 0 ? output.out : output.err).append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EAGAIN) {
        (i == 0 ? out_open : err_open) = false;
      }
    }
  }
  int wait_status = 0;
  ::waitpid(child->pid, &wait_status, 0);
  output.status = ExitStatus::from_wait_status(wait_status);
  return output;
}

}  // namespace mlbridge::process
