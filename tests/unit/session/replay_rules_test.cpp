#include "mlbridge/session/replay_rules.hpp"

#include <gtest/gtest.h>

namespace mlbridge::session {
namespace {

TEST(ReplayRules, ReadsTheJsonFormAndWritesItBack) {
  const json given = {
      {"setup",
       {{{"command", "create_program"}, {"object", "program:{program_id}"}},
        {{"command", "add"}, {"object", "log"}, {"append", true}}}},
      {"undo", {{{"command", "delete_program"}, {"object", "program:{program_id}"}}}},
      {"snapshot", {{"save", "export"}, {"restore", "import"}}},
      {"not_replayable", {"fine_tune"}},
      {"max_entries", 10},
      {"max_bytes", 1000}};
  auto rules = ReplayRules::from_json(given, "sessions.replay");
  ASSERT_TRUE(rules.ok()) << rules.error().describe();
  ASSERT_NE(rules->setup_for("add"), nullptr);
  EXPECT_TRUE(rules->setup_for("add")->append);
  EXPECT_EQ(rules->undo_for("delete_program")->object, "program:{program_id}");
  EXPECT_TRUE(rules->journals("create_program"));
  EXPECT_FALSE(rules->journals("execute_program"));
  EXPECT_TRUE(rules->journals("dspy:create_program"));  // the namespaced form too
  EXPECT_EQ(rules->snapshot->restore, "import");
  EXPECT_TRUE(rules->is_not_replayable("fine_tune"));
  EXPECT_TRUE(rules->is_not_replayable("dspy:fine_tune"));
  EXPECT_FALSE(rules->is_not_replayable("create_program"));
  EXPECT_EQ(rules->max_entries, 10u);
  auto again = ReplayRules::from_json(rules->to_json(), "x");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->to_json(), rules->to_json());
}

TEST(ReplayRules, NamesTheBadKey) {
  auto unknown = ReplayRules::from_json({{"setpu", json::array()}}, "sessions.replay");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("sessions.replay.setpu"), std::string::npos);
  auto no_command = ReplayRules::from_json({{"setup", {{{"object", "x"}}}}}, "r");
  ASSERT_FALSE(no_command.ok());
  EXPECT_NE(no_command.error().message.find("r.setup[0] needs a 'command'"), std::string::npos)
      << no_command.error().message;
  auto listed = ReplayRules::from_json({{"not_replayable", {"a", ""}}}, "r");
  ASSERT_FALSE(listed.ok());
  EXPECT_NE(listed.error().message.find("r.not_replayable[1]"), std::string::npos)
      << listed.error().message;
  auto bound = ReplayRules::from_json({{"max_entries", 0}}, "r");
  ASSERT_FALSE(bound.ok());
  EXPECT_EQ(bound.error().category, ErrorCategory::kInvalidConfiguration);
}

TEST(ReplayRules, OverridesReplaceKeyByKey) {
  auto plugin = ReplayRules::from_json(
      {{"setup", {{{"command", "a"}, {"object", "a"}}}}, {"max_entries", 5}}, "p");
  ASSERT_TRUE(plugin.ok());
  auto merged = plugin->merged_with({{"max_entries", 7}});
  EXPECT_EQ(merged.max_entries, 7u);
  ASSERT_EQ(merged.setup.size(), 1u);
  EXPECT_EQ(plugin->merged_with(nullptr).to_json(), plugin->to_json());
}

TEST(ReplayRules, FillsObjectNamesFromArgsThenTheResult) {
  EXPECT_EQ(fill_object("program:{program_id}", {{"program_id", "qa"}}, json()), "program:qa");
  EXPECT_EQ(fill_object("p:{id}", json::object(), {{"id", 7}}), "p:7");
  EXPECT_EQ(fill_object("model", json(), json()), "model");
  std::string missing;
  EXPECT_FALSE(fill_object("p:{id}", json::object(), json::object(), &missing));
  EXPECT_EQ(missing, "id");
}

}  // namespace
}  // namespace mlbridge::session
