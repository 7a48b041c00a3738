#pragma once

/// @file
/// Large byte strings through shared memory instead of the pipe (MessagePack workers only).
///
/// A pipe moves a 16 MiB frame in two sequential crossings (host → worker, worker → host), each
/// several milliseconds of kernel copies and wake-ups. With shared memory the frame carries a
/// small reference and the bytes are copied once into, and once out of, a memfd both processes
/// have mapped. Each direction has its own memfd, created by the host at spawn and inherited by
/// the worker (fds 3 and 4, named in MLBRIDGE_SHARED_BLOBS); the worker announces that it mapped
/// them with `"shared_blobs": true` in its hello, and only then does the host use them. A worker
/// that does not announce it gets every byte inline, as before.
///
/// Layout of one direction: a 64-byte header whose first 8 bytes (native byte order) count the
/// blobs the consumer has copied out, then the blobs, each at a 64-byte aligned offset. The
/// producer appends after the last blob while the consumer is behind, and starts again at the
/// header once it has caught up, so one call at a time reuses the same warm pages. The file only
/// grows, up to a bound; a blob that would pass it goes inline.
///
/// On the wire a blob is MessagePack ext type 77 (kSharedBlobExt) of 24 bytes: sequence number,
/// offset and length, each an unsigned 64-bit big-endian integer. The consumer takes blobs in
/// sequence order and refuses a reference out of order or outside the file.
///
/// Threading: a SharedBlobs object is used by one thread at a time (the worker's loop thread).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/process/unique_fd.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::protocol {

/// The MessagePack ext type of a shared-memory reference (`json::binary_t` subtype on the host).
inline constexpr std::uint8_t kSharedBlobExt = 77;
/// Size of the header before the first blob.
inline constexpr std::size_t kSharedBlobHeaderBytes = 64;
/// Bytes values at least this long go through shared memory by default.
inline constexpr std::size_t kDefaultSharedBlobMinBytes = 1 << 20;

/// One direction of shared memory: the producer's or the consumer's view of one memfd.
class SharedBlobs {
 public:
  /// A new memfd named `name` (as /proc/<pid>/fd shows it), holding the header only. Fails with
  /// internal when the system refuses (memfd_create, ftruncate, mmap).
  static Result<SharedBlobs> create(const std::string& name, std::size_t max_file_bytes);
  /// A view of an existing memfd (tests; the worker's side in C++ would use this). Takes `fd`.
  static Result<SharedBlobs> attach(process::UniqueFd fd, std::size_t max_file_bytes);

  SharedBlobs(SharedBlobs&& other) noexcept;
  SharedBlobs& operator=(SharedBlobs&& other) noexcept;
  SharedBlobs(const SharedBlobs&) = delete;
  SharedBlobs& operator=(const SharedBlobs&) = delete;
  ~SharedBlobs();

  /// The memfd, for the child to inherit. Still owned by this object.
  int fd() const { return fd_.get(); }

  /// Producer: copies `bytes` into the file and returns the reference to send in their place;
  /// nullopt when the file cannot take them (its bound, or the system refused to grow it), in
  /// which case the caller sends the bytes inline.
  std::optional<json> store(std::span<const std::uint8_t> bytes);

  /// Consumer: the bytes `reference` (a kSharedBlobExt binary) names, copied out, and the blob
  /// marked consumed. Fails with protocol_error when the reference is malformed, out of order,
  /// longer than `max_bytes` or outside the file.
  Result<std::vector<std::uint8_t>> take(const json::binary_t& reference, std::size_t max_bytes);

  /// Consumer: take() without the copy. The bytes `reference` (the 24 bytes of a kSharedBlobExt
  /// ext) names, as a view of the mapped file, valid until the next call on this object. The
  /// blob counts as taken (the next reference must follow it), but the producer may reuse its
  /// space only after commit_taken(); a consumer that gives up calls rollback() with a mark()
  /// from before, so that take() finds the same references again. Fails as take() does.
  Result<std::span<const std::uint8_t>> take_view(std::span<const std::uint8_t> reference,
                                                  std::size_t max_bytes);
  /// Consumer: tells the producer that every blob taken so far (by take_view) was read.
  void commit_taken() { set_consumed(sequence_); }

  /// Producer: the position before a store, so that stores whose frame is never sent can be
  /// undone (the consumer would otherwise wait for a sequence number that never comes).
  struct Mark {
    std::uint64_t sequence = 0;
    std::size_t next_offset = kSharedBlobHeaderBytes;
  };
  Mark mark() const { return {sequence_, next_offset_}; }
  void rollback(Mark mark) {
    sequence_ = mark.sequence;
    next_offset_ = mark.next_offset;
  }

  /// Blobs stored (producer) or taken (consumer) so far.
  std::uint64_t count() const { return sequence_; }
  /// Current size of the file in bytes.
  std::size_t file_bytes() const { return file_bytes_; }

 private:
  SharedBlobs(process::UniqueFd fd, std::size_t max_file_bytes);
  Status map(std::size_t bytes);  // maps the first `bytes` of the file (at least the header)
  std::uint64_t consumed() const;
  void set_consumed(std::uint64_t value);

  process::UniqueFd fd_;
  std::size_t max_file_bytes_ = 0;
  std::uint8_t* base_ = nullptr;
  std::size_t mapped_bytes_ = 0;
  std::size_t file_bytes_ = 0;
  std::uint64_t sequence_ = 0;  // last blob stored or taken
  std::size_t next_offset_ = kSharedBlobHeaderBytes;
};

/// Replaces every bytes value of at least `min_bytes` in `message` with a reference stored in
/// `blobs` (those that do not fit stay inline). Returns how many bytes moved.
std::size_t move_blobs_out(json& message, SharedBlobs& blobs, std::size_t min_bytes);

/// Replaces every reference in `message` with the bytes it names, taken from `blobs`. Fails with
/// protocol_error on a bad reference, or when the references add up to more than `max_bytes`.
Status bring_blobs_in(json& message, SharedBlobs& blobs, std::size_t max_bytes);

}  // namespace mlbridge::protocol
