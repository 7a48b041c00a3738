#pragma once

// A real redis-server for tests (Debian's package redis-server): on a free 127.0.0.1 port, in
// a temporary directory, with every write synced to its append-only file (so data survives a
// SIGKILL and a restart). The test owns it; the destructor SIGKILLs it, reaps it and removes the
// directory, also when the test fails. One thread at a time.
//
//   MLBRIDGE_SKIP_WITHOUT_REDIS();
//   mlbridge::testing::RedisServer redis;            // or RedisServer({.password = "secret"})
//   ... redis.url() ...  redis.kill(); redis.restart(); redis.pause(); redis.resume();

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mlbridge::testing {

/// Skips the current test when redis-server is not installed.
#define MLBRIDGE_SKIP_WITHOUT_REDIS()                                                      \
  do {                                                                                     \
    if (::mlbridge::testing::RedisServer::binary().empty()) {                              \
      GTEST_SKIP() << "redis-server not found on PATH or in /usr/bin: install the Debian " \
                      "package redis-server (scripts/setup.sh does)";                      \
    }                                                                                      \
  } while (false)

struct RedisServerOptions {
  std::string password;  ///< Empty: no requirepass.
};

class RedisServer {
 public:
  /// The redis-server binary: on PATH, else /usr/bin/redis-server, else "".
  static std::string binary() {
    if (const char* path = std::getenv("PATH")) {
      std::string dirs = path;
      std::size_t start = 0;
      while (start <= dirs.size()) {
        const auto end = std::min(dirs.find(':', start), dirs.size());
        const std::filesystem::path candidate =
            std::filesystem::path(dirs.substr(start, end - start)) / "redis-server";
        if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
        start = end + 1;
      }
    }
    return ::access("/usr/bin/redis-server", X_OK) == 0 ? "/usr/bin/redis-server" : "";
  }

  /// Starts it and waits until it answers PING (at most 10 s); throws std::runtime_error if it
  /// does not come up (its log is in the message).
  explicit RedisServer(RedisServerOptions options = {}) : options_(std::move(options)) {
    char pattern[] = "/tmp/mlbridge-redis-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    // A free port can be taken between asking and binding: try a few.
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      if (launch()) return;
    }
    const std::string log = read_log();
    std::filesystem::remove_all(dir_);
    throw std::runtime_error("redis-server did not come up; its log:\n" + log);
  }

  ~RedisServer() {
    kill();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  const std::string& password() const { return options_.password; }
  bool running() const { return pid_ > 0; }

  /// "redis://127.0.0.1:PORT/0", with ":PASSWORD@" when it has one.
  std::string url(int db = 0) const {
    const std::string auth = options_.password.empty() ? "" : ":" + options_.password + "@";
    return "redis://" + auth + "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }

  /// SIGTERM (Redis syncs and exits), then reaps it.
  void stop() { end(SIGTERM); }
  /// SIGKILL, then reaps it: every write it answered is in its append-only file.
  void kill() { end(SIGKILL); }
  /// SIGSTOP: the kernel still accepts connections and data, Redis answers nothing.
  void pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  /// SIGCONT after pause().
  void resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }
  /// Stops it if it runs (SIGKILL) and starts it again on the same port and directory: its data
  /// survives. Throws std::runtime_error when it does not come up.
  void restart() {
    kill();
    if (!launch())
      throw std::runtime_error("redis-server did not come back; its log:\n" + read_log());
  }

  /// The server's log so far.
  std::string read_log() const {
    std::string text;
    if (FILE* file = std::fopen((dir_ + "/redis.log").c_str(), "r")) {
      char chunk[4096];
      std::size_t got;
      while ((got = std::fread(chunk, 1, sizeof chunk, file)) > 0) text.append(chunk, got);
      std::fclose(file);
    }
    return text;
  }

 private:
  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("no free port on 127.0.0.1");
    }
    ::close(fd);
    return ntohs(address.sin_port);
  }

  // Starts redis-server on port_ in dir_; true once it answers PING.
  bool launch() {
    std::vector<std::string> args{binary(),
                                  "--port",
                                  std::to_string(port_),
                                  "--bind",
                                  "127.0.0.1",
                                  "--dir",
                                  dir_,
                                  "--save",
                                  "",
                                  "--appendonly",
                                  "yes",
                                  "--appendfsync",
                                  "always",
                                  "--logfile",
                                  dir_ + "/redis.log",
                                  "--daemonize",
                                  "no",
                                  "--protected-mode",
                                  "no"};
    if (!options_.password.empty()) {
      args.push_back("--requirepass");
      args.push_back(options_.password);
    }
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      // Dies with the test, even when the test process is SIGKILLed.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      // A mask the forking thread had (a blocked SIGTERM, say) would outlive exec.
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < give_up) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken, bad option, ...
        pid_ = -1;
        return false;
      }
      if (answers_ping()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill();
    return false;
  }

  // One PING over a fresh connection: "+PONG", or "-NOAUTH" with a password, means it serves.
  bool answers_ping() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port_));
    bool up = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
        ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
      pollfd entry{fd, POLLIN, 0};
      char reply[64] = {};
      if (::poll(&entry, 1, 500) == 1 && ::recv(fd, reply, sizeof reply - 1, 0) > 0) {
        const std::string text = reply;
        up = text.starts_with("+PONG") || text.starts_with("-NOAUTH");
      }
    }
    ::close(fd);
    return up;
  }

  void end(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    ::kill(pid_, SIGCONT);  // a paused server acts on SIGTERM only once it runs again
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  RedisServerOptions options_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace mlbridge::testing
