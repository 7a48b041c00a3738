// parse_redis_url: every accepted form, and each bad URL with a message that names the bad part,
// shows the expected form and never the password.

#include "mlbridge/store/redis_url.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace mlbridge::store {
namespace {

RedisEndpoint parsed(std::string_view url) {
  auto endpoint = parse_redis_url(url);
  EXPECT_TRUE(endpoint.ok()) << url << ": " << (endpoint.ok() ? "" : endpoint.error().message);
  return endpoint.ok() ? *endpoint : RedisEndpoint{};
}

TEST(RedisUrl, HostAloneTakesTheDefaults) {
  const auto endpoint = parsed("redis://10.0.0.5");
  EXPECT_EQ(endpoint.host, "10.0.0.5");
  EXPECT_EQ(endpoint.port, 6379);
  EXPECT_EQ(endpoint.db, 0);
  EXPECT_TRUE(endpoint.user.empty());
  EXPECT_TRUE(endpoint.password.empty());
  EXPECT_EQ(endpoint.display(), "redis 10.0.0.5:6379/0");
}

TEST(RedisUrl, PortDatabaseAndPassword) {
  const auto endpoint = parsed("redis://:s3cret@redis.internal:6380/2");
  EXPECT_EQ(endpoint.host, "redis.internal");
  EXPECT_EQ(endpoint.port, 6380);
  EXPECT_EQ(endpoint.db, 2);
  EXPECT_TRUE(endpoint.user.empty());
  EXPECT_EQ(endpoint.password, "s3cret");
  EXPECT_EQ(endpoint.display(), "redis redis.internal:6380/2");
}

TEST(RedisUrl, AclUserAndPassword) {
  const auto endpoint = parsed("redis://mlbridge:pw@127.0.0.1:6379/0");
  EXPECT_EQ(endpoint.user, "mlbridge");
  EXPECT_EQ(endpoint.password, "pw");
}

TEST(RedisUrl, APasswordMayHoldAnyCharacter) {
  // As a ${VAR} expands it: taken literally, up to the last '@'.
  const auto endpoint = parsed("redis://:p@ss:w/rd%41@127.0.0.1:6379/1");
  EXPECT_EQ(endpoint.password, "p@ss:w/rd%41");
  EXPECT_EQ(endpoint.host, "127.0.0.1");
  EXPECT_EQ(endpoint.db, 1);
}

TEST(RedisUrl, BracketedIpv6AndATrailingSlash) {
  const auto endpoint = parsed("redis://[::1]:7000/");
  EXPECT_EQ(endpoint.host, "::1");
  EXPECT_EQ(endpoint.port, 7000);
  EXPECT_EQ(endpoint.db, 0);
  EXPECT_EQ(endpoint.display(), "redis [::1]:7000/0");
}

struct BadUrl {
  std::string url;
  std::string message_part;
};

void PrintTo(const BadUrl& bad, std::ostream* out) { *out << bad.url; }

class RedisUrlRefuses : public ::testing::TestWithParam<BadUrl> {};

TEST_P(RedisUrlRefuses, NamingTheBadPartAndTheExpectedForm) {
  const auto endpoint = parse_redis_url(GetParam().url);
  ASSERT_FALSE(endpoint.ok()) << GetParam().url;
  const auto& error = endpoint.error();
  EXPECT_EQ(error.category, ErrorCategory::kInvalidConfiguration);
  EXPECT_NE(error.message.find(GetParam().message_part), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]"),
            std::string::npos)
      << error.message;
  EXPECT_EQ(error.message.find("s3cret"), std::string::npos) << error.message;
}

std::string bad_url_name(const ::testing::TestParamInfo<BadUrl>& info) {
  return "Case" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(
    BadUrls, RedisUrlRefuses,
    ::testing::Values(BadUrl{"http://127.0.0.1:6379", "does not start with redis://"},
                      BadUrl{"localhost:6379", "does not start with redis://"},
                      BadUrl{"rediss://:s3cret@127.0.0.1:6379", "TLS (rediss://) is not supported"},
                      BadUrl{"unix:///run/redis.sock", "unix sockets are not supported"},
                      BadUrl{"redis://s3cret@127.0.0.1", "':PASSWORD' or 'USER:PASSWORD'"},
                      BadUrl{"redis://:@127.0.0.1", "the password after ':' is empty"},
                      BadUrl{"redis://", "the host is missing"},
                      BadUrl{"redis://:6379/0", "the host is missing"},
                      BadUrl{"redis://:s3cret@:6379", "the host is missing"},
                      BadUrl{"redis://:s3cret@127.0.0.1:0", "the port '0' is not a number"},
                      BadUrl{"redis://127.0.0.1:65536", "the port '65536' is not a number"},
                      BadUrl{"redis://127.0.0.1:http", "the port is not a number"},
                      BadUrl{"redis://127.0.0.1:", "the port is not a number"},
                      BadUrl{"redis://127.0.0.1:6379/x", "the database after '/'"},
                      BadUrl{"redis://127.0.0.1:6379/-1", "the database after '/'"},
                      BadUrl{"redis://127.0.0.1:6379/0/1", "the database after '/'"},
                      BadUrl{"redis://127.0.0.1:6379/99999999999", "the database '99999999999'"},
                      BadUrl{"redis://::1:6379", "an IPv6 address must be written in brackets"},
                      BadUrl{"redis://[::1:6379", "no closing ']'"},
                      BadUrl{"redis://[::1]6379", "only ':PORT' may follow"},
                      BadUrl{"redis://127.0.0.1:6379/0?timeout=5", "options after '?'"}),
    bad_url_name);

TEST(RedisUrl, APasswordTypedWithoutItsAtSignIsNotShown) {
  const auto endpoint = parse_redis_url("redis://:s3cret-and-long");
  ASSERT_FALSE(endpoint.ok());
  EXPECT_EQ(endpoint.error().message.find("s3cret"), std::string::npos) << endpoint.error().message;
  const auto as_port = parse_redis_url("redis://127.0.0.1:s3cret");
  ASSERT_FALSE(as_port.ok());
  EXPECT_EQ(as_port.error().message.find("s3cret"), std::string::npos) << as_port.error().message;
}

TEST(RedisUrl, DisplayNeverShowsThePassword) {
  const auto endpoint = parsed("redis://admin:s3cret@127.0.0.1:6379/3");
  EXPECT_EQ(endpoint.display(), "redis 127.0.0.1:6379/3");
}

}  // namespace
}  // namespace mlbridge::store
