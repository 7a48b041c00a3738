// The deadline queue: expiry order, disarming (a due ticket from another's callback included),
// arming from a callback, and destroying the queue from its own callback.

#include "mlbridge/runtime/deadline_queue.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <vector>

namespace mlbridge::runtime {
namespace {

using namespace std::chrono_literals;
using Clock = DeadlineQueue::Clock;

TEST(DeadlineQueueTest, ExpiresInDeadlineOrderNotArmingOrder) {
  boost::asio::io_context io;
  std::vector<DeadlineQueue::Key> expired;
  DeadlineQueue queue(io, [&](DeadlineQueue::Key key) { expired.push_back(key); });
  const auto now = Clock::now();
  queue.arm(now + 30ms, 3);
  queue.arm(now + 10ms, 1);
  queue.arm(now + 20ms, 2);
  EXPECT_EQ(queue.size(), 3u);
  io.run();  // returns once nothing is armed
  EXPECT_EQ(expired, (std::vector<DeadlineQueue::Key>{1, 2, 3}));
  EXPECT_EQ(queue.size(), 0u);
}

TEST(DeadlineQueueTest, ADisarmedDeadlineNeverExpiresAndTheOthersStillDo) {
  boost::asio::io_context io;
  std::vector<DeadlineQueue::Key> expired;
  DeadlineQueue queue(io, [&](DeadlineQueue::Key key) { expired.push_back(key); });
  const auto now = Clock::now();
  auto earliest = queue.arm(now + 5ms, 1);  // the timer waits for this one
  queue.arm(now + 15ms, 2);
  queue.disarm(earliest);
  io.run();
  EXPECT_EQ(expired, (std::vector<DeadlineQueue::Key>{2}));
}

TEST(DeadlineQueueTest, APastDeadlineExpiresThroughTheLoopNotInsideArm) {
  boost::asio::io_context io;
  int expired = 0;
  DeadlineQueue queue(io, [&](DeadlineQueue::Key) { ++expired; });
  queue.arm(Clock::now() - 1s, 7);
  EXPECT_EQ(expired, 0);
  io.run();
  EXPECT_EQ(expired, 1);
}

TEST(DeadlineQueueTest, ACallbackMayDisarmAnotherDueTicketAndArmANewOne) {
  boost::asio::io_context io;
  std::vector<DeadlineQueue::Key> expired;
  std::unique_ptr<DeadlineQueue> queue;
  DeadlineQueue::Ticket second;
  queue = std::make_unique<DeadlineQueue>(io, [&](DeadlineQueue::Key key) {
    expired.push_back(key);
    if (key == 1) {
      queue->disarm(second);  // due in the same wake-up as key 1
      queue->arm(Clock::now() + 5ms, 3);
    }
  });
  const auto past = Clock::now() - 1ms;
  queue->arm(past, 1);
  second = queue->arm(past + 1us, 2);
  io.run();
  EXPECT_EQ(expired, (std::vector<DeadlineQueue::Key>{1, 3}));
}

TEST(DeadlineQueueTest, ACallbackMayDestroyTheQueueAndNoLaterKeyIsDelivered) {
  boost::asio::io_context io;
  std::vector<DeadlineQueue::Key> expired;
  std::unique_ptr<DeadlineQueue> queue;
  queue = std::make_unique<DeadlineQueue>(io, [&](DeadlineQueue::Key key) {
    expired.push_back(key);
    queue.reset();
  });
  const auto past = Clock::now() - 1ms;
  queue->arm(past, 1);
  queue->arm(past, 2);
  io.run();
  EXPECT_EQ(expired, (std::vector<DeadlineQueue::Key>{1}));
}

TEST(DeadlineQueueTest, DestroyingTheQueueDropsWhatIsArmed) {
  boost::asio::io_context io;
  int expired = 0;
  {
    DeadlineQueue queue(io, [&](DeadlineQueue::Key) { ++expired; });
    queue.arm(Clock::now() + 1ms, 1);
  }
  io.run();
  EXPECT_EQ(expired, 0);
}

}  // namespace
}  // namespace mlbridge::runtime
