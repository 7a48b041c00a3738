#pragma once

// The floors the worker API is measured against, driven with plain blocking system calls on the
// calling thread: no event loop, no futures, nothing but the bytes.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mlbridge/process/spawner.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::bench {

/// `python SCRIPT --worker-id floor-1 --codec CODEC --protocol 1` with the workers' minimal
/// environment: the floor loop (floor_worker.py) or a bridge script driven as a floor.
process::ProcessSpec python_worker_spec(const std::string& script, protocol::Codec codec);

/// A child process spoken to with blocking reads and writes.
class BlockingChild {
 public:
  explicit BlockingChild(const process::ProcessSpec& spec);
  ~BlockingChild();
  BlockingChild(const BlockingChild&) = delete;
  BlockingChild& operator=(const BlockingChild&) = delete;

  /// Writes all of `bytes` to the child's stdin.
  void write_all(std::span<const std::uint8_t> bytes);
  /// Reads one frame (header + payload) from the child's stdout into `payload`.
  void read_frame(std::vector<std::uint8_t>& payload);
  /// Writes `bytes` and reads the same number back, interleaved with poll (for a pipe echo).
  void echo_through(std::span<const std::uint8_t> bytes, std::vector<std::uint8_t>& back);

 private:
  void read_exact(std::uint8_t* out, std::size_t n);

  process::ChildProcess child_;
};

}  // namespace mlbridge::bench
