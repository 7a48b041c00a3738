#include "invariants.hpp"

namespace mlbridge::chaos {
namespace {

bool is_python_type(const Error& error, const std::string& type) {
  const auto& t = error.python_type;
  return t == type || (t.size() > type.size() && t.ends_with("." + type));
}

// What the call asked for: a failure that is the call's own purpose.
bool expected_by_kind(const Failure& failure) {
  const Error& e = failure.error;
  switch (failure.kind) {
    case CallKind::kFail:
      return e.category == ErrorCategory::kInvalidArgument && is_python_type(e, "ValueError");
    case CallKind::kRateLimit:
      return e.category == ErrorCategory::kRateLimit && is_python_type(e, "RateLimitError");
    case CallKind::kChaosCrash:
      return e.category == ErrorCategory::kWorkerCrashed && !e.worker_id.empty();
    case CallKind::kChaosHang:
    case CallKind::kChaosHangStubborn:
    case CallKind::kAsyncDeadline:
      return e.category == ErrorCategory::kTimeout;
    case CallKind::kAsyncCancel:
      return e.category == ErrorCategory::kCancelled;
    default:
      return false;
  }
}

// async_turn answers the turns its worker ran for the session, in the order they ran: strictly
// increasing (a session's calls run in the order sent) and ending with this call's own turn.
// A worker that died took the list with it, so the list may begin after a gap.
std::optional<std::string> wrong_turns(const CallSpec& spec, const json& result) {
  const auto turns = result.find("turns");
  if (turns == result.end() || !turns->is_array() || turns->empty()) {
    return "async_turn answered " + result.dump() + " instead of {\"turns\": [...]}";
  }
  for (std::size_t i = 1; i < turns->size(); ++i) {
    if (!((*turns)[i - 1] < (*turns)[i])) {
      return "the session's turns ran out of order: " + turns->dump();
    }
  }
  if (turns->back() != *spec.sequence) {
    return "turn " + std::to_string(*spec.sequence) + " answered the turns " + turns->dump();
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> wrong_success(const CallSpec& spec, const json& result,
                                         const std::vector<json>& chunks, Clock::duration took) {
  switch (spec.kind) {
    case CallKind::kFail:
    case CallKind::kRateLimit:
    case CallKind::kChaosCrash:
    case CallKind::kChaosHang:
    case CallKind::kChaosHangStubborn:
      return "succeeded although it cannot: " + result.dump();
    case CallKind::kAsyncDeadline:
      if (!spec.success_window || took > *spec.success_window) {
        return "succeeded " +
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
               " ms after it was sent, past its deadline of " +
               std::to_string(spec.timeout.count()) + " ms and the cancel grace: " + result.dump();
      }
      break;
    case CallKind::kAsyncCancel:
      if (!spec.may_beat_cancel) return "succeeded although it was cancelled: " + result.dump();
      break;
    default:
      break;
  }
  if (spec.command == "async_turn") return wrong_turns(spec, result);
  if (result != spec.expected) {
    return "result " + result.dump() + " instead of " + spec.expected.dump();
  }
  if (spec.streams() && static_cast<int>(chunks.size()) != spec.expected_chunks) {
    return std::to_string(chunks.size()) + " chunks instead of " +
           std::to_string(spec.expected_chunks);
  }
  return wrong_chunks(spec, chunks);
}

std::optional<std::string> wrong_chunks(const CallSpec& spec, const std::vector<json>& chunks) {
  if (!spec.streams() && !chunks.empty()) {
    return std::to_string(chunks.size()) + " chunks for a command that streams none";
  }
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i] != json{{spec.chunk_key(), i}}) {
      return "chunk " + std::to_string(i) + " is " + chunks[i].dump();
    }
  }
  return std::nullopt;
}

std::optional<std::string> unexplained(const Failure& failure, const FaultLog& faults) {
  if (expected_by_kind(failure)) return std::nullopt;
  const Error& e = failure.error;
  switch (e.category) {
    case ErrorCategory::kWorkerCrashed:
      // The worker names itself, and it must have been killed while the call was on it. A
      // worker of a one-call bridge runs one call at a time, so a crash or an ignored SIGINT
      // fails only the call that caused it (that call's own kind expects it); a call of someone
      // else handed to a worker that was already condemned would show here.
      if (!e.worker_id.empty() &&
          faults.worker_hit(e.worker_id, failure.completed, {FaultKind::kKill})) {
        return std::nullopt;
      }
      // A worker holding many calls fails them all when it dies: killed, crashed by one of its
      // calls, replaced after a stop made it miss health checks, or killed at the hard bound
      // after a call ignored its cancel (condemned). Nothing else may end its calls.
      // A machine stall does to every worker what a stop does.
      if (failure.shared_worker && !e.worker_id.empty() &&
          (faults.worker_hit(e.worker_id, failure.completed,
                             {FaultKind::kStop, FaultKind::kCrash, FaultKind::kHangStubborn}) ||
           faults.stalled(failure.submitted, failure.completed))) {
        return std::nullopt;
      }
      return "worker_crashed, but nobody killed, stopped or crashed worker '" + e.worker_id + "'";
    case ErrorCategory::kSessionLost:
      // The host replays a session's journal on another worker when its worker dies.
      return std::string("session_lost is never acceptable here: sessions survive their worker");
    case ErrorCategory::kTimeout:
      // A deadline can pass only while the bridge is short of workers: stopped, hung, killed or
      // crashed ones, or their replacements still starting; or while the machine stalled.
      if (faults.bridge_disturbed(failure.bridge, failure.submitted, failure.completed) ||
          faults.stalled(failure.submitted, failure.completed)) {
        return std::nullopt;
      }
      return "timeout, but bridge '" + failure.bridge + "' was not disturbed during the call";
    default:
      return std::string("category ") + std::string(to_string(e.category)) +
             " matches nothing done to the call";
  }
}

}  // namespace mlbridge::chaos
