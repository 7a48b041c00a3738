#pragma once

// The mock OpenAI-compatible server (tests/support/openai_server.py) as a child process of a
// test: started with --port 0, its base URL read from its first stdout line, killed (with its
// process group) and reaped when the object goes. The child also dies with the test process
// (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
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

  /// The body of `GET path` (e.g. "/_requests": the server's request log as a JSON list), or ""
  /// when the server cannot be reached. HTTP/1.0 with Connection: close, so the body ends with
  /// the connection.
  std::string get(const std::string& path) const {
    const auto colon = url_.rfind(':');
    const int port = std::stoi(url_.substr(colon + 1));
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string response;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      const std::string request =
          "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
        char buffer[8192];
        ssize_t n = 0;
        while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) response.append(buffer, n);
      }
    }
    ::close(fd);
    const auto body = response.find("\r\n\r\n");
    return body == std::string::npos ? "" : response.substr(body + 4);
  }

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
