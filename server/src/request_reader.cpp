#include "request_reader.hpp"

#include <strings.h>

#include <algorithm>
#include <boost/beast/http/error.hpp>

#include "ascii_text.hpp"

namespace mlbridge::server {
namespace http = boost::beast::http;
namespace {

// Content-Length bodies from this size on are read into their string directly (body_space()).
constexpr std::size_t kDirectBodyFrom = 64 * 1024;

bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// What is printed of a client's bytes in an error message: short and printable.
std::string shown(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 40)) {
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  return text.size() > 40 ? out + "..." : out;
}

}  // namespace

RequestReader::RequestReader(ReaderLimits limits) : limits_(limits) { reset(); }

void RequestReader::reset() {
  parser_.emplace();
  // Our own check (check_header_block) refuses oversized header blocks with 431 first.
  parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes + 4096));
  parser_->body_limit(limits_.max_body_bytes);
  parser_->eager(true);
  started_ = false;
  header_done_ = false;
  continue_wanted_ = false;
  content_length_ = 0;
  body_direct_ = false;
  body_.clear();
  body_received_ = 0;
}

RequestReader::State RequestReader::refuse(int status, std::string message) {
  refusal_ = {status, std::move(message)};
  return State::kRefused;
}

bool RequestReader::take_continue_wanted() { return std::exchange(continue_wanted_, false); }

RequestReader::State RequestReader::check_header_block(std::string_view block) {
  // `block` is the request line and the header lines, each ending in CRLF.
  std::size_t content_lengths = 0;
  std::size_t transfer_encodings = 0;
  std::string_view content_length;
  std::string_view transfer_encoding;
  bool first = true;
  while (!block.empty()) {
    const auto end = block.find("\r\n");
    const std::string_view line = block.substr(0, end);
    block.remove_prefix(end + 2);
    for (unsigned char c : line) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return refuse(400, "the request has a control byte (0x" +
                               std::string(1, "0123456789abcdef"[c >> 4]) +
                               std::string(1, "0123456789abcdef"[c & 15]) +
                               ") in its request line or headers; send printable text");
      }
    }
    if (first) {
      first = false;
      continue;  // Beast checks the request line's method, target and version
    }
    if (line.front() == ' ' || line.front() == '\t') {
      return refuse(400,
                    "the request has a folded header line (a line starting with a space or tab "
                    "continues the previous header, which HTTP/1.1 forbids); send each header "
                    "on one line");
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      return refuse(400, "the request has a header line without a colon ('" + shown(line) +
                             "'); each header is 'Name: value'");
    }
    const std::string_view name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (!is_token_char(c)) {
        return refuse(400, "the header name '" + shown(name) +
                               "' has a character a header name may not have (space, "
                               "separator or non-ASCII byte)");
      }
    }
    if (name.empty()) return refuse(400, "the request has a header line with an empty name");
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (same_name(name, "Content-Length")) {
      ++content_lengths;
      content_length = value;
    } else if (same_name(name, "Transfer-Encoding")) {
      ++transfer_encodings;
      transfer_encoding = value;
    } else if (same_name(name, "Expect") && same_name(value, "100-continue")) {
      continue_wanted_ = true;
    }
  }
  if (content_lengths > 0 && transfer_encodings > 0) {
    return refuse(400,
                  "the request has both Content-Length and Transfer-Encoding, which a proxy "
                  "and this server could read differently (request smuggling); send one");
  }
  if (content_lengths > 1) {
    return refuse(400, "the request has " + std::to_string(content_lengths) +
                           " Content-Length headers; send exactly one");
  }
  if (transfer_encodings > 1 ||
      (transfer_encodings == 1 && !same_name(transfer_encoding, "chunked"))) {
    return refuse(400, "the only Transfer-Encoding this server reads is a single 'chunked'");
  }
  if (content_lengths == 1) {
    const bool digits = !content_length.empty() && content_length.size() <= 19 &&
                        content_length.find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits) {
      return refuse(400, "the Content-Length '" + shown(content_length) +
                             "' is not a number of bytes (digits only)");
    }
    content_length_ = std::stoull(std::string(content_length));
    if (content_length_ > limits_.max_body_bytes) {
      return refuse(413, "the request body (Content-Length " + std::string(content_length) +
                             ") is larger than the server's limit of " +
                             std::to_string(limits_.max_body_bytes) +
                             " bytes (host.max_body_bytes)");
    }
  }
  return State::kNeedMore;
}

RequestReader::State RequestReader::feed(std::string& input) {
  if (!header_done_) {
    // Empty lines before a request are allowed (RFC 9112 section 2.2).
    std::size_t skip = 0;
    while (skip + 1 < input.size() && input[skip] == '\r' && input[skip + 1] == '\n') skip += 2;
    if (skip > 0 && !started_) input.erase(0, skip);
    if (input.empty()) return State::kNeedMore;
    started_ = true;
    const auto end = input.find("\r\n\r\n");
    const std::size_t scanned = end == std::string::npos ? input.size() : end + 2;
    // A bare LF (or CR) as a line end: refused at once instead of waiting for the deadline.
    for (std::size_t i = 0; i < scanned; ++i) {
      if (input[i] == '\n' && (i == 0 || input[i - 1] != '\r')) {
        return refuse(400, "the request's lines must end with CRLF (found a bare LF)");
      }
      if (input[i] == '\r' && i + 1 < input.size() && input[i + 1] != '\n') {
        return refuse(400, "the request has a bare CR in its request line or headers");
      }
    }
    if ((end == std::string::npos ? input.size() : end + 4) > limits_.max_header_bytes) {
      return refuse(431, "the request line and headers are larger than the server's limit of " +
                             std::to_string(limits_.max_header_bytes) + " bytes");
    }
    if (end == std::string::npos) return State::kNeedMore;
    if (auto checked = check_header_block(std::string_view(input).substr(0, end + 2));
        checked == State::kRefused) {
      return checked;
    }
    if (content_length_ >= kDirectBodyFrom) return start_direct_body(input, end + 4);
  }
  if (body_direct_) {
    const std::size_t taken = std::min(input.size(), body_.size() - body_received_);
    input.copy(body_.data() + body_received_, taken);
    input.erase(0, taken);
    body_received_ += taken;
    return body_received_ == body_.size() ? State::kComplete : State::kNeedMore;
  }
  while (!parser_->is_done()) {
    boost::system::error_code ec;
    const std::size_t used = parser_->put(boost::asio::buffer(input), ec);
    input.erase(0, used);
    if (parser_->is_header_done()) header_done_ = true;
    if (ec == http::error::need_more) return State::kNeedMore;
    if (ec == http::error::body_limit) {
      return refuse(413, "the request body is larger than the server's limit of " +
                             std::to_string(limits_.max_body_bytes) +
                             " bytes (host.max_body_bytes)");
    }
    if (ec) return refuse(400, "the request is not valid HTTP/1.1 (" + ec.message() + ")");
    if (used == 0 && !parser_->is_done()) return State::kNeedMore;
  }
  return State::kComplete;
}

RequestReader::State RequestReader::start_direct_body(std::string& input, std::size_t header_size) {
  // The parser reads the header block only; the body goes into body_, sized to Content-Length
  // (checked against max_body_bytes already).
  boost::system::error_code ec;
  const std::size_t used = parser_->put(boost::asio::buffer(input.data(), header_size), ec);
  if (ec && ec != http::error::need_more) {
    return refuse(400, "the request is not valid HTTP/1.1 (" + ec.message() + ")");
  }
  if (used != header_size || !parser_->is_header_done()) {
    return refuse(400, "the request's header block could not be read as HTTP/1.1");
  }
  input.erase(0, header_size);
  header_done_ = true;
  body_direct_ = true;
  body_.resize(content_length_);
  body_received_ = 0;
  return feed(input);
}

boost::asio::mutable_buffer RequestReader::body_space() {
  if (!body_direct_) return {};
  return boost::asio::buffer(body_.data() + body_received_, body_.size() - body_received_);
}

HttpRequest RequestReader::take() {
  auto message = parser_->release();
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  const auto question = request.target.find('?');
  request.path = request.target.substr(0, question);
  if (question != std::string::npos) {
    request.params = parse_query(std::string_view(request.target).substr(question + 1));
  }
  for (const auto& field : message) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.keep_alive = message.keep_alive();
  request.body = body_direct_ ? std::move(body_) : std::move(message.body());
  reset();
  return request;
}

}  // namespace mlbridge::server
