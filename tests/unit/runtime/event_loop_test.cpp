// The event loop: posting, run_sync, its thread's name and its CPU clock.

#include "mlbridge/runtime/event_loop.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace mlbridge::runtime {
namespace {

using namespace std::chrono_literals;

TEST(EventLoopTest, RunSyncRunsOnTheLoopThreadAndReturnsItsResult) {
  EventLoop loop;
  EXPECT_FALSE(loop.in_loop_thread());
  EXPECT_TRUE(loop.run_sync([&] { return loop.in_loop_thread(); }));
  EXPECT_EQ(loop.run_sync([] { return 6 * 7; }), 42);
}

TEST(EventLoopTest, PostedTasksRunInOrder) {
  EventLoop loop;
  std::string order;
  for (char c : std::string("abc")) loop.post([&order, c] { order += c; });
  EXPECT_EQ(loop.run_sync([&] { return order; }), "abc");
}

TEST(EventLoopTest, ItsThreadIsNamedForTopAndProc) {
  EventLoop loop;
  const int tid = loop.run_sync([] { return static_cast<int>(::gettid()); });
  std::ifstream comm("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(comm, name);
  EXPECT_EQ(name, "mlbridge-loop");
}

// The clock is the loop thread's, not the caller's: the caller only waits while the loop thread
// spins until its own clock has advanced 20 ms.
TEST(EventLoopTest, CpuTimeCountsTheLoopThreadsWork) {
  EventLoop loop;
  const auto before = loop.cpu_time();
  loop.run_sync([&] {
    while (loop.cpu_time() - before < 20ms) {
    }
  });
  EXPECT_GE(loop.cpu_time() - before, 20ms);
  const auto idle = loop.cpu_time();
  EXPECT_LT(idle - before, 10s);  // a sane reading, not garbage
}

}  // namespace
}  // namespace mlbridge::runtime
