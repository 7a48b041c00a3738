#include "route_pattern.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace mlbridge::server {
namespace {

std::vector<std::string_view> captures_of(const RoutePattern& pattern, std::string_view path,
                                          bool& matched) {
  std::vector<std::string_view> captures;
  matched = pattern.match(path, captures);
  return captures;
}

TEST(RoutePattern, LiteralMatchesOnlyItself) {
  const RoutePattern pattern("/v1/bridges");
  std::vector<std::string_view> captures;
  EXPECT_TRUE(pattern.match("/v1/bridges", captures));
  EXPECT_TRUE(captures.empty());
  EXPECT_FALSE(pattern.match("/v1/bridges/", captures));
  EXPECT_FALSE(pattern.match("/v1/bridge", captures));
  EXPECT_FALSE(pattern.match("/v1/bridgesx", captures));
  EXPECT_FALSE(pattern.match("/v1//bridges", captures));
  EXPECT_FALSE(pattern.match("v1/bridges", captures));
  EXPECT_FALSE(pattern.match("", captures));
  EXPECT_FALSE(pattern.match("/v1/bridges/x", captures));
}

TEST(RoutePattern, CapturesWholeNonEmptySegments) {
  const RoutePattern pattern("/v1/bridges/{name}/commands/{command}");
  EXPECT_EQ(pattern.capture_count(), 2u);
  bool matched = false;
  auto captures = captures_of(pattern, "/v1/bridges/echo/commands/run", matched);
  ASSERT_TRUE(matched);
  ASSERT_EQ(captures.size(), 2u);
  EXPECT_EQ(captures[0], "echo");
  EXPECT_EQ(captures[1], "run");
  captures_of(pattern, "/v1/bridges//commands/run", matched);
  EXPECT_FALSE(matched);
  captures_of(pattern, "/v1/bridges/echo/commands/", matched);
  EXPECT_FALSE(matched);
  captures_of(pattern, "/v1/bridges/echo/commands/run/more", matched);
  EXPECT_FALSE(matched);
  captures_of(pattern, "/v1/bridges/echo/commands", matched);
  EXPECT_FALSE(matched);
}

// An encoded slash stays inside its segment: the raw path is matched, decoding comes later.
TEST(RoutePattern, EncodedSlashStaysInItsSegment) {
  const RoutePattern pattern("/v1/sessions/{id}");
  bool matched = false;
  auto captures = captures_of(pattern, "/v1/sessions/a%2Fstate", matched);
  ASSERT_TRUE(matched);
  EXPECT_EQ(captures.at(0), "a%2Fstate");
  const RoutePattern state("/v1/sessions/{id}/state");
  captures_of(state, "/v1/sessions/a%2Fstate", matched);
  EXPECT_FALSE(matched);
}

TEST(RoutePattern, RefusesMalformedPatterns) {
  EXPECT_THROW(RoutePattern("v1/bridges"), std::invalid_argument);
  EXPECT_THROW(RoutePattern(""), std::invalid_argument);
  EXPECT_THROW(RoutePattern("/v1/x{name}"), std::invalid_argument);
  EXPECT_THROW(RoutePattern("/v1/{}"), std::invalid_argument);
}

}  // namespace
}  // namespace mlbridge::server
