#pragma once

// The floors of the no-op round trip, driven with blocking system calls from the calling thread
// (tests/bench/floor_driver.hpp): a C++ child that echoes frames (frame_echo), the smallest Python
// loop (floor_worker.py), and the real echo bridge on BaseBridge driven the same way (the Python
// SDK's own cost). Main thread only.

#include <string>
#include <vector>

namespace mlbridge::bench {

/// Emits one "latency" line per floor and codec (json, msgpack).
void run_floor_latency(double seconds);

/// Emits one "throughput" line per entry of `workers`: that many smallest Python loops
/// (MessagePack) driven flat out, each by its own thread with one call in flight: the most calls
/// per second any pool of that size could answer over the same pipes.
void run_floor_throughput(const std::vector<int>& workers, double seconds);

/// Emits "payload" lines for a plain pipe echo through `cat` of `bytes` bytes.
void run_pipe_echo(std::size_t bytes, double seconds);

}  // namespace mlbridge::bench
