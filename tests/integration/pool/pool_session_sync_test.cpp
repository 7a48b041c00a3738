// A pool with a shared session store (StateStore::sync, a fake here): a call that changed its
// session answers only once the store took the change, and answers the store's error when it did
// not; calls that change nothing, and anonymous calls, never reach the store; a session the store
// hands over (Pool::replace_session) is rebuilt from its journal before its next call.

#include <condition_variable>
#include <deque>
#include <mutex>

#include "mlbridge/store/session_store.hpp"
#include "pool_fixture.hpp"

namespace mlbridge::testing {
namespace {

// Holds every save until the test answers it.
class FakeSessionSync : public store::SessionSync {
 public:
  struct Save {
    std::string session;
    std::string bridge;
    bool state_changed = false;
    std::optional<json> journal;
    std::function<void(Status)> done;
  };

  void save_call_effects(const std::string& session_id, const std::string& bridge,
                         bool state_changed, std::optional<json> journal,
                         std::function<void(Status)> done) override {
    std::lock_guard lock(mutex_);
    saves_.push_back({session_id, bridge, state_changed, std::move(journal), std::move(done)});
    ++received_;
    changed_.notify_all();
  }

  // The next save, once it arrived (waits on an event, not a clock).
  Save next() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !saves_.empty(); });
    Save save = std::move(saves_.front());
    saves_.pop_front();
    return save;
  }

  std::size_t received() {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Save> saves_;
  std::size_t received_ = 0;
};

session::ReplayRules put_rules() {
  auto parsed =
      session::ReplayRules::from_json({{"setup", {{{"command", "put"}, {"object", "{key}"}}}},
                                       {"undo", {{{"command", "drop"}, {"object", "{key}"}}}}},
                                      "test");
  EXPECT_TRUE(parsed.ok());
  return *parsed;
}

class PoolSessionSyncTest : public PoolTest {
 protected:
  PoolPtr start_synced() {
    auto states = std::make_shared<session::StateStore>();
    states->set_sync(sync_);
    auto c = config(1);
    c.session_rules = put_rules();
    c.session_states = states;
    return start(c);
  }
  std::shared_ptr<FakeSessionSync> sync_ = std::make_shared<FakeSessionSync>();
};

TEST_F(PoolSessionSyncTest, ACallThatChangedItsSessionAnswersOnlyOnceTheStoreHasIt) {
  auto p = start_synced();
  auto answer = p->submit(request("put", {{"key", "k"}, {"value", 1}}, "s"));
  auto save = sync_->next();
  EXPECT_EQ(save.session, "s");
  EXPECT_EQ(save.bridge, "echo");
  EXPECT_FALSE(save.state_changed);
  ASSERT_TRUE(save.journal.has_value());
  EXPECT_EQ((*save.journal)["entries"][0]["command"], "put");
  EXPECT_EQ((*save.journal)["entries"][0]["args"]["value"], 1);
  // The store has not answered: neither has the call.
  EXPECT_EQ(answer.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  save.done(Ok{});
  auto result = answer.get();
  ASSERT_TRUE(result.ok()) << result.error().describe();

  auto state = p->submit(request("state", {{"set", {{"n", 1}}}}, "s"));
  auto state_save = sync_->next();
  EXPECT_TRUE(state_save.state_changed);
  EXPECT_FALSE(state_save.journal.has_value());
  state_save.done(Ok{});
  EXPECT_TRUE(state.get().ok());
}

TEST_F(PoolSessionSyncTest, AFailedSaveIsTheCallsAnswer) {
  auto p = start_synced();
  auto answer = p->submit(request("put", {{"key", "k"}, {"value", 1}}, "s"));
  Error moved = Error::make(ErrorCategory::kSessionMoved, "session 's' is held by host 'b'");
  sync_->next().done(moved);
  auto result = answer.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().category, ErrorCategory::kSessionMoved);
  EXPECT_TRUE(has(result.error().message, "'put' ran, but its change of the session was not saved"))
      << result.error().message;
  EXPECT_EQ(result.error().bridge, "echo");
}

TEST_F(PoolSessionSyncTest, CallsThatChangeNothingNeverReachTheStore) {
  auto p = start_synced();
  ASSERT_TRUE(p->call(request("echo", {{"x", 1}}, "s")).ok());
  ASSERT_TRUE(p->call(request("echo", {{"x", 1}})).ok());
  ASSERT_TRUE(p->call(request("put", {{"key", "k"}, {"value", 1}})).ok());  // anonymous
  auto failed = p->call(request("fail", {{"type", "ValueError"}, {"message", "no"}}, "s"));
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(sync_->received(), 0u);
}

TEST_F(PoolSessionSyncTest, ASessionFromTheStoreIsRebuiltFromItsJournal) {
  auto p = start_synced();
  p->replace_session(
      "moved-in",
      json{{"entries",
            {{{"command", "put"}, {"object", "k"}, {"args", {{"key", "k"}, {"value", "v"}}}}}}});
  auto got = p->call(request("get", {{"key", "k"}}, "moved-in"));
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ((*got)["value"], "v");
  EXPECT_EQ(p->stats().sessions_replayed, 1u);

  // A truncated journal cannot rebuild it: the session is lost, honestly.
  p->replace_session("half", json{{"entries", json::array()},
                                  {"truncated", "the journal passed its bound of 1 entries"}});
  auto lost = p->call(request("get", {{"key", "k"}}, "half"));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().category, ErrorCategory::kSessionLost);
  EXPECT_TRUE(has(lost.error().message, "passed its bound")) << lost.error().message;

  // Forgotten: the worker drops it, and the next call starts it empty.
  p->replace_session("moved-in", std::nullopt);
  auto gone = p->call(request("keys", {}, "moved-in"));
  ASSERT_TRUE(gone.ok()) << gone.error().describe();
  EXPECT_EQ((*gone)["keys"], json::array());
}

}  // namespace
}  // namespace mlbridge::testing
