#include "channel.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/write.hpp>
#include <limits>

#include "mlbridge/protocol/encoded_args.hpp"
#include "mlbridge/protocol/json_response.hpp"
#include "mlbridge/protocol/transcode.hpp"

namespace mlbridge::worker::detail {

namespace asio = boost::asio;

namespace {

// async_write's own completion conditions cap each write at 64 KiB, so a 16 MiB frame took 256
// writes, each a trip through the loop; let every write fill as much of the 1 MiB pipe as it can.
std::size_t whole_pipe_writes(const boost::system::error_code& ec, std::size_t /*written*/) {
  return ec ? 0 : std::numeric_limits<std::size_t>::max();
}

}  // namespace

Channel::Channel(asio::io_context& io, const WorkerContext& context)
    : io_(io), context_(context), reader_(context.config.max_frame_bytes) {}

void Channel::add_shared_blobs(process::ProcessSpec& spec) {
  const auto& config = context_.config;
  if (config.codec != protocol::Codec::kMsgpack || config.shared_blob_min_bytes == 0) return;
  const std::size_t bound = 2 * config.max_frame_bytes;
  auto out = protocol::SharedBlobs::create("mlbridge-to-" + config.worker_id, bound);
  auto in = protocol::SharedBlobs::create("mlbridge-from-" + config.worker_id, bound);
  if (!out || !in) {
    spdlog::warn("{}: large bytes go through the pipe: {}", context_.prefix(),
                 (out ? in.error() : out.error()).message);
    return;
  }
  spec.inherited_fds = {out->fd(), in->fd()};
  spec.env["MLBRIDGE_SHARED_BLOBS"] =
      "3,4," + std::to_string(config.shared_blob_min_bytes) + "," + std::to_string(bound);
  blobs_out_.emplace(std::move(*out));
  blobs_in_.emplace(std::move(*in));
}

void Channel::use_shared_blobs(bool worker_mapped_them) {
  shared_blobs_ = worker_mapped_them && blobs_out_ && blobs_in_;
  if (!shared_blobs_) {
    blobs_out_.reset();
    blobs_in_.reset();
  }
}

void Channel::open(int stdin_fd, int stdout_fd, Handlers handlers) {
  handlers_ = std::move(handlers);
  stdin_pipe_.emplace(io_, stdin_fd);
  stdout_pipe_.emplace(io_, stdout_fd);
  read_stdout();
}

Result<Channel::Frame> Channel::encode_request(protocol::Request request) {
  const auto& config = context_.config;
  if (request.encoded_args) {
    // Args encoded before the call are spliced in (never a DOM): a JSON worker gets their JSON
    // text as it is where the request has it; a MessagePack worker's large bins go through the
    // shared-memory file, moved in one flat pass over the MessagePack.
    const auto args = std::move(request.encoded_args);
    auto frame_with = [&](std::string_view args_msgpack, std::size_t limit) {
      return protocol::encode_request_frame(std::move(request), args_msgpack, config.codec, limit,
                                            args->json_text);
    };
    if (!shared_blobs_) return frame_with(args->msgpack, config.max_frame_bytes);
    const auto mark = blobs_out_->mark();
    const auto moved =
        protocol::move_large_bins_out(args->msgpack, *blobs_out_, config.shared_blob_min_bytes);
    if (!moved) return frame_with(args->msgpack, config.max_frame_bytes);
    const std::size_t limit = config.max_frame_bytes;
    auto frame =
        moved->moved_bytes > limit
            ? Result<Frame>(fail(ErrorCategory::kProtocolError,
                                 "its bytes add up to " + std::to_string(moved->moved_bytes) +
                                     ", more than max_frame_bytes " + std::to_string(limit)))
            : frame_with(moved->msgpack, limit - moved->moved_bytes);
    if (!frame) blobs_out_->rollback(mark);
    return frame;
  }
  protocol::json message = protocol::to_json(std::move(request));
  if (!shared_blobs_) return protocol::encode_frame(message, config.codec, config.max_frame_bytes);
  const auto mark = blobs_out_->mark();
  const std::size_t moved =
      protocol::move_blobs_out(message, *blobs_out_, config.shared_blob_min_bytes);
  const std::size_t limit = config.max_frame_bytes;
  auto frame = moved > limit
                   ? Result<Frame>(fail(ErrorCategory::kProtocolError,
                                        "its bytes add up to " + std::to_string(moved) +
                                            ", more than max_frame_bytes " + std::to_string(limit)))
                   : protocol::encode_frame(message, config.codec, limit - moved);
  if (!frame) blobs_out_->rollback(mark);
  return frame;
}

Result<Channel::Frame> Channel::encode(const protocol::json& message) const {
  return protocol::encode_frame(message, context_.config.codec, context_.config.max_frame_bytes);
}

void Channel::enqueue(Frame frame) {
  write_queue_.push_back(std::move(frame));
  if (!writing_) write_next();
}

void Channel::close_input_when_written() {
  close_input_when_written_ = true;
  if (!writing_) write_next();
}

void Channel::write_next() {
  being_written_.clear();
  if (write_queue_.empty() || !stdin_pipe_ || !stdin_pipe_->is_open()) {
    writing_ = false;
    if (close_input_when_written_ && stdin_pipe_) stdin_pipe_->close();
    return;
  }
  writing_ = true;
  being_written_.swap(write_queue_);
  write_buffers_.clear();
  for (const auto& frame : being_written_) write_buffers_.push_back(asio::buffer(frame));
  asio::async_write(
      *stdin_pipe_, write_buffers_, whole_pipe_writes,
      [this, life = context_.keep_alive()](const boost::system::error_code& ec, std::size_t) {
        if (ec) {
          // The worker is gone or closed stdin; its exit fails the calls.
          write_queue_.clear();
          being_written_.clear();
          writing_ = false;
          return;
        }
        write_next();
      });
}

void Channel::read_stdout() {
  auto region = reader_.prepare();
  stdout_pipe_->async_read_some(
      asio::buffer(region.data(), region.size()),
      [this, life = context_.keep_alive()](const boost::system::error_code& ec, std::size_t n) {
        if (ec == asio::error::operation_aborted) return;
        if (ec || n == 0) {
          handlers_.on_closed();
          return;
        }
        reader_.commit(n);
        if (drain_frames()) read_stdout();
      });
}

// Handles every complete frame; false once the stream is unusable or reading was halted.
bool Channel::drain_frames() {
  while (!halted_) {
    auto next = reader_.next();
    if (!next) {
      handlers_.on_violation(next.error().message);
      return false;
    }
    if (!*next) return true;
    if (auto fast = response_with_text_result(**next)) {
      handlers_.on_message(std::move(*fast));
      continue;
    }
    auto decoded = protocol::decode_payload(**next, context_.config.codec);
    if (!decoded) {
      handlers_.on_violation(decoded.error().message);
      return false;
    }
    if (shared_blobs_) {
      const std::size_t budget = context_.config.max_frame_bytes - (*next)->size();
      if (auto in = protocol::bring_blobs_in(*decoded, *blobs_in_, budget); !in) {
        handlers_.on_violation(in.error().message);
        return false;
      }
    }
    auto message = protocol::parse_worker_message(std::move(*decoded));
    if (!message) {
      handlers_.on_violation(message.error().message);
      return false;
    }
    handlers_.on_message(std::move(*message));
  }
  return false;
}

std::optional<protocol::WorkerMessage> Channel::response_with_text_result(
    std::span<const std::uint8_t> payload) {
  if (!handlers_.wants_result_text) return std::nullopt;
  if (context_.config.codec == protocol::Codec::kJson) {
    return json_response_with_text_result(payload);
  }
  const auto span = protocol::locate_response_result(payload);
  if (!span || !handlers_.wants_result_text(span->id)) return std::nullopt;
  std::optional<protocol::WorkerMessage> message;
  if (span->plain_success) {
    // The SDK's usual answer: nothing in it but the id and the result.
    protocol::Response plain;
    plain.id = span->id;
    plain.success = true;
    message.emplace(std::move(plain));
  } else {
    // The envelope without the result (a nil in its place) is small: decode that, first, so
    // that nothing below fails once shared blobs were taken.
    std::vector<std::uint8_t> envelope(payload.begin(), payload.begin() + span->begin);
    envelope.push_back(0xc0);
    envelope.insert(envelope.end(), payload.begin() + span->end, payload.end());
    auto decoded = protocol::decode_payload(envelope, protocol::Codec::kMsgpack);
    if (!decoded) return std::nullopt;
    auto parsed = protocol::parse_worker_message(std::move(*decoded));
    if (!parsed) return std::nullopt;
    message.emplace(std::move(*parsed));
  }
  auto* response = std::get_if<protocol::Response>(&*message);
  if (response == nullptr || !response->success) return std::nullopt;
  protocol::TranscodeLimits limits;
  limits.max_input_bytes = limits.max_output_bytes = 2 * context_.config.max_frame_bytes;
  const std::string_view result(reinterpret_cast<const char*>(payload.data()) + span->begin,
                                span->end - span->begin);
  auto text = shared_blobs_ ? result_text_with_blobs(result, limits, payload.size())
                            : protocol::msgpack_to_json(result, limits);
  if (!text) return std::nullopt;  // the decoded path says what is wrong
  response->result = std::move(*text);
  response->result_is_json_text = true;
  return std::move(*message);
}

std::optional<protocol::WorkerMessage> Channel::json_response_with_text_result(
    std::span<const std::uint8_t> payload) {
  const auto span = protocol::locate_json_response_result(payload);
  if (!span || !handlers_.wants_result_text(span->id)) return std::nullopt;
  const std::string_view result(reinterpret_cast<const char*>(payload.data()) + span->begin,
                                span->end - span->begin);
  if (!protocol::is_json_value(result)) return std::nullopt;  // the decoded path says why
  protocol::Response plain;
  plain.id = span->id;
  plain.success = true;
  plain.result = std::string(result);
  plain.result_is_json_text = true;
  return protocol::WorkerMessage(std::move(plain));
}

Result<std::string> Channel::result_text_with_blobs(std::string_view result,
                                                    const protocol::TranscodeLimits& limits,
                                                    std::size_t payload_bytes) {
  // Shared-blob references are printed straight from the shared file (no copy out, no DOM);
  // the bytes they name count towards the frame's limit as the decoded path counts them.
  std::size_t budget = context_.config.max_frame_bytes - payload_bytes;
  const auto mark = blobs_in_->mark();
  auto text = protocol::msgpack_to_json(
      result, limits,
      [this, &budget](std::uint8_t type,
                      std::span<const std::uint8_t> data) -> Result<std::span<const std::uint8_t>> {
        if (type != protocol::kSharedBlobExt) return data;
        auto bytes = blobs_in_->take_view(data, budget);
        if (bytes) budget -= bytes->size();
        return bytes;
      });
  if (text) {
    blobs_in_->commit_taken();
  } else {
    blobs_in_->rollback(mark);  // the decoded path takes them again, and reports what is wrong
  }
  return text;
}

void Channel::close() {
  for (auto* pipe : {&stdin_pipe_, &stdout_pipe_}) {
    if (*pipe && (*pipe)->is_open()) (*pipe)->close();
  }
  write_queue_.clear();
}

}  // namespace mlbridge::worker::detail
