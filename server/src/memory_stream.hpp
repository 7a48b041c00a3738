#pragma once

// An httplib::Stream over memory: reads come from a fixed request text, writes append to a
// response text. Lets HttpServer::serve_in_memory run httplib's request parsing and the routes
// without a socket. Private to the server library; one thread at a time.

#include <httplib.h>

#include <string>
#include <string_view>

namespace mlbridge::server {

class MemoryStream final : public httplib::Stream {
 public:
  /// Borrows `input`, which must outlive the stream.
  explicit MemoryStream(std::string_view input) : input_(input) {}

  bool is_readable() const override { return position_ < input_.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return INVALID_SOCKET; }

  /// True once every input byte was read.
  bool exhausted() const { return position_ >= input_.size(); }
  /// Everything written so far.
  const std::string& output() const { return output_; }

 private:
  std::string_view input_;
  std::size_t position_ = 0;
  std::string output_;
};

}  // namespace mlbridge::server
