#include "call_tracker.hpp"

#include <algorithm>

#include "invariants.hpp"

namespace mlbridge::chaos {
namespace {
constexpr std::size_t kMaxExamples = 20;
}

CallTracker::CallTracker(FaultLog& faults, std::chrono::milliseconds grace,
                         std::set<std::string> shared_worker_bridges)
    : faults_(faults), grace_(grace), shared_worker_bridges_(std::move(shared_worker_bridges)) {}

CallTracker::CallPtr CallTracker::begin(CallSpec spec) {
  auto call = std::make_shared<Call>();
  call->spec = std::move(spec);
  call->finished = call->finished_promise.get_future().share();
  std::lock_guard lock(mutex_);
  call->id = next_id_++;
  call->submitted = Clock::now();
  in_flight_.emplace(call->id, call);
  ++calls_;
  return call;
}

std::function<void(Result<json>)> CallTracker::completion_handler(const CallPtr& call) {
  return [this, call](Result<json> result) { complete(call, std::move(result)); };
}

std::function<void(json)> CallTracker::chunk_handler(const CallPtr& call) {
  return [this, call](json chunk) {
    std::unique_lock lock(call->mutex);
    if (call->done) {
      lock.unlock();
      violation(&Violations::wrong_results, *call, "a chunk arrived after the call completed");
      return;
    }
    call->chunks.push_back(std::move(chunk));
  };
}

void CallTracker::violation(std::size_t Violations::*counter, const Call& call,
                            const std::string& what) {
  std::lock_guard lock(mutex_);
  ++(violations_.*counter);
  if (examples_.size() < kMaxExamples) {
    examples_.push_back(std::string(to_string(call.spec.kind)) + " #" + std::to_string(call.id) +
                        " on " + call.spec.bridge + " " + call.spec.args.dump() + ": " + what);
  }
}

void CallTracker::complete(const CallPtr& call, Result<json> result) {
  if (call->completions.fetch_add(1) > 0) {
    violation(&Violations::doubled, *call, "completed a second time");
    return;
  }
  const auto now = Clock::now();
  std::vector<json> chunks;
  {
    std::lock_guard lock(call->mutex);
    call->done = true;
    chunks = call->chunks;
    if (!result) call->failed_with = result.error().category;
  }
  const CallSpec& spec = call->spec;
  const auto latest = call->submitted + spec.timeout + grace_;
  if (now > latest) {
    violation(&Violations::hangs, *call,
              "completed " +
                  std::to_string(
                      std::chrono::duration_cast<std::chrono::milliseconds>(now - latest).count()) +
                  " ms after its deadline plus grace");
  }
  if (result) {
    if (auto wrong = wrong_success(spec, *result, chunks, now - call->submitted)) {
      const bool only_late =
          (spec.kind == CallKind::kAsyncDeadline || spec.kind == CallKind::kAsyncCancel) &&
          *result == spec.expected;
      if (only_late) {
        std::lock_guard lock(mutex_);
        late_successes_.push_back({std::string(to_string(spec.kind)) + " #" +
                                       std::to_string(call->id) + " on " + spec.bridge + " " +
                                       spec.args.dump() + ": " + *wrong,
                                   call->submitted, now});
      } else {
        violation(&Violations::wrong_results, *call, *wrong);
      }
    }
    if (spec.session && spec.sequence) check_order(*call);
  } else if (auto wrong = wrong_chunks(spec, chunks)) {
    violation(&Violations::wrong_results, *call, *wrong);
  }
  if (spec.fault) {
    faults_.finish(*spec.fault, now, result ? std::string() : result.error().worker_id);
  }
  {
    std::lock_guard lock(mutex_);
    in_flight_.erase(call->id);
    const std::string label = result ? "ok" : std::string(to_string(result.error().category));
    ++outcomes_[spec.kind][label];
    if (!result) {
      Failure failure;
      failure.kind = spec.kind;
      failure.bridge = spec.bridge;
      failure.session_bound = spec.session.has_value();
      failure.shared_worker = shared_worker_bridges_.count(spec.bridge) > 0;
      failure.submitted = call->submitted;
      failure.completed = now;
      failure.error = std::move(result).error();
      failure.error.traceback.clear();
      failures_.push_back(std::move(failure));
    }
  }
  call->finished_promise.set_value();
}

void CallTracker::check_order(const Call& call) {
  const std::uint64_t sequence = *call.spec.sequence;
  std::uint64_t last = 0;
  {
    std::lock_guard lock(mutex_);
    auto& highest = last_success_in_session_[*call.spec.session];
    last = highest;
    highest = std::max(highest, sequence);
  }
  if (last > sequence) {
    violation(&Violations::out_of_order, call,
              "call " + std::to_string(sequence) + " of session " + *call.spec.session +
                  " succeeded after its call " + std::to_string(last));
  }
}

std::size_t CallTracker::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_.size();
}

Violations CallTracker::judge() {
  std::vector<Failure> failures;
  std::vector<CallPtr> lost;
  {
    std::lock_guard lock(mutex_);
    failures = failures_;
    for (const auto& [id, call] : in_flight_) lost.push_back(call);
  }
  for (const auto& call : lost) violation(&Violations::lost, *call, "never completed");
  std::vector<LateSuccess> late;
  {
    std::lock_guard lock(mutex_);
    late = late_successes_;
  }
  for (const auto& success : late) {
    std::lock_guard lock(mutex_);
    if (faults_.stalled(success.submitted, success.completed)) {
      ++violations_.late_in_stall;
      continue;
    }
    ++violations_.wrong_results;
    if (examples_.size() < kMaxExamples) examples_.push_back(success.what);
  }
  for (const auto& failure : failures) {
    if (auto why = unexplained(failure, faults_)) {
      std::lock_guard lock(mutex_);
      ++violations_.unexplained;
      if (examples_.size() < kMaxExamples) {
        examples_.push_back(std::string(to_string(failure.kind)) + " on " + failure.bridge + ": " +
                            *why + " (" + failure.error.describe() + ")");
      }
    }
  }
  std::lock_guard lock(mutex_);
  return violations_;
}

std::map<CallKind, std::map<std::string, std::size_t>> CallTracker::outcomes() const {
  std::lock_guard lock(mutex_);
  return outcomes_;
}

std::size_t CallTracker::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

std::map<std::string, std::size_t> CallTracker::crashed_calls_per_worker() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::size_t> counts;
  for (const auto& failure : failures_) {
    if (failure.shared_worker && failure.error.category == ErrorCategory::kWorkerCrashed) {
      ++counts[failure.error.worker_id];
    }
  }
  return counts;
}

std::vector<std::string> CallTracker::examples() const {
  std::lock_guard lock(mutex_);
  return examples_;
}

}  // namespace mlbridge::chaos
