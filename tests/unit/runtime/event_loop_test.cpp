// The event loop: posting, run_sync, timers, its thread's name, its CPU clock, and polling before
// it sleeps (each behaviour with polling off and on), only while its owner finds it worthwhile.

#include "mlbridge/runtime/event_loop.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

namespace mlbridge::runtime {
namespace {

using namespace std::chrono_literals;

class EventLoopTest : public ::testing::TestWithParam<std::chrono::microseconds> {};

TEST_P(EventLoopTest, RunSyncRunsOnTheLoopThreadAndReturnsItsResult) {
  EventLoop loop(GetParam());
  EXPECT_FALSE(loop.in_loop_thread());
  EXPECT_TRUE(loop.run_sync([&] { return loop.in_loop_thread(); }));
  EXPECT_EQ(loop.run_sync([] { return 6 * 7; }), 42);
}

TEST_P(EventLoopTest, PostedTasksRunInOrder) {
  EventLoop loop(GetParam());
  std::string order;
  for (char c : std::string("abc")) loop.post([&order, c] { order += c; });
  EXPECT_EQ(loop.run_sync([&] { return order; }), "abc");
}

TEST_P(EventLoopTest, TimersFireAndPostsFromOtherThreadsRun) {
  EventLoop loop(GetParam());
  std::promise<void> fired;
  boost::asio::steady_timer timer(loop.context(), 5ms);
  timer.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) fired.set_value();
  });
  fired.get_future().wait();
  std::promise<int> posted;
  std::thread([&] { loop.post([&] { posted.set_value(7); }); }).join();
  EXPECT_EQ(posted.get_future().get(), 7);
  loop.run_sync([&] { timer.cancel(); });
}

TEST_P(EventLoopTest, ItsThreadIsNamedForTopAndProc) {
  EventLoop loop(GetParam());
  const int tid = loop.run_sync([] { return static_cast<int>(::gettid()); });
  std::ifstream comm("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(comm, name);
  EXPECT_EQ(name, "mlbridge-loop");
}

// The clock is the loop thread's, not the caller's: the caller only waits while the loop thread
// spins until its own clock has advanced 20 ms.
TEST_P(EventLoopTest, CpuTimeCountsTheLoopThreadsWork) {
  EventLoop loop(GetParam());
  const auto before = loop.cpu_time();
  loop.run_sync([&] {
    while (loop.cpu_time() - before < 20ms) {
    }
  });
  EXPECT_GE(loop.cpu_time() - before, 20ms);
  const auto idle = loop.cpu_time();
  EXPECT_LT(idle - before, 10s);  // a sane reading, not garbage
}

// Polling stops once there is nothing to do: over a quarter of a second with no work, a loop that
// kept polling would use about that much CPU; a sleeping one uses next to none.
TEST_P(EventLoopTest, AnIdleLoopSleeps) {
  EventLoop loop(GetParam());
  EXPECT_EQ(loop.spin(), GetParam());
  for (int i = 0; i < 100; ++i) loop.run_sync([] {});  // some work, then none
  const auto before = loop.cpu_time();
  std::this_thread::sleep_for(250ms);
  EXPECT_LT(loop.cpu_time() - before, 50ms);
}

INSTANTIATE_TEST_SUITE_P(Spin, EventLoopTest, ::testing::Values(0us, EventLoop::kDefaultSpin, 2ms),
                         [](const auto& info) {
                           return std::to_string(info.param.count()) + "us";
                         });

// A loop told to poll for 10 s polls while polling is worthwhile, and sleeps as soon as it is not
// (the host's answer while many calls are in flight): its CPU over a quarter of a second idle
// stays next to none, where a loop that kept polling would use about that much.
TEST(EventLoopSpinTest, PollsOnlyWhilePollingIsWorthwhile) {
  std::atomic<bool> worthwhile{true};
  std::atomic<int> asked{0};
  EventLoop loop(10s, [&] {
    ++asked;
    return worthwhile.load();
  });
  loop.run_sync([] {});
  for (int i = 0; i < 5000 && asked.load() == 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_GT(asked.load(), 0) << "an idle loop within its polling time asks whether to poll";
  worthwhile = false;
  loop.run_sync([] {});  // a poll after the change: the loop is asleep from here on
  const auto before = loop.cpu_time();
  std::this_thread::sleep_for(250ms);
  EXPECT_LT(loop.cpu_time() - before, 50ms);
}

TEST(EventLoopSpinTest, ANegativeSpinMeansNone) {
  EventLoop loop(-5us);
  EXPECT_EQ(loop.spin(), 0us);
}

}  // namespace
}  // namespace mlbridge::runtime
