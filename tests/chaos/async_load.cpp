#include "async_load.hpp"

#include <algorithm>

#include "chaos_host.hpp"

namespace mlbridge::chaos {
namespace {

using std::chrono::milliseconds;

// Deadlines far above what the calls need, so that only faults make them pass.
constexpr milliseconds kDeadline{5000};
constexpr milliseconds kStreamDeadline{6000};
// A session's calls run one after another, so a burst's last call waits for the others first.
constexpr milliseconds kSessionDeadline{8000};
constexpr milliseconds kCancelledDeadline{10000};
// Session-bound calls: this many sessions at once, each ended and begun anew after this many
// calls, with at most this many calls in flight (they queue behind each other).
constexpr int kSessions = 24;
constexpr int kCallsPerSession = 40;
constexpr int kSessionInFlight = 6;
// Calls sent per turn of the driver's loop at most (a ramp, not a burst of thousands).
constexpr int kSendsPerTurn = 32;
constexpr milliseconds kTurn{5};

int pick(std::mt19937_64& rng, int low, int high) {
  return std::uniform_int_distribution<int>(low, high)(rng);
}

CallSpec async_sleep(const std::string& bridge, double seconds) {
  CallSpec spec;
  spec.kind = CallKind::kAsyncSleep;
  spec.bridge = bridge;
  spec.command = "async_sleep";
  spec.args = {{"seconds", seconds}};
  spec.expected = {{"slept", seconds}};
  spec.timeout = kDeadline;
  return spec;
}

CallSpec async_stream(const std::string& bridge, int count, double delay) {
  CallSpec spec;
  spec.kind = CallKind::kAsyncStream;
  spec.bridge = bridge;
  spec.command = "async_stream";
  spec.args = {{"count", count}, {"delay", delay}};
  spec.expected = {{"chunks", count}};
  spec.expected_chunks = count;
  spec.timeout = kStreamDeadline;
  return spec;
}

}  // namespace

struct AsyncLoad::Session {
  std::string id;
  int serial = 0;
  int calls = 0;
  std::uint64_t next_sequence = 1;
  std::atomic<int> in_flight{0};
};

AsyncLoad::AsyncLoad(Host& host, CallTracker& tracker, std::string bridge, std::uint64_t seed,
                     int target_in_flight)
    : host_(host),
      tracker_(tracker),
      bridge_(std::move(bridge)),
      seed_(seed),
      target_in_flight_(target_in_flight) {}

AsyncLoad::~AsyncLoad() { stop_and_join(); }

void AsyncLoad::start() {
  for (int i = 0; i < kSessions; ++i) {
    auto session = std::make_shared<Session>();
    session->id = "async" + std::to_string(i) + "-session1";
    session->serial = 1;
    sessions_.push_back(std::move(session));
  }
  thread_ = std::thread([this] { run(); });
}

void AsyncLoad::stop_and_join() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void AsyncLoad::run() {
  std::mt19937_64 rng(seed_ * 104729 + 17);
  while (!stop_) {
    send_due_cancels(false);
    for (int sent = 0; sent < kSendsPerTurn && in_flight_ < target_in_flight_;) {
      sent += send_next(rng);
    }
    peak_in_flight_ = std::max(peak_in_flight_, in_flight_.load());
    std::this_thread::sleep_for(kTurn);
  }
  send_due_cancels(true);
  for (const auto& session : sessions_) {
    if (session->in_flight == 0) (void)host_.end_session(session->id);
  }
}

void AsyncLoad::send_due_cancels(bool all) {
  const auto now = Clock::now();
  auto due = std::stable_partition(cancels_.begin(), cancels_.end(),
                                   [&](const PendingCancel& c) { return !all && c.at > now; });
  for (auto it = due; it != cancels_.end(); ++it) {
    host_.cancel(it->ticket);
    ++cancels_sent_;
  }
  cancels_.erase(due, cancels_.end());
}

void AsyncLoad::send(CallSpec spec, std::optional<milliseconds> cancel_after,
                     std::function<void()> on_done) {
  auto call = tracker_.begin(spec);
  ExecuteOptions options;
  options.session = spec.session;
  options.timeout = spec.timeout;
  if (spec.streams()) options.on_chunk = tracker_.chunk_handler(call);
  ++in_flight_;
  auto completed = tracker_.completion_handler(call);
  // May run at once on this thread (a call that fails before it reaches the pool).
  CallTicket ticket = host_.execute_async(
      spec.bridge, spec.command, spec.args, std::move(options),
      [this, completed = std::move(completed), on_done = std::move(on_done)](Result<json> result) {
        completed(std::move(result));
        if (on_done) on_done();
        --in_flight_;
      });
  if (cancel_after) cancels_.push_back({std::move(ticket), Clock::now() + *cancel_after});
}

int AsyncLoad::send_next(std::mt19937_64& rng) {
  const int roll = pick(rng, 0, 99);
  if (roll < 35) {
    send(async_sleep(bridge_, pick(rng, 50, 800) / 1000.0), std::nullopt);
  } else if (roll < 50) {
    send(async_stream(bridge_, pick(rng, 1, 8), pick(rng, 10, 50) / 1000.0), std::nullopt);
  } else if (roll < 75) {
    // A session with room for a burst; none free: an anonymous fast call instead.
    std::vector<std::shared_ptr<Session>> free;
    for (const auto& s : sessions_) {
      if (s->in_flight < kSessionInFlight) free.push_back(s);
    }
    if (!free.empty())
      return send_burst(rng, *free[pick(rng, 0, static_cast<int>(free.size()) - 1)]);
    send(async_sleep(bridge_, 0.0), std::nullopt);
  } else if (roll < 85) {
    // Cancelled in flight: a long call cancelled well before it could end, or a short one whose
    // cancel races its end.
    const bool racy = pick(rng, 0, 1) == 0;
    CallSpec spec = racy || pick(rng, 0, 1) == 0
                        ? async_sleep(bridge_, racy ? pick(rng, 0, 100) / 1000.0
                                                    : pick(rng, 2000, 3000) / 1000.0)
                        : async_stream(bridge_, 30, 0.1);
    spec.kind = CallKind::kAsyncCancel;
    spec.timeout = kCancelledDeadline;
    spec.may_beat_cancel = racy;
    send(std::move(spec), milliseconds(pick(rng, 0, racy ? 150 : 500)));
  } else if (roll < 95) {
    // Past its deadline: the host cancels the task when the deadline passes.
    CallSpec spec = pick(rng, 0, 1) == 0 ? async_sleep(bridge_, pick(rng, 2000, 3000) / 1000.0)
                                         : async_stream(bridge_, 40, 0.1);
    spec.kind = CallKind::kAsyncDeadline;
    spec.timeout = milliseconds(pick(rng, 200, 1500));
    spec.success_window = spec.timeout + kCancelGrace;
    send(std::move(spec), std::nullopt);
  } else {
    send(async_sleep(bridge_, 0.0), std::nullopt);
  }
  return 1;
}

int AsyncLoad::send_burst(std::mt19937_64& rng, Session& session) {
  if (session.calls >= kCallsPerSession && session.in_flight == 0) {
    (void)host_.end_session(session.id);
    session.id = session.id.substr(0, session.id.rfind("-session")) + "-session" +
                 std::to_string(++session.serial);
    session.calls = 0;
    session.next_sequence = 1;
  }
  // Later calls of a burst sleep less: were a session's calls to overlap, they would end out of
  // order, and the tracker would see it.
  const int count = std::min(pick(rng, 2, 5), kSessionInFlight - session.in_flight.load());
  const int cancelled = pick(rng, 0, 3) == 0 ? pick(rng, 0, count - 1) : -1;
  auto owner = *std::find_if(sessions_.begin(), sessions_.end(),
                             [&](const auto& s) { return s.get() == &session; });
  for (int i = 0; i < count; ++i) {
    // async_turn records its turn in the session's resources and answers every turn the worker
    // ran for the session, in order; it fails when another call of the session is inside it.
    CallSpec spec;
    spec.kind = i == cancelled ? CallKind::kAsyncCancel : CallKind::kAsyncSession;
    spec.bridge = bridge_;
    spec.command = "async_turn";
    spec.sequence = session.next_sequence++;
    spec.args = {{"turn", *spec.sequence},
                 {"seconds", (count - i) * 0.04 + pick(rng, 0, 9) / 1000.0}};
    spec.may_beat_cancel = true;  // it may run and end before its cancel arrives
    spec.session = session.id;
    spec.timeout = kSessionDeadline;
    ++session.calls;
    ++session.in_flight;
    send(std::move(spec),
         i == cancelled ? std::optional<milliseconds>(milliseconds(pick(rng, 0, 300)))
                        : std::nullopt,
         [owner] { --owner->in_flight; });
  }
  return count;
}

}  // namespace mlbridge::chaos
