// Killing the host with SIGKILL must leave no worker behind (PR_SET_PDEATHSIG).

#include <sys/wait.h>

#include <cstdio>

#include "worker_fixture.hpp"

namespace mlbridge::testing {
namespace {

TEST(HostDeath, SigkillOfTheHostLeavesNoWorker) {
  const std::string command = std::string(HOST_THAT_WAITS) + " " + python() + " " + echo_bridge();
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t host = ::fork();
  ASSERT_GE(host, 0);
  if (host == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), nullptr);
    ::_exit(127);
  }
  ::close(out[1]);
  FILE* from_host = ::fdopen(out[0], "r");
  pid_t worker = 0;
  ASSERT_EQ(std::fscanf(from_host, "%d", &worker), 1) << "the host did not report a worker pid";
  std::fclose(from_host);
  ASSERT_TRUE(process_alive(worker));

  ::kill(host, SIGKILL);
  ::waitpid(host, nullptr, 0);
  // The worker is now an orphan re-parented to init (or to a subreaper); it must die by itself.
  EXPECT_TRUE(wait_until_gone(worker, 10s)) << "worker " << worker << " outlived its host";
}

}  // namespace
}  // namespace mlbridge::testing
