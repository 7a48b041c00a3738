#pragma once

/// @file
/// Everything needed to start and supervise one Python worker. Plain value; any thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/process/spawner.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/frame.hpp"
#include "mlbridge/protocol/shared_blobs.hpp"

namespace mlbridge::worker {

using namespace std::chrono_literals;

struct WorkerConfig {
  std::string bridge = "default";  ///< Bridge name: tags logs and errors.
  std::string worker_id = "worker-1";
  std::string python = "python3";       ///< Interpreter (path or name in env PATH).
  std::string script;                   ///< The BaseBridge script to run.
  std::vector<std::string> extra_args;  ///< Appended after the protocol arguments.
  /// The user's code (YAML `code:`): absolute directories passed as `--code-path DIR` and modules
  /// passed as `--code-module NAME`, each repeated, in order. The SDK puts the directories first
  /// on sys.path and imports the modules at start.
  std::vector<std::string> code_paths;
  std::vector<std::string> code_modules;
  std::map<std::string, std::string> env;           ///< The worker's whole environment.
  std::string working_dir;                          ///< Empty: the host's working directory.
  std::optional<std::uint64_t> memory_limit_bytes;  ///< RLIMIT_AS of the worker.
  protocol::Codec codec = protocol::Codec::kJson;
  protocol::json init_options = protocol::json::object();  ///< Sent with `init`.
  std::chrono::milliseconds startup_timeout = 60s;         ///< Spawn to ready (hello + init).
  std::chrono::milliseconds shutdown_timeout = 5s;         ///< `shutdown` to exit, before SIGTERM.
  std::chrono::milliseconds kill_timeout = 1s;             ///< SIGTERM to exit, before SIGKILL.
  std::chrono::milliseconds cancel_grace = 2s;             ///< SIGINT to answer, before SIGKILL.
  std::size_t max_frame_bytes = protocol::kDefaultMaxFrameBytes;
  /// MessagePack workers: bytes values at least this long travel through shared memory
  /// (mlbridge/protocol/shared_blobs.hpp) when the worker supports it; 0 sends every byte
  /// through the pipe.
  std::size_t shared_blob_min_bytes = protocol::kDefaultSharedBlobMinBytes;
  std::size_t stderr_tail_lines = 40;  ///< Lines of stderr kept for error reports.
  /// Pass the worker a cancel pipe (MLBRIDGE_CANCEL_FD), so that requests may be sent while
  /// another runs (Worker::pipelining) and still be cancelled before they start. Set by a pool
  /// with pipeline_depth above 1.
  bool cancel_pipe = false;
  /// Calls the worker may hold at once (YAML pool.max_concurrency), passed as `--concurrency N`;
  /// the worker then declares min(N, what it supports) in its hello. Unset: the bridge's own
  /// default. 1 keeps the one-call-at-a-time path (SIGINT cancellation and pipelining).
  std::optional<std::size_t> max_concurrency;
};

/// The most calls the host lets one worker hold at once, whatever its hello claims.
inline constexpr std::size_t kMaxWorkerConcurrency = 10000;

/// The variables a worker gets by default from the host's environment, when set: PATH, HOME,
/// LANG, LC_ALL, TZ, TMPDIR. Everything else must be passed explicitly.
std::map<std::string, std::string> minimal_environment();

/// The process to spawn for a worker: `python script --worker-id ID --codec C --protocol 1 ...`,
/// then `--code-path DIR` and `--code-module NAME` for each of the user's code entries.
process::ProcessSpec make_process_spec(const WorkerConfig& config);

}  // namespace mlbridge::worker
