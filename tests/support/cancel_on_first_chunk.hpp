#pragma once

// Runs a streamed command through the Host API and cancels it from its first chunk: a cancelled
// outcome proves that the chunk reached the host while the call was still running.

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "mlbridge/host.hpp"

namespace mlbridge::testing {

struct CancelledStream {
  Result<json> result;     ///< The call's outcome; `cancelled` when the cancel reached it.
  std::size_t chunks = 0;  ///< Chunks that reached the host.
  json first;              ///< The first of them.
  bool finished = false;   ///< False when the hang guard ran out.
};

/// The first chunk cancels the call through its ticket, which that chunk may beat: the cancel
/// then happens as soon as the ticket exists. `options.on_chunk` is replaced. Blocks up to
/// `hang_guard`. The cancel runs on the host's loop thread (Host::cancel only posts).
inline CancelledStream cancel_on_first_chunk(Host& host, const std::string& bridge,
                                             const std::string& command, json args,
                                             ExecuteOptions options,
                                             std::chrono::seconds hang_guard) {
  struct Shared {
    std::mutex mutex;
    std::optional<CallTicket> ticket;
    bool cancel_wanted = false;
    std::size_t chunks = 0;
    json first;
  };
  auto shared = std::make_shared<Shared>();
  Host* target = &host;
  options.on_chunk = [shared, target](json chunk) {
    std::optional<CallTicket> cancel;
    {
      std::lock_guard lock(shared->mutex);
      if (++shared->chunks > 1) return;
      shared->first = std::move(chunk);
      if (shared->ticket) {
        cancel = shared->ticket;
      } else {
        shared->cancel_wanted = true;
      }
    }
    if (cancel) target->cancel(*cancel);
  };
  auto done = std::make_shared<std::promise<Result<json>>>();
  auto outcome = done->get_future();
  const CallTicket ticket =
      host.execute_async(bridge, command, std::move(args), std::move(options),
                         [done](Result<json> result) { done->set_value(std::move(result)); });
  bool cancel_now = false;
  {
    std::lock_guard lock(shared->mutex);
    shared->ticket = ticket;
    cancel_now = shared->cancel_wanted;
  }
  if (cancel_now) host.cancel(ticket);
  CancelledStream out{json(), 0, json(), false};
  if (outcome.wait_for(hang_guard) != std::future_status::ready) return out;
  out.result = outcome.get();
  out.finished = true;
  std::lock_guard lock(shared->mutex);
  out.chunks = shared->chunks;
  out.first = shared->first;
  return out;
}

}  // namespace mlbridge::testing
