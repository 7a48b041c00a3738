#pragma once

// The rules every call of the chaos test is held to: a success carries exactly the right result,
// and a failure has a category that matches what was done to the call. The session rule lives in
// one place (session_loss_allowed) so that it changes in one line when sessions survive their
// worker. Pure functions; any thread.

#include <optional>
#include <string>
#include <vector>

#include "call_kind.hpp"
#include "fault_log.hpp"

namespace mlbridge::chaos {

/// Sessions survive their worker: the chaos bridges journal every `put` (sessions.replay), so
/// when a session's worker dies (killed, crashed, stopped long enough to be replaced) the host
/// replays the journal on another worker before the session's next call. session_lost then never
/// explains a failure, and a session's values must come back intact after any fault. (False
/// would allow session_lost after a fault on the session's bridge, as before replay existed.)
inline constexpr bool kSessionsSurviveWorkerLoss = true;

/// Whether `failure` (session_lost) is explained by what the chaos thread did.
bool session_loss_allowed(const Failure& failure, const FaultLog& faults);

/// Why a successful result is wrong, or nullopt when it is right. `chunks` are the stream chunks
/// the call received, in order.
std::optional<std::string> wrong_success(const CallSpec& spec, const json& result,
                                         const std::vector<json>& chunks);

/// Why chunks received by a failed call are wrong (they must be a prefix of 0..n-1).
std::optional<std::string> wrong_chunks(const CallSpec& spec, const std::vector<json>& chunks);

/// Why `failure` is not explained by its own kind nor by the faults, or nullopt when it is.
std::optional<std::string> unexplained(const Failure& failure, const FaultLog& faults);

}  // namespace mlbridge::chaos
