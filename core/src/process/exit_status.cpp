#include "mlbridge/process/exit_status.hpp"

#include <sys/wait.h>

#include <csignal>
#include <cstring>

namespace mlbridge::process {
namespace {

std::string signal_name(int signal) {
  switch (signal) {
    case SIGKILL:
      return "SIGKILL: killed, possibly by the out-of-memory killer";
    case SIGSEGV:
      return "SIGSEGV: segmentation fault";
    case SIGABRT:
      return "SIGABRT: aborted";
    case SIGTERM:
      return "SIGTERM: terminated";
    case SIGINT:
      return "SIGINT: interrupted";
    case SIGBUS:
      return "SIGBUS: bus error";
    case SIGFPE:
      return "SIGFPE: arithmetic error";
    case SIGILL:
      return "SIGILL: illegal instruction";
    case SIGPIPE:
      return "SIGPIPE: broken pipe";
    default: {
      const char* text = ::strsignal(signal);
      return text != nullptr ? text : "unknown signal";
    }
  }
}

}  // namespace

ExitStatus ExitStatus::from_wait_status(int wait_status) {
  ExitStatus status;
  if (WIFEXITED(wait_status)) {
    status.exit_code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    status.signal = WTERMSIG(wait_status);
  }
  return status;
}

std::string ExitStatus::describe() const {
  if (signal != 0 && sent_by_host) {
    const char* name = signal == SIGKILL ? "SIGKILL" : signal == SIGTERM ? "SIGTERM" : nullptr;
    return "was killed by signal " + std::to_string(signal) + " (" +
           (name != nullptr ? name : signal_name(signal)) + ", sent by the host)";
  }
  if (signal != 0) {
    return "was killed by signal " + std::to_string(signal) + " (" + signal_name(signal) + ")";
  }
  std::string text = "exited with code " + std::to_string(exit_code);
  // Shells and some runtimes report a signal death as 128 + N.
  if (exit_code == 139) text += " (segmentation fault)";
  if (exit_code == 134) text += " (aborted)";
  if (exit_code == 137) text += " (killed, possibly out of memory)";
  return text;
}

}  // namespace mlbridge::process
