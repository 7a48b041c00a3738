#include "mlbridge/protocol/frame.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace mlbridge::protocol {
namespace {

// Reads are issued in chunks of at least this size so that small frames batch well.
constexpr std::size_t kMinReadBytes = 64 * 1024;

std::string printable_prefix(const std::uint8_t* bytes, std::size_t n) {
  std::string text;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = static_cast<char>(bytes[i]);
    text += (c >= 32 && c < 127) ? c : '.';
  }
  return text;
}

}  // namespace

void write_frame_header(std::uint8_t* out, std::uint32_t payload_size) {
  out[0] = static_cast<std::uint8_t>(payload_size >> 24);
  out[1] = static_cast<std::uint8_t>(payload_size >> 16);
  out[2] = static_cast<std::uint8_t>(payload_size >> 8);
  out[3] = static_cast<std::uint8_t>(payload_size);
}

std::uint32_t read_frame_header(const std::uint8_t* in) {
  return (std::uint32_t{in[0]} << 24) | (std::uint32_t{in[1]} << 16) | (std::uint32_t{in[2]} << 8) |
         std::uint32_t{in[3]};
}

Status check_frame_size(std::size_t payload_size, std::size_t max_frame_bytes) {
  if (payload_size == 0) {
    return fail(ErrorCategory::kProtocolError,
                "frame with zero length (frames carry at least 1 byte)");
  }
  if (payload_size > max_frame_bytes) {
    return fail(ErrorCategory::kProtocolError,
                "frame of " + std::to_string(payload_size) + " bytes exceeds max_frame_bytes " +
                    std::to_string(max_frame_bytes) +
                    " (raise max_frame_bytes in the bridge config for larger payloads)");
  }
  return Ok{};
}

FrameReader::FrameReader(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {
  buffer_.resize(kMinReadBytes);
}

void FrameReader::reserve_for(std::size_t frame_bytes) {
  // Move the unconsumed tail to the front, then make room for the whole frame at once so the
  // payload lands in place.
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() < frame_bytes) buffer_.resize(frame_bytes);
}

std::span<std::uint8_t> FrameReader::prepare() {
  if (begin_ == end_) begin_ = end_ = 0;
  // A frame whose size is known gets room for all of it, so its payload is read in place.
  if (wanted_ > 0 && buffer_.size() - begin_ < wanted_) reserve_for(wanted_);
  if (buffer_.size() - end_ < kMinReadBytes / 16) {
    reserve_for(0);
    if (buffer_.size() - end_ < kMinReadBytes / 16) buffer_.resize(end_ + kMinReadBytes);
  }
  return {buffer_.data() + end_, buffer_.size() - end_};
}

void FrameReader::commit(std::size_t n) { end_ += n; }

void FrameReader::feed(std::span<const std::uint8_t> bytes) {
  while (!bytes.empty()) {
    auto region = prepare();
    const std::size_t n = std::min(region.size(), bytes.size());
    std::memcpy(region.data(), bytes.data(), n);
    commit(n);
    bytes = bytes.subspan(n);
  }
}

Result<std::optional<std::span<const std::uint8_t>>> FrameReader::next() {
  const std::size_t available = end_ - begin_;
  if (available < kFrameHeaderBytes) {
    wanted_ = 0;
    return std::optional<std::span<const std::uint8_t>>{};
  }
  const std::uint8_t* header = buffer_.data() + begin_;
  const std::uint32_t length = read_frame_header(header);
  if (auto status = check_frame_size(length, max_frame_bytes_); !status) {
    Error error = std::move(status).error();
    error.message += " (first bytes: '" +
                     printable_prefix(header, std::min<std::size_t>(available, 16)) +
                     "'; did something write to the worker's stdout?)";
    return error;
  }
  const std::size_t total = kFrameHeaderBytes + length;
  if (available < total) {
    wanted_ = total;
    return std::optional<std::span<const std::uint8_t>>{};
  }
  wanted_ = 0;
  std::span<const std::uint8_t> payload{header + kFrameHeaderBytes, length};
  begin_ += total;
  if (begin_ == end_) begin_ = end_ = 0;  // payload stays valid: the bytes are not touched yet
  return std::optional{payload};
}

}  // namespace mlbridge::protocol
