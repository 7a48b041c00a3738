#pragma once

/// @file
/// Starting a child process: the one replaceable step of worker start-up (exec of the
/// interpreter today; a fork server that has already imported the framework may replace it).

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/process/unique_fd.hpp"

namespace mlbridge::process {

/// What to start. The environment is exactly `env`: nothing is inherited implicitly.
struct ProcessSpec {
  std::string executable;                           ///< Path, or a name looked up in env's PATH.
  std::vector<std::string> args;                    ///< Arguments after argv[0].
  std::map<std::string, std::string> env;           ///< The child's whole environment.
  std::string working_dir;                          ///< Empty: the host's current directory.
  std::optional<std::uint64_t> memory_limit_bytes;  ///< RLIMIT_AS when set.
  /// Parent descriptors the child inherits as fds 3, 4, ... in this order (every other
  /// descriptor beyond stdio is closed). The parent keeps its own copies.
  std::vector<int> inherited_fds;
};

/// A started child: its pid, the parent's ends of its three pipes (non-blocking, close-on-exec)
/// and a pidfd that becomes readable when it exits. The child leads its own process group and
/// gets SIGKILL when the thread that spawned it dies (PR_SET_PDEATHSIG).
struct ChildProcess {
  pid_t pid = -1;
  UniqueFd stdin_fd;   ///< Write end of the child's stdin.
  UniqueFd stdout_fd;  ///< Read end of the child's stdout.
  UniqueFd stderr_fd;  ///< Read end of the child's stderr.
  UniqueFd pid_fd;     ///< Readable once the child has exited; invalid if pidfds are unsupported.
};

/// Starts processes. Implementations must be safe to call from any one thread at a time.
class Spawner {
 public:
  virtual ~Spawner() = default;
  /// Starts `spec`. Fails with invalid_configuration when the executable cannot be run (named in
  /// the message), or internal when the system refuses (pipes, fork).
  virtual Result<ChildProcess> spawn(const ProcessSpec& spec) = 0;
};

using SpawnerPtr = std::shared_ptr<Spawner>;

/// fork + exec. Note: PR_SET_PDEATHSIG fires when the *spawning thread* exits, so spawn from a
/// thread that lives as long as the children should (the host's event-loop thread).
class ExecSpawner final : public Spawner {
 public:
  Result<ChildProcess> spawn(const ProcessSpec& spec) override;
};

/// The process-wide default spawner.
SpawnerPtr default_spawner();

/// Sends `signal` to the whole process group led by `pid`. Ignores a group that is already gone.
void signal_group(pid_t pid, int signal);

}  // namespace mlbridge::process
