#include "stderr_collector.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace mlbridge::worker {
namespace {
constexpr std::size_t kMaxSummaryBytes = 600;
}  // namespace

void StderrCollector::feed(std::string_view bytes, Clock::time_point now) {
  std::size_t start = 0;
  while (start < bytes.size()) {
    const std::size_t newline = bytes.find('\n', start);
    if (newline == std::string_view::npos) {
      partial_.append(bytes.substr(start));
      if (partial_.size() > kMaxLineBytes) cut_long_line(now);
      return;
    }
    partial_.append(bytes.substr(start, newline - start));
    std::string line = std::move(partial_);
    partial_.clear();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    emit(std::move(line), now);
    start = newline + 1;
  }
}

// Lets go of the start of a line too long to keep whole, kMaxLineBytes at a time. The last
// (longest secret - 1) bytes always stay to be joined with what comes next: a secret that starts
// before them ends inside what is let go (or the cut moves past its end), so redacting the piece
// blanks it.
void StderrCollector::cut_long_line(Clock::time_point now) {
  const std::size_t longest = redactor_.longest_secret();
  const std::size_t hold = longest > 0 ? longest - 1 : 0;
  while (partial_.size() > kMaxLineBytes && partial_.size() > hold) {
    const std::size_t cut =
        redactor_.safe_cut(partial_, std::min(kMaxLineBytes, partial_.size() - hold));
    std::string piece = partial_.substr(0, cut);
    partial_.erase(0, cut);
    emit(std::move(piece), now);
  }
}

void StderrCollector::flush() {
  const auto now = Clock::now();
  if (!partial_.empty()) {
    std::string line = std::move(partial_);
    partial_.clear();
    emit(std::move(line), now);
  }
  report_suppressed(now, /*force=*/true);
}

void StderrCollector::emit(std::string line, Clock::time_point now) {
  if (!redactor_.empty()) line = redactor_.redact(std::move(line));
  if (limiter_.admit(line.size(), now)) {
    if (suppressing_) report_suppressed(now, /*force=*/true);
    spdlog::info("[{}] {}", tag_, line);
  } else {
    if (!suppressing_) {
      suppressing_ = true;
      const auto& limit = limiter_.limit();
      spdlog::warn(
          "[{}] this worker's stderr exceeds the log rate limit ({} lines/s, {} bytes/s, bursts "
          "of {} lines and {} bytes): its lines are counted, not logged, until it slows down "
          "(a summary follows at most every {} s; error reports still quote its latest lines)",
          tag_, limit.lines_per_s, limit.bytes_per_s, limit.burst_lines, limit.burst_bytes,
          limit.summary_interval.count());
    }
    report_suppressed(now, /*force=*/false);
  }
  lines_.push_back(std::move(line));
  while (lines_.size() > max_lines_) lines_.pop_front();
}

void StderrCollector::report_suppressed(Clock::time_point now, bool force) {
  auto report = limiter_.take_report(now, force);
  if (!report) return;
  if (force) suppressing_ = false;
  spdlog::warn(
      "[{}] suppressed {} lines ({} bytes) of this worker's stderr over {:.1f} s (log "
      "rate limit)",
      tag_, report->lines, report->bytes, std::chrono::duration<double>(report->over).count());
}

std::string StderrCollector::summary(std::size_t n) const {
  std::string text;
  const std::size_t first = lines_.size() > n ? lines_.size() - n : 0;
  for (std::size_t i = first; i < lines_.size(); ++i) {
    if (lines_[i].empty()) continue;
    if (!text.empty()) text += " | ";
    text += lines_[i];
  }
  if (text.size() > kMaxSummaryBytes) text = "..." + text.substr(text.size() - kMaxSummaryBytes);
  return text;
}

}  // namespace mlbridge::worker
