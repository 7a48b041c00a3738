// The HTTP form of errors a load balancer acts on: session_moved is 409 with Retry-After, the
// other host's lease left (whole seconds, rounded up, at least 1).

#include "http_errors.hpp"

#include <gtest/gtest.h>

namespace mlbridge::server {
namespace {

std::string retry_after(const HttpResponse& response) {
  for (const auto& [name, value] : response.headers) {
    if (name == "Retry-After") return value;
  }
  return "";
}

TEST(HttpErrors, SessionMovedIs409WithTheLeaseLeftAsRetryAfter) {
  EXPECT_EQ(http_status(ErrorCategory::kSessionMoved), 409);
  Error moved = Error::make(ErrorCategory::kSessionMoved, "session 's' is held by host 'b'");
  EXPECT_TRUE(moved.retryable);
  moved.retry_after = std::chrono::milliseconds(2300);
  HttpResponse response;
  send_error(response, moved);
  EXPECT_EQ(response.status, 409);
  EXPECT_EQ(retry_after(response), "3");
  EXPECT_NE(response.body.find("\"session_moved\""), std::string::npos) << response.body;

  moved.retry_after = std::chrono::milliseconds(10);
  HttpResponse soon;
  send_error(soon, moved);
  EXPECT_EQ(retry_after(soon), "1");
}

}  // namespace
}  // namespace mlbridge::server
