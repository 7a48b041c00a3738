#pragma once

// The bytes a connection still has to write, kept as the strings they came in (a response's
// head, its body, SSE chunks) so that a large body is written from where the route put it,
// never copied into one combined string. Small pieces are joined, so that a stream of small
// events stays a few buffers. A plain value, one thread at a time (the connection's strand, or
// the thread of a direct answer before it hands the rest over).

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <boost/asio/buffer.hpp>
#include <cerrno>
#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace mlbridge::server {

class OutputBytes {
 public:
  /// Queues `bytes` behind what is queued (moved in; joined with a small last piece).
  void append(std::string bytes) {
    if (bytes.empty()) return;
    size_ += bytes.size();
    if (!pieces_.empty() && pieces_.back().size() < kJoinBelow && bytes.size() < kJoinBelow) {
      pieces_.back() += bytes;
      return;
    }
    pieces_.push_back(std::move(bytes));
  }
  void append(std::string_view bytes) { append(std::string(bytes)); }

  /// Bytes not yet written.
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() {
    pieces_.clear();
    offset_ = 0;
    size_ = 0;
  }

  /// Drops the first `count` bytes (written).
  void consume(std::size_t count) {
    size_ -= count;
    while (count > 0) {
      const std::size_t left = pieces_.front().size() - offset_;
      if (count < left) {
        offset_ += count;
        return;
      }
      count -= left;
      pieces_.pop_front();
      offset_ = 0;
    }
  }

  /// The unwritten bytes as buffers for an asynchronous write; valid until the next change.
  std::vector<boost::asio::const_buffer> buffers() const {
    std::vector<boost::asio::const_buffer> out;
    out.reserve(pieces_.size());
    std::size_t skip = offset_;
    for (const auto& piece : pieces_) {
      out.emplace_back(piece.data() + skip, piece.size() - skip);
      skip = 0;
    }
    return out;
  }

  /// Writes what the socket takes now, without waiting, and drops it; returns how many bytes
  /// were taken (fewer on a full socket buffer or an error, which the asynchronous write that
  /// follows then reports).
  std::size_t send_without_waiting(int descriptor) {
    std::size_t total = 0;
    while (!empty()) {
      std::array<iovec, 16> vectors{};
      std::size_t count = 0;
      std::size_t skip = offset_;
      for (auto it = pieces_.begin(); it != pieces_.end() && count < vectors.size(); ++it) {
        vectors[count].iov_base = const_cast<char*>(it->data() + skip);
        vectors[count].iov_len = it->size() - skip;
        ++count;
        skip = 0;
      }
      msghdr message{};
      message.msg_iov = vectors.data();
      message.msg_iovlen = count;
      const ssize_t n = ::sendmsg(descriptor, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        consume(static_cast<std::size_t>(n));
        total += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        break;
      }
    }
    return total;
  }

 private:
  static constexpr std::size_t kJoinBelow = 16 * 1024;

  std::deque<std::string> pieces_;
  std::size_t offset_ = 0;  // bytes of the first piece already written
  std::size_t size_ = 0;
};

}  // namespace mlbridge::server
