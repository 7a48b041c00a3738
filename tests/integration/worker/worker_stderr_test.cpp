// A worker's stderr as the host sees it: its own API key, written raw to fd 2 in awkward pieces
// (split across two reads, across the cut of a long line), never reaches the host's log or the
// stderr tail that an error quotes.

#include <string>

#include "log_capture.hpp"
#include "worker_fixture.hpp"

namespace mlbridge::testing {
namespace {

const std::string kKey = "sk-FAKEHOSTKEY-1234";

// Neither the key nor a half of it that would tell it.
void expect_no_piece_of_the_key(const std::string& text) {
  EXPECT_FALSE(contains(text, kKey)) << text.substr(0, 2000);
  EXPECT_FALSE(contains(text, "FAKEHOS")) << text.substr(0, 2000);
  EXPECT_FALSE(contains(text, "TKEY-1234")) << text.substr(0, 2000);
}

class WorkerStderrTest : public WorkerTest {
 protected:
  std::unique_ptr<WorkerClient> start_writer() {
    auto config = make_config(source_path("tests/support/workers/stderr_writer_bridge.py"));
    config.env["OPENAI_API_KEY"] = kKey;
    return start(std::move(config));
  }
};

TEST_F(WorkerStderrTest, AKeyWrittenInPiecesNeverReachesTheLogOrTheErrorTail) {
  LogCapture log;
  auto worker = start_writer();
  ASSERT_TRUE(worker);
  // Two writes a pause apart: two reads of one line.
  ASSERT_TRUE(worker->call("split", {{"pause", 0.2}}).ok());
  // A 20 KiB line with the key across the 8000th byte, written 4000 bytes at a time: the host
  // has 8000 bytes of it before the rest comes, more than one logged line holds.
  ASSERT_TRUE(worker->call("long_line", {{"size", 20480}, {"at", 7990}, {"chunk", 4000}}).ok());
  // The same at the end of the worker's stderr, where the one-line tail of an error looks.
  ASSERT_TRUE(worker->call("long_line", {{"size", 8100}, {"at", 7990}, {"chunk", 4000}}).ok());
  auto crashed = worker->call("crash");
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.error().category, ErrorCategory::kWorkerCrashed);
  EXPECT_TRUE(contains(crashed.error().message, "last stderr")) << crashed.error().message;
  EXPECT_TRUE(contains(crashed.error().message, "[REDACTED]")) << crashed.error().message;
  expect_no_piece_of_the_key(crashed.error().message);
  const std::string text = log.text();
  EXPECT_TRUE(contains(text, "key [REDACTED] end")) << text.substr(0, 2000);
  expect_no_piece_of_the_key(text);
}

}  // namespace
}  // namespace mlbridge::testing
