// The request guard's decisions on plain values: Host (DNS rebinding), Origin (cross-site
// changes) and Content-Type (CORS-simple bodies), for loopback, named and wildcard listeners.

#include "request_guard.hpp"

#include <gtest/gtest.h>

namespace mlbridge::server {
namespace {

GuardSettings loopback(int port = 8787) {
  GuardSettings settings;
  settings.listen_host = "127.0.0.1";
  settings.port = port;
  return settings;
}

RequestFacts get(std::string_view path, std::optional<std::string_view> host) {
  RequestFacts facts;
  facts.method = "GET";
  facts.path = path;
  facts.host = host;
  return facts;
}

RequestFacts post(std::optional<std::string_view> content_type,
                  std::optional<std::string_view> origin = std::nullopt) {
  RequestFacts facts;
  facts.method = "POST";
  facts.path = "/v1/bridges";
  facts.host = "127.0.0.1:8787";
  facts.content_type = content_type;
  facts.origin = origin;
  facts.has_body = true;
  return facts;
}

bool passes(const GuardSettings& settings, const RequestFacts& facts) {
  return !guard_request(settings, facts).has_value();
}

int status_of(const GuardSettings& settings, const RequestFacts& facts) {
  const auto refused = guard_request(settings, facts);
  return refused ? refused->status : 0;
}

TEST(RequestGuard, ALoopbackListenerAnswersToItsLoopbackNamesWithItsPort) {
  const auto settings = loopback();
  for (const char* host :
       {"127.0.0.1:8787", "localhost:8787", "LocalHost:8787", "[::1]:8787", " localhost:8787 "}) {
    EXPECT_TRUE(passes(settings, get("/v1/sessions", host))) << host;
  }
  for (const char* host :
       {"evil.example", "evil.example:8787", "localhost", "localhost:8788", "127.0.0.2:8787",
        "[::1]", "::1:8787", "localhost:99999", "[::1", "localhost:87a", "", ":8787"}) {
    const auto refused = check_host(settings, get("/v1/sessions", host));
    ASSERT_TRUE(refused.has_value()) << host;
    EXPECT_EQ(refused->status, 421);
    EXPECT_EQ(refused->error.category, ErrorCategory::kInvalidArgument);
    EXPECT_NE(refused->error.message.find("localhost:8787, 127.0.0.1:8787, [::1]:8787"),
              std::string::npos)
        << refused->error.message;
  }
}

TEST(RequestGuard, ProbesAndRequestsWithoutHostPass) {
  const auto settings = loopback();
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    EXPECT_TRUE(passes(settings, get(path, "evil.example"))) << path;
  }
  EXPECT_FALSE(passes(settings, get("/healthz/x", "evil.example")));
  EXPECT_TRUE(passes(settings, get("/v1/sessions", std::nullopt)));  // HTTP/1.0, no browser
}

TEST(RequestGuard, ANamedListenerAndTheOperatorsHostsPass) {
  GuardSettings settings;
  settings.listen_host = "api.example.com";
  settings.port = 8787;
  settings.allowed_hosts = {"lb.example", "proxy.example:8080", "[fd00::1]:80"};
  EXPECT_TRUE(passes(settings, get("/v1/bridges", "api.example.com:8787")));
  EXPECT_FALSE(passes(settings, get("/v1/bridges", "api.example.com")));
  EXPECT_FALSE(passes(settings, get("/v1/bridges", "localhost:8787")));  // not a loopback listener
  EXPECT_TRUE(passes(settings, get("/v1/bridges", "lb.example")));
  EXPECT_TRUE(passes(settings, get("/v1/bridges", "LB.example:443")));  // no port listed: any
  EXPECT_TRUE(passes(settings, get("/v1/bridges", "proxy.example:8080")));
  EXPECT_FALSE(passes(settings, get("/v1/bridges", "proxy.example:8081")));
  EXPECT_TRUE(passes(settings, get("/v1/bridges", "[fd00::1]")));
}

TEST(RequestGuard, AWildcardListenerAnswersToAnyAddressButOnlyListedNames) {
  GuardSettings settings;
  settings.listen_host = "0.0.0.0";
  settings.port = 8787;
  EXPECT_TRUE(passes(settings, get("/v1/bridges", "10.0.0.5:8787")));
  EXPECT_TRUE(passes(settings, get("/v1/bridges", "10.0.0.5")));  // a port forward
  EXPECT_TRUE(passes(settings, get("/v1/bridges", "[fd00::5]:80")));
  EXPECT_FALSE(passes(settings, get("/v1/bridges", "rebound.example:8787")));
  EXPECT_TRUE(passes(settings, get("/v1/bridges", "localhost:8787")));
  EXPECT_FALSE(passes(settings, get("/v1/bridges", "localhost:9999")));
  settings.allowed_hosts = {"rebound.example"};
  EXPECT_TRUE(passes(settings, get("/v1/bridges", "rebound.example:8787")));
}

TEST(RequestGuard, MutatingRequestsNeedJsonBodies) {
  const auto settings = loopback();
  EXPECT_TRUE(passes(settings, post("application/json")));
  EXPECT_TRUE(passes(settings, post("Application/JSON ; charset=utf-8")));
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded",
                           "multipart/form-data; boundary=x", "application/jsonp", ""}) {
    const auto refused = check_content_type(post(type));
    ASSERT_TRUE(refused.has_value()) << type;
    EXPECT_EQ(refused->status, 415);
    EXPECT_NE(
        refused->error.message.find("POST /v1/bridges needs 'Content-Type: application/json'"),
        std::string::npos);
  }
  EXPECT_EQ(status_of(settings, post(std::nullopt)), 415);
  for (const char* method : {"PUT", "PATCH"}) {
    RequestFacts facts = post(std::nullopt);
    facts.method = method;
    facts.has_body = false;  // even an empty one: the method alone is a change
    EXPECT_EQ(status_of(settings, facts), 415) << method;
  }
  RequestFacts removal = post(std::nullopt);
  removal.method = "DELETE";
  removal.has_body = false;
  EXPECT_TRUE(passes(settings, removal)) << "a DELETE without a body has nothing to type";
  removal.has_body = true;
  EXPECT_EQ(status_of(settings, removal), 415);
  RequestFacts read = get("/v1/sessions", "127.0.0.1:8787");
  read.content_type = "text/plain";
  EXPECT_TRUE(passes(settings, read));
}

TEST(RequestGuard, ChangesFromWebPagesNeedAListedOrigin) {
  auto settings = loopback();
  EXPECT_EQ(status_of(settings, post("application/json", "http://evil.example")), 403);
  EXPECT_EQ(status_of(settings, post("application/json", "null")), 403);
  EXPECT_EQ(status_of(settings, post("application/json", "http://127.0.0.1:8787")), 403);
  settings.allowed_origins = {"https://ops.example.com"};
  EXPECT_TRUE(passes(settings, post("application/json", "https://ops.example.com")));
  EXPECT_TRUE(passes(settings, post("application/json", "HTTPS://OPS.example.com/")));
  EXPECT_EQ(status_of(settings, post("application/json", "https://ops.example.com.evil")), 403);
  const auto refused = check_origin(settings, post("application/json", "http://evil.example"));
  ASSERT_TRUE(refused.has_value());
  EXPECT_NE(refused->error.message.find("Origin: http://evil.example"), std::string::npos);
  EXPECT_NE(refused->error.message.find("host.allowed_origins"), std::string::npos);
  RequestFacts read = get("/v1/sessions", "127.0.0.1:8787");
  read.origin = "http://evil.example";
  EXPECT_TRUE(passes(settings, read)) << "reads are not changes";
}

TEST(RequestGuard, TheHostIsCheckedFirst) {
  RequestFacts facts = post("text/plain", "http://evil.example");
  facts.host = "evil.example";
  EXPECT_EQ(status_of(loopback(), facts), 421);
  facts.host = "localhost:8787";
  EXPECT_EQ(status_of(loopback(), facts), 403);
  facts.origin.reset();
  EXPECT_EQ(status_of(loopback(), facts), 415);
}

}  // namespace
}  // namespace mlbridge::server
