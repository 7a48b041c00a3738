// PluginLoader against real shared libraries built by ../CMakeLists.txt into TEST_PLUGIN_DIR.

#include "mlbridge/plugin/plugin_loader.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mlbridge/sdk/plugin_abi.h"

namespace mlbridge::plugin {
namespace {

namespace fs = std::filesystem;

const std::string kDir = TEST_PLUGIN_DIR;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A fresh directory under the temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("mlbridge_plugin_test_" + std::to_string(::getpid()) + "_" + std::to_string(next_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  static inline int next_ = 0;
  fs::path path_;
};

TEST(PluginLoader, LoadsAPluginWithItsInfoDefaultsAndRules) {
  PluginLoader loader({kDir});
  auto adapter = loader.load("test_good");
  ASSERT_TRUE(adapter.ok()) << adapter.error().message;
  const AdapterInfo& info = (*adapter)->info();
  EXPECT_EQ(info.name, "test_good");
  EXPECT_EQ(info.version, "1.2.3");
  EXPECT_EQ(info.framework, "testing");
  EXPECT_EQ(info.description, "A plugin for the loader's tests");
  EXPECT_EQ(info.abi_major, 1);
  EXPECT_EQ(info.abi_minor, MLBRIDGE_PLUGIN_ABI_MINOR);
  EXPECT_EQ(info.path, fs::canonical(kDir + "/libmlbridge_test_good.so").string());

  auto defaults = (*adapter)->defaults();
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(
      *defaults,
      (json{{"script", "bridge.py"}, {"pool", {{"size", 1}}}, {"required_packages", {"pytest"}}}));

  const auto rules = (*adapter)->error_rules();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].type, "EchoLimitError");
  EXPECT_EQ(rules[0].category, ErrorCategory::kRateLimit);
  EXPECT_FALSE(rules[0].retryable.has_value());
  EXPECT_EQ(rules[1].type, "");
  EXPECT_EQ(rules[1].message_pattern, "invalid api key");
  EXPECT_EQ(rules[1].category, ErrorCategory::kAuthentication);
  EXPECT_EQ(rules[1].retryable, false);
}

TEST(PluginLoader, ValidatesThroughThePlugin) {
  PluginLoader loader({kDir});
  auto adapter = loader.load("test_good");
  ASSERT_TRUE(adapter.ok());
  EXPECT_TRUE((*adapter)->validate(json{{"options", {{"level", 3}}}}).ok());
  auto bad = (*adapter)->validate(json{{"options", {{"level", "high"}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_EQ(bad.error().message,
            "options.level must be an integer (checked by plugin 'test_good')");
}

TEST(PluginLoader, MapsResourcesByConventionAndExplicitly) {
  PluginLoader loader({kDir});
  auto adapter = loader.load("test_good");
  ASSERT_TRUE(adapter.ok());
  EXPECT_EQ(*(*adapter)->resource_command("create", "program"), "create_program");
  EXPECT_EQ(*(*adapter)->resource_command("delete", "program"), "delete_program");
  EXPECT_EQ(*(*adapter)->resource_command("create", "note"), "put");
  EXPECT_EQ(*(*adapter)->resource_command("get", "note"), "get");
  auto missing = (*adapter)->resource_command("delete", "note");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().category, ErrorCategory::kNotFound);
  EXPECT_EQ(missing.error().message,
            "plugin 'test_good' maps no command for verb 'delete' on resource kind 'note'");
}

TEST(PluginLoader, ShapesArguments) {
  PluginLoader loader({kDir});
  auto adapter = loader.load("test_good");
  ASSERT_TRUE(adapter.ok());
  EXPECT_EQ(*(*adapter)->shape_args("generate", json{{"prompt", "hi"}}),
            (json{{"prompt", "hi"}, {"max_tokens", 16}}));
  // Untouched arguments come back as they were, bytes included.
  const json with_bytes = {{"data", json::binary({0, 255})}};
  EXPECT_EQ(*(*adapter)->shape_args("echo", with_bytes), with_bytes);
  const json with_bytes_shaped = {{"data", json::binary({7})}};
  auto shaped = (*adapter)->shape_args("generate", with_bytes_shaped);
  ASSERT_TRUE(shaped.ok());
  EXPECT_EQ((*shaped)["data"], json::binary({7}));
  EXPECT_EQ((*shaped)["max_tokens"], 16);

  auto refused = (*adapter)->shape_args("generate", json{{"max_tokens", -1}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_EQ(refused.error().message,
            "plugin 'test_good' refused the arguments of 'generate': max_tokens must not be "
            "negative");
  // nlohmann's type errors in shape_args are the caller's wrong argument types.
  auto wrong_type = (*adapter)->shape_args("generate", json{{"max_tokens", "many"}});
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.error().category, ErrorCategory::kInvalidArgument);
}

// Collects the lines a loader's LogCallback receives.
class LogLines {
 public:
  LogCallback callback() {
    return [this](LogLevel level, std::string_view plugin, std::string_view text) {
      std::lock_guard lock(mutex_);
      lines_.push_back(std::to_string(static_cast<int>(level)) + " " + std::string(plugin) + " " +
                       std::string(text));
    };
  }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// Makes the plugin log `text` at `level` (the test plugin's "log" command of shape_args).
void plugin_logs(const AdapterPtr& adapter, int level, const std::string& text) {
  ASSERT_TRUE(adapter->shape_args("log", json{{"level", level}, {"text", text}}).ok());
}

TEST(PluginLoader, HandsThePluginTheLoadersLogger) {
  std::mutex mutex;
  std::vector<std::string> lines;
  PluginLoader loader({kDir}, [&](LogLevel level, std::string_view plugin, std::string_view text) {
    std::lock_guard lock(mutex);
    lines.push_back(std::to_string(static_cast<int>(level)) + " " + std::string(plugin) + " " +
                    std::string(text));
  });
  auto adapter = loader.load("test_good");
  ASSERT_TRUE(adapter.ok());
  ASSERT_TRUE((*adapter)->validate(json::object()).ok());
  std::lock_guard lock(mutex);
  EXPECT_NE(std::find(lines.begin(), lines.end(), "1 test_good validating"), lines.end());
}

TEST(PluginLoader, PluginLogLevelsReachTheCallbackUnchanged) {
  LogLines log;
  PluginLoader loader({kDir}, log.callback());
  auto adapter = loader.load("test_good");
  ASSERT_TRUE(adapter.ok());
  plugin_logs(*adapter, MLBRIDGE_LOG_TRACE, "t");
  plugin_logs(*adapter, MLBRIDGE_LOG_DEBUG, "d");
  plugin_logs(*adapter, MLBRIDGE_LOG_INFO, "i");
  plugin_logs(*adapter, MLBRIDGE_LOG_WARN, "w");
  plugin_logs(*adapter, MLBRIDGE_LOG_ERROR, "e");
  EXPECT_EQ(log.lines(), (std::vector<std::string>{
                             std::to_string(static_cast<int>(LogLevel::kTrace)) + " test_good t",
                             std::to_string(static_cast<int>(LogLevel::kDebug)) + " test_good d",
                             std::to_string(static_cast<int>(LogLevel::kInfo)) + " test_good i",
                             std::to_string(static_cast<int>(LogLevel::kWarn)) + " test_good w",
                             std::to_string(static_cast<int>(LogLevel::kError)) + " test_good e"}));
}

TEST(PluginLoader, TheLatestLoaderReceivesTheLinesThenSpdlogWhenItIsGone) {
  auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  const auto previous = spdlog::default_logger();
  auto capture = std::make_shared<spdlog::logger>("capture", ring);
  capture->set_level(spdlog::level::trace);
  spdlog::set_default_logger(capture);

  LogLines first_lines;
  LogLines second_lines;
  auto first =
      std::make_unique<PluginLoader>(std::vector<std::string>{kDir}, first_lines.callback());
  AdapterPtr adapter = *first->load("test_good");
  plugin_logs(adapter, MLBRIDGE_LOG_INFO, "to the first");
  {
    PluginLoader second({kDir}, second_lines.callback());
    ASSERT_EQ(second.load("test_good")->get(), adapter.get());
    plugin_logs(adapter, MLBRIDGE_LOG_INFO, "to the second");
  }
  first.reset();
  // Both loaders are gone; the adapter outlives them and its lines go to spdlog.
  plugin_logs(adapter, MLBRIDGE_LOG_WARN, "to spdlog");

  spdlog::set_default_logger(previous);
  EXPECT_EQ(first_lines.lines(), std::vector<std::string>{"2 test_good to the first"});
  EXPECT_EQ(second_lines.lines(), std::vector<std::string>{"2 test_good to the second"});
  const auto formatted = ring->last_formatted();
  ASSERT_EQ(formatted.size(), 1u);
  EXPECT_TRUE(contains(formatted[0], "plugin 'test_good': to spdlog")) << formatted[0];
  EXPECT_TRUE(contains(formatted[0], "warn")) << formatted[0];
}

TEST(PluginLoader, ConcurrentLoadsYieldOneAdapter) {
  PluginLoader shared({kDir});
  constexpr int kThreads = 8;
  std::vector<const Adapter*> seen(2 * kThreads, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto from_shared = shared.load("test_good");
      PluginLoader own({kDir});
      auto from_own = own.load("test_good");
      if (from_shared) seen[2 * i] = from_shared->get();
      if (from_own) seen[2 * i + 1] = from_own->get();
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_NE(seen[0], nullptr);
  for (const Adapter* adapter : seen) EXPECT_EQ(adapter, seen[0]);
}

TEST(PluginLoader, ASecondLoadReturnsTheSameAdapter) {
  PluginLoader loader({kDir});
  auto first = loader.load("test_good");
  auto second = loader.load("test_good");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->get(), second->get());
  // Libraries are process-wide: another loader, or a load by path, gets the same plugin.
  PluginLoader other({kDir});
  EXPECT_EQ(other.load("test_good")->get(), first->get());
  EXPECT_EQ(other.load_path(kDir + "/libmlbridge_test_good.so")->get(), first->get());
}

TEST(PluginLoader, AMissingPluginNamesTheDirectoriesSearched) {
  TempDir empty;
  PluginLoader loader({empty.path().string(), kDir});
  auto adapter = loader.load("nope");
  ASSERT_FALSE(adapter.ok());
  EXPECT_EQ(adapter.error().category, ErrorCategory::kInvalidConfiguration);
  const auto& message = adapter.error().message;
  EXPECT_TRUE(contains(message, "plugin 'nope' not found")) << message;
  EXPECT_TRUE(contains(message, "libmlbridge_nope.so")) << message;
  EXPECT_TRUE(contains(message, empty.path().string())) << message;
  EXPECT_TRUE(contains(message, kDir)) << message;

  PluginLoader none({});
  auto nowhere = none.load("nope");
  ASSERT_FALSE(nowhere.ok());
  EXPECT_TRUE(contains(nowhere.error().message, "no plugin directories")) << message;
}

TEST(PluginLoader, FindsTheFirstMatchInDirectoryOrder) {
  TempDir first;
  fs::create_symlink(kDir + "/libmlbridge_test_good.so", first.path() / "libmlbridge_test_good.so");
  PluginLoader loader({first.path().string(), kDir});
  auto adapter = loader.load("test_good");
  ASSERT_TRUE(adapter.ok()) << adapter.error().message;  // the link stays inside the dirs
}

TEST(PluginLoader, RefusesAFileThatResolvesOutsideThePluginDirectories) {
  TempDir dir;
  fs::create_symlink(kDir + "/libmlbridge_test_good.so", dir.path() / "libmlbridge_test_good.so");
  PluginLoader loader({dir.path().string()});
  auto adapter = loader.load("test_good");
  ASSERT_FALSE(adapter.ok());
  EXPECT_EQ(adapter.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(contains(adapter.error().message, "outside the plugin directories"))
      << adapter.error().message;
}

TEST(PluginLoader, RefusesANameThatIsAPath) {
  PluginLoader loader({kDir});
  for (const std::string name : {"../evil", "../test_plugins/test_good", "sub/test_good",
                                 "/abs/test_good", "..", "", "a.b", "test_good.so"}) {
    auto adapter = loader.load(name);
    ASSERT_FALSE(adapter.ok()) << name;
    EXPECT_EQ(adapter.error().category, ErrorCategory::kInvalidConfiguration);
    EXPECT_TRUE(contains(adapter.error().message, "invalid plugin name '" + name + "'")) << name;
    EXPECT_TRUE(contains(adapter.error().message, "never by a path")) << name;
  }
}

TEST(PluginLoader, RejectsAFileThatIsNotASharedLibrary) {
  PluginLoader loader({kDir});
  auto adapter = loader.load("notalib");
  ASSERT_FALSE(adapter.ok());
  EXPECT_EQ(adapter.error().category, ErrorCategory::kInvalidConfiguration);
  const auto& message = adapter.error().message;
  EXPECT_TRUE(contains(message, "plugin library '" +
                                    fs::canonical(kDir + "/libmlbridge_notalib.so").string() +
                                    "' is not a shared library"))
      << message;
  EXPECT_TRUE(contains(message, "mlbridge_add_plugin()")) << message;  // what to do
}

TEST(PluginLoader, AnEmptyFileIsNotASharedLibraryEither) {
  TempDir dir;
  { std::ofstream(dir.path() / "libmlbridge_empty.so"); }
  PluginLoader loader({dir.path().string()});
  auto adapter = loader.load("empty");
  ASSERT_FALSE(adapter.ok());
  EXPECT_TRUE(contains(adapter.error().message, "is not a shared library"))
      << adapter.error().message;
}

TEST(PluginLoader, RejectsALibraryWithoutTheEntryPoint) {
  PluginLoader loader({kDir});
  auto adapter = loader.load("test_noentry");
  ASSERT_FALSE(adapter.ok());
  EXPECT_TRUE(
      contains(adapter.error().message, "is not an mlbridge plugin: no mlbridge_plugin_entry"))
      << adapter.error().message;
}

TEST(PluginLoader, RejectsANewerAbiMajorBeforeCallingIt) {
  PluginLoader loader({kDir});
  auto adapter = loader.load("test_newer_abi");  // its set_logger aborts if called
  ASSERT_FALSE(adapter.ok());
  EXPECT_EQ(adapter.error().category, ErrorCategory::kInvalidConfiguration);
  const auto& message = adapter.error().message;
  EXPECT_TRUE(contains(message, "ABI 99.0")) << message;
  EXPECT_TRUE(contains(message, "ABI 1." + std::to_string(MLBRIDGE_PLUGIN_ABI_MINOR))) << message;
  EXPECT_TRUE(contains(message, "rebuild the plugin against this host's SDK")) << message;
}

TEST(PluginLoader, AThrowingHookComesBackAsAnErrorWithThePluginsMessage) {
  PluginLoader loader({kDir});
  auto adapter = loader.load("test_throwing");
  ASSERT_TRUE(adapter.ok()) << adapter.error().message;

  auto valid = (*adapter)->validate(json::object());
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_EQ(valid.error().message, "plugin 'test_throwing' failed in validate: validate exploded");

  auto command = (*adapter)->resource_command("get", "program");
  ASSERT_FALSE(command.ok());
  EXPECT_EQ(command.error().category, ErrorCategory::kInternal);
  EXPECT_EQ(command.error().message,
            "plugin 'test_throwing' failed in resource_command: resource exploded");

  auto shaped = (*adapter)->shape_args("boom", json::object());
  ASSERT_FALSE(shaped.ok());
  EXPECT_EQ(shaped.error().category, ErrorCategory::kInternal);
  EXPECT_EQ(shaped.error().message,
            "plugin 'test_throwing' failed in shape_args for 'boom': shape exploded");

  auto weird = (*adapter)->shape_args("weird", json::object());  // throws an int
  ASSERT_FALSE(weird.ok());
  EXPECT_TRUE(contains(weird.error().message, "unknown exception thrown by shape_args()"))
      << weird.error().message;
}

TEST(PluginLoader, AHookThatThrowsWhileLoadingFailsTheLoad) {
  PluginLoader loader({kDir});
  auto adapter = loader.load("test_throwing_load");
  ASSERT_FALSE(adapter.ok());
  EXPECT_EQ(adapter.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_EQ(adapter.error().message,
            "plugin 'test_throwing_load' failed in defaults: defaults exploded");
}

TEST(PluginLoader, MalformedErrorRulesFailTheLoadNamingTheRule) {
  PluginLoader loader({kDir});
  auto adapter = loader.load("test_bad_rules");
  ASSERT_FALSE(adapter.ok());
  EXPECT_EQ(adapter.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(contains(adapter.error().message,
                       "plugin 'test_bad_rules': error rule 2 has unknown category 'slow_down'"))
      << adapter.error().message;
}

TEST(PluginLoader, RejectsAPluginWhoseNameIsNotItsFileName) {
  PluginLoader loader({kDir});
  auto adapter = loader.load("test_misnamed");
  ASSERT_FALSE(adapter.ok());
  EXPECT_EQ(adapter.error().category, ErrorCategory::kInvalidConfiguration);
  const auto& message = adapter.error().message;
  EXPECT_TRUE(contains(message,
                       "libmlbridge_test_misnamed.so' reports the name "
                       "'not_my_file_name'"))
      << message;
  EXPECT_TRUE(contains(message, "must match its file name")) << message;
}

TEST(PluginLoader, TheBridgeScriptCopiedBesideAPluginIsItsDefaultScript) {
  // Built with mlbridge_add_plugin(... BRIDGE_SCRIPT echo_bridge.py); its defaults() name no
  // script, so the SDK answers with the copy beside the library (found with dladdr).
  PluginLoader loader({kDir});
  auto adapter = loader.load("test_scripted");
  ASSERT_TRUE(adapter.ok()) << adapter.error().message;
  auto defaults = (*adapter)->defaults();
  ASSERT_TRUE(defaults.ok()) << defaults.error().message;
  const std::string script = fs::canonical(kDir).string() + "/echo_bridge.py";
  EXPECT_EQ(defaults->value("script", ""), script) << defaults->dump();
  EXPECT_TRUE(fs::is_regular_file(script)) << script;
  EXPECT_EQ(defaults->value("pool", json::object()), (json{{"size", 1}}));
}

TEST(PluginLoader, LoadPathReportsAMissingFile) {
  PluginLoader loader({});
  auto adapter = loader.load_path(kDir + "/libmlbridge_absent.so");
  ASSERT_FALSE(adapter.ok());
  EXPECT_EQ(adapter.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(contains(adapter.error().message, "libmlbridge_absent.so' cannot be opened"));
}

TEST(PluginLoader, DiscoverListsGoodAndBadPlugins) {
  TempDir empty;
  PluginLoader loader({empty.path().string(), kDir, "/nonexistent/mlbridge/plugins"});
  const auto found = loader.discover();
  std::vector<std::string> good;
  std::vector<std::string> errors;
  for (const auto& entry : found) {
    if (entry) {
      good.push_back(entry->name);
    } else {
      EXPECT_EQ(entry.error().category, ErrorCategory::kInvalidConfiguration);
      errors.push_back(entry.error().message);
    }
  }
  EXPECT_EQ(good, (std::vector<std::string>{"test_good", "test_scripted", "test_throwing"}));
  // By file name: notalib, bad_rules, misnamed, newer_abi, noentry, throwing_load.
  ASSERT_EQ(errors.size(), 6u);
  EXPECT_TRUE(contains(errors[0], "libmlbridge_notalib.so' is not a shared library")) << errors[0];
  EXPECT_TRUE(contains(errors[1], "unknown category 'slow_down'")) << errors[1];
  EXPECT_TRUE(contains(errors[2], "not_my_file_name")) << errors[2];
  EXPECT_TRUE(contains(errors[3], "ABI 99.0")) << errors[3];
  EXPECT_TRUE(contains(errors[4], "no mlbridge_plugin_entry")) << errors[4];
  EXPECT_TRUE(contains(errors[5], "defaults exploded")) << errors[5];
}

TEST(PluginLoader, DiscoverLeavesOutANameShadowedByAnEarlierDirectory) {
  TempDir first;
  fs::copy_file(kDir + "/libmlbridge_notalib.so", first.path() / "libmlbridge_test_good.so");
  fs::copy_file(kDir + "/libmlbridge_notalib.so", first.path() / "not_a_plugin_name.so");
  PluginLoader loader({first.path().string(), kDir});
  std::vector<std::string> shadowed;
  for (const auto& entry : loader.discover()) {
    if (!entry && contains(entry.error().message, "libmlbridge_test_good.so")) {
      shadowed.push_back(entry.error().message);
    }
    if (entry) {
      EXPECT_NE(entry->name, "test_good");  // the copy in `first` wins, and fails
    }
  }
  ASSERT_EQ(shadowed.size(), 1u);
  EXPECT_TRUE(contains(shadowed[0], first.path().string())) << shadowed[0];
}

TEST(PluginLoader, LibraryFileName) {
  EXPECT_EQ(PluginLoader::library_file_name("dspy"), "libmlbridge_dspy.so");
}

}  // namespace
}  // namespace mlbridge::plugin
