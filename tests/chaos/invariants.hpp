#pragma once

// The rules every call of the chaos test is held to: a success carries exactly the right result,
// and a failure has a category that matches what was done to the call. Sessions survive their
// worker (the chaos bridges journal every `put`, sessions.replay), so session_lost never explains
// a failure and a session's values must come back intact after any fault. Pure functions; any
// thread.

#include <optional>
#include <string>
#include <vector>

#include "call_kind.hpp"
#include "fault_log.hpp"

namespace mlbridge::chaos {

/// Why a successful result is wrong, or nullopt when it is right. `chunks` are the stream chunks
/// the call received, in order; `took` is the time from submission to completion.
std::optional<std::string> wrong_success(const CallSpec& spec, const json& result,
                                         const std::vector<json>& chunks, Clock::duration took);

/// Why chunks received by a failed call are wrong (they must be a prefix of 0..n-1).
std::optional<std::string> wrong_chunks(const CallSpec& spec, const std::vector<json>& chunks);

/// Why `failure` is not explained by its own kind nor by the faults, or nullopt when it is.
std::optional<std::string> unexplained(const Failure& failure, const FaultLog& faults);

}  // namespace mlbridge::chaos
