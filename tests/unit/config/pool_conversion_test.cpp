#include <gtest/gtest.h>

#include "config_test_support.hpp"
#include "mlbridge/config/host_config.hpp"
#include "mlbridge/config/paths.hpp"
#include "mlbridge/worker/worker_config.hpp"

namespace mlbridge::config {
namespace {

using namespace std::chrono_literals;
using testing::parse_text;
using testing::ScopedEnv;

HostConfig host_at(const std::string& root, const std::string& python = "/usr/bin/python3") {
  HostConfig host;
  host.root = root;
  host.python = python;
  return host;
}

BridgeConfig bridge_with_script(const std::string& script) {
  auto bridge = parse_bridge_config("echo", json{{"script", script}});
  EXPECT_TRUE(bridge.ok());
  return *bridge;
}

TEST(PoolConversion, ResolvesRelativePathsAgainstRoot) {
  BridgeConfig bridge = bridge_with_script("python_bridges/examples/echo_bridge.py");
  auto config = to_pool_config(bridge, host_at("/srv/app"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->worker.script, "/srv/app/python_bridges/examples/echo_bridge.py");
  EXPECT_EQ(config->worker.working_dir, "/srv/app");
  EXPECT_EQ(config->worker.python, "/usr/bin/python3");

  bridge.python = ".venv/bin/python";
  bridge.working_dir = "work/../data";
  config = to_pool_config(bridge, host_at("/srv/app/"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->worker.python, "/srv/app/.venv/bin/python");
  EXPECT_EQ(config->worker.working_dir, "/srv/app/data");

  bridge.script = "/opt/bridges/b.py";
  bridge.python = "python3.11";  // a bare name stays for PATH lookup
  bridge.working_dir = "/tmp";
  config = to_pool_config(bridge, host_at("/srv/app"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->worker.script, "/opt/bridges/b.py");
  EXPECT_EQ(config->worker.python, "python3.11");
  EXPECT_EQ(config->worker.working_dir, "/tmp");
}

TEST(PoolConversion, CodePathsResolveAgainstRootAndReachTheWorkersCommandLine) {
  BridgeConfig bridge = bridge_with_script("b.py");
  bridge.code.paths = {"app", "/opt/team/lib", "x/../y"};
  bridge.code.modules = {"myteam", "myteam.tools"};
  auto config = to_pool_config(bridge, host_at("/srv/app"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->worker.code_paths,
            (std::vector<std::string>{"/srv/app/app", "/opt/team/lib", "/srv/app/y"}));
  EXPECT_EQ(config->worker.code_modules, bridge.code.modules);
  const auto args = worker::make_process_spec(config->worker).args;
  const std::vector<std::string> code(args.end() - 10, args.end());
  EXPECT_EQ(code, (std::vector<std::string>{
                      "--code-path", "/srv/app/app", "--code-path", "/opt/team/lib", "--code-path",
                      "/srv/app/y", "--code-module", "myteam", "--code-module", "myteam.tools"}));
  bridge.code = {};
  config = to_pool_config(bridge, host_at("/srv/app"));
  for (const auto& arg : worker::make_process_spec(config->worker).args) {
    EXPECT_EQ(arg.rfind("--code-", 0), std::string::npos) << "no code declared: " << arg;
  }
}

TEST(PoolConversion, HostPythonFromYamlIsResolvedAgainstRoot) {
  auto host = parse_text(
      "host:\n  root: /srv/app\n  python: .venv/bin/python\n"
      "bridges:\n  echo: {script: e.py}\n");
  ASSERT_TRUE(host.ok()) << host.error().message;
  auto config = to_pool_config(host->bridges.at("echo"), *host);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->worker.python, "/srv/app/.venv/bin/python");
  EXPECT_EQ(config->worker.script, "/srv/app/e.py");
}

TEST(PoolConversion, PipelineDepthReachesThePool) {
  BridgeConfig bridge = bridge_with_script("e.py");
  bridge.pool.pipeline_depth = 3;
  auto config = to_pool_config(bridge, host_at("/srv/app"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->pipeline_depth, 3u);
}

TEST(PoolConversion, MaxConcurrencyReachesTheWorkersAndUnsetLeavesTheHelloToDecide) {
  BridgeConfig bridge = bridge_with_script("e.py");
  auto unset = to_pool_config(bridge, host_at("/srv/app"));
  ASSERT_TRUE(unset.ok()) << unset.error().message;
  EXPECT_FALSE(unset->worker.max_concurrency.has_value());
  bridge.pool.max_concurrency = 256;
  auto set = to_pool_config(bridge, host_at("/srv/app"));
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->worker.max_concurrency, 256u);
}

TEST(PoolConversion, EnvironmentIsMinimalPlusPassedPlusSet) {
  ScopedEnv passed("MLBRIDGE_CONFIG_TEST_PASSED", "secret-1");
  ScopedEnv unset("MLBRIDGE_CONFIG_TEST_NOT_SET", std::nullopt);
  ScopedEnv planted("MLBRIDGE_CONFIG_TEST_PLANTED", "must-not-leak");
  ScopedEnv overridden("MLBRIDGE_CONFIG_TEST_OVERRIDDEN", "from-host");
  ScopedEnv path("PATH", "/usr/bin:/bin");

  BridgeConfig bridge = bridge_with_script("e.py");
  bridge.env_pass = {"MLBRIDGE_CONFIG_TEST_PASSED", "MLBRIDGE_CONFIG_TEST_NOT_SET",
                     "MLBRIDGE_CONFIG_TEST_OVERRIDDEN"};
  bridge.env_set = {{"HF_HUB_OFFLINE", "1"}, {"MLBRIDGE_CONFIG_TEST_OVERRIDDEN", "from-config"}};
  auto config = to_pool_config(bridge, host_at("/srv/app"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  const auto& env = config->worker.env;
  EXPECT_EQ(env.at("PATH"), "/usr/bin:/bin");  // from minimal_environment()
  EXPECT_EQ(env.at("MLBRIDGE_CONFIG_TEST_PASSED"), "secret-1");
  EXPECT_EQ(env.count("MLBRIDGE_CONFIG_TEST_NOT_SET"), 0u);
  EXPECT_EQ(env.count("MLBRIDGE_CONFIG_TEST_PLANTED"), 0u);
  EXPECT_EQ(env.at("MLBRIDGE_CONFIG_TEST_OVERRIDDEN"), "from-config");
  EXPECT_EQ(env.at("HF_HUB_OFFLINE"), "1");
}

TEST(PoolConversion, CopiesEverySetting) {
  auto parsed = parse_bridge_config("tf", json::parse(R"({
    "script": "t.py", "codec": "msgpack", "max_frame_bytes": 4096, "shared_blob_min_bytes": 8192,
    "pool": {"size": 1, "max_overflow": 3, "lazy": true, "queue_limit": 7,
             "checkout_timeout_ms": 11, "max_requests": 13, "max_requests_jitter": 17,
             "idle_timeout_ms": 19},
    "timeouts": {"request_ms": 23, "startup_ms": 29, "shutdown_ms": 31, "cancel_grace_ms": 37},
    "health": {"interval_ms": 41, "timeout_ms": 43, "max_failures": 47},
    "restart": {"max_restarts": 53, "window_s": 59},
    "limits": {"max_memory_mb": 4096},
    "sessions": {"ttl_s": 61, "max": 67},
    "options": {"model": "m"}
  })"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  auto config = to_pool_config(*parsed, host_at("/srv/app"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  const pool::PoolConfig& c = *config;
  EXPECT_EQ(c.worker.bridge, "tf");
  EXPECT_EQ(c.worker.codec, protocol::Codec::kMsgpack);
  EXPECT_EQ(c.worker.max_frame_bytes, 4096u);
  EXPECT_EQ(c.worker.shared_blob_min_bytes, 8192u);
  EXPECT_EQ(c.worker.init_options, json::parse(R"({"model": "m"})"));
  EXPECT_EQ(c.worker.startup_timeout, 29ms);
  EXPECT_EQ(c.worker.shutdown_timeout, 31ms);
  EXPECT_EQ(c.worker.cancel_grace, 37ms);
  EXPECT_FALSE(c.worker.memory_limit_bytes.has_value());  // RSS recycling, not RLIMIT_AS
  EXPECT_EQ(c.size, 1u);
  EXPECT_EQ(c.max_overflow, 3u);
  EXPECT_TRUE(c.lazy);
  EXPECT_EQ(c.queue_limit, 7u);
  EXPECT_EQ(c.checkout_timeout, 11ms);
  EXPECT_EQ(c.max_requests, 13u);
  EXPECT_EQ(c.max_requests_jitter, 17u);
  EXPECT_EQ(c.idle_timeout, 19ms);
  EXPECT_EQ(c.request_timeout, 23ms);
  EXPECT_EQ(c.shutdown_timeout, 31ms);
  EXPECT_EQ(c.health_interval, 41ms);
  EXPECT_EQ(c.health_timeout, 43ms);
  EXPECT_EQ(c.health_max_failures, 47u);
  EXPECT_EQ(c.max_restarts, 53u);
  EXPECT_EQ(c.restart_window, 59s);
  EXPECT_EQ(c.max_memory_mb, 4096u);
  EXPECT_EQ(c.session_ttl, 61s);
  EXPECT_EQ(c.max_sessions, 67u);
}

TEST(PoolConversion, ABridgeWithoutScriptIsAnError) {
  auto bridge = parse_bridge_config("dspy", json::parse(R"({"plugin": "dspy"})"));
  ASSERT_TRUE(bridge.ok());
  auto config = to_pool_config(*bridge, host_at("/srv/app"));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_EQ(config.error().bridge, "dspy");
  EXPECT_NE(config.error().message.find("bridge 'dspy' has no script"), std::string::npos)
      << config.error().message;
}

TEST(PoolConversion, AnEmptyRootMeansTheWorkingDirectory) {
  HostConfig host;  // built in code: no root, no python
  auto config = to_pool_config(bridge_with_script("e.py"), host);
  ASSERT_TRUE(config.ok()) << config.error().message;
  const std::string cwd = std::filesystem::current_path().lexically_normal().string();
  EXPECT_EQ(config->worker.script, cwd + "/e.py");
  EXPECT_EQ(config->worker.working_dir, cwd);
  EXPECT_FALSE(config->worker.python.empty());
}

TEST(Paths, ResolvePathAndProgram) {
  EXPECT_EQ(resolve_path("/a/b", "c/../d"), "/a/b/d");
  EXPECT_EQ(resolve_path("/a/b", "/x/./y"), "/x/y");
  EXPECT_EQ(resolve_path("/a/b", "."), "/a/b");
  EXPECT_EQ(resolve_path("/a/b", ""), "");
  EXPECT_EQ(resolve_path("/", "."), "/");
  EXPECT_EQ(resolve_program("/a", "python3"), "python3");
  EXPECT_EQ(resolve_program("/a", "./python3"), "/a/python3");
}

}  // namespace
}  // namespace mlbridge::config
