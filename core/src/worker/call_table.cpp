#include "call_table.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "mlbridge/protocol/transcode.hpp"

namespace mlbridge::worker::detail {

namespace asio = boost::asio;
using std::chrono::milliseconds;

CallTable::CallTable(asio::io_context& io, const WorkerContext& context, Hooks hooks)
    : io_(io),
      context_(context),
      hooks_(std::move(hooks)),
      deadlines_(io, [this](CallId id) { on_deadline(id); }),
      retire_timer_(io) {}

CallTable::~CallTable() = default;

void CallTable::set_mode(bool concurrent, bool pipelining) {
  concurrent_ = concurrent;
  pipelining_ = pipelining;
}

bool CallTable::wants_result_text(CallId id) const {
  const auto it = pending_.find(id);
  return it != pending_.end() && it->second.result_as_json_text;
}

void CallTable::add(CallId id, std::string command, CallOptions options,
                    Worker::CallHandler on_done) {
  PendingCall call;
  call.command = std::move(command);
  call.on_done = std::move(on_done);
  call.on_chunk = std::move(options.on_chunk);
  call.on_session_update = std::move(options.on_session_update);
  call.result_as_json_text = options.result_as_json_text;
  call.timeout = options.timeout;
  // Capped at a week, like the pool's, so that a huge timeout cannot overflow the clock.
  call.deadline =
      deadlines_.arm(asio::steady_timer::clock_type::now() +
                         std::min<milliseconds>(options.timeout, std::chrono::hours(24 * 7)),
                     id);
  pending_.emplace(id, std::move(call));
  if (!concurrent_) unanswered_.push_back(id);
}

void CallTable::complete(CallId id, Result<json> outcome) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  PendingCall call = std::move(it->second);
  pending_.erase(it);
  deadlines_.disarm(call.deadline);
  call.on_done(std::move(outcome));
}

void CallTable::on_response(CallId id, protocol::Response response) {
  const bool was_sent = concurrent_ ? id > 0 && id < next_id_ : answered(id);
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    // A late answer for a call that already completed (timed out or cancelled) or an id that
    // was never sent: drop it, never hand it to another caller.
    spdlog::log(was_sent ? spdlog::level::debug : spdlog::level::warn,
                "{} answered request {} that nobody waits for; dropped", context_.prefix(), id);
    return;
  }
  PendingCall& call = it->second;
  if (response.success) {
    if (call.on_session_update &&
        (!response.session_state.is_null() || !response.session_journal.is_null())) {
      call.on_session_update(std::move(response.session_state),
                             std::move(response.session_journal));
    }
    if (call.result_as_json_text && !response.result_is_json_text) {
      // Not transcoded from the frame (a JSON-codec worker, shared blobs): print the value,
      // through MessagePack where it can (large bytes print ~10x faster that way).
      try {
        auto text = protocol::value_to_json_text(response.result);
        response.result = text ? std::move(*text) : protocol::to_plain_json(response.result).dump();
      } catch (const json::type_error& error) {
        complete(id, context_.make_error(ErrorCategory::kInternal,
                                         "'" + call.command + "' on " + context_.prefix() +
                                             " returned a result that cannot be printed as "
                                             "JSON: " +
                                             error.what(),
                                         call.command));
        return;
      }
    }
    complete(id, std::move(response.result));
    return;
  }
  const auto& wire = response.error;
  if (wire.type == "Cancelled" && call.interrupt != Interrupt::kNone) {
    complete(id, interrupt_error(call, "; the worker stopped it and kept serving"));
    return;
  }
  auto category = parse_error_category(wire.category).value_or(ErrorCategory::kInternal);
  if (wire.type == "Cancelled") category = ErrorCategory::kCancelled;
  Error error = context_.make_error(
      category,
      context_.redactor.redact("'" + call.command + "' failed on " + context_.prefix() + ": " +
                               wire.type + ": " + wire.message),
      call.command);
  error.python_type = wire.type;
  error.traceback = context_.redactor.redact(wire.traceback);
  complete(id, std::move(error));
}

void CallTable::on_chunk(protocol::Chunk chunk) {
  auto it = pending_.find(chunk.id);
  if (it == pending_.end()) return;  // the call is gone: drop its chunks too
  if (it->second.on_chunk) it->second.on_chunk(std::move(chunk.data));
}

bool CallTable::cancel(CallId id) {
  if (pending_.find(id) == pending_.end()) return false;
  interrupt(id, Interrupt::kCancel);
  return true;
}

std::optional<std::pair<CallId, std::string>> CallTable::oldest() const {
  if (pending_.empty()) return std::nullopt;
  return std::make_pair(pending_.begin()->first, pending_.begin()->second.command);
}

bool CallTable::has_started(CallId id) const {
  if (std::find(unanswered_.begin(), unanswered_.end(), id) == unanswered_.end()) return true;
  return concurrent_ || unanswered_.front() == id;
}

void CallTable::stop_timers() { retire_timer_.cancel(); }

// Takes an answered request off `unanswered_` (with any older ones: a worker serving one request
// at a time answers in order). False if the worker was never sent that id.
bool CallTable::answered(CallId id) {
  if (std::find(unanswered_.begin(), unanswered_.end(), id) == unanswered_.end()) return false;
  while (!unanswered_.empty() && unanswered_.front() <= id) unanswered_.pop_front();
  return true;
}

// The running call is the oldest unanswered one when the worker serves one request at a time;
// only then does SIGINT reach the right handler.
bool CallTable::is_running(CallId id) const {
  return !concurrent_ && !unanswered_.empty() && unanswered_.front() == id;
}

void CallTable::interrupt(CallId id, Interrupt kind) {
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second.interrupt != Interrupt::kNone) return;
  PendingCall& call = it->second;
  call.interrupt = kind;
  const bool alive = hooks_.worker_alive();
  if (concurrent_ && alive) {
    hooks_.send_cancel(id);
    arm_grace(id, call);
    return;
  }
  if (!is_running(id) || !alive) {
    // Not started yet (or not targetable): complete now; a later answer is dropped. A request
    // waiting in a pipelining worker's stdin is named on the cancel pipe, so that the worker
    // answers it without running it.
    if (pipelining_ && alive) hooks_.interrupt(id);
    complete(id, interrupt_error(call, " (it had not started on the worker)"));
    return;
  }
  // A pipelining worker acts only on a SIGINT whose id is on the pipe (should the write fail,
  // the grace period below ends it like any worker that ignores SIGINT).
  hooks_.interrupt(id);
  arm_grace(id, call);
}

void CallTable::arm_grace(CallId id, PendingCall& call) {
  call.grace_timer = std::make_unique<asio::steady_timer>(io_, context_.config.cancel_grace);
  call.grace_timer->async_wait(
      [this, life = context_.keep_alive(), id](const boost::system::error_code& ec) {
        if (!ec) on_grace_expired(id);
      });
}

void CallTable::on_grace_expired(CallId id) {
  auto found = pending_.find(id);
  if (found == pending_.end()) return;
  const std::string grace = ms_text(context_.config.cancel_grace);
  if (concurrent_) {
    // The worker's other calls may be fine: answer this one now and let them finish.
    Error error = interrupt_error(found->second, "; the worker ignored its cancel for " + grace +
                                                     ", so it takes no new calls and will be "
                                                     "retired");
    // Condemned before the caller hears of it: its handler must not hand it the next call.
    condemn(error.command);
    complete(id, std::move(error));
    return;
  }
  Error error = interrupt_error(found->second, "; it ignored SIGINT for " + grace +
                                                   ", so the worker was killed and will be "
                                                   "replaced");
  // Condemn the worker before its caller hears of it: the caller's handler must not see a ready
  // worker and hand it the next call.
  hooks_.kill_worker(context_.make_error(
      ErrorCategory::kWorkerCrashed,
      context_.prefix() + " was killed because '" + error.command + "' ignored cancellation",
      error.command));
  complete(id, error);
}

// The worker takes no new calls; its owner stops it once the calls it holds have ended. Should
// that not happen, its group is killed at a hard bound, when every call it held has been
// answered anyway.
void CallTable::condemn(const std::string& command) {
  if (condemned_) return;
  condemned_ = true;
  hooks_.condemn();
  const milliseconds bound = hard_bound();
  spdlog::warn(
      "{} takes no new calls: '{}' ignored its cancel for cancel_grace_ms {}; the {} other "
      "call(s) it holds may finish, then it is retired (killed at the latest in {})",
      context_.prefix(), command, ms_text(context_.config.cancel_grace), pending_.size() - 1,
      ms_text(bound));
  retire_timer_.expires_after(bound);
  retire_timer_.async_wait(
      [this, life = context_.keep_alive(), command](const boost::system::error_code& ec) {
        if (ec || !hooks_.worker_alive()) return;
        hooks_.kill_worker(context_.make_error(
            ErrorCategory::kWorkerCrashed,
            context_.prefix() + " was killed at its hard bound: '" + command +
                "' had ignored its cancel and the worker was not retired in time",
            command));
      });
}

// The latest deadline of the calls not yet interrupted (capped), plus cancel_grace.
milliseconds CallTable::hard_bound() const {
  const auto now = asio::steady_timer::clock_type::now();
  milliseconds latest{0};
  for (const auto& [id, call] : pending_) {
    // An interrupted call is answered within cancel_grace whatever the worker does.
    if (!call.deadline || call.interrupt != Interrupt::kNone) continue;
    latest =
        std::max(latest, std::chrono::duration_cast<milliseconds>((*call.deadline)->first - now));
  }
  return std::min(latest, kCondemnedHardBoundCap) + context_.config.cancel_grace;
}

void CallTable::on_deadline(CallId id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  it->second.deadline.reset();        // expired: the queue forgot it already
  auto life = context_.keep_alive();  // the caller may drop the worker when it hears of it
  interrupt(id, Interrupt::kTimeout);
}

Error CallTable::interrupt_error(const PendingCall& call, const std::string& outcome) const {
  if (call.interrupt == Interrupt::kTimeout) {
    return context_.make_error(ErrorCategory::kTimeout,
                               "'" + call.command + "' on " + context_.prefix() +
                                   " did not finish within " + ms_text(call.timeout) + outcome,
                               call.command);
  }
  return context_.make_error(
      ErrorCategory::kCancelled,
      "'" + call.command + "' on " + context_.prefix() + " was cancelled by the caller" + outcome,
      call.command);
}

}  // namespace mlbridge::worker::detail
