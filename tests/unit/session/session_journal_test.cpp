#include "mlbridge/session/session_journal.hpp"

#include <gtest/gtest.h>

namespace mlbridge::session {
namespace {

ReplayRules rules(json extra = json::object()) {
  json given = {
      {"setup",
       {{{"command", "create_chain"}, {"object", "chain:{chain_id}"}},
        {{"command", "configure"}, {"object", "model"}},
        {{"command", "add_note"}, {"object", "chain:{chain_id}/notes"}, {"append", true}}}},
      {"undo",
       {{{"command", "delete_chain"}, {"object", "chain:{chain_id}"}},
        {{"command", "clear_notes"},
         {"object", "chain:{chain_id}/notes"},
         {"appended_only", true}}}}};
  for (const auto& [key, value] : extra.items()) given[key] = value;
  return *ReplayRules::from_json(given, "test");
}

std::vector<std::string> commands(const SessionJournal& journal) {
  std::vector<std::string> out;
  for (const auto& e : journal.entries()) out.push_back(e.command + " " + e.object);
  return out;
}

TEST(SessionJournal, KeepsTheSetupCallsStillInEffectInOrder) {
  const auto r = rules();
  SessionJournal j;
  j.record(r, "configure", {{"model", "a"}}, json::object());
  j.record(r, "create_chain", {{"chain_id", "c1"}}, json::object());
  j.record(r, "invoke", {{"chain_id", "c1"}}, json::object());  // not a setup command
  j.record(r, "add_note", {{"chain_id", "c1"}, {"text", "x"}}, json::object());
  j.record(r, "add_note", {{"chain_id", "c1"}, {"text", "y"}}, json::object());
  j.record(r, "configure", {{"model", "b"}}, json::object());  // replaces the first, moves last
  EXPECT_EQ(commands(j),
            (std::vector<std::string>{"create_chain chain:c1", "add_note chain:c1/notes",
                                      "add_note chain:c1/notes", "configure model"}));
  EXPECT_EQ(j.entries().back().args["model"], "b");

  j.record(r, "clear_notes", {{"chain_id", "c1"}}, json::object());  // appended entries only
  EXPECT_EQ(commands(j), (std::vector<std::string>{"create_chain chain:c1", "configure model"}));
  j.record(r, "add_note", {{"chain_id", "c1"}}, json::object());
  j.record(r, "delete_chain", {{"chain_id", "c1"}}, json::object());  // the chain and under it
  EXPECT_EQ(commands(j), (std::vector<std::string>{"configure model"}));
  EXPECT_FALSE(j.truncated());
}

TEST(SessionJournal, PinsANameTheWorkerChose) {
  SessionJournal j;
  j.record(rules(), "create_chain", {{"prompt", "p"}}, {{"chain_id", "chain-1a2b"}});
  ASSERT_EQ(j.entries().size(), 1u);
  EXPECT_EQ(j.entries()[0].object, "chain:chain-1a2b");
  EXPECT_EQ(j.entries()[0].args, (json{{"prompt", "p"}, {"chain_id", "chain-1a2b"}}));
}

TEST(SessionJournal, AnUnnamedObjectTruncatesIt) {
  SessionJournal j;
  j.record(rules(), "create_chain", json::object(), json::object());
  ASSERT_TRUE(j.truncated());
  EXPECT_NE(j.truncated()->find("chain_id"), std::string::npos) << *j.truncated();
  EXPECT_TRUE(j.empty());
}

TEST(SessionJournal, EnforcesItsBounds) {
  SessionJournal by_count;
  const auto two = rules({{"max_entries", 2}});
  for (const char* id : {"a", "b"}) by_count.record(two, "create_chain", {{"chain_id", id}}, {});
  EXPECT_FALSE(by_count.truncated());
  by_count.record(two, "create_chain", {{"chain_id", "c"}}, {});
  ASSERT_TRUE(by_count.truncated());
  EXPECT_NE(by_count.truncated()->find("max_entries"), std::string::npos);
  EXPECT_TRUE(by_count.empty());
  by_count.record(two, "configure", json::object(), {});  // stays truncated
  EXPECT_TRUE(by_count.empty());

  SessionJournal by_size;
  const auto small = rules({{"max_bytes", 100}});
  by_size.record(small, "create_chain", {{"chain_id", "a"}, {"big", std::string(200, 'x')}}, {});
  ASSERT_TRUE(by_size.truncated());
  EXPECT_NE(by_size.truncated()->find("max_bytes"), std::string::npos);
}

TEST(SessionJournal, TakesEntriesAHandlerRecorded) {
  SessionJournal j;
  const auto r = rules();
  j.record(r, "create_chain", {{"chain_id", "c1"}}, {});
  j.record_entry(r, {{"command", "restore"}, {"args", {{"n", 1}}}, {"object", "chain:c1/h"}});
  j.record_entry(r, {{"command", "restore"}, {"args", {{"n", 2}}}, {"object", "chain:c1/h"}});
  ASSERT_EQ(j.entries().size(), 2u);
  EXPECT_EQ(j.entries()[1].args["n"], 2);
  j.record_entry(r, {{"command", "restore"}});  // no object
  EXPECT_TRUE(j.truncated());
}

}  // namespace
}  // namespace mlbridge::session
