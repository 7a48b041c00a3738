#include "mlbridge/plugin/generic_adapter.hpp"

#include <gtest/gtest.h>

namespace mlbridge::plugin {
namespace {

TEST(GenericAdapter, IsTheBuiltInWithTheGivenFramework) {
  GenericAdapter adapter("notes");
  EXPECT_EQ(adapter.info().name, "generic");
  EXPECT_EQ(adapter.info().framework, "notes");
  EXPECT_EQ(adapter.info().abi_major, 0);
  EXPECT_TRUE(adapter.info().path.empty());
  EXPECT_EQ(GenericAdapter("").info().framework, "generic");
}

TEST(GenericAdapter, HasNoDefaultsRulesOrChecks) {
  GenericAdapter adapter("notes");
  auto defaults = adapter.defaults();
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(*defaults, json::object());
  EXPECT_TRUE(adapter.validate(json{{"anything", 1}}).ok());
  EXPECT_TRUE(adapter.error_rules().empty());
}

TEST(GenericAdapter, MapsNoResources) {
  GenericAdapter adapter("notes");
  auto command = adapter.resource_command("create", "program");
  ASSERT_FALSE(command.ok());
  EXPECT_EQ(command.error().category, ErrorCategory::kNotFound);
  EXPECT_NE(command.error().message.find("bridge has no resource mapping (generic adapter)"),
            std::string::npos);
  EXPECT_NE(command.error().message.find("'create'"), std::string::npos);
}

TEST(GenericAdapter, PassesArgumentsUnchanged) {
  GenericAdapter adapter("notes");
  const json args = {{"a", 1}, {"b", json::binary({1, 2})}};
  auto shaped = adapter.shape_args("anything", args);
  ASSERT_TRUE(shaped.ok());
  EXPECT_EQ(*shaped, args);
}

}  // namespace
}  // namespace mlbridge::plugin
