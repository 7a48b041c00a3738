// The user's own code declared in YAML (`code: {paths, modules}`), end to end through the Host
// API: the workers import it at start, requests name its objects by import path and nothing
// else, an import error fails the start once as a configuration problem, and a runtime
// registration may only declare code inside the operator's script directories.

#include <filesystem>
#include <fstream>

#include "host_fixture.hpp"

namespace mlbridge::testing {
namespace {

/// A bridge whose `call` command calls a function of the declared code by import path.
std::string user_code_bridge_yaml(const std::string& name, const std::string& code) {
  return "  " + name +
         ":\n    script: tests/support/workers/user_code_bridge.py\n    pool: {size: 1}\n"
         "    timeouts: {startup_ms: 20000, shutdown_ms: 2000}\n"
         "    restart: {max_restarts: 1, window_s: 60}\n    code: " +
         code + "\n";
}

TEST_F(HostTest, WorkersServeTheDeclaredCodeByImportPathAndNothingElse) {
  auto& host =
      start(host_section() + "bridges:\n" +
            user_code_bridge_yaml("team", "{paths: [examples/user_code], modules: [myteam]}"));
  auto greeting = host.execute("team", "call", {{"function", "myteam:greet"}, {"args", {"ada"}}});
  ASSERT_TRUE(greeting.ok()) << greeting.error().describe();
  EXPECT_EQ(*greeting, "hello, ada");
  for (const std::string ref : {"os:system", "subprocess:run", "myteam:__class__"}) {
    auto refused = host.execute("team", "call", {{"function", ref}, {"args", {"true"}}});
    ASSERT_FALSE(refused.ok()) << ref;
    EXPECT_EQ(refused.error().category, ErrorCategory::kInvalidArgument) << ref;
    EXPECT_TRUE(has(refused.error().message, ref)) << refused.error().message;
  }
}

TEST_F(HostTest, ADeclaredModuleThatFailsAtImportFailsTheStartOnceAsAConfigurationError) {
  std::filesystem::create_directories(dir_ / "code/brokenteam");
  std::ofstream(dir_ / "code/brokenteam/__init__.py")
      << "raise RuntimeError('the team database is unreachable')\n";
  const Error error =
      start_error(host_section() + "bridges:\n" +
                      user_code_bridge_yaml("team", "{paths: [" + (dir_ / "code").string() +
                                                        "], modules: [brokenteam]}"),
                  {"team"});
  EXPECT_EQ(error.category, ErrorCategory::kInvalidConfiguration) << error.describe();
  EXPECT_FALSE(error.retryable);
  EXPECT_TRUE(has(error.message,
                  "bridge 'team': its declared code failed to load: "
                  "code module 'brokenteam' failed to import: "
                  "RuntimeError: the team database is unreachable"))
      << error.message;
  EXPECT_TRUE(has(error.traceback, "raise RuntimeError('the team database is unreachable')"))
      << error.traceback;
}

TEST_F(HostTest, ACodePathThatIsNotADirectoryIsNamed) {
  const Error error = start_error(
      host_section() + "bridges:\n" +
      user_code_bridge_yaml("team", "{paths: [examples/no_such_dir], modules: [myteam]}"));
  EXPECT_EQ(error.category, ErrorCategory::kInvalidConfiguration) << error.describe();
  EXPECT_TRUE(has(error.message, "examples/no_such_dir' is not an existing directory"))
      << error.message;
}

TEST_F(HostTest, AModuleNameThatIsNotDottedIdentifiersIsRefusedWhereItIsWritten) {
  auto host = Host::from_file(write(
      host_section() + "bridges:\n" +
      user_code_bridge_yaml("team", "{paths: [examples/user_code], modules: [myteam, ../evil]}")));
  ASSERT_FALSE(host.ok());
  EXPECT_TRUE(has(host.error().message, "code.modules[1] must be a dotted Python module name"))
      << host.error().message;
}

TEST_F(HostTest, ARegistrationDeclaresCodeOnlyInsideTheScriptDirectories) {
  auto& host = start(host_section(runtime_registration("[tests/support/workers, examples]")) +
                     "bridges:\n" + echo_bridge_yaml("base"));
  const json base = {{"script", "tests/support/workers/user_code_bridge.py"},
                     {"pool", {{"size", 1}}},
                     {"timeouts", {{"startup_ms", 20000}, {"shutdown_ms", 2000}}}};
  json outside = base;
  outside["code"] = {{"paths", {"python_bridges"}}, {"modules", {"mlbridge"}}};
  auto refused = host.register_bridge("newcomer", outside);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(has(refused.error().message, "code.paths entry 'python_bridges'"))
      << refused.error().message;
  EXPECT_TRUE(has(refused.error().message, "host.runtime_registration.script_dirs"))
      << refused.error().message;
  json installed = base;
  installed["code"] = {{"paths", {"examples/user_code"}}, {"modules", {"myteam", "subprocess"}}};
  refused = host.register_bridge("newcomer", installed);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(has(refused.error().message, "code.modules entry 'subprocess'"))
      << refused.error().message;

  json allowed = base;
  allowed["code"] = {{"paths", {"examples/user_code"}}, {"modules", {"myteam"}}};
  ASSERT_TRUE(host.register_bridge("newcomer", allowed).ok());
  auto count = host.execute("newcomer", "call",
                            {{"function", "myteam:word_count"}, {"args", {"one two three"}}});
  ASSERT_TRUE(count.ok()) << count.error().describe();
  EXPECT_EQ(*count, 3);
}

}  // namespace
}  // namespace mlbridge::testing
