#pragma once

/// @file
/// Length-prefixed framing of PROTOCOL.md: a 4-byte unsigned big-endian length L, then L bytes.
/// A FrameReader is owned by one reader (one worker's event-loop thread); it is not thread-safe.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "mlbridge/errors/result.hpp"

namespace mlbridge::protocol {

/// Default upper bound on one frame's payload (64 MiB), configurable per bridge.
inline constexpr std::size_t kDefaultMaxFrameBytes = 64u * 1024u * 1024u;
/// Size of the length header.
inline constexpr std::size_t kFrameHeaderBytes = 4;

/// Incremental frame reader. Bytes arrive in any number of pieces (`prepare` + `commit`), and
/// `next` yields complete payloads. Large payloads are read straight into their final place, so a
/// 16 MiB frame costs no extra copy.
class FrameReader {
 public:
  explicit FrameReader(std::size_t max_frame_bytes = kDefaultMaxFrameBytes);

  /// A writable region to read into; valid until the next call on this reader. Never empty.
  std::span<std::uint8_t> prepare();
  /// Records that `n` bytes were written at the start of the region from `prepare`.
  void commit(std::size_t n);
  /// Appends bytes (convenience for tests and for callers that already hold the data).
  void feed(std::span<const std::uint8_t> bytes);

  /// The next complete payload, nullopt when more bytes are needed, or a protocol_error for a
  /// zero or oversize length (after which the stream is unusable). The span stays valid until the
  /// next call on this reader.
  Result<std::optional<std::span<const std::uint8_t>>> next();

  /// True when some bytes of an unfinished frame are buffered (EOF now means a truncated frame).
  bool mid_frame() const { return end_ > begin_; }
  /// Bytes buffered but not yet returned.
  std::size_t buffered() const { return end_ - begin_; }

 private:
  void reserve_for(std::size_t frame_bytes);

  std::size_t max_frame_bytes_;
  std::vector<std::uint8_t> buffer_;
  std::size_t begin_ = 0;  // first unconsumed byte
  std::size_t end_ = 0;    // one past the last received byte
  std::size_t wanted_ =
      0;  // total bytes of the frame being assembled (header included), 0 = unknown
};

/// Writes the 4-byte big-endian header for a payload of `payload_size` bytes into `out[0..4)`.
void write_frame_header(std::uint8_t* out, std::uint32_t payload_size);

/// Reads a 4-byte big-endian length.
std::uint32_t read_frame_header(const std::uint8_t* in);

/// Checks a payload size against the limits (non-zero, at most `max_frame_bytes`).
Status check_frame_size(std::size_t payload_size, std::size_t max_frame_bytes);

}  // namespace mlbridge::protocol
