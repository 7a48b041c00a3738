#include "mlbridge/config/env_expansion.hpp"

#include <gtest/gtest.h>

#include <map>

namespace mlbridge::config {
namespace {

EnvLookup fake(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(EnvExpansion, ReplacesVariables) {
  auto out = expand_env("${A}/bin:${B}", fake({{"A", "/opt"}, {"B", "x"}}));
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, "/opt/bin:x");
}

TEST(EnvExpansion, DefaultAppliesWhenUnsetOrEmpty) {
  EXPECT_EQ(*expand_env("${A:-d}", fake({{"A", "v"}})), "v");
  EXPECT_EQ(*expand_env("${A:-d}", fake({})), "d");
  EXPECT_EQ(*expand_env("${A:-d}", fake({{"A", ""}})), "d");
  EXPECT_EQ(*expand_env("${A:-}", fake({})), "");
  EXPECT_EQ(*expand_env("${A:-http://h:1/x}", fake({})), "http://h:1/x");
}

TEST(EnvExpansion, SetButEmptyWithoutDefaultIsEmpty) {
  EXPECT_EQ(*expand_env("[${A}]", fake({{"A", ""}})), "[]");
}

TEST(EnvExpansion, UnsetVariableWithoutDefaultIsAnErrorNamingIt) {
  auto out = expand_env("key-${OPENAI_API_KEY}", fake({}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_NE(out.error().message.find("OPENAI_API_KEY is not set"), std::string::npos)
      << out.error().message;
  EXPECT_NE(out.error().message.find("${OPENAI_API_KEY:-"), std::string::npos);
}

TEST(EnvExpansion, DoubleDollarWritesALiteral) {
  EXPECT_EQ(*expand_env("$${A} costs $5", fake({{"A", "x"}})), "${A} costs $5");
}

TEST(EnvExpansion, MalformedReferencesAreErrors) {
  EXPECT_FALSE(expand_env("${A", fake({{"A", "x"}})).ok());
  EXPECT_FALSE(expand_env("${}", fake({})).ok());
  EXPECT_FALSE(expand_env("${1A}", fake({})).ok());
  EXPECT_FALSE(expand_env("${A-b}", fake({})).ok());
  EXPECT_FALSE(expand_env("${A B}", fake({})).ok());
}

TEST(EnvExpansion, TextWithoutReferencesIsUnchanged) {
  EXPECT_FALSE(has_env_reference("plain $HOME text"));
  EXPECT_EQ(*expand_env("plain $HOME text", fake({})), "plain $HOME text");
  EXPECT_TRUE(has_env_reference("a ${B}"));
}

}  // namespace
}  // namespace mlbridge::config
