#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

#include "mlbridge/process/spawner.hpp"

namespace mlbridge::process {
namespace {

// Pipes of 1 MiB (the default /proc/sys/fs/pipe-max-size) move large frames in fewer wake-ups.
constexpr int kPipeBytes = 1 << 20;

std::string errno_text(int error) { return std::strerror(error); }

Unexpected system_failure(const std::string& what, int error) {
  return fail(ErrorCategory::kInternal, what + " failed: " + errno_text(error));
}

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return system_failure("pipe2", errno);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Finds the program the way execvp would, but with the child's PATH, and before forking so that
// a missing interpreter is a clear error rather than an exit code.
Result<std::string> resolve_executable(const ProcessSpec& spec) {
  namespace fs = std::filesystem;
  const std::string& name = spec.executable;
  if (name.empty()) return fail(ErrorCategory::kInvalidConfiguration, "no executable given");
  auto runnable = [](const fs::path& path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string::npos) {
    fs::path path = fs::absolute(name);
    if (!runnable(path)) {
      return fail(ErrorCategory::kInvalidConfiguration,
                  "executable '" + name + "' does not exist or is not executable (" +
                      path.string() + "); check the python path in the config or run setup");
    }
    return path.string();
  }
  std::string search_path = "/usr/local/bin:/usr/bin:/bin";
  if (auto it = spec.env.find("PATH"); it != spec.env.end()) search_path = it->second;
  std::size_t start = 0;
  while (start <= search_path.size()) {
    const std::size_t end = std::min(search_path.find(':', start), search_path.size());
    const fs::path candidate = fs::path(search_path.substr(start, end - start)) / name;
    if (end > start && runnable(candidate)) return candidate.string();
    start = end + 1;
  }
  return fail(ErrorCategory::kInvalidConfiguration,
              "executable '" + name + "' was not found in PATH '" + search_path + "'");
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Runs in the child between fork and exec: async-signal-safe calls only.
// `inherited` holds the parent's fds to pass on as 3, 4, ...; `scratch` has as many slots.
[[noreturn]] void exec_child(const char* path, char* const* argv, char* const* envp, int stdin_fd,
                             int stdout_fd, int stderr_fd, int error_fd, pid_t parent,
                             const char* working_dir, const rlimit* memory_limit,
                             const std::vector<int>& inherited, std::vector<int>& scratch) {
  auto die = [&error_fd](int error) {  // by reference: error_fd may move below
    [[maybe_unused]] auto ignored = ::write(error_fd, &error, sizeof error);
    ::_exit(127);
  };
  ::setpgid(0, 0);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die(errno);
  if (::getppid() != parent) ::_exit(127);  // the host died before the line above
  sigset_t all;
  ::sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &default_action, nullptr);
  if (::dup2(stdin_fd, 0) < 0 || ::dup2(stdout_fd, 1) < 0 || ::dup2(stderr_fd, 2) < 0) die(errno);
  // Inherited fds go to 3, 4, ...: first everything involved moves above that block (so no dup2
  // below overwrites a descriptor still needed), then each lands in its place without CLOEXEC.
  const int first_free = 3 + static_cast<int>(inherited.size());
  if (!inherited.empty()) {
    error_fd = ::fcntl(error_fd, F_DUPFD_CLOEXEC, first_free);
    if (error_fd < 0) ::_exit(127);
    for (std::size_t i = 0; i < inherited.size(); ++i) {
      scratch[i] = ::fcntl(inherited[i], F_DUPFD_CLOEXEC, first_free);
      if (scratch[i] < 0) die(errno);
    }
    for (std::size_t i = 0; i < inherited.size(); ++i) {
      if (::dup2(scratch[i], 3 + static_cast<int>(i)) < 0) die(errno);
    }
  }
  if (working_dir != nullptr && ::chdir(working_dir) != 0) die(errno);
  if (memory_limit != nullptr && ::setrlimit(RLIMIT_AS, memory_limit) != 0) die(errno);
  // Close everything but stdio, the inherited fds and the error pipe (closed on exec).
  if (error_fd > first_free) {
    ::syscall(SYS_close_range, static_cast<unsigned>(first_free),
              static_cast<unsigned>(error_fd - 1), 0u);
  }
  ::syscall(SYS_close_range, static_cast<unsigned>(error_fd + 1), ~0u, 0u);
  ::execve(path, argv, envp);
  die(errno);
  ::_exit(127);
}

}  // namespace

Result<ChildProcess> ExecSpawner::spawn(const ProcessSpec& spec) {
  auto path = resolve_executable(spec);
  if (!path) return std::move(path).error();

  // Everything the child needs is prepared before fork.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(*path);
  argv_storage.insert(argv_storage.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (const auto& [key, value] : spec.env) env_storage.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);
  rlimit memory_limit{};
  if (spec.memory_limit_bytes)
    memory_limit.rlim_cur = memory_limit.rlim_max = *spec.memory_limit_bytes;

  auto in = make_pipe();
  auto out = make_pipe();
  auto err = make_pipe();
  auto status_pipe = make_pipe();
  if (!in || !out || !err || !status_pipe) return system_failure("pipe2", errno);
  ::fcntl(in->write_end.get(), F_SETPIPE_SZ, kPipeBytes);
  ::fcntl(out->write_end.get(), F_SETPIPE_SZ, kPipeBytes);

  std::vector<int> scratch(spec.inherited_fds.size(), -1);  // allocated before fork
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return system_failure("fork", errno);
  if (pid == 0) {
    exec_child(argv[0], argv.data(), envp.data(), in->read_end.get(), out->write_end.get(),
               err->write_end.get(), status_pipe->write_end.get(), parent,
               spec.working_dir.empty() ? nullptr : spec.working_dir.c_str(),
               spec.memory_limit_bytes ? &memory_limit : nullptr, spec.inherited_fds, scratch);
  }
  // Also set the group from the parent side so signal_group works even before the child runs.
  ::setpgid(pid, pid);
  status_pipe->write_end.reset();
  in->read_end.reset();
  out->write_end.reset();
  err->write_end.reset();

  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(status_pipe->read_end.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof child_errno) {
    int wait_status = 0;
    ::waitpid(pid, &wait_status, 0);
    return fail(
        ErrorCategory::kInvalidConfiguration,
        "could not start '" + *path + "': " + errno_text(child_errno) +
            (spec.working_dir.empty() ? "" : " (working directory '" + spec.working_dir + "')"));
  }

  ChildProcess child;
  child.pid = pid;
  child.stdin_fd = std::move(in->write_end);
  child.stdout_fd = std::move(out->read_end);
  child.stderr_fd = std::move(err->read_end);
  set_nonblocking(child.stdin_fd.get());
  set_nonblocking(child.stdout_fd.get());
  set_nonblocking(child.stderr_fd.get());
  const int pid_fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pid_fd >= 0) {
    ::fcntl(pid_fd, F_SETFD, FD_CLOEXEC);
    child.pid_fd.reset(pid_fd);
  }
  return child;
}

SpawnerPtr default_spawner() {
  static const SpawnerPtr spawner = std::make_shared<ExecSpawner>();
  return spawner;
}

void signal_group(pid_t pid, int signal) {
  if (pid > 0) ::kill(-pid, signal);
}

}  // namespace mlbridge::process
