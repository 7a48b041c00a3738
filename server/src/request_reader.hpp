#pragma once

// Reads HTTP/1.1 requests from bytes, one after another (keep-alive, pipelining), with the
// checks that keep request smuggling and oversized input out: the header block is checked
// before Boost.Beast's parser sees it (folded lines, lines without a colon, control bytes,
// Content-Length that is not plain digits or is given twice, Content-Length together with
// Transfer-Encoding, a Transfer-Encoding other than chunked: 400; a header block over the limit:
// 431; a Content-Length over max_body_bytes: 413 before any body byte is read), and a chunked
// body is refused with 413 as soon as it grows past max_body_bytes. The one parser path of both
// socket connections and HttpServer::serve_in_memory. One thread at a time.

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <optional>
#include <string>

#include "http_message.hpp"

namespace mlbridge::server {

struct ReaderLimits {
  std::size_t max_header_bytes = 16 * 1024;  ///< Request line and headers together.
  std::size_t max_body_bytes = 8 * 1024 * 1024;
};

/// Why a request is refused before any route runs; the connection closes after the answer.
struct ReadRefusal {
  int status = 400;
  std::string message;  ///< Says what was wrong and what to do.
};

class RequestReader {
 public:
  explicit RequestReader(ReaderLimits limits);

  enum class State {
    kNeedMore,  ///< The request is incomplete: read more bytes and feed again.
    kComplete,  ///< take() returns it.
    kRefused,   ///< refusal() says why; nothing more can be read from this connection.
  };

  /// Parses what it can from the front of `input` and erases the bytes it used.
  State feed(std::string& input);

  /// Whether any byte of the current request arrived (its header deadline runs).
  bool started() const { return started_; }
  /// Whether the current request's header block is complete (its body deadline runs).
  bool header_done() const { return header_done_; }
  /// Where the next bytes of a large Content-Length body go, read straight from the socket
  /// (no copy through `input`); empty when there is no such body or it is complete. After a
  /// read, body_read() counts the bytes and feed() (with the bytes that follow, if any) says
  /// whether the request is complete.
  boost::asio::mutable_buffer body_space();
  void body_read(std::size_t count) { body_received_ += count; }
  /// Whether the client asked for "100 Continue" before it sends the body (once per request).
  bool take_continue_wanted();

  const ReadRefusal& refusal() const { return refusal_; }
  /// The complete request (after kComplete); the reader is ready for the next one.
  HttpRequest take();

 private:
  State refuse(int status, std::string message);
  State check_header_block(std::string_view block);
  State start_direct_body(std::string& input, std::size_t header_size);
  void reset();

  ReaderLimits limits_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  bool started_ = false;
  bool header_done_ = false;
  bool continue_wanted_ = false;
  std::size_t content_length_ = 0;  // of the current request, once its header block is checked
  // A large Content-Length body is read into body_ directly (body_space()), past the parser.
  bool body_direct_ = false;
  std::string body_;
  std::size_t body_received_ = 0;
  ReadRefusal refusal_;
};

}  // namespace mlbridge::server
