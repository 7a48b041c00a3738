// The worker's stderr collector (core/src/worker, private): redaction that holds across reads and
// line cuts, and the log rate limit. The same path end to end with a real worker is in
// tests/integration/worker/worker_stderr_test.cpp.

#include "stderr_collector.hpp"

#include <gtest/gtest.h>

#include <string>

#include "log_capture.hpp"

namespace mlbridge::worker {
namespace {

using namespace std::chrono_literals;
using testing::LogCapture;

const std::string kSecret = "sk-FAKEHOSTKEY-1234";

telemetry::Redactor redactor() {
  return telemetry::Redactor::for_environment({{"OPENAI_API_KEY", kSecret}});
}

// No piece of the secret that could tell it: neither whole nor either side of a cut.
void expect_no_piece_of_the_secret(const std::string& text) {
  EXPECT_EQ(text.find(kSecret), std::string::npos) << text.substr(0, 300);
  EXPECT_EQ(text.find("FAKEHOS"), std::string::npos) << text.substr(0, 300);
  EXPECT_EQ(text.find("TKEY-1234"), std::string::npos) << text.substr(0, 300);
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

TEST(StderrCollectorTest, ASecretSplitAcrossTwoReadsIsRedacted) {
  LogCapture log;
  StderrCollector collector("b/w-1", 10, redactor());
  collector.feed("calling with sk-FAKEHOS");
  collector.feed("TKEY-1234 now\n");
  expect_no_piece_of_the_secret(log.text());
  EXPECT_EQ(collector.tail(), std::vector<std::string>{"calling with [REDACTED] now"});
}

// A line longer than kMaxLineBytes is cut; wherever the secret sits relative to the cut and to
// the reads, it is blanked in the log, the tail and the one-line summary of errors.
TEST(StderrCollectorTest, ASecretAcrossTheCutOfALongLineIsRedacted) {
  for (std::size_t read_size : {std::size_t{1000}, std::size_t{4096}, std::size_t{8192}}) {
    for (std::size_t offset = 4070; offset < 4110; offset += 3) {
      for (std::size_t base : {std::size_t{0}, std::size_t{900}, std::size_t{4096}}) {
        const std::size_t at = base + offset;
        std::string line(20 * 1024, 'x');
        line.replace(at, kSecret.size(), kSecret);
        line += "\n";
        LogCapture log;
        StderrCollector collector("b/w-1", 100, redactor());
        for (std::size_t start = 0; start < line.size(); start += read_size) {
          collector.feed(std::string_view(line).substr(start, read_size));
        }
        collector.flush();
        SCOPED_TRACE("read size " + std::to_string(read_size) + ", secret at " +
                     std::to_string(at));
        expect_no_piece_of_the_secret(log.text());
        expect_no_piece_of_the_secret(joined(collector.tail()));
        expect_no_piece_of_the_secret(collector.summary(100));
        EXPECT_NE(log.text().find("[REDACTED]"), std::string::npos);
      }
    }
  }
}

TEST(StderrCollectorTest, ALongLineIsStillLoggedInPiecesOfBoundedSize) {
  LogCapture log;
  StderrCollector collector("b/w-1", 100, redactor());
  const std::string line(100 * 1024, 'y');
  collector.feed(line);  // no newline yet: the collector must not keep it all
  const auto tail = collector.tail();
  ASSERT_FALSE(tail.empty());
  std::size_t kept = 0;
  for (const auto& piece : tail) {
    EXPECT_LE(piece.size(), StderrCollector::kMaxLineBytes);
    kept += piece.size();
  }
  EXPECT_EQ(tail.size(), 24u);
  EXPECT_GE(kept, line.size() - StderrCollector::kMaxLineBytes) << "at most one piece is held";
}

TEST(StderrCollectorTest, LinesPastTheRateLimitAreCountedAndSummarised) {
  telemetry::LogRateLimit limit;
  limit.lines_per_s = 10;
  limit.burst_lines = 50;
  limit.summary_interval = 10s;
  LogCapture log;
  StderrCollector collector("echo/echo-1", 5, redactor(), limit);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    collector.feed("line " + std::to_string(i) + " " + kSecret + "\n", start);
  }
  std::string text = log.text();
  EXPECT_NE(text.find("line 49 [REDACTED]"), std::string::npos);
  EXPECT_EQ(text.find("line 50 "), std::string::npos) << "past the burst";
  EXPECT_NE(text.find("exceeds the log rate limit"), std::string::npos) << text.substr(0, 2000);
  // The tail for error reports still has the latest lines, redacted.
  EXPECT_EQ(collector.tail().back(), "line 999 [REDACTED]");
  // Once the interval passed, the next line brings the summary of what was suppressed.
  collector.feed("after a while\n", start + 11s);
  text = log.text();
  EXPECT_NE(text.find("[echo/echo-1] suppressed 950 lines"), std::string::npos)
      << text.substr(text.size() - 2000);
  EXPECT_NE(text.find("after a while"), std::string::npos);
  EXPECT_LT(text.find("suppressed 950 lines"), text.find("after a while"));
  expect_no_piece_of_the_secret(text);
}

TEST(StderrCollectorTest, FlushReportsWhatWasSuppressed) {
  telemetry::LogRateLimit limit;
  limit.burst_lines = 3;
  LogCapture log;
  StderrCollector collector("echo/echo-1", 5, {}, limit);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) collector.feed("spam\n", start);
  collector.flush();
  EXPECT_NE(log.text().find("suppressed 7 lines (28 bytes)"), std::string::npos) << log.text();
}

}  // namespace
}  // namespace mlbridge::worker
