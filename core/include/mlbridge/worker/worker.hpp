#pragma once

/// @file
/// One supervised Python worker process speaking the wire protocol.
///
/// Threading: a Worker lives on one event loop (an io_context run by one thread). Every member
/// function must be called on that loop thread, and every handler is invoked on it; handlers must
/// not block. The Worker never blocks the loop: all I/O is asynchronous. Thread-safe use from
/// other threads goes through `WorkerClient` (or, later, a pool).
///
/// Ownership: created as a shared_ptr; pending operations keep it alive. Dropping the last
/// reference to a running worker kills its process group and reaps it.

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/process/exit_status.hpp"
#include "mlbridge/process/spawner.hpp"
#include "mlbridge/protocol/message.hpp"
#include "mlbridge/worker/worker_config.hpp"

namespace mlbridge::worker {

using json = protocol::json;

/// Lifecycle of a worker. Calls are accepted only when ready.
enum class WorkerState { kIdle, kStarting, kReady, kStopping, kExited };

std::string_view to_string(WorkerState state);

/// Identifies one call on one worker.
using CallId = std::uint64_t;

/// Per-call options.
struct CallOptions {
  std::optional<std::string> session_id;
  std::chrono::milliseconds timeout = std::chrono::seconds(30);  ///< Deadline from submission.
  std::function<void(json)> on_chunk;  ///< Streaming chunks, in order, before the result.
  /// Sent as the request's `session_state` (see protocol::Request); null: left out.
  json session_state;
  /// Runs before `on_done` of a successful call whose response carries `session_state` or
  /// `session_journal`, with those two fields (null when absent).
  std::function<void(json state_change, json journal)> on_session_update;
  /// The args already encoded, sent instead of the `args` DOM (which is ignored); see
  /// protocol::encode_request_frame.
  std::shared_ptr<const protocol::PreEncodedArgs> encoded_args;
  /// When true, a successful call's result is a json string holding the result as compact JSON
  /// text (bytes as {"__bytes__": base64}): transcoded straight from a MessagePack frame, or
  /// printed from the decoded value otherwise. A result that cannot be printed fails the call.
  bool result_as_json_text = false;
};

/// How and why a worker process ended, delivered once after it was reaped.
struct WorkerExit {
  process::ExitStatus status;
  bool expected = false;  ///< True when the host asked it to stop.
  std::vector<std::string> stderr_tail;
  std::string reason;  ///< Why, in words (includes the exit description).
};

class Worker;
using WorkerPtr = std::shared_ptr<Worker>;

class Worker : public std::enable_shared_from_this<Worker> {
 public:
  using StartHandler = std::function<void(Result<protocol::Hello>)>;
  using CallHandler = std::function<void(Result<json>)>;
  using ExitHandler = std::function<void(const WorkerExit&)>;

  /// Makes a worker in state kIdle; nothing is spawned until start().
  static WorkerPtr create(boost::asio::io_context& io, WorkerConfig config,
                          process::SpawnerPtr spawner = process::default_spawner());
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Spawns the process, waits (asynchronously) for hello, sends init, and reports once: the
  /// hello when ready, or bridge_unavailable naming the cause (with the stderr tail). A worker
  /// that exits on its own before its hello with a failure status and a Python traceback on
  /// stderr failed to import its script: that is invalid_configuration, not retryable, with the
  /// exception's type and its traceback in the error's fields (not flattened into the message).
  void start(StartHandler on_started);

  /// Sends a request. `on_done` runs exactly once: with the result, or with an error (Python
  /// exception, timeout, cancelled, worker_crashed, protocol_error). Fails at once with
  /// bridge_unavailable when the worker is not ready. A condemned worker (accepting() false) still
  /// takes calls sent to it, such as its owner's health pings; owners send new work only to
  /// workers that are accepting().
  CallId call(std::string command, json args, CallOptions options, CallHandler on_done);

  /// Cancels a call; the caller's handler gets `cancelled` (a passed deadline does the same and
  /// answers `timeout`). False if the call is unknown or already answered (nothing is sent).
  /// - Concurrency 1: a running call gets SIGINT (with its id on the cancel pipe when
  ///   pipelining); a Python that does not answer within cancel_grace has its group killed, and
  ///   the other calls it held fail worker_crashed. A call still waiting in stdin is answered at
  ///   once.
  /// - Concurrency above 1: the worker is sent `{"type": "cancel", "id": ID}`. A `Cancelled`
  ///   answer within cancel_grace completes the call ("the worker stopped it and kept serving").
  ///   Without an answer in time the call is answered at once and the worker is condemned:
  ///   accepting() turns false (a warning is logged once), its other calls keep running, and
  ///   its owner should stop() it once they have ended; if nobody does, its group is killed at a
  ///   hard bound (the latest deadline of its calls then, at most 10 minutes away, plus
  ///   cancel_grace), failing what it still holds with worker_crashed. A late answer of a call
  ///   already answered is dropped.
  bool cancel(CallId id);

  /// Graceful stop: `shutdown`, then SIGTERM after shutdown_timeout, then SIGKILL; the process is
  /// always reaped. `on_stopped` runs once after it was reaped.
  void stop(std::function<void()> on_stopped = {});

  /// Kills the process group at once (SIGKILL). The exit is reported as usual.
  void kill();

  /// Called once when the process has ended and was reaped.
  void set_exit_handler(ExitHandler on_exit) { on_exit_ = std::move(on_exit); }

  WorkerState state() const { return state_; }
  const std::string& id() const { return config_.worker_id; }
  const WorkerConfig& config() const { return config_; }
  pid_t pid() const { return pid_; }
  /// Calls sent and not yet completed. When a worker exits, every one of them is answered once
  /// (worker_crashed when it died on its own).
  std::size_t in_flight() const;
  /// Calls this worker holds at once: its hello's `concurrency`, clamped to
  /// [1, kMaxWorkerConcurrency] and to WorkerConfig::max_concurrency. Above 1 the worker runs
  /// calls side by side and is cancelled by a `cancel` message per call (never SIGINT);
  /// pipelining then stays off. 1 before the hello.
  std::size_t capacity() const { return capacity_; }
  /// True while the worker is ready and takes new calls. False once it was condemned: a call
  /// ignored its cancel for cancel_grace (that call was answered at once); the worker finishes
  /// the calls it holds and its owner stops it, or it is killed at a hard bound.
  bool accepting() const { return state_ == WorkerState::kReady && !condemned_; }
  /// Whether calls may be sent while another runs and still be cancelled before they start: the
  /// config asked for a cancel pipe (WorkerConfig::cancel_pipe) and the hello says the worker
  /// reads it and serves one request at a time. Without it, calls sent together still work, but
  /// a cancelled waiting call still runs (its answer is dropped).
  bool pipelining() const { return pipelining_; }
  /// False for a call written to a worker that serves one request at a time while an older
  /// request still runs there: it waits in the worker's stdin. True once the worker started it
  /// (or answered it), and for workers serving several at once. Valid in a call's handler too,
  /// so a pool can tell the calls a crash took from those it merely stranded.
  bool has_started(CallId id) const;
  /// The hello of a started worker.
  const protocol::Hello& hello() const { return hello_; }
  /// The last lines the worker wrote to stderr.
  std::vector<std::string> stderr_tail() const;

 private:
  struct Impl;
  Worker(boost::asio::io_context& io, WorkerConfig config, process::SpawnerPtr spawner);

  WorkerConfig config_;
  WorkerState state_ = WorkerState::kIdle;
  pid_t pid_ = -1;
  protocol::Hello hello_;
  bool pipelining_ = false;
  std::size_t capacity_ = 1;
  bool condemned_ = false;
  ExitHandler on_exit_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlbridge::worker
