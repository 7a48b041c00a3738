#pragma once

/// @file
/// A thread-safe handle on one Worker running on an EventLoop: blocking and asynchronous calls
/// from any thread but the loop's. Used by the CLI, examples and tests; pools take its place for
/// real deployments.
///
/// Ownership: the client owns its worker and stops it on destruction. The EventLoop must outlive
/// the client.

#include <future>
#include <memory>

#include "mlbridge/runtime/event_loop.hpp"
#include "mlbridge/worker/worker.hpp"

namespace mlbridge::worker {

class WorkerClient {
 public:
  /// Starts a worker and waits until it is ready (hello + init) or failed.
  static Result<std::unique_ptr<WorkerClient>> start(
      runtime::EventLoop& loop, WorkerConfig config,
      process::SpawnerPtr spawner = process::default_spawner());
  /// Stops the worker gracefully (waits for it to be reaped).
  ~WorkerClient();
  WorkerClient(const WorkerClient&) = delete;
  WorkerClient& operator=(const WorkerClient&) = delete;

  /// Runs a command and waits for its result. The deadline holds even when Python hangs.
  /// `options.on_chunk` runs on the loop thread.
  Result<json> call(std::string command, json args = json::object(), CallOptions options = {});

  /// Runs a command; the future completes with the result or the error.
  std::future<Result<json>> call_async(std::string command, json args = json::object(),
                                       CallOptions options = {});

  /// Runs a command; `on_done` runs once, on the loop thread.
  void call_async(std::string command, json args, CallOptions options, Worker::CallHandler on_done);

  /// Stops the worker gracefully and waits until it was reaped. Idempotent.
  void stop();

  /// The worker's pid (still valid for inspection after a crash until the client is destroyed).
  pid_t pid() const { return pid_; }
  const protocol::Hello& hello() const { return hello_; }
  /// Current state, read on the loop thread.
  WorkerState state() const;
  /// The underlying worker, for use on the loop thread only.
  const WorkerPtr& worker() const { return worker_; }

 private:
  WorkerClient(runtime::EventLoop& loop, WorkerPtr worker);

  runtime::EventLoop& loop_;
  WorkerPtr worker_;
  pid_t pid_ = -1;
  protocol::Hello hello_;
};

}  // namespace mlbridge::worker
