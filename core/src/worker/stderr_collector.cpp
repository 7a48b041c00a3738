#include "stderr_collector.hpp"

#include <spdlog/spdlog.h>

namespace mlbridge::worker {
namespace {
constexpr std::size_t kMaxLineBytes = 4096;
constexpr std::size_t kMaxSummaryBytes = 600;
}  // namespace

void StderrCollector::feed(std::string_view bytes) {
  std::size_t start = 0;
  while (start < bytes.size()) {
    const std::size_t newline = bytes.find('\n', start);
    if (newline == std::string_view::npos) {
      partial_.append(bytes.substr(start));
      if (partial_.size() > kMaxLineBytes) emit(std::move(partial_));
      return;
    }
    partial_.append(bytes.substr(start, newline - start));
    emit(std::move(partial_));
    start = newline + 1;
  }
}

void StderrCollector::flush() {
  if (!partial_.empty()) emit(std::move(partial_));
}

void StderrCollector::emit(std::string line) {
  partial_.clear();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (!redactor_.empty()) line = redactor_.redact(std::move(line));
  spdlog::info("[{}] {}", tag_, line);
  lines_.push_back(std::move(line));
  while (lines_.size() > max_lines_) lines_.pop_front();
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
