// The bridge journal: entries in effect for new workers, positioned changes (deletes included)
// for running ones, forgetting what every worker applied, and the bounds checked before a call.

#include "mlbridge/session/bridge_journal.hpp"

#include <gtest/gtest.h>

namespace mlbridge::session {
namespace {

ReplayRules thing_rules(json extra = json::object()) {
  json given = {{"setup", {{{"command", "create"}, {"object", "thing:{name}"}}}},
                {"undo", {{{"command", "delete"}, {"object", "thing:{name}"}}}}};
  for (const auto& [key, value] : extra.items()) given[key] = value;
  auto parsed = ReplayRules::from_json(given, "test");
  EXPECT_TRUE(parsed.ok());
  return *parsed;
}

TEST(BridgeJournalTest, KeepsTheEntriesInEffectAndEveryChangeInOrder) {
  BridgeJournal journal;
  const auto r = thing_rules();
  EXPECT_EQ(*journal.record(r, "create", {{"name", "a"}, {"value", 1}}, json::object()), 1u);
  EXPECT_EQ(*journal.record(r, "create", {{"name", "b"}}, json::object()), 2u);
  EXPECT_EQ(*journal.record(r, "create", {{"name", "a"}, {"value", 2}}, json::object()), 3u);
  EXPECT_EQ(*journal.record(r, "delete", {{"name", "b"}}, json::object()), 4u);
  EXPECT_EQ(*journal.record(r, "lookup", {{"name", "a"}}, json::object()), 0u);  // not journaled

  ASSERT_EQ(journal.entries().size(), 1u);
  EXPECT_EQ(journal.entries()[0].object, "thing:a");
  EXPECT_EQ(journal.entries()[0].args["value"], 2);
  EXPECT_EQ(journal.head(), 4u);

  const BridgeChange* change = journal.next_after(2);
  ASSERT_NE(change, nullptr);
  EXPECT_EQ(change->position, 3u);
  change = journal.next_after(3);
  ASSERT_NE(change, nullptr);
  EXPECT_TRUE(change->removes);
  EXPECT_EQ(change->entry.command, "delete");
  EXPECT_EQ(journal.next_after(4), nullptr);

  journal.forget_through(3);
  EXPECT_EQ(journal.pending_changes(), 1u);
  EXPECT_EQ(journal.next_after(0)->position, 4u);
  EXPECT_EQ(journal.bytes(), journal.entries()[0].bytes);
}

TEST(BridgeJournalTest, PinsTheNameTheWorkerChose) {
  BridgeJournal journal;
  ASSERT_EQ(*journal.record(thing_rules(), "create", json::object(), {{"name", "picked"}}), 1u);
  EXPECT_EQ(journal.entries()[0].args["name"], "picked");
  EXPECT_EQ(journal.entries()[0].object, "thing:picked");
}

TEST(BridgeJournalTest, AnObjectWithoutANameIsRefusedNotRecorded) {
  BridgeJournal journal;
  auto recorded = journal.record(thing_rules(), "create", json::object(), json::object());
  ASSERT_FALSE(recorded.ok());
  EXPECT_NE(recorded.error().message.find("no 'name'"), std::string::npos);
  EXPECT_EQ(journal.head(), 0u);
}

TEST(BridgeJournalTest, AdmitsWithinTheBoundsAndRefusesPastThemSayingWhatToDo) {
  BridgeJournal journal;
  const auto r = thing_rules({{"max_bytes", 200}, {"max_entries", 2}});
  const json big = {{"name", "a"}, {"value", std::string(150, 'x')}};
  ASSERT_TRUE(journal.admit(r, "create", big).ok());
  ASSERT_TRUE(journal.record(r, "create", big, json::object()).ok());
  // Replacing the same object frees its bytes first.
  EXPECT_TRUE(journal.admit(r, "create", big).ok());
  auto refused = journal.admit(r, "create", {{"name", "b"}, {"value", std::string(150, 'y')}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kResourceExhausted);
  const std::string& message = refused.error().message;
  EXPECT_NE(message.find("sessions.replay.max_bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("create this one in a session"), std::string::npos) << message;
  // Deletes and commands the rules do not journal are never refused.
  EXPECT_TRUE(journal.admit(r, "delete", {{"name", "a"}}).ok());
  EXPECT_TRUE(journal.admit(r, "lookup", {{"name", std::string(500, 'z')}}).ok());

  BridgeJournal counted;
  const auto two = thing_rules({{"max_entries", 2}});
  ASSERT_TRUE(counted.record(two, "create", {{"name", "a"}}, json::object()).ok());
  ASSERT_TRUE(counted.record(two, "create", {{"name", "b"}}, json::object()).ok());
  EXPECT_TRUE(counted.admit(two, "create", {{"name", "b"}}).ok());  // a replacement
  auto too_many = counted.admit(two, "create", {{"name", "c"}});
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message.find("sessions.replay.max_entries"), std::string::npos);
}

}  // namespace
}  // namespace mlbridge::session
