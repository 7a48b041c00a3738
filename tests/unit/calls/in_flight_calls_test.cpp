#include "mlbridge/calls/in_flight_calls.hpp"

#include <gtest/gtest.h>

namespace mlbridge::calls {
namespace {

TEST(InFlightCallsTest, CancelRunsTheAttachedCanceller) {
  InFlightCalls calls;
  int cancelled = 0;
  calls.begin("call-1");
  calls.attach("call-1", [&] { ++cancelled; });
  EXPECT_TRUE(calls.cancel("call-1"));
  EXPECT_EQ(cancelled, 1);
}

TEST(InFlightCallsTest, ACancelBeforeAttachIsAppliedOnAttach) {
  InFlightCalls calls;
  int cancelled = 0;
  calls.begin("call-1");
  EXPECT_TRUE(calls.cancel("call-1"));
  EXPECT_EQ(cancelled, 0);
  calls.attach("call-1", [&] { ++cancelled; });
  EXPECT_EQ(cancelled, 1);
}

TEST(InFlightCallsTest, AFinishedOrUnknownCallIsNotCancelled) {
  InFlightCalls calls;
  int cancelled = 0;
  EXPECT_FALSE(calls.cancel("call-9"));
  calls.begin("call-1");
  calls.end("call-1");  // done before its handle came back
  calls.attach("call-1", [&] { ++cancelled; });
  EXPECT_FALSE(calls.cancel("call-1"));
  EXPECT_EQ(cancelled, 0);
  EXPECT_EQ(calls.size(), 0u);
}

TEST(InFlightCallsTest, SizeCountsTheCallsBegunAndNotEnded) {
  InFlightCalls calls;
  calls.begin("call-1");
  calls.begin("call-2");
  calls.begin("call-2");  // the same id again is still one call
  EXPECT_EQ(calls.size(), 2u);
  calls.end("call-1");
  calls.end("call-9");  // unknown: nothing changes
  EXPECT_EQ(calls.size(), 1u);
  calls.end("call-2");
  EXPECT_EQ(calls.size(), 0u);
}

}  // namespace
}  // namespace mlbridge::calls
