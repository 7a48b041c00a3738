#include "mlbridge/config/config_diff.hpp"

#include <gtest/gtest.h>

#include "mlbridge/config/bridge_config.hpp"

namespace mlbridge::config {
namespace {

using namespace std::chrono_literals;

TEST(ConfigDiff, ListsChangedKeysByDottedPath) {
  const json before = json::parse(R"({"pool": {"size": 1, "lazy": false}, "options": {"a": 1},
                                      "idempotent": ["x"]})");
  const json after = json::parse(R"({"pool": {"size": 3, "lazy": false}, "options": {"b": 2},
                                     "idempotent": ["x", "y"]})");
  const auto changes = diff_keys(before, after);
  ASSERT_EQ(changes.size(), 4u);
  EXPECT_EQ(changes[0].describe(), R"(idempotent: ["x"] -> ["x","y"])");
  EXPECT_EQ(changes[1].describe(), "options.a: 1 -> (default)");
  EXPECT_EQ(changes[2].describe(), "options.b: (default) -> 2");
  EXPECT_EQ(changes[3].describe(), "pool.size: 1 -> 3");
  EXPECT_TRUE(diff_keys(before, before).empty());
}

TEST(ConfigDiff, DescriptionsNeverShowASecretValue) {
  const std::string secret = "sk-planted-secret-0123456789";
  const json before = json::parse(R"({"env": {"set": {"OPENAI_API_KEY": "sk-old-secret-99999"}},
                                      "options": {"lm": {"model": "a"}}})");
  json after = json::parse(R"({"env": {"set": {"OPENAI_API_KEY": ""}},
                               "options": {"lm": {"model": "b", "api_key": ""},
                                           "extra": [{"token": ""}]}})");
  after["env"]["set"]["OPENAI_API_KEY"] = secret;
  after["options"]["lm"]["api_key"] = secret;
  after["options"]["extra"][0]["token"] = secret;
  const auto changes = diff_keys(before, after);
  ASSERT_EQ(changes.size(), 4u);
  for (const auto& change : changes) {
    const std::string text = change.describe();
    EXPECT_EQ(text.find(secret), std::string::npos) << text;
    EXPECT_EQ(text.find("sk-old-secret"), std::string::npos) << text;
  }
  EXPECT_EQ(changes[0].describe(), R"(env.set.OPENAI_API_KEY: "[REDACTED]" -> "[REDACTED]")");
  EXPECT_EQ(changes[1].describe(), R"(options.extra: (default) -> [{"token":"[REDACTED]"}])");
  EXPECT_EQ(changes[2].describe(), R"(options.lm.api_key: (default) -> "[REDACTED]")");
  EXPECT_EQ(changes[3].describe(), R"(options.lm.model: "a" -> "b")");
  // The name of the variable that holds a key is no secret.
  EXPECT_EQ((KeyChange{"options.lm.api_key_env", json(), "MY_KEY"}.describe()),
            R"(options.lm.api_key_env: (default) -> "MY_KEY")");
}

TEST(ConfigDiff, MergePatchMergesObjectsAndNullRemoves) {
  const json target = json::parse(R"({"pool": {"size": 1, "lazy": true}, "options": {"a": 1}})");
  const json patched =
      merge_patch(target, json::parse(R"({"pool": {"size": 4}, "options": null, "retry": {}})"));
  EXPECT_EQ(patched, json::parse(R"({"pool": {"size": 4, "lazy": true}, "retry": {}})"));
}

TEST(ConfigDiff, KeysThatNeedNewWorkersAreKnown) {
  EXPECT_TRUE(needs_new_bridge({"script", "a.py", "b.py"}));
  EXPECT_TRUE(needs_new_bridge({"env.set.X", json(), "1"}));
  EXPECT_TRUE(needs_new_bridge({"sessions.max", 1, 2}));
  EXPECT_TRUE(needs_new_bridge({"code.paths", json::array({"a"}), json::array({"b"})}));
  EXPECT_TRUE(needs_new_bridge({"code.modules", json(), json::array({"myteam"})}));
  EXPECT_FALSE(needs_new_bridge({"sessions.ttl_s", 1, 2}));
  EXPECT_FALSE(needs_new_bridge({"pool.size", 1, 2}));
  EXPECT_FALSE(needs_new_bridge({"options.model", "a", "b"}));
  EXPECT_FALSE(needs_new_bridge({"environment", 1, 2})) << "a prefix of a longer key";
}

TEST(BridgeConfig, ParsesRetryAndCircuitBreaker) {
  auto bridge = parse_bridge_config("echo", json::parse(R"({
    "script": "echo_bridge.py",
    "idempotent": ["echo"],
    "retry": {"max_attempts": 4, "backoff_initial_ms": 10, "backoff_max_ms": 80, "budget": 5,
              "budget_percent": 50},
    "circuit_breaker": {"failures": 3, "cooldown_ms": 500, "probes": 2}
  })"));
  ASSERT_TRUE(bridge.ok()) << bridge.error().message;
  EXPECT_EQ(bridge->retry.max_attempts, 4u);
  EXPECT_EQ(bridge->retry.backoff_initial, 10ms);
  EXPECT_EQ(bridge->retry.backoff_max, 80ms);
  EXPECT_EQ(bridge->retry.budget, 5u);
  EXPECT_EQ(bridge->retry.budget_percent, 50u);
  EXPECT_EQ(bridge->circuit_breaker.failures, 3u);
  EXPECT_EQ(bridge->circuit_breaker.cooldown, 500ms);
  EXPECT_EQ(bridge->circuit_breaker.probes, 2u);

  auto defaults = parse_bridge_config("echo", json::parse(R"({"script": "e.py"})"));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->retry.max_attempts, 3u);
  EXPECT_EQ(defaults->circuit_breaker.failures, 0u) << "the breaker is off unless configured";

  auto bad = parse_bridge_config(
      "echo", json::parse(R"({"script": "e.py", "circuit_breaker": {"probes": 0}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            "bridge 'echo': circuit_breaker.probes must be an integer from 1 to 1000000000, got 0");
  auto typo = parse_bridge_config(
      "echo", json::parse(R"({"script": "e.py", "retry": {"max_attempt": 2}})"));
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("max_attempts"), std::string::npos) << typo.error().message;
}

}  // namespace
}  // namespace mlbridge::config
