#include "mlbridge/config/yaml_loader.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "config_test_support.hpp"

namespace mlbridge::config {
namespace {

using testing::message_of;
using testing::ScopedEnv;
using testing::TempDir;

Result<json> parse(const std::string& text, SourceMap& map) {
  return parse_yaml(text, "x.yaml", map);
}

TEST(YamlLoader, MapsSequencesAndCoreScalarTypes) {
  SourceMap map;
  auto doc = parse(
      "a: 1\n"
      "b: -7\n"
      "c: 2.5\n"
      "d: true\n"
      "e: False\n"
      "f: ~\n"
      "g: null\n"
      "h:\n"
      "i: hello world\n"
      "j: [1, two, 3.0e2]\n"
      "k: {x: 0x1f, y: 0o17, z: +4}\n"
      "l: yes\n"
      "m: 1.2.3\n"
      "n: 18446744073709551615\n",
      map);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ((*doc)["a"], 1);
  EXPECT_TRUE((*doc)["a"].is_number_unsigned());
  EXPECT_EQ((*doc)["b"], -7);
  EXPECT_EQ((*doc)["c"], 2.5);
  EXPECT_EQ((*doc)["d"], true);
  EXPECT_EQ((*doc)["e"], false);
  EXPECT_TRUE((*doc)["f"].is_null());
  EXPECT_TRUE((*doc)["g"].is_null());
  EXPECT_TRUE((*doc)["h"].is_null());
  EXPECT_EQ((*doc)["i"], "hello world");
  EXPECT_EQ((*doc)["j"], json::parse(R"([1, "two", 300.0])"));
  EXPECT_EQ((*doc)["k"]["x"], 31);
  EXPECT_EQ((*doc)["k"]["y"], 15);
  EXPECT_EQ((*doc)["k"]["z"], 4);
  EXPECT_EQ((*doc)["l"], "yes");  // YAML 1.2: not a boolean
  EXPECT_EQ((*doc)["m"], "1.2.3");
  EXPECT_EQ((*doc)["n"].get<std::uint64_t>(), 18446744073709551615ull);
}

TEST(YamlLoader, QuotedAndBlockScalarsStayStrings) {
  SourceMap map;
  auto doc = parse(
      "a: \"123\"\n"
      "b: 'true'\n"
      "c: \"\"\n"
      "d: |\n"
      "  42\n"
      "e: !!str 7\n"
      "f: '~'\n",
      map);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ((*doc)["a"], "123");
  EXPECT_EQ((*doc)["b"], "true");
  EXPECT_EQ((*doc)["c"], "");
  EXPECT_EQ((*doc)["d"], "42\n");
  EXPECT_EQ((*doc)["e"], "7");
  EXPECT_EQ((*doc)["f"], "~");
}

TEST(YamlLoader, ResolvesSpecialFloats) {
  EXPECT_TRUE(std::isinf(resolve_plain_scalar(".inf").get<double>()));
  EXPECT_LT(resolve_plain_scalar("-.inf").get<double>(), 0);
  EXPECT_TRUE(std::isnan(resolve_plain_scalar(".nan").get<double>()));
  EXPECT_EQ(resolve_plain_scalar(".5"), 0.5);
  EXPECT_EQ(resolve_plain_scalar("1e3"), 1000.0);
  EXPECT_EQ(resolve_plain_scalar("e3"), "e3");
  EXPECT_EQ(resolve_plain_scalar("0x"), "0x");
}

TEST(YamlLoader, RecordsOneBasedPositionsOfValuesAndKeys) {
  SourceMap map;
  auto doc = parse(
      "bridges:\n"
      "  dspy:\n"
      "    pool:\n"
      "      size: 3\n"
      "    required_packages:\n"
      "      - dspy\n"
      "      - litellm\n",
      map);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ(map.file, "x.yaml");
  EXPECT_EQ(map.where("/bridges/dspy/pool/size"), "x.yaml:4:13");
  EXPECT_EQ(map.where_key("/bridges/dspy/pool/size"), "x.yaml:4:7");
  EXPECT_EQ(map.where("/bridges/dspy/required_packages/1"), "x.yaml:7:9");
  EXPECT_EQ(map.where_key("/bridges/dspy"), "x.yaml:2:3");
}

TEST(YamlLoader, ExpandsVariablesAndRetypesOnlyUnquotedScalars) {
  ScopedEnv size("MLBRIDGE_CONFIG_TEST_SIZE", "4");
  ScopedEnv unset("MLBRIDGE_CONFIG_TEST_UNSET", std::nullopt);
  SourceMap map;
  auto doc = parse(
      "a: ${MLBRIDGE_CONFIG_TEST_SIZE}\n"
      "b: \"${MLBRIDGE_CONFIG_TEST_SIZE}\"\n"
      "c: ${MLBRIDGE_CONFIG_TEST_UNSET:-7}\n"
      "d: ${MLBRIDGE_CONFIG_TEST_UNSET:-false}\n"
      "e: pre-${MLBRIDGE_CONFIG_TEST_SIZE}-post\n"
      "f: '${MLBRIDGE_CONFIG_TEST_UNSET:-x y}'\n"
      "${MLBRIDGE_CONFIG_TEST_SIZE}: key\n",
      map);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ((*doc)["a"], 4);
  EXPECT_EQ((*doc)["b"], "4");
  EXPECT_EQ((*doc)["c"], 7);
  EXPECT_EQ((*doc)["d"], false);
  EXPECT_EQ((*doc)["e"], "pre-4-post");
  EXPECT_EQ((*doc)["f"], "x y");
  EXPECT_TRUE(doc->contains("${MLBRIDGE_CONFIG_TEST_SIZE}"));  // keys are not expanded
}

TEST(YamlLoader, UnsetVariableWithoutDefaultNamesItAndThePosition) {
  ScopedEnv unset("MLBRIDGE_CONFIG_TEST_MISSING", std::nullopt);
  SourceMap map;
  auto doc = parse(
      "bridges:\n"
      "  dspy:\n"
      "    options:\n"
      "      api_key: ${MLBRIDGE_CONFIG_TEST_MISSING}\n",
      map);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().category, ErrorCategory::kInvalidConfiguration);
  const auto& message = doc.error().message;
  EXPECT_EQ(message.rfind("x.yaml:4:16: bridges.dspy.options.api_key: ", 0), 0u) << message;
  EXPECT_NE(message.find("MLBRIDGE_CONFIG_TEST_MISSING is not set"), std::string::npos);
}

TEST(YamlLoader, LookupCanBeInjected) {
  SourceMap map;
  auto doc = parse_yaml("a: ${ANY}\n", "", map,
                        [](const std::string&) { return std::optional<std::string>("9"); });
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ((*doc)["a"], 9);
}

TEST(YamlLoader, SyntaxErrorNamesFileLineAndColumn) {
  SourceMap map;
  auto doc = parse(
      "host:\n"
      "  listen: [a, b\n"
      "bridges: {}\n",
      map);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().category, ErrorCategory::kInvalidConfiguration);
  const auto& message = doc.error().message;
  EXPECT_EQ(message.rfind("x.yaml:", 0), 0u) << message;
  EXPECT_NE(message.find("invalid YAML: "), std::string::npos) << message;
  EXPECT_NE(message.find("end of sequence flow not found"), std::string::npos) << message;

  auto bad_map = parse("a: b: c\n", map);
  ASSERT_FALSE(bad_map.ok());
  EXPECT_EQ(bad_map.error().message.rfind("x.yaml:1:5: invalid YAML: ", 0), 0u)
      << bad_map.error().message;
}

TEST(YamlLoader, DuplicateKeysAreErrors) {
  SourceMap map;
  auto doc = parse(
      "pool:\n"
      "  size: 1\n"
      "  size: 2\n",
      map);
  ASSERT_FALSE(doc.ok());
  const auto& message = doc.error().message;
  EXPECT_EQ(message.rfind("x.yaml:3:3: pool repeats the key 'size'", 0), 0u) << message;
  EXPECT_NE(message.find("line 2, column 3"), std::string::npos) << message;
}

TEST(YamlLoader, TopLevelMustBeAMap) {
  SourceMap map;
  auto list = parse("- a\n- b\n", map);
  ASSERT_FALSE(list.ok());
  EXPECT_NE(list.error().message.find("must be a map"), std::string::npos) << message_of(list);
  auto scalar = parse("just text\n", map);
  ASSERT_FALSE(scalar.ok());
  auto two = parse("a: 1\n---\nb: 2\n", map);
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().message.find("2 YAML documents"), std::string::npos) << message_of(two);
}

// Found by the yaml_config fuzzer: YAML::LoadAll of yaml-cpp 0.7 never returns on this text (it
// keeps adding empty documents until memory runs out). The loader reads at most two documents.
TEST(YamlLoader, TextThatMadeYamlCppLoopForeverIsAnError) {
  SourceMap map;
  auto looped = parse("%bridges:\n  ,:\n    pool: {size: ma\x07ny}\n \n    =", map);
  ASSERT_FALSE(looped.ok());
  EXPECT_EQ(looped.error().category, ErrorCategory::kInvalidConfiguration);
  auto comma = parse(",\n", map);
  ASSERT_FALSE(comma.ok());
  EXPECT_EQ(comma.error().category, ErrorCategory::kInvalidConfiguration);
}

TEST(YamlLoader, EmptyDocumentIsAnEmptyMap) {
  SourceMap map;
  auto empty = parse("", map);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, json::object());
  auto comments = parse("# nothing yet\n", map);
  ASSERT_TRUE(comments.ok());
  EXPECT_EQ(*comments, json::object());
}

TEST(YamlLoader, NonScalarKeysAndUnknownTagsAreErrors) {
  SourceMap map;
  EXPECT_FALSE(parse("? [a, b]\n: c\n", map).ok());
  auto tagged = parse("a: !secret x\n", map);
  ASSERT_FALSE(tagged.ok());
  EXPECT_NE(tagged.error().message.find("'!secret'"), std::string::npos) << message_of(tagged);
  EXPECT_FALSE(parse("a: !!int abc\n", map).ok());
}

TEST(YamlLoader, RecursiveAliasIsAnErrorNotACrash) {
  SourceMap map;
  auto doc = parse("a: &x [*x]\n", map);
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.error().message.find("levels deep"), std::string::npos) << message_of(doc);
}

TEST(YamlLoader, AliasesAreCopied) {
  SourceMap map;
  auto doc = parse("base: &b {size: 2}\nother: *b\n", map);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ((*doc)["other"]["size"], 2);
}

TEST(YamlLoader, MissingFileIsNamed) {
  SourceMap map;
  auto doc = load_yaml_file("/nonexistent/mlbridge-config-test.yaml", map);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_NE(
      doc.error().message.find("config file '/nonexistent/mlbridge-config-test.yaml' not found"),
      std::string::npos)
      << doc.error().message;
}

TEST(YamlLoader, DirectoryIsNotAFile) {
  TempDir dir;
  SourceMap map;
  auto doc = load_yaml_file(dir.path().string(), map);
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.error().message.find("is a directory"), std::string::npos) << message_of(doc);
}

TEST(YamlLoader, LoadsAFileAndNamesItInPositions) {
  TempDir dir;
  const std::string path = dir.write("deploy.yaml", "host:\n  listen: 127.0.0.1:9\n");
  SourceMap map;
  auto doc = load_yaml_file(path, map);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ((*doc)["host"]["listen"], "127.0.0.1:9");
  EXPECT_EQ(map.file, path);
  EXPECT_EQ(map.where("/host/listen"), path + ":2:11");
}

}  // namespace
}  // namespace mlbridge::config
