#pragma once

// The calls a worker holds: ids, handlers, deadlines, cancellation and its grace period, and the
// condemnation of a worker whose call ignored its cancel. What it decides it does through Hooks
// (send a cancel message, interrupt the process, kill the worker); it never touches the process
// or the stream itself. Loop-thread only; owned by Worker::Impl.
//
// Two ways to cancel, chosen by the worker's hello:
// - One call at a time (concurrency 1): the running call (the oldest unanswered request) is
//   interrupted (SIGINT, its id on the cancel pipe when pipelining); a call still waiting in the
//   worker's stdin is answered at once. A Python that ignores SIGINT for cancel_grace is killed.
// - Side by side (concurrency > 1): the worker is sent `cancel` with the id. A call it does not
//   answer within cancel_grace is answered at once and condemns the worker: no new calls, its
//   other calls keep running, killed at a hard bound unless its owner stops it first.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "mlbridge/runtime/deadline_queue.hpp"
#include "mlbridge/worker/worker.hpp"
#include "worker_context.hpp"

namespace mlbridge::worker::detail {

class CallTable {
 public:
  struct Hooks {
    /// Whether the worker's process can still be told anything.
    std::function<bool()> worker_alive;
    /// Sends `{"type": "cancel", "id": ID}` (workers running calls side by side).
    std::function<void(CallId)> send_cancel;
    /// Interrupts a one-at-a-time worker's request (SIGINT, with the id on the cancel pipe).
    std::function<void(CallId)> interrupt;
    /// Kills the worker for this reason; its exit then answers the calls it still holds.
    std::function<void(Error)> kill_worker;
    /// The worker must take no new calls (a call ignored its cancel).
    std::function<void()> condemn;
  };

  /// The longest a condemned worker waits for its other calls' deadlines before it is killed.
  static constexpr std::chrono::milliseconds kCondemnedHardBoundCap = std::chrono::minutes(10);

  CallTable(boost::asio::io_context& io, const WorkerContext& context, Hooks hooks);
  ~CallTable();
  CallTable(const CallTable&) = delete;
  CallTable& operator=(const CallTable&) = delete;

  /// How the worker runs calls, from its hello: side by side (`concurrent`) or one at a time,
  /// with a cancel pipe (`pipelining`) or without.
  void set_mode(bool concurrent, bool pipelining);

  /// The id of the next call.
  CallId reserve_id() { return next_id_++; }
  /// Holds a call that was just sent with its reserved id; arms its deadline.
  void add(CallId id, std::string command, CallOptions options, Worker::CallHandler on_done);
  /// Answers a call from the worker's response; a response for a call that is gone is dropped.
  void on_response(CallId id, protocol::Response response);
  /// Hands a chunk to its call; dropped when the call is gone.
  void on_chunk(protocol::Chunk chunk);
  /// Cancels a call (Worker::cancel). False if the call is unknown or answered.
  bool cancel(CallId id);
  /// Answers a call once and forgets it; nothing happens if it is gone.
  void complete(CallId id, Result<json> outcome);

  /// The oldest call held, with its command; none when the table is empty.
  std::optional<std::pair<CallId, std::string>> oldest() const;
  std::size_t size() const { return pending_.size(); }
  /// Whether a held call wants its result as JSON text (CallOptions::result_as_json_text).
  bool wants_result_text(CallId id) const;
  /// See Worker::has_started.
  bool has_started(CallId id) const;
  /// Stops the hard-bound timer (the worker has exited).
  void stop_timers();

 private:
  enum class Interrupt { kNone, kTimeout, kCancel };
  struct PendingCall {
    std::string command;
    Worker::CallHandler on_done;
    std::function<void(json)> on_chunk;
    std::function<void(json, json)> on_session_update;
    bool result_as_json_text = false;  // CallOptions::result_as_json_text
    // Its deadline in deadlines_, until it completes or the deadline passed.
    std::optional<runtime::DeadlineQueue::Ticket> deadline;
    // Started when the call was interrupted: how long the worker has to honour it.
    std::unique_ptr<boost::asio::steady_timer> grace_timer;
    std::chrono::milliseconds timeout{0};
    Interrupt interrupt = Interrupt::kNone;
  };

  bool answered(CallId id);
  bool is_running(CallId id) const;
  void interrupt(CallId id, Interrupt kind);
  void arm_grace(CallId id, PendingCall& call);
  void on_grace_expired(CallId id);
  void condemn(const std::string& command);
  std::chrono::milliseconds hard_bound() const;
  void on_deadline(CallId id);
  Error interrupt_error(const PendingCall& call, const std::string& outcome) const;

  boost::asio::io_context& io_;
  const WorkerContext& context_;
  Hooks hooks_;
  bool concurrent_ = false;
  bool pipelining_ = false;
  bool condemned_ = false;
  std::map<CallId, PendingCall> pending_;  // ordered by id: the oldest is the running one
  CallId next_id_ = 1;
  // Requests written to a one-at-a-time worker and not yet answered by it, oldest first. It runs
  // the front one; the others wait in its stdin. Not kept for workers running calls side by side.
  std::deque<CallId> unanswered_;
  runtime::DeadlineQueue deadlines_;  // every pending call's timeout
  // A condemned worker's hard bound: when it fires, the group is killed whatever still runs.
  boost::asio::steady_timer retire_timer_;
};

}  // namespace mlbridge::worker::detail
