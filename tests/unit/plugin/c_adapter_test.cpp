// The host side of the C ABI, driven with tables built in this process (no shared library):
// the ABI checks, growth of the table, ownership of strings and malformed plugin answers.

#include "plugin/c_adapter.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "mlbridge/sdk/plugin_abi.h"

namespace mlbridge::plugin {
namespace {

char* copy(const char* text) {
  char* out = static_cast<char*>(std::malloc(std::strlen(text) + 1));
  std::strcpy(out, text);
  return out;
}

int freed = 0;
void counting_free(char* str) {
  if (str != nullptr) ++freed;
  std::free(str);
}

int defaults_ok(char** json_out, char**) {
  *json_out = copy(R"({"script": "x.py"})");
  return MLBRIDGE_STATUS_OK;
}
int defaults_not_object(char** json_out, char**) {
  *json_out = copy("[1, 2]");
  return MLBRIDGE_STATUS_OK;
}
int rules_ok(char** json_out, char**) {
  *json_out =
      copy(R"([{"type": "X", "category": "timeout", "match": "slow.*", "retryable": false}])");
  return MLBRIDGE_STATUS_OK;
}
int validate_invalid(const char* config, char** error_out) {
  *error_out = copy(std::strstr(config, "\"bad\"") != nullptr ? "bad is not allowed" : "?");
  return MLBRIDGE_STATUS_INVALID;
}
int validate_strange_status(const char*, char** error_out) {
  *error_out = copy("odd");
  return 77;
}
int resource_empty(const char*, const char*, char** command_out, char**) {
  *command_out = copy("");
  return MLBRIDGE_STATUS_OK;
}
int shape_bytes(const char*, const char* args, char** json_out, char**) {
  // The host sends bytes as {"__bytes__": base64}; hand them back plus a new key.
  const std::string in(args);
  *json_out = copy(("{\"in\": " + in + ", \"extra\": {\"__bytes__\": \"AAE=\"}}").c_str());
  return MLBRIDGE_STATUS_OK;
}
int shape_garbage(const char*, const char*, char** json_out, char**) {
  *json_out = copy("{not json");
  return MLBRIDGE_STATUS_OK;
}
int shape_refuse_silently(const char*, const char*, char**, char**) {
  return MLBRIDGE_STATUS_INVALID;
}
int validate_invalid_silently(const char*, char**) { return MLBRIDGE_STATUS_INVALID; }
int defaults_fail(char** json_out, char** error_out) {
  *json_out = copy("{}");  // a failing hook may still have set an out string: it is released too
  *error_out = copy("no config directory");
  return MLBRIDGE_STATUS_ERROR;
}
int rules_fail_without_message(char**, char**) { return MLBRIDGE_STATUS_ERROR; }
int rules_not_json(char** json_out, char**) {
  *json_out = copy("[{");
  return MLBRIDGE_STATUS_OK;
}
int resource_note(const char* verb, const char* kind, char** command_out, char**) {
  if (std::strcmp(kind, "note") != 0) return MLBRIDGE_STATUS_NOT_FOUND;
  *command_out = copy((std::string(verb) + "_note").c_str());
  return MLBRIDGE_STATUS_OK;
}

mlbridge_plugin_v1 base_table() {
  mlbridge_plugin_v1 table;
  std::memset(&table, 0, sizeof table);
  table.abi_major = MLBRIDGE_PLUGIN_ABI_MAJOR;
  table.abi_minor = MLBRIDGE_PLUGIN_ABI_MINOR;
  table.struct_size = sizeof(mlbridge_plugin_v1);
  table.name = "inproc";
  table.version = "0.0.1";
  table.framework = "none";
  table.free_string = &counting_free;
  return table;
}

std::shared_ptr<const CAdapter> make(const mlbridge_plugin_v1& raw) {
  auto table = copy_plugin_table(&raw, "/virtual/libmlbridge_inproc.so");
  EXPECT_TRUE(table.ok());
  if (!table) return nullptr;
  auto adapter = CAdapter::create(*table, "/virtual/libmlbridge_inproc.so");
  EXPECT_TRUE(adapter.ok()) << adapter.error().message;
  return adapter ? *adapter : nullptr;
}

TEST(CopyPluginTable, RejectsNullTable) {
  auto table = copy_plugin_table(nullptr, "/p/libmlbridge_x.so");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_NE(table.error().message.find("returned no table"), std::string::npos);
}

TEST(CopyPluginTable, RejectsANewerMajorNamingBothVersions) {
  auto raw = base_table();
  raw.abi_major = MLBRIDGE_PLUGIN_ABI_MAJOR + 1;
  raw.abi_minor = 3;
  auto table = copy_plugin_table(&raw, "/p/libmlbridge_x.so");
  ASSERT_FALSE(table.ok());
  const auto& message = table.error().message;
  EXPECT_NE(message.find(std::to_string(MLBRIDGE_PLUGIN_ABI_MAJOR + 1) + ".3"), std::string::npos)
      << message;
  EXPECT_NE(message.find("1." + std::to_string(MLBRIDGE_PLUGIN_ABI_MINOR)), std::string::npos)
      << message;
  EXPECT_NE(message.find("rebuild the plugin"), std::string::npos) << message;
  // A C plugin has no plugin.hpp: the message names the C header it builds against.
  EXPECT_NE(message.find("mlbridge/sdk/plugin_abi.h"), std::string::npos) << message;
  EXPECT_NE(message.find("mlbridge/sdk/plugin.hpp"), std::string::npos) << message;
}

TEST(CopyPluginTable, RejectsAnOlderMajor) {
  auto raw = base_table();
  raw.abi_major = 0;
  auto table = copy_plugin_table(&raw, "/p/libmlbridge_x.so");
  ASSERT_FALSE(table.ok());
  const auto& message = table.error().message;
  EXPECT_NE(message.find("no longer supports"), std::string::npos) << message;
  EXPECT_NE(message.find("mlbridge/sdk/plugin_abi.h"), std::string::npos) << message;
}

TEST(CopyPluginTable, RejectsATableTooSmallForItsIdentity) {
  auto raw = base_table();
  raw.struct_size = 12;
  auto table = copy_plugin_table(&raw, "/p/libmlbridge_x.so");
  ASSERT_FALSE(table.ok());
  const auto& message = table.error().message;
  EXPECT_NE(message.find("too small"), std::string::npos) << message;
  EXPECT_NE(message.find("mlbridge/sdk/plugin_abi.h"), std::string::npos) << message;
}

TEST(CopyPluginTable, AnOlderMinorsMissingHooksReadAsNull) {
  // A table whose plugin only knew the fields up to get_defaults: whatever lies beyond its
  // struct_size in memory must not be read.
  auto raw = base_table();
  raw.get_defaults = &defaults_ok;
  raw.validate = &validate_invalid;
  raw.shape_args = &shape_garbage;
  raw.struct_size = offsetof(mlbridge_plugin_v1, validate);
  auto table = copy_plugin_table(&raw, "/p/libmlbridge_x.so");
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->get_defaults, &defaults_ok);
  EXPECT_EQ(table->validate, nullptr);
  EXPECT_EQ(table->shape_args, nullptr);
  EXPECT_EQ(table->free_string, nullptr);
}

TEST(CopyPluginTable, ANewerMinorWithALargerTableIsAccepted) {
  struct Larger {
    mlbridge_plugin_v1 v1;
    void* future_hook;
  } larger{base_table(), nullptr};
  larger.v1.abi_minor = MLBRIDGE_PLUGIN_ABI_MINOR + 5;
  larger.v1.struct_size = sizeof(Larger);
  auto table = copy_plugin_table(&larger.v1, "/p/libmlbridge_x.so");
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->struct_size, sizeof(Larger));
  EXPECT_STREQ(table->name, "inproc");
}

TEST(CopyPluginTable, AnAdapterFromAnOlderMinorUsesTheDefaultsForMissingHooks) {
  // The plugin's table ends after get_defaults; the hooks beyond it, whatever the memory holds,
  // must behave as NULL hooks: every config valid, arguments unchanged, no resource mapping.
  auto raw = base_table();
  raw.get_defaults = &defaults_ok;
  raw.validate = &validate_invalid;
  raw.get_error_rules = &rules_not_json;
  raw.resource_command = &resource_empty;
  raw.shape_args = &shape_garbage;
  raw.struct_size = offsetof(mlbridge_plugin_v1, validate);
  auto table = copy_plugin_table(&raw, "/p/libmlbridge_inproc.so");
  ASSERT_TRUE(table.ok());
  table->free_string = &counting_free;  // as a real plugin of that minor would still need
  auto adapter = CAdapter::create(*table, "/p/libmlbridge_inproc.so");
  ASSERT_TRUE(adapter.ok()) << adapter.error().message;
  EXPECT_EQ(*(*adapter)->defaults(), (json{{"script", "x.py"}}));
  EXPECT_TRUE((*adapter)->validate(json{{"options", {{"bad", true}}}}).ok());
  EXPECT_TRUE((*adapter)->error_rules().empty());
  EXPECT_EQ((*adapter)->resource_command("get", "note").error().category, ErrorCategory::kNotFound);
  EXPECT_EQ(*(*adapter)->shape_args("cmd", json{{"k", 1}}), (json{{"k", 1}}));
}

TEST(CAdapter, NullHooksMeanDefaults) {
  auto raw = base_table();
  raw.free_string = nullptr;  // no hook returns strings, so none is needed
  auto adapter = make(raw);
  ASSERT_TRUE(adapter);
  EXPECT_EQ(adapter->info().name, "inproc");
  EXPECT_EQ(adapter->info().description, "");
  EXPECT_EQ(*adapter->defaults(), json::object());
  EXPECT_TRUE(adapter->validate(json{{"a", 1}}).ok());
  EXPECT_TRUE(adapter->error_rules().empty());
  auto command = adapter->resource_command("create", "program");
  ASSERT_FALSE(command.ok());
  EXPECT_EQ(command.error().category, ErrorCategory::kNotFound);
  EXPECT_EQ(*adapter->shape_args("x", json{{"k", 1}}), (json{{"k", 1}}));
}

TEST(CAdapter, ReadsDefaultsAndRulesOnceAndReleasesEveryString) {
  auto raw = base_table();
  raw.get_defaults = &defaults_ok;
  raw.get_error_rules = &rules_ok;
  freed = 0;
  auto adapter = make(raw);
  ASSERT_TRUE(adapter);
  EXPECT_EQ(freed, 2);
  EXPECT_EQ(*adapter->defaults(), (json{{"script", "x.py"}}));
  const auto rules = adapter->error_rules();
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].type, "X");
  EXPECT_EQ(rules[0].message_pattern, "slow.*");
  EXPECT_EQ(rules[0].category, ErrorCategory::kTimeout);
  EXPECT_EQ(rules[0].retryable, false);
}

TEST(CAdapter, RequiresFreeStringWhenHooksReturnStrings) {
  auto raw = base_table();
  raw.get_defaults = &defaults_ok;
  raw.free_string = nullptr;
  auto table = copy_plugin_table(&raw, "p");
  ASSERT_TRUE(table.ok());
  auto adapter = CAdapter::create(*table, "p");
  ASSERT_FALSE(adapter.ok());
  EXPECT_NE(adapter.error().message.find("free_string"), std::string::npos);
}

TEST(CAdapter, RejectsAnEmptyOrPathLikeName) {
  for (const char* name : {"", "a/b", "../x"}) {
    auto raw = base_table();
    raw.name = name;
    auto adapter = CAdapter::create(raw, "p");
    ASSERT_FALSE(adapter.ok()) << name;
    EXPECT_EQ(adapter.error().category, ErrorCategory::kInvalidConfiguration);
  }
}

TEST(CAdapter, DefaultsThatAreNotAnObjectFailTheLoad) {
  auto raw = base_table();
  raw.get_defaults = &defaults_not_object;
  auto adapter = CAdapter::create(raw, "p");
  ASSERT_FALSE(adapter.ok());
  EXPECT_NE(adapter.error().message.find("not a JSON object"), std::string::npos);
}

TEST(CAdapter, AFailingHookFailsTheLoadAndEveryStringIsReleased) {
  auto raw = base_table();
  raw.get_defaults = &defaults_fail;
  freed = 0;
  auto adapter = CAdapter::create(raw, "p");
  ASSERT_FALSE(adapter.ok());
  EXPECT_EQ(adapter.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_EQ(adapter.error().message, "plugin 'inproc' failed in defaults: no config directory");
  EXPECT_EQ(freed, 2);
}

TEST(CAdapter, AFailureWithoutAMessageSaysSo) {
  auto raw = base_table();
  raw.get_error_rules = &rules_fail_without_message;
  auto adapter = CAdapter::create(raw, "p");
  ASSERT_FALSE(adapter.ok());
  EXPECT_EQ(adapter.error().message, "plugin 'inproc' failed in error_rules: (it gave no message)");
}

TEST(CAdapter, RulesThatAreNotJsonFailTheLoad) {
  auto raw = base_table();
  raw.get_error_rules = &rules_not_json;
  auto adapter = CAdapter::create(raw, "p");
  ASSERT_FALSE(adapter.ok());
  EXPECT_NE(adapter.error().message.find("error rules are not valid JSON: [{"), std::string::npos)
      << adapter.error().message;
}

TEST(CAdapter, MapsResourcesThroughTheHook) {
  auto raw = base_table();
  raw.resource_command = &resource_note;
  auto adapter = make(raw);
  ASSERT_TRUE(adapter);
  auto command = adapter->resource_command("create", "note");
  ASSERT_TRUE(command.ok());
  EXPECT_EQ(*command, "create_note");
  auto missing = adapter->resource_command("create", "program");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().category, ErrorCategory::kNotFound);
  EXPECT_EQ(missing.error().message,
            "plugin 'inproc' maps no command for verb 'create' on resource kind 'program'");
}

TEST(CAdapter, InvalidWithoutAMessageStillSaysWhat) {
  auto raw = base_table();
  raw.validate = &validate_invalid_silently;
  raw.shape_args = &shape_refuse_silently;
  auto adapter = make(raw);
  ASSERT_TRUE(adapter);
  auto status = adapter->validate(json::object());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message,
            "the bridge's configuration is invalid (the plugin gave no reason) (checked by plugin "
            "'inproc')");
  auto shaped = adapter->shape_args("cmd", json::object());
  ASSERT_FALSE(shaped.ok());
  EXPECT_EQ(shaped.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_EQ(shaped.error().message,
            "plugin 'inproc' refused the arguments of 'cmd': (it gave no reason)");
}

TEST(CAdapter, ValidateReportsThePluginsMessage) {
  auto raw = base_table();
  raw.validate = &validate_invalid;
  auto adapter = make(raw);
  ASSERT_TRUE(adapter);
  auto status = adapter->validate(json{{"options", {{"bad", true}}}});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_EQ(status.error().message, "bad is not allowed (checked by plugin 'inproc')");
}

TEST(CAdapter, AnUnknownStatusIsAFailure) {
  auto raw = base_table();
  raw.validate = &validate_strange_status;
  auto adapter = make(raw);
  ASSERT_TRUE(adapter);
  auto status = adapter->validate(json::object());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message, "plugin 'inproc' failed in validate: odd");
}

TEST(CAdapter, AnEmptyCommandIsAnInternalError) {
  auto raw = base_table();
  raw.resource_command = &resource_empty;
  auto adapter = make(raw);
  ASSERT_TRUE(adapter);
  auto command = adapter->resource_command("get", "thing");
  ASSERT_FALSE(command.ok());
  EXPECT_EQ(command.error().category, ErrorCategory::kInternal);
}

TEST(CAdapter, BytesSurviveShapeArgs) {
  auto raw = base_table();
  raw.shape_args = &shape_bytes;
  auto adapter = make(raw);
  ASSERT_TRUE(adapter);
  const json args = {{"blob", json::binary({1, 2, 3})}};
  auto shaped = adapter->shape_args("cmd", args);
  ASSERT_TRUE(shaped.ok()) << shaped.error().message;
  EXPECT_EQ((*shaped)["in"], args);
  EXPECT_EQ((*shaped)["extra"], json::binary({0, 1}));
}

TEST(CAdapter, MalformedJsonFromShapeArgsIsAnInternalError) {
  auto raw = base_table();
  raw.shape_args = &shape_garbage;
  auto adapter = make(raw);
  ASSERT_TRUE(adapter);
  auto shaped = adapter->shape_args("cmd", json::object());
  ASSERT_FALSE(shaped.ok());
  EXPECT_EQ(shaped.error().category, ErrorCategory::kInternal);
  EXPECT_NE(shaped.error().message.find("malformed JSON"), std::string::npos);
}

TEST(ParseErrorRules, NamesTheRuleAndKeyOfEveryMistake) {
  const struct {
    json rules;
    const char* expected;
  } cases[] = {
      {json::object(), "must be a JSON array"},
      {json::array({1}), "error rule 1 must be a JSON object"},
      {json::array({{{"type", "X"}}}), "error rule 1 has no category"},
      {json::array({{{"category", "rate_limit"}}, {{"category", "nope"}}}),
       "error rule 2 has unknown category 'nope'"},
      {json::array({{{"category", "timeout"}, {"match", "("}}}), "invalid match pattern '('"},
      {json::array({{{"category", "timeout"}, {"when", "x"}}}), "unknown key 'when'"},
      {json::array({{{"category", "timeout"}, {"retryable", "yes"}}}),
       "retryable must be a boolean"},
      {json::array({{{"category", "timeout"}, {"type", 3}}}), "type must be a string"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_error_rules(c.rules, "p");
    ASSERT_FALSE(parsed.ok()) << c.rules.dump();
    EXPECT_EQ(parsed.error().category, ErrorCategory::kInvalidConfiguration);
    EXPECT_NE(parsed.error().message.find(c.expected), std::string::npos) << parsed.error().message;
    EXPECT_EQ(parsed.error().message.rfind("plugin 'p': ", 0), 0u) << parsed.error().message;
  }
}

}  // namespace
}  // namespace mlbridge::plugin
