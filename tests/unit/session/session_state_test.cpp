#include "mlbridge/session/session_state.hpp"

#include <gtest/gtest.h>

namespace mlbridge::session {
namespace {

TEST(StateStore, SetUpdateAndVersionsThatNeverRepeat) {
  StateStore store;
  EXPECT_EQ(store.get("s").version, 0u);
  EXPECT_EQ(store.get("s").data, json::object());
  auto v1 = store.set("s", {{"a", 1}, {"b", 2}});
  ASSERT_TRUE(v1.ok());
  auto v2 = store.update("s", {{"a", nullptr}, {"c", {{"d", 3}}}});  // merge patch
  ASSERT_TRUE(v2.ok());
  EXPECT_GT(*v2, *v1);
  EXPECT_EQ(store.get("s").data, (json{{"b", 2}, {"c", {{"d", 3}}}}));
  store.erase("s");
  auto v3 = store.set("s", json::object());
  ASSERT_TRUE(v3.ok());
  EXPECT_GT(*v3, *v2) << "a session created again must not reuse an old version";
}

TEST(StateStore, RefusesWhatIsNotAMapAndWhatIsTooBig) {
  StateStore store(32);
  auto list = store.set("s", json::array());
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().category, ErrorCategory::kInvalidArgument);
  auto big = store.set("s", {{"x", std::string(64, 'x')}});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().category, ErrorCategory::kResourceExhausted);
  EXPECT_NE(big.error().message.find("session_state_max_bytes"), std::string::npos);
  EXPECT_EQ(store.version("s"), 0u);
}

TEST(StateStore, BoundsAllStatesTogether) {
  const json kilobyte = {{"v", std::string(1000, 'x')}};  // 1008 bytes of compact JSON
  StateStore store(2000, 2500);
  ASSERT_TRUE(store.set("a", kilobyte).ok());
  ASSERT_TRUE(store.set("b", kilobyte).ok());
  EXPECT_EQ(store.total_bytes(), 2016u);
  auto third = store.set("c", kilobyte);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().category, ErrorCategory::kOverloaded);
  EXPECT_NE(third.error().message.find("session_state_total_max_bytes"), std::string::npos);
  EXPECT_EQ(store.version("c"), 0u);
  // A worker's change that would grow past the bound is refused the same way.
  auto grown =
      store.apply("b", StateChange{store.version("b"), {{"w", std::string(600, 'w')}}, {}});
  ASSERT_FALSE(grown.ok());
  EXPECT_EQ(grown.error().category, ErrorCategory::kOverloaded);
  // Replacing a state counts only the difference; shrinking is always allowed.
  ASSERT_TRUE(store.set("b", kilobyte).ok());
  ASSERT_TRUE(store.set("b", {{"v", 1}}).ok());
  EXPECT_EQ(store.total_bytes(), 1008u + 7u);
  ASSERT_TRUE(store.set("c", kilobyte).ok());
  store.erase("a");
  store.erase("c");
  EXPECT_EQ(store.total_bytes(), 7u);
}

TEST(StateStore, AppliesAWorkersChangeAndTellsWhetherItsCopyIsCurrent) {
  StateStore store;
  const auto base = *store.set("s", {{"a", 1}, {"b", 1}});
  auto change =
      StateChange::from_wire({{"base_version", base}, {"set", {{"a", 2}}}, {"unset", {"b"}}});
  ASSERT_TRUE(change.ok());
  auto applied = store.apply("s", *change);
  ASSERT_TRUE(applied.ok());
  EXPECT_TRUE(applied->worker_current);
  EXPECT_EQ(store.get("s").data, (json{{"a", 2}}));

  ASSERT_TRUE(store.update("s", {{"host", true}}).ok());  // changed on the host meanwhile
  auto late = store.apply(
      "s", *StateChange::from_wire({{"base_version", applied->version}, {"set", {{"w", 1}}}}));
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->worker_current);
  EXPECT_EQ(store.get("s").data, (json{{"a", 2}, {"host", true}, {"w", 1}}));

  EXPECT_FALSE(StateChange::from_wire({{"set", 1}}).ok());
  EXPECT_FALSE(StateChange::from_wire(json::array()).ok());
}

}  // namespace
}  // namespace mlbridge::session
