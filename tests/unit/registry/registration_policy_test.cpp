// The operator's bounds on runtime registration (host.runtime_registration), checked on typed
// bridge configs against a real directory tree: allow-listed interpreters, scripts and working
// directories by real path (symlinks and ".." included), env.pass and env.set.

#include "mlbridge/registry/registration_policy.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "config_test_support.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::registry {
namespace {

namespace fs = std::filesystem;
using config::BridgeConfig;
using config::testing::TempDir;
using protocol::json;

// A project root with bridges/ (the script directory), a script outside it, and a host
// config that allows registration with bridges/ and one extra interpreter.
class RegistrationPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(root() / "bridges");
    fs::create_directories(root() / "outside");
    fs::create_directories(root() / "venv/bin");
    dir_.write("bridges/mine.py", "");
    dir_.write("outside/evil.py", "");
    host_.root = root().string();
    host_.python = (root() / "venv/bin/python").string();
    host_.auth_token_env = "HOST_TOKEN";
    host_.runtime_registration.enabled = true;
    host_.runtime_registration.pythons = {"/opt/python3.12/bin/python3"};
    host_.runtime_registration.script_dirs = {(root() / "bridges").string()};
    host_.runtime_registration.env_pass = {"OPENAI_API_KEY"};
  }

  fs::path root() const { return dir_.path(); }

  static BridgeConfig bridge(const std::string& script = "bridges/mine.py") {
    BridgeConfig b;
    b.name = "newcomer";
    b.script = script;
    return b;
  }

  // The message of a refusal; "<ok>" when the check passed.
  std::string refusal(const BridgeConfig& b) const {
    auto checked = RegistrationPolicy(host_).check_bridge(b);
    if (checked) return "<ok>";
    EXPECT_EQ(checked.error().category, ErrorCategory::kInvalidConfiguration);
    EXPECT_EQ(checked.error().bridge, "newcomer");
    return checked.error().message;
  }

  static bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }

  TempDir dir_;
  config::HostConfig host_;
};

TEST_F(RegistrationPolicyTest, IsOffByDefaultAndSaysWhichKeySwitchesItOn) {
  const RegistrationPolicy off{config::HostConfig{}};
  EXPECT_FALSE(off.enabled());
  for (const char* action : {"register", "change", "restart", "remove"}) {
    auto refused = off.allow_change(action, "extra");
    ASSERT_FALSE(refused.ok()) << action;
    EXPECT_EQ(refused.error().category, ErrorCategory::kInvalidConfiguration);
    EXPECT_TRUE(has(refused.error().message, std::string("cannot ") + action + " bridge 'extra'"))
        << refused.error().message;
    EXPECT_TRUE(has(refused.error().message, "host.runtime_registration.enabled: true"));
    EXPECT_TRUE(has(refused.error().message, "host.auth_token_env"));
  }
  EXPECT_TRUE(RegistrationPolicy(host_).allow_change("register", "extra").ok());
}

TEST_F(RegistrationPolicyTest, AllowsOnlyHostPythonAndTheListedInterpreters) {
  EXPECT_EQ(refusal(bridge()), "<ok>");  // no python: host.python
  BridgeConfig b = bridge();
  b.python = "venv/bin/python";  // host.python, spelled relative
  EXPECT_EQ(refusal(b), "<ok>");
  b.python = "venv/bin/../bin/python";
  EXPECT_EQ(refusal(b), "<ok>");
  b.python = "/opt/python3.12/bin/python3";
  EXPECT_EQ(refusal(b), "<ok>");
  for (const char* program : {"/bin/bash", "bash", "/usr/bin/env", "venv/bin/python3"}) {
    b.python = program;
    const std::string message = refusal(b);
    EXPECT_TRUE(has(message, std::string("python '") + program + "' is not an interpreter"))
        << message;
    EXPECT_TRUE(has(message, "host.runtime_registration.pythons")) << message;
  }
}

TEST_F(RegistrationPolicyTest, ScriptsMustLieInAScriptDirectoryByRealPath) {
  EXPECT_EQ(refusal(bridge("bridges/mine.py")), "<ok>");
  EXPECT_EQ(refusal(bridge((root() / "bridges/mine.py").string())), "<ok>");
  EXPECT_EQ(refusal(bridge("bridges/not_written_yet.py")), "<ok>");  // the environment check says
  EXPECT_EQ(refusal(bridge("")), "<ok>");                            // the plugin's default script

  for (const std::string& script :
       {std::string("outside/evil.py"), std::string("bridges/../outside/evil.py"),
        std::string("/etc/hostname"), std::string("bridges")}) {
    const std::string message = refusal(bridge(script));
    EXPECT_TRUE(has(message, "script '" + script + "'")) << message;
    EXPECT_TRUE(has(message, "host.runtime_registration.script_dirs")) << message;
  }
  // A symlink inside the directory that leads out of it is judged by where it leads.
  fs::create_symlink(root() / "outside/evil.py", root() / "bridges/link.py");
  EXPECT_TRUE(has(refusal(bridge("bridges/link.py")),
                  "real path " + (root() / "outside/evil.py").string()));
  // A sibling whose name starts like the directory is not inside it.
  fs::create_directories(root() / "bridges2");
  dir_.write("bridges2/x.py", "");
  EXPECT_NE(refusal(bridge("bridges2/x.py")), "<ok>");
}

TEST_F(RegistrationPolicyTest, AScriptDirectoryReachedThroughASymlinkStillCounts) {
  fs::create_directory_symlink(root() / "bridges", root() / "linked");
  host_.runtime_registration.script_dirs = {(root() / "linked").string()};
  EXPECT_EQ(refusal(bridge("bridges/mine.py")), "<ok>");
  EXPECT_EQ(refusal(bridge("linked/mine.py")), "<ok>");
  EXPECT_NE(refusal(bridge("outside/evil.py")), "<ok>");
}

TEST_F(RegistrationPolicyTest, WithoutScriptDirectoriesOnlyAPluginsDefaultScriptWorks) {
  host_.runtime_registration.script_dirs.clear();
  EXPECT_EQ(refusal(bridge("")), "<ok>");
  const std::string message = refusal(bridge("bridges/mine.py"));
  EXPECT_TRUE(has(message, "script_dirs lists no directory")) << message;
  EXPECT_TRUE(has(message, "plugin's default script")) << message;
}

TEST_F(RegistrationPolicyTest, WorkingDirIsTheRootOrInsideAScriptDirectory) {
  BridgeConfig b = bridge();
  for (const std::string& ok : {std::string("."), root().string(), std::string("bridges"),
                                std::string("bridges/../bridges")}) {
    b.working_dir = ok;
    EXPECT_EQ(refusal(b), "<ok>") << ok;
  }
  for (const std::string& bad : {std::string("/tmp"), std::string("outside"), std::string("..")}) {
    b.working_dir = bad;
    const std::string message = refusal(b);
    EXPECT_TRUE(has(message, "working_dir '" + bad + "'")) << message;
  }
}

TEST_F(RegistrationPolicyTest, EnvPassNamesOnlyListedVariablesAndNeverTheHostToken) {
  BridgeConfig b = bridge();
  b.env_pass = {"OPENAI_API_KEY"};
  EXPECT_EQ(refusal(b), "<ok>");
  b.env_pass = {"OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY"};
  const std::string message = refusal(b);
  EXPECT_TRUE(has(message, "env.pass names AWS_SECRET_ACCESS_KEY")) << message;
  EXPECT_TRUE(has(message, "host.runtime_registration.env_pass")) << message;
  // Even when a config built in code lists it.
  host_.runtime_registration.env_pass.push_back("HOST_TOKEN");
  b.env_pass = {"HOST_TOKEN"};
  EXPECT_TRUE(has(refusal(b), "env.pass names HOST_TOKEN"));
}

TEST_F(RegistrationPolicyTest, OptionsCannotPairAHostKeyWithAnEndpointOfTheirChoosing) {
  BridgeConfig b = bridge();
  b.env_pass = {"OPENAI_API_KEY"};
  b.options = {{"lm", {{"model", "openai/gpt-4o-mini"}, {"api_base", "http://127.0.0.1:9/v1"}}}};
  EXPECT_EQ(refusal(b), "<ok>");  // an endpoint of its own, without a host key
  b.options["endpoints"] = json::array(
      {{{"api_base", "http://attacker.example/v1"}, {"api_key_env", "OPENAI_API_KEY"}}});
  std::string message = refusal(b);
  EXPECT_TRUE(has(message, "options.endpoints[0].api_key_env names a host variable")) << message;
  b.options = {{"lm", {{"model", "openai/gpt-4o-mini"}, {"api_key_env", "OPENAI_API_KEY"}}}};
  message = refusal(b);
  EXPECT_TRUE(has(message, "options.lm.api_key_env")) << message;
  EXPECT_TRUE(has(message, "declare such a bridge in the YAML file")) << message;
  // A change of a bridge the YAML file paired with a key keeps that pairing, and may not move it.
  BridgeConfig declared = b;
  BridgeConfig changed = b;
  changed.options["lm"]["temperature"] = 0.5;
  EXPECT_TRUE(RegistrationPolicy(host_).check_change(declared, changed));
  changed.options["lm"]["api_key_env"] = "ANTHROPIC_API_KEY";
  EXPECT_FALSE(RegistrationPolicy(host_).check_change(declared, changed));
}

TEST_F(RegistrationPolicyTest, EnvSetRefusesVariablesThatChangeHowProgramsStartOrWhereTheyGo) {
  for (const char* name : {"BASH_ENV",
                           "ENV",
                           "SHELLOPTS",
                           "PS4",
                           "IFS",
                           "PATH",
                           "HOME",
                           "BROWSER",
                           "PERL5OPT",
                           "NODE_OPTIONS",
                           "PYTHONPATH",
                           "PYTHONSTARTUP",
                           "PYTHONHOME",
                           "PYTHONWARNINGS",
                           "pythonpath",
                           "LD_PRELOAD",
                           "LD_LIBRARY_PATH",
                           "GCONV_PATH",
                           "GLIBC_TUNABLES",
                           "BASH_FUNC_x%%",
                           "OPENSSL_CONF",
                           "SSL_CERT_FILE",
                           "REQUESTS_CA_BUNDLE",
                           "http_proxy",
                           "HTTPS_PROXY",
                           "OPENAI_BASE_URL",
                           "OPENAI_API_BASE",
                           "HF_ENDPOINT",
                           "HF_HOME",
                           "TRANSFORMERS_CACHE",
                           "OLLAMA_HOST",
                           "XDG_CONFIG_HOME",
                           "GIT_SSH_COMMAND",
                           "MLBRIDGE_CANCEL_FD",
                           "TMPDIR"}) {
    EXPECT_FALSE(RegistrationPolicy::may_set_variable(name)) << name;
  }
  for (const char* name : {"HF_HUB_OFFLINE", "OPENAI_API_KEY", "TOKENIZERS_PARALLELISM",
                           "OMP_NUM_THREADS", "MY_SETTING"}) {
    EXPECT_TRUE(RegistrationPolicy::may_set_variable(name)) << name;
  }
  BridgeConfig b = bridge();
  b.env_set = {{"HF_HUB_OFFLINE", "1"}, {"BASH_ENV", "$(id>/tmp/pwned)"}};
  const std::string message = refusal(b);
  EXPECT_TRUE(has(message, "env.set may not set BASH_ENV")) << message;
  EXPECT_FALSE(has(message, "$(id")) << "the value is not echoed back: " << message;
}

TEST_F(RegistrationPolicyTest, AChangeChecksOnlyWhatItChanges) {
  // A bridge from the YAML file: a script outside the script directories, a variable not in
  // env_pass and a PYTHONPATH, all the operator's.
  BridgeConfig yaml = bridge("outside/evil.py");
  yaml.env_pass = {"HF_TOKEN"};
  yaml.env_set = {{"PYTHONPATH", "/opt/lib"}};
  const RegistrationPolicy policy(host_);
  EXPECT_FALSE(policy.check_bridge(yaml).ok());
  BridgeConfig resized = yaml;
  resized.pool.size = 4;
  EXPECT_TRUE(policy.check_change(yaml, resized).ok());
  BridgeConfig widened = yaml;
  widened.env_set["LD_PRELOAD"] = "/tmp/x.so";
  EXPECT_FALSE(policy.check_change(yaml, widened).ok());
  BridgeConfig repointed = yaml;
  repointed.env_set["PYTHONPATH"] = "/tmp";
  EXPECT_FALSE(policy.check_change(yaml, repointed).ok());
  BridgeConfig moved = yaml;
  moved.python = "/bin/sh";
  EXPECT_FALSE(policy.check_change(yaml, moved).ok());
}

TEST_F(RegistrationPolicyTest, CodePathsMustLieInAScriptDirectoryByRealPath) {
  fs::create_directories(root() / "bridges/app/myteam");
  fs::create_directories(root() / "outside/lib/evilteam");
  BridgeConfig b = bridge();
  b.code.paths = {"bridges/app"};
  b.code.modules = {"myteam.programs"};
  EXPECT_EQ(refusal(b), "<ok>");
  b.code.paths = {"bridges"};  // the script directory itself may go on sys.path
  b.code.modules = {"mine"};   // bridges/mine.py: a module file
  EXPECT_EQ(refusal(b), "<ok>");

  b.code.modules = {};
  for (const std::string escape : {"outside/lib", "bridges/../outside/lib", "/usr/lib/python3"}) {
    b.code.paths = {escape};
    const std::string message = refusal(b);
    EXPECT_TRUE(has(message, "code.paths entry '" + escape + "'")) << message;
    EXPECT_TRUE(has(message, "host.runtime_registration.script_dirs")) << message;
    EXPECT_TRUE(has(message, (root() / "bridges").string())) << "names the allow-list: " << message;
  }
  // A symlink inside the script directory that leads out is judged by where it leads.
  fs::create_directory_symlink(root() / "outside/lib", root() / "bridges/lib");
  b.code.paths = {"bridges/lib"};
  EXPECT_TRUE(has(refusal(b), "real path " + (root() / "outside/lib").string())) << refusal(b);
}

TEST_F(RegistrationPolicyTest, CodeModulesMustBeTheRegistrationsOwnCode) {
  fs::create_directories(root() / "bridges/app/myteam");
  BridgeConfig b = bridge();
  b.code.paths = {"bridges/app"};
  // Installed and standard-library modules would make their functions callable by name.
  for (const std::string module : {"subprocess", "os", "myteam_not_there.x"}) {
    b.code.modules = {"myteam", module};
    const std::string message = refusal(b);
    EXPECT_TRUE(has(message, "code.modules entry '" + module + "' is not a package or module"))
        << message;
  }
  b.code.paths = {};
  b.code.modules = {"myteam"};
  EXPECT_TRUE(has(refusal(b), "code.modules entry 'myteam'")) << refusal(b);
  // A package in the code path that is a symlink to somewhere else is judged by its target.
  fs::create_directories(root() / "outside/site/json");
  fs::create_directory_symlink(root() / "outside/site/json", root() / "bridges/app/json");
  b.code.paths = {"bridges/app"};
  b.code.modules = {"json"};
  const std::string message = refusal(b);
  EXPECT_TRUE(has(message, "is outside the script directories")) << message;
}

TEST_F(RegistrationPolicyTest, AChangeOfCodeIsCheckedButTheOperatorsCodeStays) {
  BridgeConfig yaml = bridge();
  yaml.code.paths = {"/opt/team/app"};  // the operator's, outside the script directories
  yaml.code.modules = {"team"};
  const RegistrationPolicy policy(host_);
  BridgeConfig resized = yaml;
  resized.pool.size = 4;
  EXPECT_TRUE(policy.check_change(yaml, resized).ok());
  BridgeConfig widened = yaml;
  widened.code.modules = {"team", "subprocess"};
  EXPECT_FALSE(policy.check_change(yaml, widened).ok());
}

}  // namespace
}  // namespace mlbridge::registry
