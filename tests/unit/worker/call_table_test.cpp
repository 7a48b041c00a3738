// The call table alone, its process and stream replaced by recorded hooks: which way a call is
// cancelled, when a worker is condemned or killed, and that every call is answered once.

#include "call_table.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <vector>

namespace mlbridge::worker::detail {
namespace {

using namespace std::chrono_literals;

class CallTableTest : public ::testing::Test {
 protected:
  CallTableTest() {
    config_.bridge = "b";
    config_.worker_id = "w1";
    config_.cancel_grace = 20ms;
  }

  // Built on first use, after a test adjusted the config.
  CallTable& table() {
    if (!table_) {
      CallTable::Hooks hooks;
      hooks.worker_alive = [this] { return alive_; };
      hooks.send_cancel = [this](CallId id) { cancel_messages_.push_back(id); };
      hooks.interrupt = [this](CallId id) { interrupts_.push_back(id); };
      hooks.kill_worker = [this](Error error) {
        kills_.push_back(error);
        alive_ = false;
      };
      hooks.condemn = [this] { ++condemned_; };
      table_ = std::make_unique<CallTable>(io_, context_, std::move(hooks));
    }
    return *table_;
  }

  struct Outcome {
    int answers = 0;
    std::optional<Result<json>> result;
    int condemned_when_answered = -1;
  };

  // Sends a call with this timeout; its outcome is recorded in the returned slot.
  std::pair<CallId, std::shared_ptr<Outcome>> add(std::chrono::milliseconds timeout = 60s) {
    auto outcome = std::make_shared<Outcome>();
    const CallId id = table().reserve_id();
    CallOptions options;
    options.timeout = timeout;
    table().add(id, "cmd", std::move(options), [this, outcome](Result<json> result) {
      ++outcome->answers;
      outcome->result = std::move(result);
      outcome->condemned_when_answered = condemned_;
    });
    return {id, outcome};
  }

  void run_until(const std::function<bool()>& done) {
    while (!done()) {
      io_.restart();
      io_.run_one_for(10s);
    }
  }

  static protocol::Response cancelled_answer(CallId id) {
    protocol::Response response;
    response.id = id;
    response.error = {"Cancelled", "request was cancelled", "", "cancelled"};
    return response;
  }
  static protocol::Response success(CallId id) {
    protocol::Response response;
    response.id = id;
    response.success = true;
    response.result = "ok";
    return response;
  }

  boost::asio::io_context io_;
  WorkerConfig config_;
  WorkerContext context_{config_, [] { return std::shared_ptr<void>(); }};
  std::unique_ptr<CallTable> table_;
  bool alive_ = true;
  std::vector<CallId> cancel_messages_;
  std::vector<CallId> interrupts_;
  std::vector<Error> kills_;
  int condemned_ = 0;
};

TEST_F(CallTableTest, AConcurrentWorkerIsSentACancelAndItsAnswerEndsTheCall) {
  table().set_mode(/*concurrent=*/true, /*pipelining=*/false);
  auto [id, outcome] = add();
  auto [other, other_outcome] = add();
  EXPECT_TRUE(table().has_started(id));
  EXPECT_TRUE(table().cancel(id));
  EXPECT_EQ(cancel_messages_, std::vector<CallId>{id});
  EXPECT_TRUE(interrupts_.empty());  // never SIGINT
  EXPECT_EQ(outcome->answers, 0);    // waits for the worker's answer

  table().on_response(id, cancelled_answer(id));
  ASSERT_EQ(outcome->answers, 1);
  ASSERT_FALSE(outcome->result->ok());
  EXPECT_EQ(outcome->result->error().category, ErrorCategory::kCancelled);
  EXPECT_NE(outcome->result->error().message.find("kept serving"), std::string::npos);
  EXPECT_EQ(condemned_, 0);
  EXPECT_EQ(table().size(), 1u);

  // A second answer of the same call is dropped; the other call is unaffected.
  table().on_response(id, success(id));
  EXPECT_EQ(outcome->answers, 1);
  table().on_response(other, success(other));
  EXPECT_EQ(other_outcome->answers, 1);
  EXPECT_FALSE(table().cancel(other));  // finished: nothing is sent
  EXPECT_EQ(cancel_messages_.size(), 1u);
}

TEST_F(CallTableTest, AnIgnoredCancelAnswersAtOnceCondemnsOnceAndKillsAtTheHardBound) {
  table().set_mode(true, false);
  auto [stuck, stuck_outcome] = add();
  // Short deadlines: the hard bound is the latest deadline of the calls left, plus the grace.
  auto [second, second_outcome] = add(200ms);
  auto [other, other_outcome] = add(200ms);
  ASSERT_TRUE(table().cancel(stuck));
  run_until([o = stuck_outcome] { return o->answers > 0; });
  ASSERT_FALSE(stuck_outcome->result->ok());
  EXPECT_EQ(stuck_outcome->result->error().category, ErrorCategory::kCancelled);
  EXPECT_NE(stuck_outcome->result->error().message.find("ignored its cancel"), std::string::npos);
  EXPECT_EQ(stuck_outcome->condemned_when_answered, 1);  // condemned before it was answered
  EXPECT_TRUE(kills_.empty());

  ASSERT_TRUE(table().cancel(second));
  run_until([o = second_outcome] { return o->answers > 0; });
  EXPECT_EQ(condemned_, 1);  // once

  // The other call still runs and is answered by the worker.
  table().on_response(other, success(other));
  ASSERT_EQ(other_outcome->answers, 1);
  EXPECT_TRUE(other_outcome->result->ok());

  run_until([&] { return !kills_.empty(); });
  EXPECT_EQ(kills_.front().category, ErrorCategory::kWorkerCrashed);
  EXPECT_NE(kills_.front().message.find("hard bound"), std::string::npos);
  // A late answer of the stuck call is dropped.
  table().on_response(stuck, success(stuck));
  EXPECT_EQ(stuck_outcome->answers, 1);
}

TEST_F(CallTableTest, APassedDeadlineCancelsAConcurrentCallAndAnswersTimeout) {
  table().set_mode(true, false);
  auto [id, outcome] = add(10ms);
  run_until([&] { return !cancel_messages_.empty(); });
  EXPECT_EQ(cancel_messages_.front(), id);
  table().on_response(id, cancelled_answer(id));
  ASSERT_EQ(outcome->answers, 1);
  EXPECT_EQ(outcome->result->error().category, ErrorCategory::kTimeout);
}

TEST_F(CallTableTest, AOneAtATimeWorkerGetsSigintForItsRunningCallOnly) {
  table().set_mode(false, false);
  auto [running, running_outcome] = add();
  auto [waiting, waiting_outcome] = add();
  EXPECT_TRUE(table().has_started(running));
  EXPECT_FALSE(table().has_started(waiting));

  // A waiting call is answered at once, without touching the worker.
  ASSERT_TRUE(table().cancel(waiting));
  ASSERT_EQ(waiting_outcome->answers, 1);
  EXPECT_NE(waiting_outcome->result->error().message.find("had not started"), std::string::npos);
  EXPECT_TRUE(interrupts_.empty());
  EXPECT_TRUE(cancel_messages_.empty());

  // The running one is interrupted; ignoring it for cancel_grace kills the worker.
  ASSERT_TRUE(table().cancel(running));
  EXPECT_EQ(interrupts_, std::vector<CallId>{running});
  run_until([o = running_outcome] { return o->answers > 0; });
  ASSERT_EQ(kills_.size(), 1u);
  EXPECT_NE(kills_.front().message.find("ignored cancellation"), std::string::npos);
  EXPECT_EQ(condemned_, 0);
}

TEST_F(CallTableTest, APipeliningWorkerIsToldOfAWaitingCallItShouldDrop) {
  table().set_mode(false, true);
  auto [running, running_outcome] = add();
  auto [waiting, waiting_outcome] = add();
  ASSERT_TRUE(table().cancel(waiting));
  EXPECT_EQ(interrupts_, std::vector<CallId>{waiting});
  EXPECT_EQ(waiting_outcome->answers, 1);
  EXPECT_EQ(running_outcome->answers, 0);
}

TEST_F(CallTableTest, TheOldestCallComesFirstUntilTheTableIsEmpty) {
  table().set_mode(true, false);
  auto [first, first_outcome] = add();
  auto [second, second_outcome] = add();
  std::vector<CallId> order;
  while (auto oldest = table().oldest()) {
    order.push_back(oldest->first);
    table().complete(oldest->first, Error::make(ErrorCategory::kWorkerCrashed, "gone"));
  }
  EXPECT_EQ(order, (std::vector<CallId>{first, second}));
  EXPECT_EQ(first_outcome->answers, 1);
  EXPECT_EQ(second_outcome->answers, 1);
  EXPECT_FALSE(table().cancel(987));
}

}  // namespace
}  // namespace mlbridge::worker::detail
