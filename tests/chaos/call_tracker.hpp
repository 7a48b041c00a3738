#pragma once

// Follows every call of the chaos test from submission to completion: counts completions (exactly
// one each), checks successes at once, keeps failures for the final judgement, and knows which
// calls are still in flight (lost ones, at the end). Thread-safe: client threads and the chaos
// thread begin calls; the host's loop thread completes them.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "call_kind.hpp"
#include "fault_log.hpp"
#include "mlbridge/errors/result.hpp"

namespace mlbridge::chaos {

/// Violation counters; every one must stay 0.
struct Violations {
  std::size_t lost = 0;           ///< Never completed.
  std::size_t doubled = 0;        ///< Completed more than once.
  std::size_t hangs = 0;          ///< Completed after deadline + grace.
  std::size_t wrong_results = 0;  ///< Success with the wrong result or chunks.
  std::size_t unexplained = 0;    ///< Failure whose category matches nothing done to it.
  std::size_t out_of_order = 0;   ///< Success of a session's call before an earlier one's.
  /// Not violations: successes of calls cancelled or past their deadline that came too late,
  /// while the machine stalled (the host's own loop did not run; see StallWatch).
  std::size_t late_in_stall = 0;
  std::size_t total() const {
    return lost + doubled + hangs + wrong_results + unexplained + out_of_order;
  }  // late_in_stall is not one
};

class CallTracker {
 public:
  /// One tracked call. Its `finished` future completes at the first completion.
  struct Call {
    CallSpec spec;
    Clock::time_point submitted;
    std::uint64_t id = 0;
    std::atomic<int> completions{0};
    mutable std::mutex mutex;  // guards chunks, done and failed_with
    std::vector<json> chunks;
    bool done = false;
    std::optional<ErrorCategory> failed_with;  ///< Set before `finished` completes.
    std::promise<void> finished_promise;
    std::shared_future<void> finished;

    /// The category of the failure, or nullopt for a success (or a call still running).
    std::optional<ErrorCategory> failure() const {
      std::lock_guard lock(mutex);
      return failed_with;
    }
  };
  using CallPtr = std::shared_ptr<Call>;

  /// `shared_worker_bridges`: the bridges whose workers hold many calls at once (a fault to one
  /// of their workers explains the failure of every call it held).
  CallTracker(FaultLog& faults, std::chrono::milliseconds grace,
              std::set<std::string> shared_worker_bridges = {});

  /// Starts tracking a call about to be submitted.
  CallPtr begin(CallSpec spec);
  /// The handlers to pass to Host::execute_async for `call`.
  std::function<void(Result<json>)> completion_handler(const CallPtr& call);
  std::function<void(json)> chunk_handler(const CallPtr& call);

  /// Calls begun and not completed yet.
  std::size_t in_flight() const;
  /// Judges every failure against the faults and counts what is still in flight as lost. Call
  /// once, after the run, when no call can complete any more.
  Violations judge();

  /// Outcomes per kind: "ok" or the error category.
  std::map<CallKind, std::map<std::string, std::size_t>> outcomes() const;
  std::size_t calls() const;
  /// Up to a few descriptions of violations, for the report.
  std::vector<std::string> examples() const;
  /// For each worker of a shared-worker bridge that failed calls with worker_crashed: how many
  /// (one death answers every call the worker held).
  std::map<std::string, std::size_t> crashed_calls_per_worker() const;

 private:
  void complete(const CallPtr& call, Result<json> result);
  /// Counts a session call's success that comes after a later call's success of its session.
  void check_order(const Call& call);
  void violation(std::size_t Violations::*counter, const Call& call, const std::string& what);

  FaultLog& faults_;
  const std::chrono::milliseconds grace_;
  const std::set<std::string> shared_worker_bridges_;
  mutable std::mutex mutex_;
  /// Session id -> the highest CallSpec::sequence of its calls that succeeded so far.
  std::map<std::string, std::uint64_t> last_success_in_session_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, CallPtr> in_flight_;
  std::vector<Failure> failures_;
  /// Successes that are wrong only by their timing (a cancelled or deadline call's handler ended
  /// before its cancel reached the worker, seen after the window): judged against stalls.
  struct LateSuccess {
    std::string what;
    Clock::time_point submitted;
    Clock::time_point completed;
  };
  std::vector<LateSuccess> late_successes_;
  std::map<CallKind, std::map<std::string, std::size_t>> outcomes_;
  std::size_t calls_ = 0;
  Violations violations_;
  std::vector<std::string> examples_;
};

}  // namespace mlbridge::chaos
