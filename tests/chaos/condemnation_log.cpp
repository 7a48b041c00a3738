#include "condemnation_log.hpp"

#include <regex>

namespace mlbridge::chaos {

void CondemnationLog::sink_it_(const spdlog::details::log_msg& msg) {
  static const std::regex pattern(
      R"(worker (\S+) takes no new calls: '([^']*)' ignored its cancel)");
  const std::string text(msg.payload.data(), msg.payload.size());
  std::smatch match;
  if (!std::regex_search(text, match, pattern)) return;
  std::lock_guard lock(seen_mutex_);
  seen_.push_back({match[1].str(), match[2].str(), Clock::now()});
}

std::vector<Condemnation> CondemnationLog::all() const {
  std::lock_guard lock(seen_mutex_);
  return seen_;
}

std::vector<Condemnation> CondemnationLog::unexplained(const FaultLog& faults) const {
  std::vector<Condemnation> out;
  for (const auto& c : all()) {
    // A stall starves the worker's loop as a stop does (within cancel_grace before the verdict).
    if (!faults.worker_hit(c.worker_id, c.at, {FaultKind::kStop, FaultKind::kHangStubborn}) &&
        !faults.stalled(c.at - std::chrono::seconds(3), c.at)) {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace mlbridge::chaos
