#include "mlbridge/config/bridge_config.hpp"

#include <gtest/gtest.h>

namespace mlbridge::config {
namespace {

using namespace std::chrono_literals;

TEST(BridgeConfig, ParsesAPlainJsonObject) {
  const json body = json::parse(R"({
    "script": "python_bridges/examples/echo_bridge.py",
    "codec": "msgpack",
    "pool": {"size": 1, "lazy": true},
    "timeouts": {"request_ms": 1500},
    "options": {"greeting": "hi"}
  })");
  auto bridge = parse_bridge_config("echo", body);
  ASSERT_TRUE(bridge.ok()) << bridge.error().message;
  EXPECT_EQ(bridge->name, "echo");
  EXPECT_EQ(bridge->codec, protocol::Codec::kMsgpack);
  EXPECT_EQ(bridge->pool.size, 1u);
  EXPECT_TRUE(bridge->pool.lazy);
  EXPECT_EQ(bridge->timeouts.request, 1500ms);
  EXPECT_EQ(bridge->timeouts.startup, 60000ms);  // default kept
  EXPECT_EQ(bridge->options["greeting"], "hi");
  EXPECT_EQ(bridge->raw, body);
}

TEST(BridgeConfig, CodeDeclaresPathsAndDottedModuleNames) {
  auto bridge = parse_bridge_config(
      "team", json::parse(R"({"script": "e.py", "code": {"paths": ["app", "/opt/lib"],
                              "modules": ["myteam", "myteam.programs", "_private.x1"]}})"));
  ASSERT_TRUE(bridge.ok()) << bridge.error().message;
  EXPECT_EQ(bridge->code.paths, (std::vector<std::string>{"app", "/opt/lib"}));
  EXPECT_EQ(bridge->code.modules,
            (std::vector<std::string>{"myteam", "myteam.programs", "_private.x1"}));
  EXPECT_TRUE(
      parse_bridge_config("team", json::parse(R"({"script": "e.py"})"))->code.paths.empty());

  for (const std::string bad :
       {".relative", "a..b", "a.", "1abc", "my-team", "pkg.mod:attr", "a b"}) {
    auto refused =
        parse_bridge_config("team", json{{"script", "e.py"}, {"code", {{"modules", {"ok", bad}}}}});
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.error().message,
              "bridge 'team': code.modules[1] must be a dotted Python module name like "
              "'myteam.programs' (identifiers joined by '.', not relative), got '" +
                  bad + "'");
  }
  auto paths = parse_bridge_config("team", json{{"script", "e.py"}, {"code", {{"paths", "app"}}}});
  ASSERT_FALSE(paths.ok());
  EXPECT_EQ(paths.error().message,
            "bridge 'team': code.paths must be a list of strings, got a string (\"app\")");
  auto unknown = parse_bridge_config("team", json{{"script", "e.py"}, {"code", {{"module", {}}}}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("code.module"), std::string::npos)
      << unknown.error().message;
}

TEST(BridgeConfig, SessionReplayRulesAreCheckedWhereTheyAreWritten) {
  auto good = parse_bridge_config(
      "echo", json::parse(R"({"script": "e.py", "sessions": {"ttl_s": 60, "replay": {
                "setup": [{"command": "put", "object": "{key}"}], "max_entries": 10}}})"));
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->sessions.replay["max_entries"], 10);
  auto bad = parse_bridge_config(
      "echo", json::parse(R"({"script": "e.py", "sessions": {"replay": {"setup": [{}]}}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("sessions.replay is invalid"), std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("needs a 'command'"), std::string::npos)
      << bad.error().message;
}

TEST(BridgeConfig, WithoutASourceMapErrorsNameTheBridgeAndKeyPath) {
  auto bridge =
      parse_bridge_config("dspy", json::parse(R"({"plugin": "dspy", "pool": {"size": -1}})"));
  ASSERT_FALSE(bridge.ok());
  EXPECT_EQ(bridge.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_EQ(bridge.error().message,
            "bridge 'dspy': pool.size must be an integer from 0 to 1024, got -1");

  auto nested = parse_bridge_config(
      "dspy", json::parse(R"({"plugin": "dspy", "errors": [{"type": "X", "category": "bad"}]})"));
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.error().message.rfind("bridge 'dspy': errors[0].category must be one of ", 0),
            0u)
      << nested.error().message;

  auto unknown = parse_bridge_config("dspy", json::parse(R"({"plugin": "dspy", "pol": {}})"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message.rfind(
                "bridge 'dspy': pol is not a known key (did you mean 'pool'?); allowed keys: "
                "plugin, script",
                0),
            0u)
      << unknown.error().message;
}

TEST(BridgeConfig, APointerPrefixNamesKeysFromThere) {
  auto bridge = parse_bridge_config("echo", json::parse(R"({"script": "e.py", "codec": 1})"),
                                    nullptr, "/config");
  ASSERT_FALSE(bridge.ok());
  EXPECT_EQ(bridge.error().message, "config.codec must be one of json, msgpack, got 1");
}

TEST(BridgeConfig, RejectsABodyThatIsNotAnObject) {
  auto bridge = parse_bridge_config("echo", json::array());
  ASSERT_FALSE(bridge.ok());
  EXPECT_EQ(bridge.error().message, "bridge 'echo' must be a map of keys, got a list");
}

TEST(BridgeConfig, RejectsInvalidNames) {
  for (const std::string name : {"", "a b", "x/y", "../up", "é"}) {
    auto bridge = parse_bridge_config(name, json::parse(R"({"script": "e.py"})"));
    ASSERT_FALSE(bridge.ok()) << name;
    EXPECT_NE(bridge.error().message.find("is not a valid bridge name"), std::string::npos)
        << bridge.error().message;
  }
  EXPECT_TRUE(parse_bridge_config("Echo_2-b", json::parse(R"({"script": "e.py"})")).ok());
}

TEST(BridgeConfig, LargeValuesAreBounded) {
  auto bridge =
      parse_bridge_config("e", json::parse(R"({"script": "e.py", "pool": {"size": 100000}})"));
  ASSERT_FALSE(bridge.ok());
  EXPECT_EQ(bridge.error().message,
            "bridge 'e': pool.size must be an integer from 0 to 1024, got 100000");
}

TEST(BridgeConfig, ScriptMissingWithoutPluginIsAnError) {
  auto bridge = parse_bridge_config("e", json::object());
  ASSERT_FALSE(bridge.ok());
  EXPECT_EQ(bridge.error().message.rfind("bridge 'e' needs a script", 0), 0u)
      << bridge.error().message;
}

TEST(BridgeConfig, NullIsAnEmptyBridge) {
  auto bridge = parse_bridge_config("d", json(nullptr));
  ASSERT_FALSE(bridge.ok());  // no script, no plugin
  auto with_plugin = parse_bridge_config("d", json::parse(R"({"plugin": "dspy"})"));
  ASSERT_TRUE(with_plugin.ok()) << with_plugin.error().message;
}

}  // namespace
}  // namespace mlbridge::config
