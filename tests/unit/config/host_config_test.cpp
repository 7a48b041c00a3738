#include "mlbridge/config/host_config.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "config_test_support.hpp"
#include "mlbridge/config/python_locator.hpp"

namespace mlbridge::config {
namespace {

using namespace std::chrono_literals;
using testing::message_of;
using testing::parse_text;
using testing::TempDir;

// Expects an invalid_configuration failure whose message starts with `prefix` and contains
// every one of `parts`.
template <typename T>
void expect_error(const Result<T>& result, const std::string& prefix,
                  std::initializer_list<std::string> parts = {}) {
  ASSERT_FALSE(result.ok()) << "expected an error starting with: " << prefix;
  EXPECT_EQ(result.error().category, ErrorCategory::kInvalidConfiguration);
  const std::string& message = result.error().message;
  EXPECT_EQ(message.rfind(prefix, 0), 0u) << message;
  for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
}

TEST(HostConfig, EveryHostKeyHasADefault) {
  auto host = parse_text("");
  ASSERT_TRUE(host.ok()) << host.error().message;
  const std::string cwd = std::filesystem::current_path().lexically_normal().string();
  EXPECT_EQ(host->root, cwd);
  EXPECT_EQ(host->python, default_python(cwd));
  EXPECT_TRUE(host->plugin_dirs.empty());
  EXPECT_EQ(host->listen, "127.0.0.1:8787");
  EXPECT_EQ(host->auth_token_env, "");
  EXPECT_EQ(host->default_bridge, "");
  EXPECT_FALSE(host->runtime_registration.enabled);
  EXPECT_TRUE(host->runtime_registration.pythons.empty());
  EXPECT_TRUE(host->runtime_registration.script_dirs.empty());
  EXPECT_TRUE(host->runtime_registration.env_pass.empty());
  EXPECT_TRUE(host->allowed_origins.empty());
  EXPECT_TRUE(host->allowed_hosts.empty());
  EXPECT_FALSE(host->allow_unauthenticated_remote);
  EXPECT_EQ(host->log_level, "info");
  EXPECT_EQ(host->log_format, "text");
  EXPECT_EQ(host->max_body_bytes, 8u * 1024 * 1024);
  EXPECT_EQ(host->loop_spin_us, 100);
  EXPECT_FALSE(host->loop_spin_max_calls.has_value());  // the host's default, or serve's
  EXPECT_TRUE(host->bridges.empty());
  EXPECT_EQ(host->source, "test.yaml");

  auto nulls = parse_text("host:\nbridges:\n");
  ASSERT_TRUE(nulls.ok()) << nulls.error().message;
  EXPECT_EQ(nulls->listen, "127.0.0.1:8787");
}

TEST(HostConfig, EveryBridgeKeyHasADefault) {
  auto host = parse_text("bridges:\n  echo:\n    script: echo.py\n");
  ASSERT_TRUE(host.ok()) << host.error().message;
  ASSERT_EQ(host->bridges.count("echo"), 1u);
  const BridgeConfig& b = host->bridges.at("echo");
  EXPECT_EQ(b.name, "echo");
  EXPECT_FALSE(b.plugin.has_value());
  EXPECT_EQ(b.script, "echo.py");
  EXPECT_FALSE(b.python.has_value());
  EXPECT_EQ(b.codec, protocol::Codec::kJson);
  EXPECT_EQ(b.max_frame_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(b.shared_blob_min_bytes, 1u << 20);
  EXPECT_EQ(b.working_dir, "");
  EXPECT_EQ(b.pool.size, 2u);
  EXPECT_EQ(b.pool.max_overflow, 0u);
  EXPECT_FALSE(b.pool.lazy);
  EXPECT_EQ(b.pool.queue_limit, 1000u);
  EXPECT_EQ(b.pool.checkout_timeout, 5000ms);
  EXPECT_EQ(b.pool.max_requests, 0u);
  EXPECT_EQ(b.pool.max_requests_jitter, 0u);
  EXPECT_EQ(b.pool.idle_timeout, 60000ms);
  EXPECT_EQ(b.pool.pipeline_depth, 1u);
  EXPECT_EQ(b.timeouts.request, 30000ms);
  EXPECT_EQ(b.timeouts.startup, 60000ms);
  EXPECT_EQ(b.timeouts.shutdown, 5000ms);
  EXPECT_EQ(b.timeouts.cancel_grace, 2000ms);
  EXPECT_EQ(b.health.interval, 30000ms);
  EXPECT_EQ(b.health.timeout, 5000ms);
  EXPECT_EQ(b.health.max_failures, 3u);
  EXPECT_EQ(b.restart.max_restarts, 5u);
  EXPECT_EQ(b.restart.window, 60s);
  EXPECT_FALSE(b.limits.max_memory_mb.has_value());
  EXPECT_EQ(b.sessions.ttl, 3600s);
  EXPECT_EQ(b.sessions.max, 10000u);
  EXPECT_TRUE(b.env_pass.empty());
  EXPECT_TRUE(b.env_set.empty());
  EXPECT_TRUE(b.required_env.empty());
  EXPECT_TRUE(b.required_packages.empty());
  EXPECT_EQ(b.options, json::object());
  EXPECT_TRUE(b.errors.empty());
  EXPECT_TRUE(b.idempotent_commands.empty());
  EXPECT_EQ(b.raw, json::parse(R"({"script": "echo.py"})"));
}

TEST(HostConfig, EveryKeyIsParsed) {
  TempDir dir;
  auto host = parse_text(R"(host:
  root: )" + dir.path().string() +
                         R"(
  python: venv/bin/python
  plugin_dirs: [plugins, /opt/mlbridge/plugins]
  listen: 0.0.0.0:9000
  auth_token_env: MY_TOKEN
  default_bridge: dspy
  runtime_registration:
    enabled: true
    pythons: [venv/bin/python3, python3]
    script_dirs: [scripts, /opt/bridges]
    env_pass: [OPENAI_API_KEY]
  allowed_origins: [https://ops.example.com, "http://localhost:3000"]
  allowed_hosts: [api.example.com, "lb.internal:8787"]
  allow_unauthenticated_remote: true
  log_level: debug
  log_format: json
  max_body_bytes: 1024
  loop_spin_us: 0
  loop_spin_max_calls: 16
bridges:
  dspy:
    plugin: dspy
    script: bridges/dspy_bridge.py
    python: /usr/bin/python3.11
    codec: msgpack
    max_frame_bytes: 2048
    shared_blob_min_bytes: 0
    working_dir: work
    pool: {size: 3, max_overflow: 4, lazy: true, queue_limit: 5, checkout_timeout_ms: 6,
           max_requests: 7, max_requests_jitter: 8, idle_timeout_ms: 9, pipeline_depth: 4}
    timeouts: {request_ms: 10, startup_ms: 11, shutdown_ms: 12, cancel_grace_ms: 13}
    health: {interval_ms: 14, timeout_ms: 15, max_failures: 16}
    restart: {max_restarts: 17, window_s: 18}
    limits: {max_memory_mb: 19}
    sessions: {ttl_s: 20, max: 21}
    env: {pass: [OPENAI_API_KEY, HOME], set: {HF_HUB_OFFLINE: "1", N: 2, B: true}}
    required_env: [OPENAI_API_KEY]
    required_packages: [dspy, litellm]
    options: {lm: {model: gpt, temperature: 0.5}, list: [1, 2]}
    errors:
      - {type: RateLimitError, category: rate_limit}
      - {match: "context.?length", category: invalid_argument, retryable: true}
    idempotent: [predict, get]
)");
  ASSERT_TRUE(host.ok()) << host.error().message;
  const std::string root = dir.path().lexically_normal().string();
  EXPECT_EQ(host->root, root);
  EXPECT_EQ(host->python, root + "/venv/bin/python");
  EXPECT_EQ(host->plugin_dirs,
            (std::vector<std::string>{root + "/plugins", "/opt/mlbridge/plugins"}));
  EXPECT_EQ(host->listen, "0.0.0.0:9000");
  EXPECT_EQ(host->auth_token_env, "MY_TOKEN");
  EXPECT_EQ(host->default_bridge, "dspy");
  EXPECT_TRUE(host->runtime_registration.enabled);
  // Resolved like host.python: a bare name stays a PATH lookup.
  EXPECT_EQ(host->runtime_registration.pythons,
            (std::vector<std::string>{root + "/venv/bin/python3", "python3"}));
  EXPECT_EQ(host->runtime_registration.script_dirs,
            (std::vector<std::string>{root + "/scripts", "/opt/bridges"}));
  EXPECT_EQ(host->runtime_registration.env_pass, (std::vector<std::string>{"OPENAI_API_KEY"}));
  EXPECT_EQ(host->allowed_origins,
            (std::vector<std::string>{"https://ops.example.com", "http://localhost:3000"}));
  EXPECT_EQ(host->allowed_hosts, (std::vector<std::string>{"api.example.com", "lb.internal:8787"}));
  EXPECT_TRUE(host->allow_unauthenticated_remote);
  EXPECT_EQ(host->log_level, "debug");
  EXPECT_EQ(host->log_format, "json");
  EXPECT_EQ(host->max_body_bytes, 1024u);
  EXPECT_EQ(host->loop_spin_us, 0);
  EXPECT_EQ(host->loop_spin_max_calls, 16);

  const BridgeConfig& b = host->bridges.at("dspy");
  EXPECT_EQ(b.plugin, "dspy");
  EXPECT_EQ(b.script, "bridges/dspy_bridge.py");  // resolved later, by to_pool_config
  EXPECT_EQ(b.python, "/usr/bin/python3.11");
  EXPECT_EQ(b.codec, protocol::Codec::kMsgpack);
  EXPECT_EQ(b.max_frame_bytes, 2048u);
  EXPECT_EQ(b.shared_blob_min_bytes, 0u);
  EXPECT_EQ(b.working_dir, "work");
  EXPECT_EQ(b.pool.size, 3u);
  EXPECT_EQ(b.pool.max_overflow, 4u);
  EXPECT_TRUE(b.pool.lazy);
  EXPECT_EQ(b.pool.queue_limit, 5u);
  EXPECT_EQ(b.pool.checkout_timeout, 6ms);
  EXPECT_EQ(b.pool.max_requests, 7u);
  EXPECT_EQ(b.pool.max_requests_jitter, 8u);
  EXPECT_EQ(b.pool.idle_timeout, 9ms);
  EXPECT_EQ(b.pool.pipeline_depth, 4u);
  EXPECT_EQ(b.timeouts.request, 10ms);
  EXPECT_EQ(b.timeouts.startup, 11ms);
  EXPECT_EQ(b.timeouts.shutdown, 12ms);
  EXPECT_EQ(b.timeouts.cancel_grace, 13ms);
  EXPECT_EQ(b.health.interval, 14ms);
  EXPECT_EQ(b.health.timeout, 15ms);
  EXPECT_EQ(b.health.max_failures, 16u);
  EXPECT_EQ(b.restart.max_restarts, 17u);
  EXPECT_EQ(b.restart.window, 18s);
  EXPECT_EQ(b.limits.max_memory_mb, 19u);
  EXPECT_EQ(b.sessions.ttl, 20s);
  EXPECT_EQ(b.sessions.max, 21u);
  EXPECT_EQ(b.env_pass, (std::vector<std::string>{"OPENAI_API_KEY", "HOME"}));
  EXPECT_EQ(b.env_set, (std::map<std::string, std::string>{
                           {"HF_HUB_OFFLINE", "1"}, {"N", "2"}, {"B", "true"}}));
  EXPECT_EQ(b.required_env, (std::vector<std::string>{"OPENAI_API_KEY"}));
  EXPECT_EQ(b.required_packages, (std::vector<std::string>{"dspy", "litellm"}));
  EXPECT_EQ(b.options, json::parse(R"({"lm": {"model": "gpt", "temperature": 0.5},
                                       "list": [1, 2]})"));
  ASSERT_EQ(b.errors.size(), 2u);
  EXPECT_EQ(b.errors[0].type, "RateLimitError");
  EXPECT_EQ(b.errors[0].match, "");
  EXPECT_EQ(b.errors[0].category, ErrorCategory::kRateLimit);
  EXPECT_FALSE(b.errors[0].retryable.has_value());
  EXPECT_EQ(b.errors[1].type, "");
  EXPECT_EQ(b.errors[1].match, "context.?length");
  EXPECT_EQ(b.errors[1].category, ErrorCategory::kInvalidArgument);
  EXPECT_EQ(b.errors[1].retryable, true);
  EXPECT_EQ(b.idempotent_commands, (std::vector<std::string>{"predict", "get"}));
  EXPECT_EQ(b.raw["pool"]["size"], 3);
  EXPECT_EQ(b.raw["plugin"], "dspy");
}

TEST(HostConfig, BridgesAreKeptByName) {
  auto host = parse_text("bridges:\n  b: {script: b.py}\n  a: {script: a.py}\n");
  ASSERT_TRUE(host.ok()) << host.error().message;
  ASSERT_EQ(host->bridges.size(), 2u);
  EXPECT_EQ(host->bridges.begin()->first, "a");
  EXPECT_EQ(host->bridges.at("b").script, "b.py");
}

TEST(HostConfig, UnknownTopLevelKeySuggestsTheClosest) {
  expect_error(parse_text("host: {}\nbridgez: {}\n"), "test.yaml:2:1: bridgez is not a known key",
               {"did you mean 'bridges'?", "host, bridges"});
}

TEST(HostConfig, UnknownHostKeyNamesPositionAndPath) {
  expect_error(parse_text("host:\n  listen: 127.0.0.1:1\n  plugin_dir: [x]\n"),
               "test.yaml:3:3: host.plugin_dir is not a known key",
               {"did you mean 'plugin_dirs'?", "allowed keys under host: root, python"});
}

TEST(HostConfig, UnknownBridgeKeyNamesPositionAndPath) {
  expect_error(parse_text("bridges:\n  dspy:\n    script: d.py\n    timeout: {request_ms: 1}\n"),
               "test.yaml:4:5: bridges.dspy.timeout is not a known key",
               {"did you mean 'timeouts'?", "allowed keys under bridges.dspy:"});
}

TEST(HostConfig, UnknownNestedKeyNamesPositionAndPath) {
  expect_error(parse_text("bridges:\n  dspy:\n    script: d.py\n    pool:\n      sise: 3\n"),
               "test.yaml:5:7: bridges.dspy.pool.sise is not a known key",
               {"did you mean 'size'?", "size, max_overflow, lazy, queue_limit"});
  // Nothing close: no suggestion, but the allowed keys.
  auto far = parse_text("bridges:\n  d:\n    script: d.py\n    pool: {completely_else: 1}\n");
  ASSERT_FALSE(far.ok());
  EXPECT_EQ(far.error().message.find("did you mean"), std::string::npos) << message_of(far);
  EXPECT_NE(far.error().message.find("allowed keys under bridges.d.pool: size"), std::string::npos)
      << message_of(far);
}

TEST(HostConfig, NegativePoolSize) {
  expect_error(parse_text("bridges:\n  dspy:\n    script: d.py\n    pool:\n      size: -1\n"),
               "test.yaml:5:13: bridges.dspy.pool.size must be an integer from 0 to 1024, got -1");
}

TEST(HostConfig, WrongTypesSayWhatIsExpected) {
  expect_error(parse_text("bridges:\n  d:\n    script: d.py\n    pool: {size: two}\n"),
               "test.yaml:4:18: bridges.d.pool.size must be an integer",
               {"got a string (\"two\")"});
  expect_error(parse_text("bridges:\n  d:\n    script: d.py\n    pool: {size: \"3\"}\n"),
               "test.yaml:4:18: bridges.d.pool.size must be", {"got a string (\"3\")"});
  expect_error(parse_text("bridges:\n  d:\n    script: d.py\n    pool: {lazy: yes}\n"),
               "test.yaml:4:18: bridges.d.pool.lazy must be true or false",
               {"got a string (\"yes\")"});
  expect_error(parse_text("bridges:\n  d:\n    script: d.py\n    options: [1]\n"),
               "test.yaml:4:14: bridges.d.options must be a map, got a list");
  expect_error(parse_text("bridges:\n  d:\n    script: [d.py]\n"),
               "test.yaml:3:13: bridges.d.script must be a non-empty string, got a list");
  expect_error(parse_text("bridges:\n  d:\n    script: d.py\n    pool: 4\n"),
               "test.yaml:4:11: bridges.d.pool must be a map of keys, got 4");
  expect_error(parse_text("host:\n  max_body_bytes: 1.5\n"),
               "test.yaml:2:19: host.max_body_bytes must be an integer from 1 to", {"got 1.5"});
  expect_error(parse_text("host:\n  loop_spin_us: -1\n"),
               "test.yaml:2:17: host.loop_spin_us must be an integer from 0 to 100000", {"got -1"});
  expect_error(parse_text("host:\n  loop_spin_us: 200000\n"),
               "test.yaml:2:17: host.loop_spin_us must be", {"100000"});
  expect_error(parse_text("host:\n  loop_spin_max_calls: -1\n"),
               "test.yaml:2:24: host.loop_spin_max_calls must be an integer from 0 to 1000000",
               {"got -1"});
  expect_error(parse_text("host: [a]\n"), "test.yaml:1:7: host must be a map of keys, got a list");
  expect_error(parse_text("bridges:\n  d:\n    script: d.py\n    required_packages: dspy\n"),
               "test.yaml:4:24: bridges.d.required_packages must be a list of strings");
  expect_error(parse_text("bridges:\n  d:\n    script: d.py\n    env: {set: {A: [1]}}\n"),
               "test.yaml:4:20: bridges.d.env.set.A must be a string, got a list");
}

TEST(HostConfig, BadValues) {
  const std::string head = "bridges:\n  d:\n    script: d.py\n";
  expect_error(parse_text(head + "    codec: protobuf\n"),
               "test.yaml:4:12: bridges.d.codec must be one of json, msgpack, got 'protobuf'");
  expect_error(parse_text(head + "    codec: msgpak\n"), "test.yaml:4:12: bridges.d.codec",
               {"did you mean 'msgpack'?"});
  expect_error(parse_text(head + "    pool: {queue_limit: 0}\n"),
               "test.yaml:4:25: bridges.d.pool.queue_limit must be an integer from 1 to");
  expect_error(parse_text(head + "    pool: {pipeline_depth: 17}\n"),
               "test.yaml:4:28: bridges.d.pool.pipeline_depth must be an integer from 1 to 16, "
               "got 17");
  expect_error(parse_text(head + "    timeouts: {request_ms: 0}\n"),
               "test.yaml:4:28: bridges.d.timeouts.request_ms must be an integer from 1 to");
  expect_error(parse_text(head + "    pool: {checkout_timeout_ms: 0}\n"),
               "test.yaml:4:33: bridges.d.pool.checkout_timeout_ms must be an integer from 1");
  expect_error(parse_text(head + "    limits: {max_memory_mb: 0}\n"),
               "test.yaml:4:29: bridges.d.limits.max_memory_mb must be an integer from 1");
  expect_error(parse_text(head + "    max_frame_bytes: 10\n"),
               "test.yaml:4:22: bridges.d.max_frame_bytes must be an integer from 1024 to "
               "4294967295, got 10");
  expect_error(parse_text(head + "    shared_blob_min_bytes: -1\n"),
               "test.yaml:4:28: bridges.d.shared_blob_min_bytes must be an integer from 0 to");
  expect_error(parse_text(head + "    env: {pass: [NOT-A-NAME]}\n"),
               "test.yaml:4:18: bridges.d.env.pass[0] must be an environment variable name");
  expect_error(parse_text(head + "    plugin: ../evil\n"),
               "test.yaml:4:13: bridges.d.plugin must be a plugin name");
  expect_error(parse_text("host:\n  listen: localhost\n"),
               "test.yaml:2:11: host.listen must be HOST:PORT", {"got 'localhost'"});
  expect_error(parse_text("host:\n  listen: h:70000\n"), "test.yaml:2:11: host.listen");
  expect_error(parse_text("host:\n  log_level: loud\n"),
               "test.yaml:2:14: host.log_level must be one of trace, debug, info");
  expect_error(parse_text("host:\n  auth_token_env: my token\n"),
               "test.yaml:2:19: host.auth_token_env must name an environment variable");
}

TEST(HostConfig, ValidEdgeValues) {
  auto host = parse_text(R"(host:
  listen: "[::1]:0"
bridges:
  d:
    script: d.py
    pool: {size: 0, lazy: false}
    health: {interval_ms: 0}
    limits: {max_memory_mb: null}
    options:
    errors: []
)");
  ASSERT_TRUE(host.ok()) << host.error().message;
  EXPECT_EQ(host->listen, "[::1]:0");
  EXPECT_EQ(host->bridges.at("d").pool.size, 0u);
  EXPECT_EQ(host->bridges.at("d").health.interval, 0ms);
  EXPECT_EQ(host->bridges.at("d").options, json::object());
}

TEST(HostConfig, UnknownErrorCategoryListsTheValidOnes) {
  expect_error(parse_text("bridges:\n  d:\n    script: d.py\n    errors:\n"
                          "      - {type: RateLimitError, category: ratelimit}\n"),
               "test.yaml:5:42: bridges.d.errors[0].category must be one of invalid_argument, "
               "invalid_configuration, not_found",
               {"internal, got 'ratelimit'", "did you mean 'rate_limit'?"});
}

TEST(HostConfig, ErrorRulesNeedACategoryAndSomethingToMatch) {
  const std::string head = "bridges:\n  d:\n    script: d.py\n    errors:\n";
  expect_error(parse_text(head + "      - {type: X}\n"),
               "test.yaml:5:9: bridges.d.errors[0] needs a category");
  expect_error(parse_text(head + "      - {category: timeout}\n"),
               "test.yaml:5:9: bridges.d.errors[0] needs a type, a match, or both");
  expect_error(parse_text(head + "      - {type: X, match: \"(\", category: timeout}\n"),
               "test.yaml:5:26: bridges.d.errors[0].match is not a valid regular expression");
  expect_error(parse_text(head + "      - RateLimitError\n"),
               "test.yaml:5:9: bridges.d.errors[0] must be a map like");
}

TEST(HostConfig, DefaultBridgeMustBeConfigured) {
  expect_error(parse_text("host:\n  default_bridge: dspy\nbridges:\n  echo: {script: e.py}\n"),
               "test.yaml:2:19: host.default_bridge names 'dspy', which is not a configured "
               "bridge (configured: echo)");
  expect_error(parse_text("host:\n  default_bridge: dspy\n"),
               "test.yaml:2:19:", {"(configured: none)"});
}

TEST(HostConfig, BridgeNamesAreChecked) {
  expect_error(parse_text("bridges:\n  \"my bridge\": {script: e.py}\n"),
               "test.yaml:2:3: bridges.my bridge is not a valid bridge name");
}

TEST(HostConfig, ScriptIsRequiredWithoutAPlugin) {
  expect_error(parse_text("bridges:\n  echo:\n    codec: json\n"),
               "test.yaml:2:3: bridges.echo needs a script");
  expect_error(parse_text("bridges:\n  echo:\n"), "test.yaml:2:3: bridges.echo needs a script");
  auto with_plugin = parse_text("bridges:\n  dspy: {plugin: dspy}\n");
  ASSERT_TRUE(with_plugin.ok()) << with_plugin.error().message;
  EXPECT_EQ(with_plugin->bridges.at("dspy").script, "");
}

TEST(HostConfig, FirstErrorInDocumentOrderIsReported) {
  // 'zeta' is written first: its error wins although 'alpha' sorts first.
  expect_error(parse_text("bridges:\n"
                          "  zeta:\n"
                          "    script: z.py\n"
                          "    pool: {size: -2}\n"
                          "  alpha:\n"
                          "    script: a.py\n"
                          "    codec: nope\n"),
               "test.yaml:4:18: bridges.zeta.pool.size");
  // Within one map too: 'timeouts' comes before 'codec' in the text.
  expect_error(parse_text("bridges:\n"
                          "  a:\n"
                          "    script: a.py\n"
                          "    timeouts: {startup_ms: 0}\n"
                          "    codec: nope\n"),
               "test.yaml:4:28: bridges.a.timeouts.startup_ms");
}

TEST(HostConfig, RelativeRootResolvesAgainstTheWorkingDirectory) {
  auto host = parse_text("host:\n  root: some/dir/..\n");
  ASSERT_TRUE(host.ok()) << host.error().message;
  EXPECT_EQ(host->root, (std::filesystem::current_path() / "some").lexically_normal().string());
}

TEST(HostConfig, BarePythonNameIsLeftForPathLookup) {
  auto host = parse_text("host:\n  python: python3\n");
  ASSERT_TRUE(host.ok()) << host.error().message;
  EXPECT_EQ(host->python, "python3");
}

TEST(HostConfig, LoadHostConfigReadsAFile) {
  TempDir dir;
  const std::string path = dir.write("m.yaml", "bridges:\n  e: {script: e.py, codec: 7}\n");
  auto host = load_host_config(path);
  expect_error(host, path + ":2:28: bridges.e.codec must be one of json, msgpack, got 7");
  auto missing = load_host_config(dir.path().string() + "/nope.yaml");
  expect_error(missing, "config file '" + dir.path().string() + "/nope.yaml' not found");
}

TEST(HostConfig, AllowRuntimeRegistrationIsTheOldSpellingOfEnabled) {
  auto old = parse_text("host:\n  allow_runtime_registration: true\n");
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_TRUE(old->runtime_registration.enabled);
  auto off = parse_text("host:\n  allow_runtime_registration: false\n");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->runtime_registration.enabled);
  expect_error(parse_text("host:\n  allow_runtime_registration: true\n"
                          "  runtime_registration: {enabled: true}\n"),
               "test.yaml:2:3: host.allow_runtime_registration",
               {"old spelling of host.runtime_registration.enabled", "keep only the new key"});
}

TEST(HostConfig, RuntimeRegistrationListsAreChecked) {
  expect_error(parse_text("host:\n  runtime_registration: {enable: true}\n"),
               "test.yaml:2:", {"host.runtime_registration", "enabled"});
  expect_error(parse_text("host:\n  runtime_registration: {env_pass: [NOT-A-NAME]}\n"),
               "test.yaml:2:", {"NOT-A-NAME"});
  expect_error(parse_text("host:\n  auth_token_env: MY_TOKEN\n"
                          "  runtime_registration: {env_pass: [A, MY_TOKEN]}\n"),
               "test.yaml:3:", {"MY_TOKEN", "host's own token", "remove it"});
  expect_error(parse_text("host:\n  allowed_origins: [ops.example.com]\n"),
               "test.yaml:2:", {"host.allowed_origins[0]", "https://ops.example.com"});
  expect_error(parse_text("host:\n  allowed_origins: [\"https://a.example/path\"]\n"),
               "test.yaml:2:", {"host.allowed_origins[0]", "no path"});
  expect_error(parse_text("host:\n  allowed_hosts: [\"http://api.example.com\"]\n"),
               "test.yaml:2:", {"host.allowed_hosts[0]", "no scheme"});
}

TEST(HostConfig, CallResultsHaveDefaultsAndAreChecked) {
  auto defaults = parse_text("");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->call_results.ttl_ms, 600000);
  EXPECT_EQ(defaults->call_results.max, 10000u);
  auto given = parse_text("host:\n  call_results: {ttl_ms: 5000, max: 3}\n");
  ASSERT_TRUE(given.ok()) << given.error().message;
  EXPECT_EQ(given->call_results.ttl_ms, 5000);
  EXPECT_EQ(given->call_results.max, 3u);
  expect_error(parse_text("host:\n  call_results: {ttl_ms: 0}\n"), "test.yaml:2:",
               {"host.call_results.ttl_ms must be an integer from 1 to 604800000", "got 0"});
  expect_error(parse_text("host:\n  call_results: {max: 0}\n"), "test.yaml:2:",
               {"host.call_results.max must be an integer from 1 to 10000000", "got 0"});
  expect_error(parse_text("host:\n  call_results: {ttl: 5}\n"),
               "test.yaml:2:", {"host.call_results.ttl is not a known key", "ttl_ms"});
}

TEST(HostConfig, SessionStoreKeysHaveDefaultsAndAreChecked) {
  auto defaults = parse_text("");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->session_store, "memory");
  EXPECT_EQ(defaults->session_lease_ms, 2000);
  EXPECT_EQ(defaults->id, "");
  EXPECT_FALSE(defaults->session_claim_wait_ms.has_value());
  EXPECT_EQ(defaults->effective_claim_wait_ms(), 4000);  // 2 x the lease
  auto given = parse_text(
      "host:\n  session_store: \"redis://:secret@10.0.0.5:6380/2\"\n  session_lease_ms: 500\n"
      "  id: host-a\n");
  ASSERT_TRUE(given.ok()) << given.error().message;
  EXPECT_EQ(given->effective_claim_wait_ms(), 1000);  // follows the lease
  auto no_wait = parse_text("host:\n  session_claim_wait_ms: 0\n");
  ASSERT_TRUE(no_wait.ok()) << no_wait.error().message;
  EXPECT_EQ(no_wait->effective_claim_wait_ms(), 0);
  auto waits = parse_text("host:\n  session_claim_wait_ms: 7000\n");
  ASSERT_TRUE(waits.ok()) << waits.error().message;
  EXPECT_EQ(waits->effective_claim_wait_ms(), 7000);
  expect_error(parse_text("host:\n  session_claim_wait_ms: -1\n"),
               "test.yaml:2:", {"host.session_claim_wait_ms must be an integer from 0 to 3600000"});
  ASSERT_TRUE(given.ok()) << given.error().message;
  EXPECT_EQ(given->session_store, "redis://:secret@10.0.0.5:6380/2");
  EXPECT_EQ(given->session_lease_ms, 500);
  EXPECT_EQ(given->id, "host-a");
  auto bad_url = parse_text("host:\n  session_store: \"redis://:hunter2@\"\n");
  expect_error(bad_url, "test.yaml:2:", {"host.session_store must be 'memory' or redis://"});
  if (!bad_url.ok()) {
    EXPECT_EQ(bad_url.error().message.find("hunter2"), std::string::npos);
  }
  expect_error(parse_text("host:\n  session_store: postgres://x\n"),
               "test.yaml:2:", {"host.session_store"});
  expect_error(parse_text("host:\n  session_lease_ms: 10\n"),
               "test.yaml:2:", {"host.session_lease_ms must be an integer from 100 to 3600000"});
  expect_error(parse_text("host:\n  id: \"a b\"\n"), "test.yaml:2:", {"host.id must be"});
}

}  // namespace
}  // namespace mlbridge::config
