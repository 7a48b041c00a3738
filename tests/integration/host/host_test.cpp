// The Host API end to end: YAML deployments, several isolated bridges, error translation,
// sessions, resources and runtime registration.

#include <thread>

#include "host_fixture.hpp"

namespace mlbridge::testing {
namespace {

TEST_F(HostTest, RunsCommandsOnNamedAndDefaultBridges) {
  auto& host = start(host_section("  default_bridge: first\n") + "bridges:\n" +
                     echo_bridge_yaml("first") + echo_bridge_yaml("second"));
  auto a = host.execute("first", "echo", {{"x", 1}});
  ASSERT_TRUE(a.ok()) << a.error().describe();
  EXPECT_EQ((*a)["x"], 1);
  auto b = host.execute("", "ping");
  ASSERT_TRUE(b.ok()) << b.error().describe();
  auto unknown = host.execute("nope", "ping");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().category, ErrorCategory::kNotFound);
  EXPECT_TRUE(has(unknown.error().message, "first, second")) << unknown.error().message;
  auto async = host.execute_async("second", "echo", {{"y", 2}}).get();
  ASSERT_TRUE(async.ok());
  EXPECT_EQ((*async)["y"], 2);
}

TEST_F(HostTest, TranslatesPythonErrorsWithDefaultsAndYamlOverrides) {
  auto& host =
      start(host_section() + "bridges:\n" + echo_bridge_yaml("plain") +
            echo_bridge_yaml("tuned", "    errors: [{type: ValueError, category: rate_limit}]\n"));
  auto plain = host.execute("plain", "fail", {{"type", "ValueError"}, {"message", "bad"}});
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_EQ(plain.error().python_type, "ValueError");
  EXPECT_TRUE(has(plain.error().traceback, "Traceback"));
  auto tuned = host.execute("tuned", "fail", {{"type", "ValueError"}, {"message", "bad"}});
  ASSERT_FALSE(tuned.ok());
  EXPECT_EQ(tuned.error().category, ErrorCategory::kRateLimit);
  EXPECT_TRUE(tuned.error().retryable);
  auto missing = host.execute("plain", "fail", {{"type", "KeyError"}, {"message", "k"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().category, ErrorCategory::kNotFound);
}

TEST_F(HostTest, OneBridgeFailingAtImportLeavesTheOthersServing) {
  auto& host = start(host_section() + "bridges:\n" + echo_bridge_yaml("good") +
                     "  broken:\n    script: tests/support/workers/import_error_bridge.py\n"
                     "    pool: {size: 1}\n    restart: {max_restarts: 1, window_s: 60}\n");
  auto health = host.health();
  EXPECT_FALSE(health["ready"].get<bool>());
  EXPECT_EQ(health["bridges"]["broken"], "failed");
  EXPECT_EQ(health["bridges"]["good"], "running");
  auto refused = host.execute("broken", "ping");
  ASSERT_FALSE(refused.ok());
  // A script that fails at import is a configuration problem: not retried, not retryable.
  EXPECT_EQ(refused.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_FALSE(refused.error().retryable);
  EXPECT_TRUE(has(refused.error().message, "definitely_not_an_installed_module"))
      << refused.error().message;
  EXPECT_TRUE(has(refused.error().traceback, "Traceback")) << refused.error().traceback;
  EXPECT_TRUE(host.execute("good", "ping").ok());
}

// `mlbridge call` starts only the bridge it needs, and must hear why it did not start.
TEST_F(HostTest, StartingANamedBridgeThatFailsAtImportReturnsTheImportError) {
  const Error error = start_error(host_section() + "bridges:\n" + echo_bridge_yaml("good") +
                                      "  broken:\n    script: "
                                      "tests/support/workers/import_error_bridge.py\n"
                                      "    pool: {size: 1}\n",
                                  {"broken"});
  EXPECT_EQ(error.category, ErrorCategory::kInvalidConfiguration) << error.describe();
  EXPECT_EQ(error.bridge, "broken");
  EXPECT_TRUE(has(error.message,
                  "bridge 'broken': the bridge script failed at import: "
                  "ModuleNotFoundError"))
      << error.message;
  EXPECT_TRUE(has(error.traceback, "Traceback (most recent call last):")) << error.traceback;
}

TEST_F(HostTest, NamesAMissingScript) {
  const Error error =
      start_error(host_section() + "bridges:\n  ghost:\n    script: nowhere/ghost_bridge.py\n");
  EXPECT_EQ(error.category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(has(error.message, "ghost")) << error.message;
  EXPECT_TRUE(has(error.message, "nowhere/ghost_bridge.py")) << error.message;
}

TEST_F(HostTest, NamesAMissingPackage) {
  const Error error =
      start_error(host_section() + "bridges:\n" +
                  echo_bridge_yaml("needy", "    required_packages: [surely_absent_pkg]\n"));
  EXPECT_EQ(error.category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(has(error.message, "surely_absent_pkg")) << error.message;
  EXPECT_TRUE(has(error.message, "needy")) << error.message;
}

TEST_F(HostTest, NamesAMissingRequiredVariable) {
  ::unsetenv("MLBRIDGE_TEST_MISSING_KEY");
  const Error error =
      start_error(host_section() + "bridges:\n" +
                  echo_bridge_yaml("keyed", "    required_env: [MLBRIDGE_TEST_MISSING_KEY]\n"));
  EXPECT_TRUE(has(error.message, "MLBRIDGE_TEST_MISSING_KEY")) << error.message;
}

TEST_F(HostTest, RegistersAndUnregistersBridgesAtRuntime) {
  auto& host =
      start(host_section(runtime_registration()) + "bridges:\n" + echo_bridge_yaml("base"));
  const json config = {{"script", "python_bridges/examples/echo_bridge.py"},
                       {"pool", {{"size", 1}}},
                       {"codec", "msgpack"}};
  auto registered = host.register_bridge("extra", config);
  ASSERT_TRUE(registered.ok()) << registered.error().describe();
  EXPECT_TRUE(host.execute("extra", "ping").ok());

  auto twice = host.register_bridge("extra", config);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_TRUE(has(twice.error().message, "already registered")) << twice.error().message;

  auto bad = host.register_bridge(
      "bad", {{"script", "python_bridges/examples/echo_bridge.py"}, {"pool", {{"size", -1}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(has(bad.error().message, "pool.size")) << bad.error().message;
  EXPECT_TRUE(host.execute("base", "ping").ok())
      << "a bad registration must not disturb the others";

  // Unregister with calls in flight: each finishes or fails cleanly, none is lost.
  std::vector<std::future<Result<json>>> in_flight;
  for (int i = 0; i < 3; ++i) {
    in_flight.push_back(host.execute_async("extra", "sleep", {{"seconds", 0.2}}));
  }
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(host.unregister_bridge("extra").ok());
  for (auto& f : in_flight) {
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready) << "a call was lost";
    auto r = f.get();
    if (!r.ok()) {
      EXPECT_TRUE(r.error().category == ErrorCategory::kCancelled ||
                  r.error().category == ErrorCategory::kBridgeUnavailable)
          << r.error().describe();
    }
  }
  auto gone = host.execute("extra", "ping");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().category, ErrorCategory::kNotFound);
  EXPECT_EQ(host.unregister_bridge("extra").error().category, ErrorCategory::kNotFound);
}

TEST_F(HostTest, BadRegistrationsAreNamedAndTheOtherBridgesKeepServing) {
  auto& host = start(host_section(runtime_registration("[python_bridges, nowhere]")) +
                     "bridges:\n" + echo_bridge_yaml("base"));
  ::unsetenv("MLBRIDGE_TEST_MISSING_KEY");
  const auto echo_with = [](const json& extra) {
    json config = {{"script", "python_bridges/examples/echo_bridge.py"}};
    config.update(extra);
    return config;
  };
  const std::vector<std::pair<json, std::string>> refused = {
      {{{"script", "nowhere/ghost_bridge.py"}}, "nowhere/ghost_bridge.py"},
      {echo_with({{"required_packages", {"surely_absent_pkg"}}}), "surely_absent_pkg"},
      {echo_with({{"required_env", {"MLBRIDGE_TEST_MISSING_KEY"}}}), "MLBRIDGE_TEST_MISSING_KEY"},
      {echo_with({{"pool", {{"size", "many"}}}}), "pool.size"},
  };
  for (const auto& [config, named] : refused) {
    auto result = host.register_bridge("newcomer", config);
    ASSERT_FALSE(result.ok()) << config.dump();
    EXPECT_EQ(result.error().category, ErrorCategory::kInvalidConfiguration)
        << result.error().describe();
    EXPECT_TRUE(has(result.error().message, named)) << result.error().message;
    EXPECT_TRUE(has(result.error().message, "newcomer")) << result.error().message;
    EXPECT_EQ(host.execute("newcomer", "ping").error().category, ErrorCategory::kNotFound);
    EXPECT_TRUE(host.execute("base", "ping").ok()) << "after refusing " << config.dump();
  }
}

TEST_F(HostTest, RuntimeChangesAreOffUnlessTheOperatorSwitchesThemOn) {
  auto& host = start(host_section() + "bridges:\n" + echo_bridge_yaml("base"));
  const json extra = {{"script", "python_bridges/examples/echo_bridge.py"}};
  std::vector<std::pair<std::string, Status>> refused;
  refused.emplace_back("register", host.register_bridge("extra", extra));
  auto update = host.update_bridge("base", {{"pool", {{"size", 2}}}});
  refused.emplace_back("change", update ? Status(Ok{}) : Status(Unexpected{update.error()}));
  refused.emplace_back("restart", host.restart_bridge("base"));
  refused.emplace_back("remove", host.unregister_bridge("base"));
  for (const auto& [action, status] : refused) {
    ASSERT_FALSE(status.ok()) << action;
    EXPECT_EQ(status.error().category, ErrorCategory::kInvalidConfiguration);
    EXPECT_TRUE(has(status.error().message, "cannot " + action + " bridge"))
        << status.error().message;
    EXPECT_TRUE(has(status.error().message, "host.runtime_registration.enabled: true"));
  }
  EXPECT_EQ(host.execute("extra", "ping").error().category, ErrorCategory::kNotFound);
  EXPECT_EQ((*host.bridge("base"))["workers"].size(), 1u) << "the refused update changed nothing";
  EXPECT_TRUE(host.execute("base", "ping").ok()) << "the refused removal removed nothing";
}

TEST_F(HostTest, ARegistrationNamesOnlyWhatTheOperatorAllowedAndRunsNothingElse) {
  auto& host = start(host_section(runtime_registration("[python_bridges]")) + "bridges:\n" +
                     echo_bridge_yaml("base"));
  const auto marker = dir_ / "pwned";
  const std::string echo = "python_bridges/examples/echo_bridge.py";
  const std::vector<std::pair<json, std::string>> refused = {
      {{{"python", "/bin/bash"},
        {"script", "/etc/hostname"},
        {"env", {{"set", {{"BASH_ENV", "$(touch " + marker.string() + ")"}}}}}},
       "python '/bin/bash' is not an interpreter"},
      {{{"script", "/etc/hostname"}}, "is outside the script directories"},
      {{{"script", "python_bridges/../tests/support/workers/upstream_bridge.py"}},
       "is outside the script directories"},
      {{{"script", echo}, {"env", {{"set", {{"BASH_ENV", "$(touch " + marker.string() + ")"}}}}}},
       "env.set may not set BASH_ENV"},
      {{{"script", echo}, {"env", {{"set", {{"PYTHONSTARTUP", marker.string()}}}}}},
       "env.set may not set PYTHONSTARTUP"},
      {{{"script", echo}, {"env", {{"pass", {"HOME"}}}}}, "env.pass names HOME"},
      {{{"script", echo}, {"working_dir", "/tmp"}}, "working_dir '/tmp'"},
  };
  for (const auto& [config, named] : refused) {
    auto result = host.register_bridge("newcomer", config);
    ASSERT_FALSE(result.ok()) << config.dump();
    EXPECT_EQ(result.error().category, ErrorCategory::kInvalidConfiguration);
    EXPECT_TRUE(has(result.error().message, named)) << result.error().message;
    EXPECT_TRUE(has(result.error().message, "newcomer")) << result.error().message;
  }
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a refused registration ran a program";
  // The change of a bridge from the file is held to the same rules.
  auto widened = host.update_bridge("base", {{"env", {{"set", {{"LD_PRELOAD", "/tmp/x.so"}}}}}});
  ASSERT_FALSE(widened.ok());
  EXPECT_TRUE(has(widened.error().message, "env.set may not set LD_PRELOAD"))
      << widened.error().message;
  ASSERT_TRUE(host.register_bridge("newcomer", {{"script", echo}, {"pool", {{"size", 1}}}}).ok());
  EXPECT_TRUE(host.execute("newcomer", "ping").ok());
}

TEST_F(HostTest, HostOnlyBuiltinsAreNotCommandsOfAnyClient) {
  auto& host = start(host_section() + "bridges:\n" + echo_bridge_yaml("echo"));
  const auto pid = [&host] { return (*host.bridge("echo"))["workers"][0]["pid"]; };
  const json before = pid();
  const json attacker = {{"options", {{"api_base", "http://attacker.example"}}}};
  for (const std::string command : {"init", "shutdown", "cleanup", "cleanup_session", "common:init",
                                    "common:shutdown", "echo:cleanup"}) {
    const std::string expected = "bridge 'echo' has no command '" + command + "'";
    std::vector<Result<json>> answers;
    answers.push_back(host.execute("echo", command, attacker));
    answers.push_back(host.execute_async("echo", command, attacker).get());
    for (const auto& answer : answers) {
      ASSERT_FALSE(answer.ok()) << command;
      EXPECT_EQ(answer.error().category, ErrorCategory::kNotFound) << answer.error().describe();
      EXPECT_EQ(answer.error().message, expected);
      EXPECT_EQ(answer.error().bridge, "echo");
      EXPECT_EQ(answer.error().command, command);
    }
    auto cast = host.cast("echo", command, attacker);
    ASSERT_FALSE(cast.ok()) << command;
    EXPECT_EQ(cast.error().message, expected);
  }
  EXPECT_EQ(pid(), before) << "a client's shutdown stopped the worker";
  EXPECT_TRUE(host.execute("echo", "ping").ok());
  // Ending a session still reaches the workers' cleanup_session, the host's own road.
  auto session = host.create_session();
  ASSERT_TRUE(session.ok());
  ExecuteOptions in_session;
  in_session.session = *session;
  ASSERT_TRUE(host.execute("echo", "put", {{"key", "k"}, {"value", 1}}, in_session).ok());
  EXPECT_TRUE(host.end_session(*session).ok());
}

TEST_F(HostTest, SessionsSpanCallsAndEnd) {
  auto& host = start(host_section() + "bridges:\n" + echo_bridge_yaml("kv"));
  auto id = host.create_session();
  ASSERT_TRUE(id.ok());
  ExecuteOptions in_session;
  in_session.session = *id;
  ASSERT_TRUE(host.execute("kv", "put", {{"key", "k"}, {"value", 7}}, in_session).ok());
  auto got = host.execute("kv", "get", {{"key", "k"}}, in_session);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(has(got->dump(), "7"));
  auto sessions = host.list_sessions();
  EXPECT_NE(std::find(sessions.begin(), sessions.end(), *id), sessions.end());
  ASSERT_TRUE(host.end_session(*id).ok());
  EXPECT_EQ(host.end_session(*id).error().category, ErrorCategory::kNotFound);
}

TEST_F(HostTest, GenericBridgesHaveNoResourceMapping) {
  auto& host = start(host_section() + "bridges:\n" + echo_bridge_yaml("plain"));
  auto created = host.create_resource("plain", "program", json::object());
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().category, ErrorCategory::kNotFound);
  EXPECT_TRUE(has(created.error().message, "plain")) << created.error().message;
}

TEST_F(HostTest, ReportsStatsAndBridges) {
  auto& host = start(host_section() + "bridges:\n" + echo_bridge_yaml("counted"));
  ASSERT_TRUE(host.execute("counted", "ping").ok());
  ASSERT_FALSE(host.execute("counted", "fail", {{"type", "ValueError"}, {"message", "x"}}).ok());
  const json stats = host.stats();
  EXPECT_EQ(stats["counted"]["calls"], 2);
  EXPECT_EQ(stats["counted"]["errors_by_category"]["invalid_argument"], 1);
  const json bridges = host.bridges();
  ASSERT_EQ(bridges.size(), 1u);
  EXPECT_EQ(bridges[0]["name"], "counted");
  EXPECT_EQ(bridges[0]["plugin"], "generic");
  EXPECT_TRUE(host.health()["ready"].get<bool>());
}

}  // namespace
}  // namespace mlbridge::testing
