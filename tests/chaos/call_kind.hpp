#pragma once

// The calls of the chaos test: what they are, what a correct answer is, and what comes back when
// one fails. Plain values; any thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "fault_log.hpp"
#include "mlbridge/errors/error.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::chaos {

using json = protocol::json;

enum class CallKind {
  // Calls of the client threads: each must succeed with its exact result, or fail only in a way
  // that a fault explains.
  kEcho,       ///< Fast: the arguments come back.
  kSleep,      ///< Slow: a short sleep.
  kStream,     ///< Chunks numbered 0..n-1, then a result.
  kPut,        ///< Session-bound: store a value.
  kGet,        ///< Session-bound: read back a value stored earlier in the same session.
  kFail,       ///< Raises ValueError: invalid_argument, never a success.
  kRateLimit,  ///< Raises RateLimitError, which the YAML maps to rate_limit.
  // Calls of the async load, many in flight at once on the concurrent bridge.
  kAsyncSleep,     ///< async_sleep: {"slept": s}.
  kAsyncStream,    ///< async_stream: chunks {"i": 0..n-1}, then {"chunks": n}.
  kAsyncSession,   ///< Session-bound async_turn: runs after every earlier call of its session.
  kAsyncCancel,    ///< Cancelled in flight (Host::cancel): cancelled, or a success when allowed.
  kAsyncDeadline,  ///< Sleeps past its deadline: timeout (the worker cancels the task).
  // Calls of the chaos thread: faults delivered through handlers.
  kChaosCrash,         ///< The handler exits: worker_crashed.
  kChaosHang,          ///< Sleeps past its deadline: timeout (SIGINT ends it).
  kChaosHangStubborn,  ///< Spins and swallows SIGINT: timeout, and the worker is killed.
  kChaosPrint,         ///< Prints to stdout: succeeds, and disturbs nobody.
};

const char* to_string(CallKind kind);
bool is_chaos(CallKind kind);
/// True for the calls of the async load.
bool is_async(CallKind kind);

/// What a call is and what a correct answer looks like.
struct CallSpec {
  CallKind kind = CallKind::kEcho;
  std::string bridge;
  std::string command;
  json args = json::object();
  std::optional<std::string> session;
  std::chrono::milliseconds timeout{5000};
  json expected;            ///< The result a success must carry exactly.
  int expected_chunks = 0;  ///< Streams: exactly this many chunks, {"index": 0..n-1}, in order.
  std::optional<std::size_t> fault;  ///< Chaos commands: their entry in the fault log.
  /// Session-bound calls of the async load: the call's place in its session (1, 2, ...). Its
  /// success must come after the successes of every earlier call of that session.
  std::optional<std::uint64_t> sequence;
  /// kAsyncCancel: the call may finish before its cancel arrives, so a success is right too.
  bool may_beat_cancel = false;
  /// kAsyncDeadline: the host sends the worker a cancel at the deadline and waits up to
  /// cancel_grace_ms for the answer; a handler that ended before that cancel reached it (a
  /// stopped or busy worker) answers with its result. So a success is right within this long
  /// after submission (deadline + cancel_grace), never later.
  std::optional<std::chrono::milliseconds> success_window;

  /// True for the commands that stream chunks.
  bool streams() const { return command == "stream" || command == "async_stream"; }
  /// The key that numbers the chunks: "index" (stream) or "i" (async_stream).
  const char* chunk_key() const { return command == "async_stream" ? "i" : "index"; }
};

/// A failed call, kept for the final judgement (which needs every fault, also later ones).
struct Failure {
  CallKind kind = CallKind::kEcho;
  std::string bridge;
  bool session_bound = false;
  bool shared_worker = false;  ///< On a bridge whose workers hold many calls at once.
  Clock::time_point submitted;
  Clock::time_point completed;
  Error error;  ///< Without its traceback (kept small).
};

}  // namespace mlbridge::chaos
