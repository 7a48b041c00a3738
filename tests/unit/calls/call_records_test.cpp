#include "mlbridge/calls/call_records.hpp"

#include <gtest/gtest.h>

namespace mlbridge::calls {
namespace {

using namespace std::chrono_literals;

// A clock the test moves by hand.
struct FakeClock {
  CallRecords::Clock::time_point now{};
  std::function<CallRecords::Clock::time_point()> fn() {
    return [this] { return now; };
  }
};

Error failure(ErrorCategory category, std::string message) {
  return Error::make(category, std::move(message));
}

TEST(CallRecordsTest, FollowsACallFromQueuedToSucceeded) {
  FakeClock clock;
  CallRecords records({1000ms, 10}, clock.fn());
  records.started("call-1", "echo", "sleep");
  EXPECT_EQ(records.get("call-1")->state, CallState::kQueued);
  records.running("call-1");
  EXPECT_EQ(records.get("call-1")->state, CallState::kRunning);
  records.finished("call-1", protocol::json{{"slept", 1}});
  auto record = records.get("call-1");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->state, CallState::kSucceeded);
  EXPECT_EQ(record->result, (protocol::json{{"slept", 1}}));
  EXPECT_TRUE(record->finished.has_value());
  const auto json = to_json(*record);
  EXPECT_EQ(json["state"], "succeeded");
  EXPECT_EQ(json["bridge"], "echo");
  EXPECT_EQ(json["command"], "sleep");
  EXPECT_EQ(json["result"]["slept"], 1);
  EXPECT_TRUE(json.contains("started") && json.contains("finished"));
  EXPECT_FALSE(json.contains("error"));
}

TEST(CallRecordsTest, FailedAndCancelledCarryTheirError) {
  CallRecords records({1000ms, 10});
  records.started("call-1", "echo", "fail");
  records.started("call-2", "echo", "sleep");
  records.finished("call-1", failure(ErrorCategory::kInvalidArgument, "bad value"));
  records.finished("call-2", failure(ErrorCategory::kCancelled, "cancelled by the caller"));
  const auto failed = to_json(*records.get("call-1"));
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_EQ(failed["error"]["category"], "invalid_argument");
  EXPECT_EQ(failed["error"]["message"], "bad value");
  EXPECT_FALSE(failed.contains("result"));
  EXPECT_EQ(records.get("call-2")->state, CallState::kCancelled);
}

TEST(CallRecordsTest, AFinishedRecordExpiresAfterTheTtl) {
  FakeClock clock;
  CallRecords records({1000ms, 10}, clock.fn());
  records.started("call-1", "echo", "echo");
  records.started("call-2", "echo", "echo");
  clock.now += 5000ms;  // in flight: never expires
  records.finished("call-1", protocol::json::object());
  clock.now += 999ms;
  EXPECT_TRUE(records.get("call-1").ok());
  clock.now += 1ms;
  auto gone = records.get("call-1");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().category, ErrorCategory::kNotFound);
  EXPECT_NE(gone.error().message.find("host.call_results.ttl_ms (1000 ms)"), std::string::npos)
      << gone.error().message;
  EXPECT_EQ(records.get("call-2")->state, CallState::kQueued);
  EXPECT_EQ(records.size(), 1u);
}

TEST(CallRecordsTest, TheOldestFinishedRecordGoesFirstWhenFull) {
  CallRecords records({60000ms, 3});
  records.started("call-1", "echo", "echo");  // stays in flight
  records.started("call-2", "echo", "echo");
  records.started("call-3", "echo", "echo");
  records.finished("call-3", protocol::json::object());
  records.finished("call-2", protocol::json::object());
  records.started("call-4", "echo", "echo");  // drops call-3, the first to finish
  EXPECT_FALSE(records.get("call-3").ok());
  EXPECT_TRUE(records.get("call-1").ok());
  EXPECT_TRUE(records.get("call-2").ok());
  EXPECT_TRUE(records.get("call-4").ok());
  EXPECT_EQ(records.size(), 3u);
}

TEST(CallRecordsTest, StaysBoundedWhenEveryRecordIsInFlight) {
  CallRecords records({60000ms, 2});
  records.started("call-1", "echo", "echo");
  records.started("call-2", "echo", "echo");
  records.started("call-3", "echo", "echo");
  EXPECT_EQ(records.size(), 2u);
  EXPECT_TRUE(records.get("call-3").ok());
  // A call whose record was dropped finishes quietly.
  records.finished("call-1", protocol::json::object());
  records.finished("call-2", protocol::json::object());
  EXPECT_EQ(records.size(), 2u);
}

TEST(CallRecordsTest, UnknownIdIsNotFound) {
  CallRecords records({1000ms, 10});
  auto missing = records.get("call-42");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().category, ErrorCategory::kNotFound);
  EXPECT_NE(missing.error().message.find("call-42"), std::string::npos);
  records.running("call-42");  // ignored
  EXPECT_EQ(records.size(), 0u);
}

}  // namespace
}  // namespace mlbridge::calls
