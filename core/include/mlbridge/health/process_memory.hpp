#pragma once

/// @file
/// Reading a process's memory use from /proc. Any thread.

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace mlbridge::health {

/// Resident set size of `pid` in bytes, from /proc/<pid>/statm; nullopt if it cannot be read.
std::optional<std::uint64_t> resident_bytes(pid_t pid);

}  // namespace mlbridge::health
