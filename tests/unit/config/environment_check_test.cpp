// check_environment: the interpreter, the script, required packages at both depths (found
// without importing when a bridge starts; imported by `mlbridge check`) and required variables.

#include "mlbridge/config/environment_check.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "test_paths.hpp"

namespace mlbridge::config {
namespace {

namespace fs = std::filesystem;

const CheckItem* find_item(const EnvironmentReport& report, const std::string& what) {
  for (const auto& item : report.items) {
    if (item.what == what) return &item;
  }
  return nullptr;
}

class EnvironmentCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mlbridge-envcheck-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "broken_on_import");
    // Installed but broken: importing it fails, and leaves a marker that shows it ran.
    std::ofstream(dir_ / "broken_on_import" / "__init__.py")
        << "open(" << (dir_ / "imported").string().insert(0, "r'").append("'")
        << ", 'w').close()\nraise ImportError('a dependency of broken_on_import is missing')\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  EnvironmentRequirements requirements(std::vector<std::string> packages) const {
    EnvironmentRequirements req;
    req.bridge = "probe";
    req.python = testing::python();
    req.script = testing::echo_bridge();
    req.required_packages = std::move(packages);
    req.env = {{"PYTHONPATH", dir_.string()}, {"PATH", "/usr/bin:/bin"}};
    return req;
  }

  fs::path dir_;
};

TEST_F(EnvironmentCheckTest, FindsInstalledPackagesWithTheirVersionsWithoutImportingThem) {
  auto req = requirements({"msgpack", "broken_on_import"});
  const auto report = check_environment(req);
  ASSERT_TRUE(report.ok()) << report.problems();
  const CheckItem* msgpack = find_item(report, "package msgpack");
  ASSERT_NE(msgpack, nullptr);
  EXPECT_NE(msgpack->detail.find('.'), std::string::npos) << "a version: " << msgpack->detail;
  EXPECT_FALSE(fs::exists(dir_ / "imported")) << "the default depth must not import packages";
}

TEST_F(EnvironmentCheckTest, ImportDepthCatchesAnInstalledButBrokenPackage) {
  auto req = requirements({"msgpack", "broken_on_import"});
  req.package_check = PackageCheck::kImport;
  const auto report = check_environment(req);
  EXPECT_FALSE(report.ok());
  const CheckItem* broken = find_item(report, "package broken_on_import");
  ASSERT_NE(broken, nullptr);
  EXPECT_FALSE(broken->ok);
  EXPECT_NE(broken->detail.find("a dependency of broken_on_import is missing"), std::string::npos)
      << broken->detail;
  EXPECT_TRUE(find_item(report, "package msgpack")->ok);
  EXPECT_TRUE(fs::exists(dir_ / "imported"));
}

TEST_F(EnvironmentCheckTest, AMissingPackageFailsAtBothDepthsAndSaysHowToInstallIt) {
  for (auto depth : {PackageCheck::kFind, PackageCheck::kImport}) {
    auto req = requirements({"surely_absent_pkg_xyz"});
    req.package_check = depth;
    const auto report = check_environment(req);
    EXPECT_FALSE(report.ok());
    const CheckItem* item = find_item(report, "package surely_absent_pkg_xyz");
    ASSERT_NE(item, nullptr);
    EXPECT_NE(item->detail.find("ModuleNotFoundError"), std::string::npos) << item->detail;
    EXPECT_NE(item->detail.find("pip install surely_absent_pkg_xyz"), std::string::npos)
        << item->detail;
  }
}

TEST_F(EnvironmentCheckTest, NamesAMissingScriptInterpreterAndVariableWithoutPrintingValues) {
  auto req = requirements({});
  req.script = (dir_ / "no_such_bridge.py").string();
  req.required_env = {"MLBRIDGE_SECRET_FOR_TEST", "MLBRIDGE_UNSET_FOR_TEST"};
  req.env["MLBRIDGE_SECRET_FOR_TEST"] = "s3cr3t-value";
  auto report = check_environment(req);
  EXPECT_FALSE(find_item(report, "script")->ok);
  EXPECT_TRUE(find_item(report, "env MLBRIDGE_SECRET_FOR_TEST")->ok);
  EXPECT_FALSE(find_item(report, "env MLBRIDGE_UNSET_FOR_TEST")->ok);
  for (const auto& item : report.items) {
    EXPECT_EQ(item.detail.find("s3cr3t-value"), std::string::npos) << item.what;
  }

  req.python = (dir_ / "no_such_python").string();
  report = check_environment(req);
  const CheckItem* python = find_item(report, "python");
  ASSERT_NE(python, nullptr);
  EXPECT_FALSE(python->ok);
  EXPECT_NE(python->detail.find("no_such_python"), std::string::npos) << python->detail;
}

// `mlbridge check` imports the script as a worker would, in the worker's environment (here
// PYTHONPATH), but not as __main__: the bridge's main() must not run.
TEST_F(EnvironmentCheckTest, ImportsTheScriptWithTheWorkersEnvironmentWithoutRunningItsMain) {
  auto req = requirements({});
  req.script = (dir_ / "bridge.py").string();
  std::ofstream(req.script) << "import msgpack  # found through the worker's environment\n"
                            << "if __name__ == '__main__':\n"
                            << "    open("
                            << (dir_ / "main_ran").string().insert(0, "r'").append("'")
                            << ", 'w').close()\n";
  EXPECT_FALSE(find_item(check_environment(req), "script import")) << "only when asked";
  req.import_script = true;
  const auto report = check_environment(req);
  ASSERT_TRUE(report.ok()) << report.problems();
  ASSERT_NE(find_item(report, "script import"), nullptr);
  EXPECT_FALSE(fs::exists(dir_ / "main_ran")) << "the bridge's main() ran";
}

TEST_F(EnvironmentCheckTest, AScriptThatFailsAtImportIsReportedWithItsTraceback) {
  auto req = requirements({});
  req.script = testing::source_path("tests/support/workers/import_error_bridge.py");
  req.import_script = true;
  const auto report = check_environment(req);
  EXPECT_FALSE(report.ok());
  const CheckItem* item = find_item(report, "script import");
  ASSERT_NE(item, nullptr);
  EXPECT_FALSE(item->ok);
  EXPECT_NE(item->detail.find("the bridge script failed at import: ModuleNotFoundError: No module "
                              "named 'definitely_not_an_installed_module' (traceback below)"),
            std::string::npos)
      << item->detail;
  EXPECT_EQ(item->detail.find("Traceback"), std::string::npos) << "the traceback is its own block";
  EXPECT_EQ(item->traceback.rfind("Traceback (most recent call last):", 0), 0u) << item->traceback;
  EXPECT_NE(item->traceback.find("import definitely_not_an_installed_module"), std::string::npos)
      << item->traceback;
  EXPECT_EQ(item->traceback.find("importlib"), std::string::npos)
      << "it starts at the script, not in the probe: " << item->traceback;
}

TEST_F(EnvironmentCheckTest, CodePathsMustBeDirectoriesAtEveryDepth) {
  auto req = requirements({});
  req.code_paths = {dir_.string(), (dir_ / "absent").string()};
  const auto report = check_environment(req);
  EXPECT_FALSE(report.ok());
  ASSERT_EQ(std::count_if(report.items.begin(), report.items.end(),
                          [](const CheckItem& i) { return i.what == "code path"; }),
            2);
  EXPECT_NE(report.problems().find("'" + (dir_ / "absent").string() +
                                   "' is not an existing directory; fix the bridge's code.paths"),
            std::string::npos)
      << report.problems();
  EXPECT_FALSE(find_item(report, "code module x")) << "modules are imported only when asked";
}

// `mlbridge check` imports the code modules as a worker does: code paths first on sys.path.
TEST_F(EnvironmentCheckTest, CodeModulesAreImportedFromTheCodePathsWithTheirTracebacks) {
  fs::create_directories(dir_ / "code/goodteam");
  std::ofstream(dir_ / "code/goodteam/__init__.py") << "import msgpack\n";
  std::ofstream(dir_ / "code/badteam.py") << "x = 1\nraise ValueError('no settings for prod')\n";
  auto req = requirements({});
  req.code_paths = {(dir_ / "code").string()};
  req.code_modules = {"goodteam", "badteam", "nowhere_team"};
  req.import_script = true;
  const auto report = check_environment(req);
  EXPECT_FALSE(report.ok());
  const CheckItem* good = find_item(report, "code module goodteam");
  ASSERT_NE(good, nullptr);
  EXPECT_TRUE(good->ok) << good->detail;
  const CheckItem* bad = find_item(report, "code module badteam");
  ASSERT_NE(bad, nullptr);
  EXPECT_FALSE(bad->ok);
  EXPECT_NE(bad->detail.find("failed at import: ValueError: no settings for prod (traceback "
                             "below)"),
            std::string::npos)
      << bad->detail;
  EXPECT_NE(bad->traceback.find("badteam.py\", line 2"), std::string::npos) << bad->traceback;
  const CheckItem* missing = find_item(report, "code module nowhere_team");
  ASSERT_NE(missing, nullptr);
  EXPECT_FALSE(missing->ok);
  EXPECT_NE(missing->detail.find("ModuleNotFoundError"), std::string::npos) << missing->detail;
}

TEST_F(EnvironmentCheckTest, AScriptWithASyntaxErrorIsReportedWithTheLine) {
  auto req = requirements({});
  req.script = (dir_ / "typo.py").string();
  std::ofstream(req.script) << "x = 1\ndef (:\n";
  req.import_script = true;
  const auto report = check_environment(req);
  const CheckItem* item = find_item(report, "script import");
  ASSERT_NE(item, nullptr);
  EXPECT_FALSE(item->ok);
  EXPECT_NE(item->detail.find("failed at import: SyntaxError"), std::string::npos) << item->detail;
  EXPECT_NE(item->traceback.find("typo.py\", line 2"), std::string::npos) << item->traceback;
}

TEST_F(EnvironmentCheckTest, AScriptThatHangsAtImportIsKilledAfterTheTimeout) {
  auto req = requirements({});
  req.script = (dir_ / "hangs.py").string();
  std::ofstream(req.script) << "import time\ntime.sleep(3600)\n";
  req.import_script = true;
  req.timeout = std::chrono::milliseconds(3000);
  const auto report = check_environment(req);
  const CheckItem* item = find_item(report, "script import");
  ASSERT_NE(item, nullptr);
  EXPECT_FALSE(item->ok);
  EXPECT_NE(item->detail.find("did not finish within timeouts.startup_ms (3000 ms): the script "
                              "hangs at import"),
            std::string::npos)
      << item->detail;
}

}  // namespace
}  // namespace mlbridge::config
