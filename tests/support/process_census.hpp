#pragma once

// A census of processes and of this process's resources, read from /proc: who are our children
// and their descendants, which are zombies, which processes carry a marker in their command line
// (to find workers that outlived their host and were re-parented to init), how many file
// descriptors we hold and how much memory is resident. Plain functions; any thread.

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mlbridge::testing {

/// One process as /proc/<pid>/stat and cmdline describe it.
struct ProcessEntry {
  pid_t pid = 0;
  pid_t parent = 0;
  char state = '?';     ///< R, S, D, T (stopped), Z (zombie), ...
  std::string cmdline;  ///< Arguments joined by spaces.
};

/// The bytes of `path`, or as many as could be read. A /proc file of a process that is reaped
/// while it is read fails with ESRCH; std::istreambuf_iterator turns that into an exception, so
/// this reads with plain read(2) and ends the text at the first error.
inline std::string read_whole_file(const std::string& path) {
  std::string text;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char chunk[4096];
  for (;;) {
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    text.append(chunk, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return text;
}

/// Reads one process; nullopt when it is gone (or was never there).
inline std::optional<ProcessEntry> read_process(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  const std::string stat = read_whole_file(base + "/stat");
  // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so parse from the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 4 >= stat.size()) return std::nullopt;
  ProcessEntry entry;
  entry.pid = pid;
  entry.state = stat[close + 2];
  entry.parent = static_cast<pid_t>(std::strtol(stat.c_str() + close + 4, nullptr, 10));
  entry.cmdline = read_whole_file(base + "/cmdline");
  for (char& c : entry.cmdline) {
    if (c == '\0') c = ' ';
  }
  return entry;
}

/// True while `pid` exists and is not a zombie (a process that is gone reads as not alive).
inline bool process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  const auto entry = read_process(pid);
  return entry.has_value() && entry->state != 'Z';
}

/// Every process visible in /proc.
inline std::vector<ProcessEntry> all_processes() {
  std::vector<ProcessEntry> list;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return list;
  while (const dirent* item = ::readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(item->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    if (auto entry = read_process(static_cast<pid_t>(pid))) list.push_back(std::move(*entry));
  }
  ::closedir(dir);
  return list;
}

/// The children of `parent`, their children, and so on (not `parent` itself).
inline std::vector<ProcessEntry> descendants_of(pid_t parent) {
  const auto everyone = all_processes();
  std::set<pid_t> family{parent};
  std::vector<ProcessEntry> found;
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& p : everyone) {
      if (family.count(p.parent) != 0 && family.insert(p.pid).second) {
        found.push_back(p);
        grew = true;
      }
    }
  }
  return found;
}

/// Live processes (zombies excluded) whose command line contains `marker`.
inline std::vector<ProcessEntry> processes_marked(const std::string& marker) {
  std::vector<ProcessEntry> found;
  for (auto& p : all_processes()) {
    if (p.state != 'Z' && p.pid != ::getpid() && p.cmdline.find(marker) != std::string::npos) {
      found.push_back(std::move(p));
    }
  }
  return found;
}

/// True while `pid` exists and is not a zombie.
inline bool process_exists(pid_t pid) {
  auto entry = read_process(pid);
  return entry && entry->state != 'Z';
}

/// File descriptors this process holds.
inline std::size_t open_fd_count() {
  std::size_t count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  while (const dirent* item = ::readdir(dir)) {
    if (item->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count > 0 ? count - 1 : 0;  // the directory stream's own descriptor
}

/// Resident memory of this process in bytes (VmRSS).
inline std::uint64_t own_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

/// "pid 123 [Z] python echo_bridge.py ..." for messages.
inline std::string describe(const ProcessEntry& p) {
  return "pid " + std::to_string(p.pid) + " [" + p.state + "] parent " + std::to_string(p.parent) +
         ": " + p.cmdline;
}

}  // namespace mlbridge::testing
