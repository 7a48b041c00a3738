#include "call_kind.hpp"

namespace mlbridge::chaos {

const char* to_string(CallKind kind) {
  switch (kind) {
    case CallKind::kEcho:
      return "echo";
    case CallKind::kSleep:
      return "sleep";
    case CallKind::kStream:
      return "stream";
    case CallKind::kPut:
      return "session_put";
    case CallKind::kGet:
      return "session_get";
    case CallKind::kFail:
      return "raise_value_error";
    case CallKind::kRateLimit:
      return "raise_rate_limit";
    case CallKind::kAsyncSleep:
      return "async_sleep";
    case CallKind::kAsyncStream:
      return "async_stream";
    case CallKind::kAsyncSession:
      return "async_session_turn";
    case CallKind::kAsyncCancel:
      return "async_cancelled";
    case CallKind::kAsyncDeadline:
      return "async_past_deadline";
    case CallKind::kChaosCrash:
      return "chaos_crash";
    case CallKind::kChaosHang:
      return "chaos_hang";
    case CallKind::kChaosHangStubborn:
      return "chaos_hang_ignoring_sigint";
    case CallKind::kChaosPrint:
      return "chaos_print_stdout";
  }
  return "unknown";
}

bool is_chaos(CallKind kind) {
  return kind == CallKind::kChaosCrash || kind == CallKind::kChaosHang ||
         kind == CallKind::kChaosHangStubborn || kind == CallKind::kChaosPrint;
}

bool is_async(CallKind kind) {
  return kind == CallKind::kAsyncSleep || kind == CallKind::kAsyncStream ||
         kind == CallKind::kAsyncSession || kind == CallKind::kAsyncCancel ||
         kind == CallKind::kAsyncDeadline;
}

}  // namespace mlbridge::chaos
