#pragma once

// The mock OpenAI-compatible server (tests/support/openai_server.py) as a child process of a
// test: started with --port 0, its base URL read from its first stdout line, killed (with its
// process group) and reaped when the object goes. The child also dies with the test process
// (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace mlbridge::testing {

class OpenAIServerProcess {
 public:
  /// Starts `python script --port 0`; throws std::runtime_error when no URL arrives within
  /// `startup_ms` (a generous guard for a busy machine, not a timing assertion).
  OpenAIServerProcess(const std::string& python, const std::string& script,
                      int startup_ms = 60000) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(out[1], STDOUT_FILENO);
      std::vector<std::string> args = {python, script, "--port", "0"};
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(python.c_str(), argv.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);  // also in the parent: no window in which kill(-pid) misses it
    ::close(out[1]);
    fd_ = out[0];
    url_ = read_line(startup_ms);
    if (url_.rfind("http://", 0) != 0) {
      stop();
      throw std::runtime_error("the mock OpenAI server did not print its URL (got '" + url_ + "')");
    }
  }
  ~OpenAIServerProcess() { stop(); }
  OpenAIServerProcess(const OpenAIServerProcess&) = delete;
  OpenAIServerProcess& operator=(const OpenAIServerProcess&) = delete;

  /// "http://127.0.0.1:PORT/v1".
  const std::string& url() const { return url_; }

 private:
  std::string read_line(int timeout_ms) {
    std::string line;
    char c = 0;
    while (true) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) break;
      const ssize_t n = ::read(fd_, &c, 1);
      if (n <= 0 || c == '\n') break;
      line += c;
    }
    return line;
  }

  void stop() {
    if (pid_ > 0) {
      if (::kill(-pid_, SIGKILL) != 0) ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string url_;
};

}  // namespace mlbridge::testing
