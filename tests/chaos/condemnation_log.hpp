#pragma once

// Watches the host's log for workers condemned because a call ignored its cancel ("worker X takes
// no new calls: 'cmd' ignored its cancel ..."), so that the report can say how many there were
// and which of them no fault explains (a worker nobody stopped, whose call honours its cancel).
// A spdlog sink: the host's threads write, the report reads after the run.

#include <spdlog/sinks/base_sink.h>

#include <mutex>
#include <string>
#include <vector>

#include "fault_log.hpp"

namespace mlbridge::chaos {

struct Condemnation {
  std::string worker_id;
  std::string command;  ///< The call that ignored its cancel.
  Clock::time_point at;
};

class CondemnationLog : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<Condemnation> all() const;
  /// Those of `all()` whose worker was neither stopped nor running a `spin` that swallows its
  /// cancel (the only faults that make a worker of the chaos test ignore one), nor starved by a
  /// machine stall.
  std::vector<Condemnation> unexplained(const FaultLog& faults) const;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  mutable std::mutex seen_mutex_;
  std::vector<Condemnation> seen_;
};

}  // namespace mlbridge::chaos
