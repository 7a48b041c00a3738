#include "command_body.hpp"

#include <cstring>

#include "http_errors.hpp"
#include "mlbridge/protocol/nesting.hpp"

namespace mlbridge::server {
namespace {

// The longest "timeout_ms" the scanner reads itself (kMaxCommandTimeoutMs has 9 digits).
constexpr std::size_t kMaxTimeoutDigits = 12;

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A cursor over the body for split_command_body. Every method returns false on anything that is
// not the plain shape; the caller then takes the DOM path.
class BodyScanner {
 public:
  explicit BodyScanner(std::string_view text) : text_(text) {}

  void skip_space() {
    while (at_ < text_.size() && is_json_space(text_[at_])) ++at_;
  }
  bool consume(char c) {
    skip_space();
    if (at_ >= text_.size() || text_[at_] != c) return false;
    ++at_;
    return true;
  }
  bool peek(char c) {
    skip_space();
    return at_ < text_.size() && text_[at_] == c;
  }
  bool at_end() {
    skip_space();
    return at_ == text_.size();
  }

  // A string without escapes and without control bytes; its content.
  bool plain_string(std::string_view& out) {
    if (!consume('"')) return false;
    const std::size_t begin = at_;
    while (at_ < text_.size()) {
      const char c = text_[at_];
      if (c == '"') {
        out = text_.substr(begin, at_ - begin);
        ++at_;
        return true;
      }
      if (c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
      ++at_;
    }
    return false;
  }

  // The literal `true` or `false`.
  bool boolean(bool& out) {
    skip_space();
    if (text_.substr(at_, 4) == "true") {
      at_ += 4;
      out = true;
      return true;
    }
    if (text_.substr(at_, 5) == "false") {
      at_ += 5;
      out = false;
      return true;
    }
    return false;
  }

  // A positive integer of at most kMaxTimeoutDigits digits, no sign, fraction or exponent.
  bool small_integer(std::int64_t& out) {
    skip_space();
    const std::size_t begin = at_;
    std::int64_t value = 0;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
      if (at_ - begin == kMaxTimeoutDigits) return false;
      value = value * 10 + (text_[at_] - '0');
      ++at_;
    }
    if (at_ == begin || (text_[begin] == '0' && at_ - begin > 1)) return false;
    if (at_ < text_.size() && (text_[at_] == '.' || text_[at_] == 'e' || text_[at_] == 'E')) {
      return false;
    }
    out = value;
    return true;
  }

  // Delimits one value by its brackets and strings, without checking it: its raw text. What is
  // inside is checked by the transcoder, which refuses anything but exactly one JSON value.
  bool raw_value(std::string_view& out) {
    skip_space();
    const std::size_t begin = at_;
    std::size_t depth = 0;
    while (at_ < text_.size()) {
      const char c = text_[at_];
      if (c == '"') {
        if (!skip_string()) return false;
        if (depth == 0) break;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) break;  // the end of the body's object: a scalar value ended before it
        ++at_;
        if (--depth == 0) break;
        continue;
      } else if (depth == 0 && (c == ',' || is_json_space(c))) {
        break;
      }
      ++at_;
    }
    if (depth != 0 || at_ == begin) return false;
    out = text_.substr(begin, at_ - begin);
    return true;
  }

 private:
  // From an opening quote to just past its closing quote: the next quote not escaped, found with
  // memchr (a 16 MiB base64 string is most of a large body).
  bool skip_string() {
    const std::size_t start = ++at_;
    while (at_ < text_.size()) {
      const void* found = std::memchr(text_.data() + at_, '"', text_.size() - at_);
      if (found == nullptr) return false;
      const std::size_t quote =
          static_cast<std::size_t>(static_cast<const char*>(found) - text_.data());
      std::size_t backslashes = 0;
      while (quote - backslashes > start && text_[quote - backslashes - 1] == '\\') ++backslashes;
      at_ = quote + 1;
      if (backslashes % 2 == 0) return true;
    }
    return false;
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

// Session ids are printable ASCII (session::check_session_id names the allowed characters); one
// with other bytes takes the DOM path, which leaves the check to the Host as before.
bool printable_ascii(std::string_view text) {
  for (const char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// The DOM path: every member checked in order, with the messages documented in
// docs/http-api.md ("Command bodies").
Result<CommandBody> read_command_body_dom(std::string_view text) {
  auto body = parse_json_object(text);
  if (!body) return std::move(body).error();
  CommandBody out;
  for (auto& [key, value] : body->items()) {
    if (key == "args") {
      if (!value.is_object() && !value.is_null()) {
        return fail(ErrorCategory::kInvalidArgument,
                    std::string("\"args\" must be a JSON object, got ") + value.type_name());
      }
      if (value.is_object()) {
        out.args = std::move(value);
        // Bytes travel in HTTP bodies as {"__bytes__": base64}, as answers carry them.
        if (auto bytes = protocol::from_plain_json(out.args); !bytes) {
          return fail(ErrorCategory::kInvalidArgument,
                      "\"args\" holds a \"__bytes__\" value that is not valid base64");
        }
      }
    } else if (key == "session") {
      if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
        return fail(ErrorCategory::kInvalidArgument, "\"session\" must be a non-empty string");
      }
      out.options.session = value.get<std::string>();
    } else if (key == "timeout_ms") {
      if (!value.is_number_integer() || value.get<std::int64_t>() <= 0 ||
          value.get<std::int64_t>() > kMaxCommandTimeoutMs) {
        return fail(ErrorCategory::kInvalidArgument,
                    "\"timeout_ms\" must be an integer from 1 to " +
                        std::to_string(kMaxCommandTimeoutMs) + " (milliseconds, at most a week)");
      }
      out.options.timeout = std::chrono::milliseconds(value.get<std::int64_t>());
    } else if (key == "stream" || key == "reply") {
      if (!value.is_boolean()) {
        return fail(ErrorCategory::kInvalidArgument,
                    "\"" + key + "\" must be true or false, got " + value.dump());
      }
      (key == "stream" ? out.stream : out.reply) = value.get<bool>();
    } else {
      return fail(ErrorCategory::kInvalidArgument,
                  "unknown field \"" + key +
                      "\" (a command body has args, session, timeout_ms, stream and reply)");
    }
  }
  if (out.stream && !out.reply) {
    return fail(ErrorCategory::kInvalidArgument, "\"stream\": true needs \"reply\": true");
  }
  return out;
}

}  // namespace

std::optional<CommandMembers> split_command_body(std::string_view text) {
  BodyScanner scan(text);
  CommandMembers out;
  bool seen_args = false;
  if (!scan.consume('{')) return std::nullopt;
  if (!scan.peek('}')) {
    do {
      std::string_view key;
      if (!scan.plain_string(key) || !scan.consume(':')) return std::nullopt;
      if (key == "args") {
        if (seen_args || !scan.raw_value(out.args)) return std::nullopt;
        seen_args = true;
      } else if (key == "session") {
        std::string_view session;
        if (out.session || !scan.plain_string(session) || session.empty() ||
            !printable_ascii(session)) {
          return std::nullopt;
        }
        out.session = std::string(session);
      } else if (key == "timeout_ms") {
        std::int64_t timeout = 0;
        if (out.timeout_ms || !scan.small_integer(timeout) || timeout < 1 ||
            timeout > kMaxCommandTimeoutMs) {
          return std::nullopt;
        }
        out.timeout_ms = timeout;
      } else if (key == "stream" || key == "reply") {
        auto& slot = key == "stream" ? out.stream : out.reply;
        bool flag = false;
        if (slot || !scan.boolean(flag)) return std::nullopt;
        slot = flag;
      } else {
        return std::nullopt;
      }
    } while (scan.consume(','));
  }
  if (!scan.consume('}') || !scan.at_end()) return std::nullopt;
  return out;
}

Result<CommandBody> read_command_body(std::string_view text) {
  auto members = split_command_body(text);
  // A detached call ("reply": false) goes through Host::cast, which takes a DOM.
  if (!members || members->reply == false) return read_command_body_dom(text);
  std::string_view args = members->args;
  if (args.empty() || args == "null") args = "{}";
  protocol::TranscodeLimits limits;
  // The body's own object is one level: the DOM path's limit counts it.
  limits.max_depth = protocol::kMaxNesting - 1;
  auto encoded = protocol::EncodedArgs::from_json(args, limits);
  // Refused: the DOM path says why in its own words (or takes what only it accepts).
  if (!encoded) return read_command_body_dom(text);
  CommandBody out;
  out.encoded = std::move(*encoded);
  out.options.session = std::move(members->session);
  if (members->timeout_ms) out.options.timeout = std::chrono::milliseconds(*members->timeout_ms);
  out.stream = members->stream.value_or(false);
  out.reply = members->reply.value_or(true);
  return out;
}

}  // namespace mlbridge::server
