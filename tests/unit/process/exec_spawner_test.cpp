#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>

#include "mlbridge/process/exit_status.hpp"
#include "mlbridge/process/spawner.hpp"
#include "process_census.hpp"

namespace mlbridge::process {
namespace {

// Reads a non-blocking fd until EOF, waiting at most 10 s in all.
std::string read_all(int fd) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buffer[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 100);
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0) break;
    if (n > 0) out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

ExitStatus wait_for(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return ExitStatus::from_wait_status(status);
}

// Live (non-zombie) processes of a process group, from /proc. Killed orphans are re-parented to
// init, which may leave them as zombies for a while: those count as gone.
int live_members(pid_t group) {
  int live = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    // Any process on the machine may exit while it is read: read_whole_file returns what it got.
    const std::string text = testing::read_whole_file((entry.path() / "stat").string());
    const auto paren = text.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(text.substr(paren + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (pgrp == group && state != 'Z') ++live;
  }
  return live;
}

ProcessSpec shell(const std::string& script) {
  ProcessSpec spec;
  spec.executable = "/bin/sh";
  spec.args = {"-c", script};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  return spec;
}

TEST(ExecSpawner, PipesStdinToStdoutAndStderrSeparately) {
  ExecSpawner spawner;
  auto child = spawner.spawn(shell("cat; echo oops >&2"));
  ASSERT_TRUE(child.ok()) << child.error().message;
  ASSERT_EQ(::write(child->stdin_fd.get(), "ping", 4), 4);
  child->stdin_fd.reset();
  EXPECT_EQ(read_all(child->stdout_fd.get()), "ping");
  EXPECT_EQ(read_all(child->stderr_fd.get()), "oops\n");
  EXPECT_TRUE(wait_for(child->pid).exited_cleanly());
}

TEST(ExecSpawner, PassesInheritedFdsAsThreeFourAndNothingElse) {
  int first[2], second[2], unlisted[2];
  ASSERT_EQ(::pipe2(first, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(second, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe(unlisted), 0);  // not close-on-exec, yet not listed: must not reach the child
  const std::string leak = std::to_string(unlisted[1]);
  ProcessSpec spec =
      shell("cat <&3; cat <&4; [ -e /proc/$$/fd/" + leak + " ] && echo leaked >&2; true");
  spec.inherited_fds = {first[0], second[0]};
  ExecSpawner spawner;
  auto child = spawner.spawn(spec);
  ASSERT_TRUE(child.ok()) << child.error().message;
  for (int fd : {first[0], second[0], unlisted[0], unlisted[1]}) ::close(fd);
  ASSERT_EQ(::write(first[1], "one ", 4), 4);
  ASSERT_EQ(::write(second[1], "two", 3), 3);
  ::close(first[1]);
  ::close(second[1]);
  child->stdin_fd.reset();
  EXPECT_EQ(read_all(child->stdout_fd.get()), "one two");
  EXPECT_EQ(read_all(child->stderr_fd.get()), "");
  EXPECT_TRUE(wait_for(child->pid).exited_cleanly());
}

TEST(ExecSpawner, GivesTheChildOnlyTheConfiguredEnvironment) {
  ::setenv("MLBRIDGE_TEST_SECRET", "do-not-leak", 1);
  ExecSpawner spawner;
  ProcessSpec spec;
  spec.executable = "env";
  spec.env = {{"PATH", "/usr/bin:/bin"}, {"ONLY_THIS", "1"}};
  auto child = spawner.spawn(spec);
  ASSERT_TRUE(child.ok()) << child.error().message;
  const std::string env = read_all(child->stdout_fd.get());
  wait_for(child->pid);
  EXPECT_NE(env.find("ONLY_THIS=1"), std::string::npos);
  EXPECT_EQ(env.find("MLBRIDGE_TEST_SECRET"), std::string::npos) << env;
}

TEST(ExecSpawner, PutsTheChildInItsOwnProcessGroup) {
  ExecSpawner spawner;
  auto child = spawner.spawn(shell("sleep 30 & sleep 30"));
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(::getpgid(child->pid), child->pid);
  signal_group(child->pid, SIGKILL);  // takes the grandchild too
  const auto status = wait_for(child->pid);
  EXPECT_EQ(status.signal, SIGKILL);
  // No live member of the group is left.
  for (int i = 0; i < 100 && live_members(child->pid) > 0; ++i) ::usleep(10000);
  EXPECT_EQ(live_members(child->pid), 0);
}

TEST(ExecSpawner, ProvidesAPidfdThatSignalsExit) {
  ExecSpawner spawner;
  auto child = spawner.spawn(shell("exit 3"));
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(child->pid_fd.valid());
  pollfd p{child->pid_fd.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 10000), 1);
  EXPECT_EQ(wait_for(child->pid).exit_code, 3);
}

TEST(ExecSpawner, AppliesTheMemoryLimit) {
  ExecSpawner spawner;
  ProcessSpec spec = shell("ulimit -v");
  spec.memory_limit_bytes = 512ull * 1024 * 1024;
  auto child = spawner.spawn(spec);
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(read_all(child->stdout_fd.get()), "524288\n");
  wait_for(child->pid);
}

TEST(ExecSpawner, RunsInTheWorkingDirectory) {
  ExecSpawner spawner;
  ProcessSpec spec = shell("pwd");
  spec.working_dir = "/tmp";
  auto child = spawner.spawn(spec);
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(read_all(child->stdout_fd.get()), "/tmp\n");
  wait_for(child->pid);
}

TEST(ExecSpawner, NamesAMissingExecutable) {
  ExecSpawner spawner;
  ProcessSpec spec;
  spec.executable = "/nonexistent/python3";
  auto child = spawner.spawn(spec);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_NE(child.error().message.find("/nonexistent/python3"), std::string::npos);
}

TEST(ExecSpawner, NamesAMissingWorkingDirectory) {
  ExecSpawner spawner;
  ProcessSpec spec = shell("true");
  spec.working_dir = "/nonexistent-dir";
  auto child = spawner.spawn(spec);
  ASSERT_FALSE(child.ok());
  EXPECT_NE(child.error().message.find("/nonexistent-dir"), std::string::npos);
}

TEST(ExecSpawner, LeaksNoDescriptorsIntoTheChild) {
  const int stray = ::open("/dev/null", O_RDONLY);  // not close-on-exec on purpose
  ASSERT_GE(stray, 0);
  ExecSpawner spawner;
  auto child = spawner.spawn(shell("ls /proc/self/fd"));
  ASSERT_TRUE(child.ok());
  const std::string fds = read_all(child->stdout_fd.get());
  wait_for(child->pid);
  ::close(stray);
  // stdin, stdout, stderr and the fd ls uses to read the directory.
  EXPECT_EQ(fds, "0\n1\n2\n3\n");
}

}  // namespace
}  // namespace mlbridge::process
