#include "memory_stream.hpp"

#include <algorithm>
#include <cstring>

namespace mlbridge::server {

ssize_t MemoryStream::read(char* ptr, size_t size) {
  const std::size_t n = std::min(size, input_.size() - position_);
  std::memcpy(ptr, input_.data() + position_, n);
  position_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t MemoryStream::write(const char* ptr, size_t size) {
  output_.append(ptr, size);
  return static_cast<ssize_t>(size);
}

// The address a loopback client would have: what the routes and the log see.
void MemoryStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = "127.0.0.1";
  port = 0;
}

void MemoryStream::get_local_ip_and_port(std::string& ip, int& port) const {
  ip = "127.0.0.1";
  port = 0;
}

}  // namespace mlbridge::server
