#include <gtest/gtest.h>

#include "mlbridge/config/bridge_config.hpp"

namespace mlbridge::config {
namespace {

TEST(MergeDefaults, OverridesWinKeyByKeyInNestedObjects) {
  const json defaults = json::parse(R"({
    "script": "python_bridges/dspy_bridge.py",
    "pool": {"size": 2, "max_overflow": 2},
    "options": {"lm": {"model": "a", "temperature": 0.0}}
  })");
  const json overrides = json::parse(R"({
    "pool": {"size": 4},
    "options": {"lm": {"model": "b"}},
    "codec": "msgpack"
  })");
  EXPECT_EQ(merge_defaults(defaults, overrides), json::parse(R"({
    "script": "python_bridges/dspy_bridge.py",
    "pool": {"size": 4, "max_overflow": 2},
    "options": {"lm": {"model": "b", "temperature": 0.0}},
    "codec": "msgpack"
  })"));
}

TEST(MergeDefaults, ArraysAndScalarsAreReplacedWhole) {
  const json defaults = json::parse(R"({"required_packages": ["dspy", "litellm"], "codec": "json",
                                        "pool": {"size": 2}})");
  const json overrides = json::parse(R"({"required_packages": ["dspy"], "codec": "msgpack",
                                         "pool": 3})");
  EXPECT_EQ(merge_defaults(defaults, overrides), json::parse(R"({
    "required_packages": ["dspy"], "codec": "msgpack", "pool": 3})"));
}

TEST(MergeDefaults, NullOverrideKeepsTheDefault) {
  const json defaults = json::parse(R"({"pool": {"size": 2}, "script": "a.py"})");
  EXPECT_EQ(merge_defaults(defaults, json::parse(R"({"pool": null})")), defaults);
  EXPECT_EQ(merge_defaults(defaults, json(nullptr)), defaults);
}

TEST(MergeDefaults, EmptySidesAndInputsAreUnchanged) {
  const json value = json::parse(R"({"a": {"b": 1}})");
  EXPECT_EQ(merge_defaults(json::object(), value), value);
  EXPECT_EQ(merge_defaults(value, json::object()), value);
  const json defaults = json::parse(R"({"a": {"b": 1, "c": 2}})");
  const json copy = defaults;
  (void)merge_defaults(defaults, json::parse(R"({"a": {"b": 5}})"));
  EXPECT_EQ(defaults, copy);
}

}  // namespace
}  // namespace mlbridge::config
