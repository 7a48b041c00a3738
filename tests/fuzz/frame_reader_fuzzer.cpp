// Fuzzes protocol::FrameReader: the input is a byte stream cut into pieces of fuzzer-chosen
// sizes. The reader must yield exactly the frames a plain reference parser finds in the same
// bytes, stop with a protocol_error at the first zero or oversize length, and never read past
// what it was fed.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "mlbridge/protocol/frame.hpp"

namespace {

using mlbridge::protocol::FrameReader;
using Bytes = std::vector<std::uint8_t>;

constexpr std::size_t kMaxFrameBytes = 1024;

void check(bool condition) {
  if (!condition) std::abort();
}

// The frames of `stream` by the book; `bad` becomes true at a zero or oversize length.
std::vector<Bytes> reference_frames(std::span<const std::uint8_t> stream, bool& bad) {
  std::vector<Bytes> frames;
  std::size_t at = 0;
  bad = false;
  while (stream.size() - at >= mlbridge::protocol::kFrameHeaderBytes) {
    const std::uint32_t size = mlbridge::protocol::read_frame_header(stream.data() + at);
    if (size == 0 || size > kMaxFrameBytes) {
      bad = true;
      break;
    }
    if (stream.size() - at - 4 < size) break;
    frames.emplace_back(stream.begin() + at + 4, stream.begin() + at + 4 + size);
    at += 4 + size;
  }
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first byte seeds the piece sizes; the rest is the stream.
  const std::uint8_t seed = data[0];
  const std::span<const std::uint8_t> stream(data + 1, size - 1);

  bool reference_bad = false;
  const std::vector<Bytes> expected = reference_frames(stream, reference_bad);

  FrameReader reader(kMaxFrameBytes);
  std::vector<Bytes> got;
  bool failed = false;
  std::size_t at = 0;
  std::size_t piece = 0;
  while (at < stream.size() && !failed) {
    // Pieces of 1 to 64 bytes, fed alternately through feed() and prepare()/commit().
    std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + ((seed + piece * 37) % 64));
    if (piece % 2 == 0) {
      reader.feed(stream.subspan(at, n));
    } else {
      auto region = reader.prepare();
      check(!region.empty());
      n = std::min(n, region.size());
      std::copy_n(stream.data() + at, n, region.data());
      reader.commit(n);
    }
    at += n;
    ++piece;
    for (;;) {
      auto next = reader.next();
      if (!next) {
        check(next.error().category == mlbridge::ErrorCategory::kProtocolError);
        failed = true;
        break;
      }
      if (!next->has_value()) break;
      const auto payload = **next;
      check(!payload.empty() && payload.size() <= kMaxFrameBytes);
      got.emplace_back(payload.begin(), payload.end());
    }
  }
  check(got == expected);
  check(failed == reference_bad);
  return 0;
}
