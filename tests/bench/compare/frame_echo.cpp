// The C++ ↔ C++ floor's child: reads 4-byte big-endian length-prefixed frames on stdin and writes
// each back unchanged on stdout, with one read per header and payload and one write per frame,
// until end of input. No decoding: the least a worker on the other end of a pipe can do.

#include <unistd.h>

#include <cstdint>
#include <vector>

namespace {

bool read_exact(std::uint8_t* out, std::size_t n) {
  while (n > 0) {
    const ssize_t got = ::read(0, out, n);
    if (got <= 0) return false;
    out += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

bool write_all(const std::uint8_t* data, std::size_t n) {
  while (n > 0) {
    const ssize_t put = ::write(1, data, n);
    if (put <= 0) return false;
    data += put;
    n -= static_cast<std::size_t>(put);
  }
  return true;
}

}  // namespace

int main() {
  std::vector<std::uint8_t> frame(4);
  while (read_exact(frame.data(), 4)) {
    const std::size_t size = (std::size_t{frame[0]} << 24) | (std::size_t{frame[1]} << 16) |
                             (std::size_t{frame[2]} << 8) | std::size_t{frame[3]};
    frame.resize(4 + size);
    if (!read_exact(frame.data() + 4, size) || !write_all(frame.data(), frame.size())) return 1;
  }
  return 0;
}
