#pragma once

// What the chaos thread did, to which bridge and worker, and when: the evidence that every failed
// call is checked against. Thread-safe: the chaos thread writes, completion handlers on the host's
// loop thread finish command faults, the final judgement reads.

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace mlbridge::chaos {

using Clock = std::chrono::steady_clock;

enum class FaultKind {
  kKill,          ///< SIGKILL sent to a worker.
  kStop,          ///< SIGSTOP sent to a worker; ends with SIGCONT (or its death).
  kCrash,         ///< A `crash` command: the handler exits or kills itself.
  kHang,          ///< A `sleep` far past its deadline: interrupted by SIGINT, the worker lives.
  kHangStubborn,  ///< A `spin` that swallows SIGINT: the worker is killed after the grace.
  kPrint,         ///< A `print` to stdout: must disturb nothing.
  kRaise,         ///< A `fail` command: the handler raises.
  kStall,         ///< Not injected: this process got no CPU for a while (StallWatch).
};

inline constexpr FaultKind kAllFaultKinds[] = {
    FaultKind::kKill,         FaultKind::kStop,  FaultKind::kCrash, FaultKind::kHang,
    FaultKind::kHangStubborn, FaultKind::kPrint, FaultKind::kRaise, FaultKind::kStall};

const char* to_string(FaultKind kind);

struct Fault {
  FaultKind kind;
  std::string bridge;
  std::string worker_id;  ///< Known at once for signals; for commands, once they completed.
  Clock::time_point start;
  Clock::time_point end;  ///< Clock::time_point::max() while the fault lasts.
  int calls_held = 0;     ///< Signals: calls in flight on the worker as the host reported it.
};

class FaultLog {
 public:
  /// How long after a fault ends its bridge may still be short of workers (replacements start
  /// under load on a busy machine). Generous on purpose: this bounds attribution, not timing.
  static constexpr std::chrono::seconds kRecovery{20};

  /// Records a fault that is already over (a kill) or still open (end = max); returns its index.
  std::size_t record(Fault fault);
  /// Closes an open fault, and names its worker when it was not known at the start.
  void finish(std::size_t index, Clock::time_point end, const std::string& worker_id = {});

  /// A fault of one of `kinds` hit `worker_id` (exactly that worker) before `until`.
  bool worker_hit(const std::string& worker_id, Clock::time_point until,
                  std::initializer_list<FaultKind> kinds) const;
  /// Any fault that takes capacity away (all but print and raise) touched `bridge` during
  /// [from, until], its recovery included.
  bool bridge_disturbed(const std::string& bridge, Clock::time_point from,
                        Clock::time_point until) const;

  /// The machine stalled (StallWatch) during [from, until], or kStallRecovery before it.
  bool stalled(Clock::time_point from, Clock::time_point until) const;
  /// How long after a stall calls and workers may still feel it (backlogs being worked off).
  static constexpr std::chrono::seconds kStallRecovery{5};

  std::map<FaultKind, std::size_t> counts() const;
  /// The most calls a worker of `bridge` held when it got a fault of `kind`.
  int most_calls_held(const std::string& bridge, FaultKind kind) const;
  std::size_t total() const;

 private:
  bool any(const std::string& bridge, Clock::time_point from, Clock::time_point until,
           bool (*kind_matches)(FaultKind)) const;

  mutable std::mutex mutex_;
  std::vector<Fault> faults_;
};

}  // namespace mlbridge::chaos
