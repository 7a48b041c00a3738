#pragma once

// The end of a chaos run: what was checked after the calls, and the printed summary (faults by
// kind, outcomes by kind, every invariant with its count). One thread.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "call_tracker.hpp"
#include "fault_log.hpp"

namespace mlbridge::chaos {

struct Report {
  Violations violations;
  bool pools_recovered = false;
  std::vector<std::string> pool_problems;     ///< The bridges not back to full size, described.
  std::vector<std::string> process_problems;  ///< Leaked, zombie or orphaned processes.
  long fd_growth = 0;                         ///< With the pools full again, against the start.
  long fd_growth_after_host = 0;              ///< After the host is gone, against before it.
  long long rss_growth = 0;                   ///< Bytes, from after warm-up to the end.
  std::uint64_t rss_allowance = 0;
  std::size_t fd_allowance = 0;

  /// The concurrent bridge, when the run had one ("" otherwise), and what its load measured.
  std::string async_bridge;
  int async_target_in_flight = 0;
  int async_peak_in_flight = 0;  ///< Calls in flight at once, as the async load counted them.
  std::size_t async_cancels_sent = 0;
  /// Workers condemned because a call ignored its cancel, and those of them that were neither
  /// stopped nor running a `spin` (reported, not judged: a loop starved of CPU for
  /// cancel_grace_ms on a loaded machine would show here too).
  std::size_t condemned = 0;
  std::vector<std::string> unexplained_condemnations;

  bool passed() const;
};

void print(std::ostream& out, const Report& report, const CallTracker& tracker,
           const FaultLog& faults);

}  // namespace mlbridge::chaos
