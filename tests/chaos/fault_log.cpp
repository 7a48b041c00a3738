#include "fault_log.hpp"

#include <algorithm>

namespace mlbridge::chaos {

const char* to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::kKill:
      return "sigkill";
    case FaultKind::kStop:
      return "sigstop";
    case FaultKind::kCrash:
      return "crash";
    case FaultKind::kHang:
      return "hang";
    case FaultKind::kHangStubborn:
      return "hang_ignoring_sigint";
    case FaultKind::kPrint:
      return "print_stdout";
    case FaultKind::kRaise:
      return "raise";
    case FaultKind::kStall:
      return "machine_stall";
  }
  return "unknown";
}

namespace {
// Stalls have no bridge: FaultLog::stalled asks about them.
bool takes_capacity(FaultKind kind) {
  return kind != FaultKind::kPrint && kind != FaultKind::kRaise && kind != FaultKind::kStall;
}
}  // namespace

std::size_t FaultLog::record(Fault fault) {
  std::lock_guard lock(mutex_);
  faults_.push_back(std::move(fault));
  return faults_.size() - 1;
}

void FaultLog::finish(std::size_t index, Clock::time_point end, const std::string& worker_id) {
  std::lock_guard lock(mutex_);
  Fault& fault = faults_.at(index);
  fault.end = end;
  if (!worker_id.empty()) fault.worker_id = worker_id;
}

bool FaultLog::worker_hit(const std::string& worker_id, Clock::time_point until,
                          std::initializer_list<FaultKind> kinds) const {
  std::lock_guard lock(mutex_);
  for (const auto& f : faults_) {
    if (f.worker_id != worker_id || f.start > until) continue;
    for (FaultKind kind : kinds) {
      if (f.kind == kind) return true;
    }
  }
  return false;
}

bool FaultLog::any(const std::string& bridge, Clock::time_point from, Clock::time_point until,
                   bool (*kind_matches)(FaultKind)) const {
  std::lock_guard lock(mutex_);
  for (const auto& f : faults_) {
    if (f.bridge != bridge || !kind_matches(f.kind) || f.start > until) continue;
    const bool still_open = f.end == Clock::time_point::max();
    if (still_open || f.end + kRecovery >= from) return true;
  }
  return false;
}

bool FaultLog::bridge_disturbed(const std::string& bridge, Clock::time_point from,
                                Clock::time_point until) const {
  return any(bridge, from, until, takes_capacity);
}

std::map<FaultKind, std::size_t> FaultLog::counts() const {
  std::lock_guard lock(mutex_);
  std::map<FaultKind, std::size_t> counts;
  for (const auto& f : faults_) ++counts[f.kind];
  return counts;
}

bool FaultLog::stalled(Clock::time_point from, Clock::time_point until) const {
  std::lock_guard lock(mutex_);
  for (const auto& f : faults_) {
    if (f.kind == FaultKind::kStall && f.start <= until && f.end + kStallRecovery >= from) {
      return true;
    }
  }
  return false;
}

int FaultLog::most_calls_held(const std::string& bridge, FaultKind kind) const {
  std::lock_guard lock(mutex_);
  int most = 0;
  for (const auto& f : faults_) {
    if (f.bridge == bridge && f.kind == kind) most = std::max(most, f.calls_held);
  }
  return most;
}

std::size_t FaultLog::total() const {
  std::lock_guard lock(mutex_);
  return faults_.size();
}

}  // namespace mlbridge::chaos
