#include "floor_driver.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>

#include "mlbridge/protocol/frame.hpp"
#include "mlbridge/worker/worker_config.hpp"
#include "test_paths.hpp"

namespace mlbridge::bench {
namespace {

void set_blocking(int fd, bool blocking) {
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK));
}

}  // namespace

process::ProcessSpec python_worker_spec(const std::string& script, protocol::Codec codec) {
  process::ProcessSpec spec;
  spec.executable = testing::python();
  spec.args = {script,
               "--worker-id",
               "floor-1",
               "--codec",
               std::string(protocol::to_string(codec)),
               "--protocol",
               "1"};
  spec.env = worker::minimal_environment();
  return spec;
}

BlockingChild::BlockingChild(const process::ProcessSpec& spec) {
  auto child = process::ExecSpawner().spawn(spec);
  if (!child) throw std::runtime_error(child.error().message);
  child_ = std::move(*child);
  set_blocking(child_.stdin_fd.get(), true);
  set_blocking(child_.stdout_fd.get(), true);
}

BlockingChild::~BlockingChild() {
  child_.stdin_fd.reset();
  process::signal_group(child_.pid, SIGKILL);
  ::waitpid(child_.pid, nullptr, 0);
}

void BlockingChild::write_all(std::span<const std::uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(child_.stdin_fd.get(), bytes.data(), bytes.size());
    if (n <= 0) throw std::runtime_error("write to the floor child failed");
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

void BlockingChild::read_exact(std::uint8_t* out, std::size_t n) {
  while (n > 0) {
    const ssize_t got = ::read(child_.stdout_fd.get(), out, n);
    if (got <= 0) throw std::runtime_error("the floor child closed its stdout");
    out += got;
    n -= static_cast<std::size_t>(got);
  }
}

void BlockingChild::read_frame(std::vector<std::uint8_t>& payload) {
  std::uint8_t header[4];
  read_exact(header, 4);
  payload.resize(protocol::read_frame_header(header));
  read_exact(payload.data(), payload.size());
}

void BlockingChild::echo_through(std::span<const std::uint8_t> bytes,
                                 std::vector<std::uint8_t>& back) {
  back.resize(bytes.size());
  const int in = child_.stdin_fd.get();
  const int out = child_.stdout_fd.get();
  set_blocking(in, false);
  set_blocking(out, false);
  std::size_t written = 0, read = 0;
  while (read < bytes.size()) {
    pollfd fds[2] = {{out, POLLIN, 0},
                     {in, static_cast<short>(written < bytes.size() ? POLLOUT : 0), 0}};
    ::poll(fds, 2, 1000);
    if (written < bytes.size() && (fds[1].revents & POLLOUT)) {
      const ssize_t n = ::write(in, bytes.data() + written, bytes.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
    }
    if (fds[0].revents & POLLIN) {
      const ssize_t n = ::read(out, back.data() + read, back.size() - read);
      if (n > 0) read += static_cast<std::size_t>(n);
    }
  }
  set_blocking(in, true);
  set_blocking(out, true);
}

}  // namespace mlbridge::bench
