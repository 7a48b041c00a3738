#pragma once

// The worker's operating-system process: spawn, the interrupt line (SIGINT, with the call's id
// on the cancel pipe), signals to its process group, exit detection through its pidfd, reaping,
// and its stderr (logged, its tail kept for errors, and what it wrote before its hello kept to
// find an import-time traceback in). Loop-thread only; owned by Worker::Impl.

#include <sys/types.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/process/exit_status.hpp"
#include "mlbridge/process/spawner.hpp"
#include "stderr_collector.hpp"
#include "worker_context.hpp"

namespace mlbridge::worker::detail {

class ChildProcess {
 public:
  /// The child's ends of the protocol pipes, for the channel.
  struct ProtocolPipes {
    int stdin_fd = -1;
    int stdout_fd = -1;
  };
  /// Runs once the process has ended and was reaped, with how it ended.
  using ExitHandler = std::function<void(process::ExitStatus)>;

  ChildProcess(boost::asio::io_context& io, const WorkerContext& context);
  /// Kills the group and reaps the leader if that has not happened yet (blocking, brief).
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// Adds the cancel pipe (MLBRIDGE_CANCEL_FD) to the spec when the config asks for one. Without
  /// it (none asked for, or none to be had) the worker gets one request at a time.
  void add_cancel_pipe(process::ProcessSpec& spec);
  /// Spawns the process and starts reading its stderr and watching for its exit. Fails (nothing
  /// left running) when it cannot be spawned or supervised; the message says why.
  Result<ProtocolPipes> spawn(process::Spawner& spawner, const process::ProcessSpec& spec,
                              ExitHandler on_exit);

  pid_t pid() const { return pid_; }
  /// The process ran and is still there to signal (not reaped yet).
  bool alive() const { return pid_ > 0 && !reaped_; }
  bool reaped() const { return reaped_; }
  /// Marks a worker that never ran (or was stopped before it started) as ended.
  void mark_reaped() { reaped_ = true; }

  /// Whether interrupts can name their call (the cancel pipe is there and kept).
  bool has_cancel_pipe() const { return cancel_write_.valid(); }
  /// Drops the cancel pipe: the worker's hello says it does not read it.
  void drop_cancel_pipe() { cancel_write_.reset(); }
  /// Interrupts the worker's running request: SIGINT, preceded by the id on the cancel pipe when
  /// there is one. False if the id could not be written (the worker then ignores the SIGINT).
  bool interrupt(std::uint64_t id);

  /// Ends the worker's process group and remembers that the host did it, so that the exit report
  /// does not guess at another sender.
  void signal_to_end(int signal);

  /// The stderr before the hello (its last 64 KiB): kept until the hello arrived.
  const std::string& startup_stderr() const { return startup_stderr_; }
  void forget_startup_stderr();
  /// " (last stderr: ...)" or "" when it wrote nothing.
  std::string stderr_suffix() const;
  std::vector<std::string> stderr_tail() const { return stderr_log_.tail(); }

  /// Stops watching: closes the stderr pipe and the pidfd.
  void close();

 private:
  void read_stderr();
  void on_stderr(std::string_view bytes);
  void drain_stderr_now();
  void wait_for_exit();
  void on_exit();

  boost::asio::io_context& io_;
  const WorkerContext& context_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  // Signals the host sent to the worker's group to end it: its exit is then not a mystery.
  bool host_sent_sigterm_ = false;
  bool host_sent_sigkill_ = false;
  // The cancel pipe (WorkerConfig::cancel_pipe): the host writes the 8-byte big-endian id of each
  // request it cancels, then sends SIGINT; the worker's SIGINT handler reads the ids. The read
  // end is the child's, closed here once it was spawned.
  process::UniqueFd cancel_read_, cancel_write_;
  std::optional<boost::asio::posix::stream_descriptor> stderr_pipe_, pid_pipe_;
  StderrCollector stderr_log_;
  std::array<char, 8192> stderr_buffer_{};
  bool keep_startup_stderr_ = true;
  std::string startup_stderr_;
  ExitHandler on_exit_;
};

}  // namespace mlbridge::worker::detail
