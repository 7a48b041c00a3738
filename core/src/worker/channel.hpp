#pragma once

// The worker's protocol stream: frames to its stdin through a write queue, frames from its
// stdout decoded into messages, and the shared-memory files large bytes take (MessagePack
// workers). Loop-thread only; owned by Worker::Impl.

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/process/spawner.hpp"
#include "mlbridge/protocol/frame.hpp"
#include "mlbridge/protocol/message.hpp"
#include "mlbridge/protocol/shared_blobs.hpp"
#include "mlbridge/protocol/transcode.hpp"
#include "worker_context.hpp"

namespace mlbridge::worker::detail {

class Channel {
 public:
  using Frame = std::vector<std::uint8_t>;
  struct Handlers {
    /// Every message the worker sent, in order.
    std::function<void(protocol::WorkerMessage)> on_message;
    /// The stream broke the protocol (what, in words); reading has stopped.
    std::function<void(const std::string&)> on_violation;
    /// The worker closed its stdout; reading has stopped.
    std::function<void()> on_closed;
    /// Whether the call with this id wants its result as JSON text (may be empty: none does).
    std::function<bool(std::uint64_t id)> wants_result_text;
  };

  Channel(boost::asio::io_context& io, const WorkerContext& context);

  /// Creates the shared-memory files and passes them in the spec, when the codec and config
  /// allow. A system that refuses them costs nothing but speed: every byte then goes through the
  /// pipe.
  void add_shared_blobs(process::ProcessSpec& spec);
  /// Keeps the shared-memory files when the worker's hello says it mapped them, else drops them.
  void use_shared_blobs(bool worker_mapped_them);

  /// Starts reading; takes ownership of the descriptors.
  void open(int stdin_fd, int stdout_fd, Handlers handlers);
  /// Stops reading after the message being handled (the worker is being killed).
  void halt() { halted_ = true; }

  /// A request's frame, its large bytes moved to shared memory when the worker takes them. The
  /// frame limit covers the moved bytes too, as if they were inline.
  Result<Frame> encode_request(protocol::Request request);
  /// The frame of any other host → worker message.
  Result<Frame> encode(const protocol::json& message) const;
  /// Sends a frame after those queued before it. Frames queued while a write is under way go
  /// out together in the next one (one writev, one wake-up of the worker). Dropped when the
  /// stdin is closed.
  void enqueue(Frame frame);
  /// Closes the worker's stdin once everything queued was written (end of input for it).
  void close_input_when_written();

  /// Whether the stream ended in the middle of a frame, and how many bytes of it came.
  bool mid_frame() const { return reader_.mid_frame(); }
  std::size_t buffered() const { return reader_.buffered(); }

  /// Closes both pipes and forgets queued frames.
  void close();

 private:
  void write_next();
  void read_stdout();
  bool drain_frames();
  /// A MessagePack success response whose call wants JSON text, its result transcoded straight
  /// from the frame and only the rest decoded; nullopt for the ordinary path (any other frame,
  /// or a result the transcoder refuses, which the ordinary path then judges).
  std::optional<protocol::WorkerMessage> response_with_text_result(
      std::span<const std::uint8_t> payload);
  /// The same for a JSON worker: a success in the SDK's layout whose call wants JSON text keeps
  /// its result's text as it is, once simdjson found it well formed (no DOM, nothing printed);
  /// nullopt for the ordinary path (another layout, or a result that is not well formed).
  std::optional<protocol::WorkerMessage> json_response_with_text_result(
      std::span<const std::uint8_t> payload);
  /// The result's JSON text with its shared-blob references printed from the shared file, which
  /// marks them taken; on failure (also a bad reference) none is, for the decoded path to judge.
  Result<std::string> result_text_with_blobs(std::string_view result,
                                             const protocol::TranscodeLimits& limits,
                                             std::size_t payload_bytes);

  boost::asio::io_context& io_;
  const WorkerContext& context_;
  Handlers handlers_;
  std::optional<boost::asio::posix::stream_descriptor> stdin_pipe_, stdout_pipe_;
  // Shared memory for large bytes (protocol/shared_blobs.hpp): created at spawn, used once the
  // hello says the worker mapped them, dropped otherwise.
  std::optional<protocol::SharedBlobs> blobs_out_, blobs_in_;
  bool shared_blobs_ = false;
  protocol::FrameReader reader_;
  bool halted_ = false;
  // Frames waiting for the next write, and the ones the current write carries.
  std::vector<Frame> write_queue_, being_written_;
  std::vector<boost::asio::const_buffer> write_buffers_;
  bool writing_ = false;
  bool close_input_when_written_ = false;
};

}  // namespace mlbridge::worker::detail
