#include "mlbridge/protocol/shared_blobs.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

namespace mlbridge::protocol {
namespace {

constexpr std::size_t kReferenceBytes = 24;
constexpr std::size_t kAlignment = 64;
constexpr std::size_t kGrowthStep = std::size_t{1} << 20;

std::size_t round_up(std::size_t value, std::size_t step) {
  return (value + step - 1) / step * step;
}

std::size_t page_size() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

void put_u64(std::uint8_t* out, std::uint64_t value) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<std::uint8_t>(value & 0xff);
    value >>= 8;
  }
}

std::uint64_t get_u64(const std::uint8_t* in) {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | in[i];
  return value;
}

Unexpected bad_reference(const std::string& why) {
  return fail(ErrorCategory::kProtocolError, "shared-memory bytes reference " + why);
}

Unexpected system_failure(const char* call) {
  return fail(ErrorCategory::kInternal,
              std::string("shared memory: ") + call + " failed: " + std::strerror(errno));
}

bool is_reference(const json& value) {
  return value.is_binary() && value.get_binary().has_subtype() &&
         value.get_binary().subtype() == kSharedBlobExt;
}

}  // namespace

SharedBlobs::SharedBlobs(process::UniqueFd fd, std::size_t max_file_bytes)
    : fd_(std::move(fd)), max_file_bytes_(max_file_bytes) {}

SharedBlobs::SharedBlobs(SharedBlobs&& other) noexcept
    : fd_(std::move(other.fd_)),
      max_file_bytes_(other.max_file_bytes_),
      base_(std::exchange(other.base_, nullptr)),
      mapped_bytes_(std::exchange(other.mapped_bytes_, 0)),
      file_bytes_(other.file_bytes_),
      sequence_(other.sequence_),
      next_offset_(other.next_offset_) {}

SharedBlobs& SharedBlobs::operator=(SharedBlobs&& other) noexcept {
  if (this != &other) {
    if (base_ != nullptr) ::munmap(base_, mapped_bytes_);
    fd_ = std::move(other.fd_);
    max_file_bytes_ = other.max_file_bytes_;
    base_ = std::exchange(other.base_, nullptr);
    mapped_bytes_ = std::exchange(other.mapped_bytes_, 0);
    file_bytes_ = other.file_bytes_;
    sequence_ = other.sequence_;
    next_offset_ = other.next_offset_;
  }
  return *this;
}

SharedBlobs::~SharedBlobs() {
  if (base_ != nullptr) ::munmap(base_, mapped_bytes_);
}

Result<SharedBlobs> SharedBlobs::create(const std::string& name, std::size_t max_file_bytes) {
  process::UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return system_failure("memfd_create");
  if (::ftruncate(fd.get(), kSharedBlobHeaderBytes) != 0) return system_failure("ftruncate");
  // Nobody may shrink the file under the other side's mapping (a read past its end is SIGBUS).
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    return system_failure("fcntl(F_ADD_SEALS)");
  }
  return attach(std::move(fd), max_file_bytes);
}

Result<SharedBlobs> SharedBlobs::attach(process::UniqueFd fd, std::size_t max_file_bytes) {
  SharedBlobs blobs(std::move(fd), max_file_bytes);
  struct stat info {};
  if (::fstat(blobs.fd(), &info) != 0) return system_failure("fstat");
  blobs.file_bytes_ = static_cast<std::size_t>(info.st_size);
  if (blobs.file_bytes_ < kSharedBlobHeaderBytes) {
    return fail(ErrorCategory::kInternal, "shared memory: the file is smaller than its header");
  }
  if (auto mapped = blobs.map(blobs.file_bytes_); !mapped) return std::move(mapped).error();
  return blobs;
}

Status SharedBlobs::map(std::size_t bytes) {
  const std::size_t wanted = round_up(std::max(bytes, kSharedBlobHeaderBytes), page_size());
  if (wanted <= mapped_bytes_) return Ok{};
  void* fresh = base_ == nullptr
                    ? ::mmap(nullptr, wanted, PROT_READ | PROT_WRITE, MAP_SHARED, fd(), 0)
                    : ::mremap(base_, mapped_bytes_, wanted, MREMAP_MAYMOVE);
  if (fresh == MAP_FAILED) return system_failure(base_ == nullptr ? "mmap" : "mremap");
  base_ = static_cast<std::uint8_t*>(fresh);
  mapped_bytes_ = wanted;
  return Ok{};
}

std::uint64_t SharedBlobs::consumed() const {
  return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(base_))
      .load(std::memory_order_acquire);
}

void SharedBlobs::set_consumed(std::uint64_t value) {
  std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(base_))
      .store(value, std::memory_order_release);
}

std::optional<json> SharedBlobs::store(std::span<const std::uint8_t> bytes) {
  const std::uint64_t caught_up = consumed();
  if (caught_up > sequence_) return std::nullopt;  // the other side is confused: stay inline
  if (caught_up == sequence_) next_offset_ = kSharedBlobHeaderBytes;
  const std::size_t offset = round_up(next_offset_, kAlignment);
  const std::size_t end = offset + bytes.size();
  if (end > max_file_bytes_) return std::nullopt;
  if (end > file_bytes_) {
    const std::size_t grown = std::min(max_file_bytes_, round_up(end, kGrowthStep));
    if (::ftruncate(fd(), static_cast<off_t>(grown)) != 0) return std::nullopt;
    file_bytes_ = grown;
  }
  if (!map(end)) return std::nullopt;
  std::memcpy(base_ + offset, bytes.data(), bytes.size());
  ++sequence_;
  next_offset_ = end;
  std::vector<std::uint8_t> reference(kReferenceBytes);
  put_u64(reference.data(), sequence_);
  put_u64(reference.data() + 8, offset);
  put_u64(reference.data() + 16, bytes.size());
  return json::binary(std::move(reference), kSharedBlobExt);
}

Result<std::vector<std::uint8_t>> SharedBlobs::take(const json::binary_t& reference,
                                                    std::size_t max_bytes) {
  auto view = take_view(reference, max_bytes);
  if (!view) return std::move(view).error();
  std::vector<std::uint8_t> bytes(view->begin(), view->end());
  commit_taken();
  return bytes;
}

Result<std::span<const std::uint8_t>> SharedBlobs::take_view(
    std::span<const std::uint8_t> reference, std::size_t max_bytes) {
  if (reference.size() != kReferenceBytes) {
    return bad_reference("has " + std::to_string(reference.size()) + " bytes, not " +
                         std::to_string(kReferenceBytes));
  }
  const std::uint64_t sequence = get_u64(reference.data());
  const std::uint64_t offset = get_u64(reference.data() + 8);
  const std::uint64_t length = get_u64(reference.data() + 16);
  if (sequence != sequence_ + 1) {
    return bad_reference("is number " + std::to_string(sequence) + " where " +
                         std::to_string(sequence_ + 1) + " was next");
  }
  if (length > max_bytes) {
    return bad_reference("names " + std::to_string(length) + " bytes, more than the " +
                         std::to_string(max_bytes) + " a frame may carry");
  }
  if (offset < kSharedBlobHeaderBytes || offset > max_file_bytes_ ||
      length > max_file_bytes_ - offset) {
    return bad_reference("points outside the shared file (offset " + std::to_string(offset) +
                         ", length " + std::to_string(length) + ")");
  }
  const std::size_t end = offset + length;
  if (end > file_bytes_) {  // the producer grew the file since we last looked
    struct stat info {};
    if (::fstat(fd(), &info) != 0) return system_failure("fstat");
    file_bytes_ = static_cast<std::size_t>(info.st_size);
    if (end > file_bytes_) {
      return bad_reference("ends at byte " + std::to_string(end) + " of a " +
                           std::to_string(file_bytes_) + "-byte shared file");
    }
  }
  if (auto mapped = map(end); !mapped) return std::move(mapped).error();
  sequence_ = sequence;
  return std::span<const std::uint8_t>(base_ + offset, length);
}

std::size_t move_blobs_out(json& message, SharedBlobs& blobs, std::size_t min_bytes) {
  if (message.is_binary()) {
    const auto& bytes = message.get_binary();
    if (bytes.size() < min_bytes || bytes.has_subtype()) return 0;
    auto reference = blobs.store(bytes);
    if (!reference) return 0;
    const std::size_t moved = bytes.size();
    message = std::move(*reference);
    return moved;
  }
  std::size_t moved = 0;
  if (message.is_object() || message.is_array()) {
    for (auto& item : message) moved += move_blobs_out(item, blobs, min_bytes);
  }
  return moved;
}

namespace {

Status bring_in(json& message, SharedBlobs& blobs, std::size_t& budget) {
  if (is_reference(message)) {
    auto bytes = blobs.take(message.get_binary(), budget);
    if (!bytes) return std::move(bytes).error();
    budget -= bytes->size();
    message = json::binary(std::move(*bytes));
    return Ok{};
  }
  if (message.is_object() || message.is_array()) {
    for (auto& item : message) {
      if (auto done = bring_in(item, blobs, budget); !done) return done;
    }
  }
  return Ok{};
}

}  // namespace

Status bring_blobs_in(json& message, SharedBlobs& blobs, std::size_t max_bytes) {
  return bring_in(message, blobs, max_bytes);
}

}  // namespace mlbridge::protocol
