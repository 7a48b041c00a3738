#pragma once

/// @file
/// How a child process ended, described for people. Plain value; any thread.

#include <string>

namespace mlbridge::process {

/// The outcome of waitpid for one child.
struct ExitStatus {
  int exit_code = -1;  ///< Exit code when the process exited normally, else -1.
  int signal = 0;      ///< Terminating signal, else 0.
  /// True when the host itself sent the terminating signal (a worker it stopped or killed), so
  /// describe() says so instead of guessing at another sender (SIGKILL: the OOM killer). Set by
  /// the code that sent it; from_wait_status() cannot know.
  bool sent_by_host = false;

  static ExitStatus from_wait_status(int wait_status);

  bool exited_cleanly() const { return signal == 0 && exit_code == 0; }

  /// The shell-style code: exit code, or 128 + signal (137 for SIGKILL).
  int shell_code() const { return signal != 0 ? 128 + signal : exit_code; }

  /// E.g. "exited with code 7", "was killed by signal 11 (SIGSEGV: segmentation fault)",
  /// "was killed by signal 9 (SIGKILL: killed, possibly by the out-of-memory killer)", or with
  /// sent_by_host "was killed by signal 9 (SIGKILL, sent by the host)".
  std::string describe() const;
};

}  // namespace mlbridge::process
