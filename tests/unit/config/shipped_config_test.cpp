// The YAML files shipped in config/ must always load: a broken default deployment is the first
// thing a newcomer would meet.

#include <gtest/gtest.h>

#include <filesystem>

#include "mlbridge/config/host_config.hpp"

namespace mlbridge::config {
namespace {

using namespace std::chrono_literals;

const std::string kSourceDir = MLBRIDGE_SOURCE_DIR;

TEST(ShippedConfig, DefaultDeploymentLoads) {
  auto host = load_host_config(kSourceDir + "/config/mlbridge.yaml");
  ASSERT_TRUE(host.ok()) << host.error().message;
  ASSERT_EQ(host->bridges.size(), 4u);
  for (const std::string name : {"echo", "dspy", "langchain", "transformers"}) {
    EXPECT_EQ(host->bridges.count(name), 1u) << name;
  }
  EXPECT_EQ(host->bridges.at("dspy").plugin, "dspy");
  EXPECT_EQ(host->bridges.at("langchain").plugin, "langchain");
  EXPECT_EQ(host->bridges.at("transformers").plugin, "transformers");
  const BridgeConfig& echo = host->bridges.at("echo");
  EXPECT_EQ(echo.script, "python_bridges/examples/echo_bridge.py");
  EXPECT_EQ(echo.codec, protocol::Codec::kMsgpack);
  EXPECT_EQ(echo.pool.size, 2u);
  EXPECT_FALSE(echo.plugin.has_value());
  EXPECT_EQ(host->default_bridge, "echo");
  EXPECT_TRUE(to_pool_config(echo, *host).ok());
}

TEST(ShippedConfig, MultiFrameworkExampleLoads) {
  auto host = load_host_config(kSourceDir + "/config/examples/multi_framework.yaml");
  ASSERT_TRUE(host.ok()) << host.error().message;
  EXPECT_EQ(host->auth_token_env, "MLBRIDGE_TOKEN");
  ASSERT_EQ(host->bridges.size(), 4u);
  for (const std::string name : {"dspy", "langchain", "transformers", "echo"}) {
    EXPECT_EQ(host->bridges.count(name), 1u) << name;
  }
  const BridgeConfig& dspy = host->bridges.at("dspy");
  EXPECT_EQ(dspy.plugin, "dspy");
  EXPECT_EQ(dspy.script, "python_bridges/dspy_bridge.py");
  EXPECT_EQ(dspy.env_pass, std::vector<std::string>{"OPENAI_API_KEY"});

  const BridgeConfig& tf = host->bridges.at("transformers");
  EXPECT_EQ(tf.pool.size, 1u);
  EXPECT_EQ(tf.pool.max_overflow, 0u);
  EXPECT_EQ(tf.limits.max_memory_mb, 4096u);
  EXPECT_EQ(tf.env_set.at("HF_HUB_OFFLINE"), "1");
  EXPECT_GE(tf.timeouts.startup, 300000ms);
  EXPECT_GE(tf.timeouts.request, 120000ms);

  for (const auto& [name, bridge] : host->bridges) {
    EXPECT_TRUE(to_pool_config(bridge, *host).ok()) << name;
  }
}

TEST(ShippedConfig, EveryExampleLoads) {
  int examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSourceDir + "/config/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    ++examples;
    auto host = load_host_config(entry.path().string());
    ASSERT_TRUE(host.ok()) << host.error().message;
    for (const auto& [name, bridge] : host->bridges) {
      if (bridge.script.empty()) continue;  // the plugin supplies it (checked by the plugin tests)
      EXPECT_TRUE(to_pool_config(bridge, *host).ok()) << entry.path() << ": " << name;
    }
  }
  EXPECT_GE(examples, 3);
}

}  // namespace
}  // namespace mlbridge::config
