#include "mlbridge/runtime/deadline_queue.hpp"

namespace mlbridge::runtime {

struct DeadlineQueue::State : std::enable_shared_from_this<State> {
  State(boost::asio::io_context& io, std::function<void(Key)> callback)
      : timer(io), on_expired(std::move(callback)) {}

  boost::asio::steady_timer timer;
  std::function<void(Key)> on_expired;
  Entries entries;
  std::optional<Clock::time_point> armed_for;  // when the timer's pending wait ends
  bool alive = true;                           // false once the DeadlineQueue is gone

  // Makes sure a wait ends no later than the earliest deadline. A wait that ends earlier than
  // needed (its deadline was disarmed) finds nothing due and waits again.
  void wait_for_earliest() {
    if (entries.empty()) return;
    const auto earliest = entries.begin()->first;
    if (armed_for && *armed_for <= earliest) return;
    armed_for = earliest;
    timer.expires_at(earliest);  // ends a pending wait with operation_aborted
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->fire();
    });
  }

  // One entry at a time, removed before its callback runs, so that the callback may disarm any
  // other ticket (a due one included) or destroy the queue.
  void fire() {
    armed_for.reset();
    const auto now = Clock::now();
    while (alive && !entries.empty() && entries.begin()->first <= now) {
      const Key key = entries.begin()->second;
      entries.erase(entries.begin());
      on_expired(key);
    }
    if (alive) wait_for_earliest();
  }
};

DeadlineQueue::DeadlineQueue(boost::asio::io_context& io, std::function<void(Key)> on_expired)
    : state_(std::make_shared<State>(io, std::move(on_expired))) {}

DeadlineQueue::~DeadlineQueue() {
  state_->alive = false;
  state_->entries.clear();
  state_->timer.cancel();
}

DeadlineQueue::Ticket DeadlineQueue::arm(Clock::time_point when, Key key) {
  const auto ticket = state_->entries.emplace(when, key);
  state_->wait_for_earliest();
  return ticket;
}

void DeadlineQueue::disarm(Ticket ticket) { state_->entries.erase(ticket); }

void DeadlineQueue::disarm(std::optional<Ticket>& ticket) {
  if (ticket) disarm(*ticket);
  ticket.reset();
}

std::size_t DeadlineQueue::size() const { return state_->entries.size(); }

}  // namespace mlbridge::runtime
