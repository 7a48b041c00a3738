// The C++ API's sessions: every way a session id enters mlbridge::Host follows one rule
// (session::check_session_id), host.max_sessions bounds the sessions it keeps, and
// list_sessions_page reads them in pages.

#include "host_fixture.hpp"
#include "mlbridge/session/session_id.hpp"

namespace mlbridge::testing {
namespace {

const std::vector<std::string> kBadIds = {"a/b", "", std::string("a\0b", 3),
                                          std::string(4 * 1024 * 1024, 'x'), "a b"};

void expect_refused(const Error& error, const std::string& what) {
  EXPECT_EQ(error.category, ErrorCategory::kInvalidArgument) << what;
  EXPECT_TRUE(has(error.message, "A-Z a-z 0-9 . _ : -")) << what << ": " << error.message;
  EXPECT_LT(error.message.size(), 400u) << "a message never quotes a huge id whole";
}

TEST_F(HostTest, EveryWayASessionIdEntersTheHostRefusesABadOne) {
  auto& host = start(host_section() + "bridges:\n" + echo_bridge_yaml("echo"));
  for (const auto& bad : kBadIds) {
    ExecuteOptions in_session;
    in_session.session = bad;
    expect_refused(host.create_session(bad).error(), "create_session");
    expect_refused(host.end_session(bad).error(), "end_session");
    expect_refused(host.get_session_state(bad).error(), "get_session_state");
    expect_refused(host.set_session_state(bad, json::object()).error(), "set_session_state");
    expect_refused(host.update_session_state(bad, json::object()).error(), "update_session_state");
    expect_refused(host.execute("echo", "echo", json::object(), in_session).error(), "execute");
    expect_refused(host.execute_async("echo", "echo", json::object(), in_session).get().error(),
                   "execute_async");
    expect_refused(host.cast("echo", "echo", json::object(), in_session).error(), "cast");
  }
  EXPECT_TRUE(host.list_sessions().empty()) << "nothing was created on the way";
  ASSERT_TRUE(host.create_session("Az09._:-ok").ok());
}

TEST_F(HostTest, SessionsAreCappedByHostMaxSessions) {
  auto& host = start(host_section("  max_sessions: 3\n") + "bridges:\n" + echo_bridge_yaml("echo"));
  for (const char* id : {"s1", "s2", "s3"}) ASSERT_TRUE(host.create_session(id).ok()) << id;
  auto refused = host.create_session("s4");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kOverloaded);
  EXPECT_TRUE(has(refused.error().message, "host.max_sessions 3")) << refused.error().message;
  EXPECT_FALSE(host.create_session().ok()) << "a generated id counts as well";
  ASSERT_TRUE(host.end_session("s2").ok());
  EXPECT_TRUE(host.create_session("s4").ok());
}

TEST_F(HostTest, SessionsAreListedInPages) {
  auto& host = start(host_section() + "bridges:\n" + echo_bridge_yaml("echo"));
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(
        host.create_session("p-" + std::string(i < 10 ? "0" : "") + std::to_string(i)).ok());
  }
  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 10);
    auto page = host.list_sessions_page(10, after);
    ASSERT_TRUE(page.ok()) << page.error().describe();
    seen.insert(seen.end(), page->ids.begin(), page->ids.end());
    if (!page->after) break;
    after = *page->after;
  }
  EXPECT_EQ(seen, host.list_sessions());
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_EQ(seen.front(), "p-00");
  EXPECT_EQ(seen.back(), "p-24");
  EXPECT_EQ(host.list_sessions_page(0).error().category, ErrorCategory::kInvalidArgument);
  EXPECT_EQ(host.list_sessions_page(Host::kMaxSessionPage + 1).error().category,
            ErrorCategory::kInvalidArgument);
  EXPECT_EQ(host.list_sessions_page(10, "a/b").error().category, ErrorCategory::kInvalidArgument);
}

}  // namespace
}  // namespace mlbridge::testing
