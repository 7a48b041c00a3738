#include "session_ownership.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <set>

#include "mlbridge/registry/bridge.hpp"

namespace mlbridge::store {
namespace {

using Clock = SessionOwnership::Clock;

// How long a blocking helper waits for the store; the client's own timeouts answer sooner.
constexpr std::chrono::seconds kOwnershipWait{30};

Error not_held_here(const std::string& id) {
  Error e = Error::make(ErrorCategory::kSessionMoved,
                        "session '" + id +
                            "' is no longer held by this host (its copy was dropped after a "
                            "failed save or a takeover); retry the call");
  e.retry_after = std::chrono::milliseconds(1000);
  return e;
}

Error host_stopping(const std::string& id) {
  return Error::make(ErrorCategory::kBridgeUnavailable,
                     "this host is shutting down; the call of session '" + id +
                         "' did not run: retry it on another host");
}

// The refusal a claim answers once its bound is reached: the store's, with how long this host
// waited and a Retry-After of the lease's time left (at least 1 s).
Error moved_after_wait(const Error& refused, Clock::time_point since, Clock::time_point now,
                       Clock::time_point lapses) {
  Error e = refused;
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - since);
  if (waited.count() > 0)
    e.message += " (this host waited " + std::to_string(waited.count()) + " ms)";
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(lapses - now);
  e.retry_after = std::max<std::chrono::milliseconds>(left, std::chrono::milliseconds(1000));
  return e;
}

template <typename T>
Result<T> wait_for_store(std::future<Result<T>>& future, const std::string& what) {
  if (future.wait_for(kOwnershipWait) != std::future_status::ready) {
    return Error::make(ErrorCategory::kBridgeUnavailable,
                       "the session store did not answer " + what + " within 30 s");
  }
  return future.get();
}

}  // namespace

SessionOwnership::SessionOwnership(SessionStorePtr store, session::StateStorePtr states,
                                   registry::Registry& registry, runtime::EventLoop& loop,
                                   std::chrono::milliseconds lease,
                                   std::chrono::milliseconds claim_wait)
    : store_(std::move(store)),
      states_(std::move(states)),
      registry_(registry),
      loop_(loop),
      lease_(lease),
      claim_wait_(claim_wait),
      upkeep_timer_(loop.context()) {}

void SessionOwnership::start() {
  loop_.post([weak = weak_from_this()] {
    if (auto self = weak.lock()) self->schedule_upkeep();
  });
}

void SessionOwnership::stop() {
  end_waits();
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (const auto& [id, held] : held_) ids.push_back(id);
  }
  loop_.run_sync([this] { upkeep_timer_.cancel(); });
  auto released = std::make_shared<std::promise<void>>();
  auto future = released->get_future();
  store_->release(std::move(ids), [released] { released->set_value(); });
  future.wait_for(std::chrono::seconds(2));
  store_->stop();
}

bool SessionOwnership::held_now(const Held& held, Clock::time_point now) const {
  // A margin of a quarter lease: a call that starts now keeps the lease through upkeep.
  return now + lease_ / 4 < held.until;
}

bool SessionOwnership::begin_call(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = held_.find(id);
  if (it == held_.end() || !held_now(it->second, Clock::now())) return false;
  ++it->second.running;
  return true;
}

void SessionOwnership::end_call(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = held_.find(id);
  if (it != held_.end() && it->second.running > 0) --it->second.running;
}

void SessionOwnership::claim(const std::string& id, bool for_call, Clock::time_point wait_until,
                             std::uint64_t waiter, std::function<void(Result<bool>)> done) {
  const auto now = Clock::now();
  wait_until = std::min(wait_until, now + claim_wait_);
  std::unique_lock lock(mutex_);
  if (waits_ended_) {
    lock.unlock();
    return done(host_stopping(id));
  }
  Claiming& claiming = claiming_[id];
  claiming.waiters.push_back({waiter, for_call, now, wait_until, std::move(done)});
  if (claiming.out) return;  // answered with the claim that is out
  if (claiming.waiters.size() > 1) {
    // Waiting for another host's lease: this call's bound may come before the timer.
    if (wait_until < claiming.wake) {
      claiming.wake = wait_until;
      lock.unlock();
      loop_.post([weak = weak_from_this(), id] {
        if (auto self = weak.lock()) self->arm_wait(id);
      });
    }
    return;
  }
  claiming.out = true;
  lock.unlock();
  send_claim(id);
}

void SessionOwnership::send_claim(const std::string& id) {
  const auto sent = Clock::now();
  store_->claim(id, [weak = weak_from_this(), id, sent](Result<StoredSession> claimed) {
    // The host fails every waiter (end_waits) before it lets go of this object.
    if (auto self = weak.lock()) self->on_claimed(id, sent, std::move(claimed));
  });
}

void SessionOwnership::on_claimed(const std::string& id, Clock::time_point sent,
                                  Result<StoredSession> claimed) {
  // Listed before the mutex is taken: the registry's lock is never taken under this one.
  const auto bridges = registry_.list();
  std::unique_lock lock(mutex_);
  std::deque<Waiter> waiters;
  auto entry = claiming_.find(id);
  if (entry != claiming_.end()) {
    waiters = std::move(entry->second.waiters);
    claiming_.erase(entry);
  }
  if (!claimed) {
    const Error& failure = claimed.error();
    count("claim", &failure);
    if (failure.category != ErrorCategory::kSessionMoved) {
      lock.unlock();
      for (auto& waiter : waiters) waiter.done(failure);
      return;
    }
    ++claims_["moved"];
    if (held_.contains(id)) drop_local(id, bridges);  // another host has it now: stale copy
    // Those whose bound is reached fail; the others wait for the lease to lapse.
    const auto now = Clock::now();
    const auto lapses = now + failure.retry_after.value_or(std::chrono::milliseconds(1000));
    std::vector<Waiter> refused;
    std::deque<Waiter> waiting;
    for (auto& waiter : waiters) {
      (waiter.until <= now ? refused.emplace_back(std::move(waiter))
                           : waiting.emplace_back(std::move(waiter)));
    }
    bool arm = false;
    if (!waiting.empty() && !waits_ended_) {
      ++claims_["waited"];
      Claiming& claiming = claiming_[id];
      claiming.waiters = std::move(waiting);
      claiming.lapses = lapses;
      claiming.wake = lapses;
      for (const auto& waiter : claiming.waiters)
        claiming.wake = std::min(claiming.wake, waiter.until);
      arm = true;
    } else {
      for (auto& waiter : waiting) refused.push_back(std::move(waiter));
    }
    lock.unlock();
    if (arm) {
      loop_.post([weak = weak_from_this(), id] {
        if (auto self = weak.lock()) self->arm_wait(id);
      });
    }
    for (auto& waiter : refused) waiter.done(moved_after_wait(failure, waiter.since, now, lapses));
    return;
  }
  count("claim", nullptr);
  auto it = held_.find(id);
  const bool current =
      it == held_.end() ? !claimed->exists : it->second.version == claimed->version;
  if (!current) {
    if (auto installed = install(id, *claimed, bridges); !installed) {
      drop_local(id, bridges);
      lock.unlock();
      for (auto& waiter : waiters) waiter.done(installed.error());
      return;
    }
  }
  ++claims_[!claimed->exists ? "new" : current ? "renewed" : "taken_over"];
  Held& held = held_[id];
  held.version = claimed->version;
  held.until = sent + lease_;
  for (const auto& waiter : waiters) {
    if (waiter.for_call) ++held.running;
  }
  lock.unlock();
  for (auto& waiter : waiters) waiter.done(claimed->exists);  // in the order they came
}

void SessionOwnership::arm_wait(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = claiming_.find(id);
  if (it == claiming_.end() || it->second.out || waits_ended_) return;
  Claiming& claiming = it->second;
  if (!claiming.timer)
    claiming.timer = std::make_shared<boost::asio::steady_timer>(loop_.context());
  claiming.timer->expires_at(claiming.wake);  // a wait set before ends with operation_aborted
  claiming.timer->async_wait(
      [weak = weak_from_this(), id, timer = claiming.timer](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->on_wait_over(id, timer);
      });
}

void SessionOwnership::on_wait_over(const std::string& id,
                                    const std::shared_ptr<boost::asio::steady_timer>& timer) {
  std::unique_lock lock(mutex_);
  auto it = claiming_.find(id);
  if (it == claiming_.end() || it->second.out || it->second.timer != timer || waits_ended_) return;
  if (Clock::now() < it->second.wake) return;  // re-armed for later meanwhile
  // The lease lapsed, or a waiter's bound came: claim again (a lease given up early is caught).
  it->second.out = true;
  it->second.timer.reset();
  lock.unlock();
  send_claim(id);
}

bool SessionOwnership::abandon(const std::string& id, std::uint64_t waiter, Error why) {
  std::unique_lock lock(mutex_);
  auto it = claiming_.find(id);
  if (it == claiming_.end()) return false;
  auto& waiters = it->second.waiters;
  auto found = std::find_if(waiters.begin(), waiters.end(),
                            [waiter](const Waiter& w) { return w.number == waiter; });
  if (found == waiters.end()) return false;
  auto done = std::move(found->done);
  waiters.erase(found);
  std::shared_ptr<boost::asio::steady_timer> idle;
  if (waiters.empty() && !it->second.out) {
    idle = std::move(it->second.timer);
    claiming_.erase(it);
  }
  lock.unlock();
  if (idle) loop_.post([idle] { idle->cancel(); });
  done(std::move(why));
  return true;
}

void SessionOwnership::end_waits() {
  std::vector<std::pair<std::string, Waiter>> waiters;
  std::vector<std::shared_ptr<boost::asio::steady_timer>> timers;
  {
    std::lock_guard lock(mutex_);
    if (waits_ended_) return;
    waits_ended_ = true;
    for (auto& [id, claiming] : claiming_) {
      for (auto& waiter : claiming.waiters) waiters.emplace_back(id, std::move(waiter));
      if (claiming.timer) timers.push_back(std::move(claiming.timer));
    }
    claiming_.clear();
  }
  if (!timers.empty()) {
    loop_.run_sync([&timers] {
      for (auto& timer : timers) timer->cancel();
    });
  }
  for (auto& [id, waiter] : waiters) waiter.done(host_stopping(id));
}

Status SessionOwnership::install(const std::string& id, const StoredSession& record,
                                 const std::vector<registry::BridgePtr>& bridges) {
  if (record.state) {
    auto stored = states_->install(id, *record.state);
    if (!stored) return std::move(stored).error();
  } else {
    states_->erase(id);
  }
  for (const auto& bridge : bridges) {
    auto journal = record.journals.find(bridge->name());
    bridge->pool().replace_session(
        id, journal == record.journals.end() ? std::nullopt : std::optional<json>(journal->second));
  }
  if (record.exists) {
    spdlog::info("session '{}' taken over from {} (version {}, {} journal(s))", id,
                 store_->describe(), record.version, record.journals.size());
  }
  return Ok{};
}

void SessionOwnership::drop_local(const std::string& id,
                                  const std::vector<registry::BridgePtr>& bridges) {
  held_.erase(id);
  states_->erase(id);
  for (const auto& bridge : bridges) bridge->pool().replace_session(id, std::nullopt);
}

Result<bool> SessionOwnership::claim_and_wait(const std::string& id) {
  {
    std::lock_guard lock(mutex_);
    auto it = held_.find(id);
    if (it != held_.end() && held_now(it->second, Clock::now())) return it->second.version > 0;
  }
  auto promise = std::make_shared<std::promise<Result<bool>>>();
  auto future = promise->get_future();
  // No waiting here: this blocks its caller's thread, so another host's lease is refused at once.
  claim(id, false, Clock::now(), next_waiter(),
        [promise](Result<bool> claimed) { promise->set_value(std::move(claimed)); });
  return wait_for_store(future, "a claim of session '" + id + "'");
}

Status SessionOwnership::save_state_and_wait(const std::string& id) {
  auto promise = std::make_shared<std::promise<Result<bool>>>();
  auto future = promise->get_future();
  save_call_effects(id, "", true, std::nullopt, [promise](Status saved) {
    promise->set_value(saved ? Result<bool>(true) : Result<bool>(saved.error()));
  });
  auto saved = wait_for_store(future, "a save of session '" + id + "'");
  if (!saved) return std::move(saved).error();
  return Ok{};
}

Result<bool> SessionOwnership::end_and_wait(const std::string& id) {
  auto promise = std::make_shared<std::promise<Result<bool>>>();
  auto future = promise->get_future();
  store_->end(id, [promise](Result<bool> ended) { promise->set_value(std::move(ended)); });
  auto ended = wait_for_store(future, "the end of session '" + id + "'");
  std::lock_guard lock(mutex_);
  count("end", ended ? nullptr : &ended.error());
  if (ended) held_.erase(id);
  return ended;
}

void SessionOwnership::save_call_effects(const std::string& session_id, const std::string& bridge,
                                         bool state_changed, std::optional<json> journal,
                                         std::function<void(Status)> done) {
  std::unique_lock lock(mutex_);
  auto it = held_.find(session_id);
  if (it == held_.end()) {
    lock.unlock();
    return done(not_held_here(session_id));
  }
  it->second.saves.push_back({state_changed, bridge, std::move(journal), std::move(done)});
  if (it->second.saving) return;  // sent with the next batch, once the one out is answered
  auto send = send_saves(session_id, it->second);
  lock.unlock();
  send();
}

std::function<void()> SessionOwnership::send_saves(const std::string& id, Held& held) {
  SessionSave save;
  save.expected_version = held.version;
  std::vector<std::function<void(Status)>> dones;
  bool state_changed = false;
  for (auto& pending : held.saves) {
    state_changed = state_changed || pending.state_changed;
    if (pending.journal) save.journals[pending.bridge] = std::move(*pending.journal);
    dones.push_back(std::move(pending.done));
  }
  held.saves.clear();
  // A record always has a state field, so that a session created without one exists.
  if (state_changed || held.version == 0) save.state = states_->get(id).data;
  held.saving = true;
  // Sent by the caller once it released the mutex: a stopped client answers on the calling
  // thread, and the answer takes the mutex.
  return [self = shared_from_this(), id, save = std::make_shared<SessionSave>(std::move(save)),
          dones = std::make_shared<std::vector<std::function<void(Status)>>>(std::move(dones))] {
    const auto sent = Clock::now();
    self->store_->save(
        id, std::move(*save),
        [weak = self->weak_from_this(), id, sent, dones](Result<std::uint64_t> saved) {
          auto owner = weak.lock();
          if (!owner) {
            for (auto& done : *dones)
              done(Error::make(ErrorCategory::kBridgeUnavailable, "the host stopped"));
            return;
          }
          owner->on_saved(id, sent, std::move(saved), std::move(*dones));
        });
  };
}

void SessionOwnership::on_saved(const std::string& id, Clock::time_point sent,
                                Result<std::uint64_t> saved,
                                std::vector<std::function<void(Status)>> dones) {
  const auto bridges = saved ? std::vector<registry::BridgePtr>{} : registry_.list();
  std::unique_lock lock(mutex_);
  count("save", saved ? nullptr : &saved.error());
  auto it = held_.find(id);
  if (saved) {
    std::function<void()> next;
    if (it != held_.end()) {
      it->second.version = *saved;
      it->second.until = sent + lease_;
      it->second.saving = false;
      if (!it->second.saves.empty()) next = send_saves(id, it->second);
    }
    lock.unlock();
    for (auto& done : dones) done(Ok{});
    if (next) next();
    return;
  }
  // Nothing of this copy can be trusted now: the next call loads what the store has.
  spdlog::warn("session '{}': saving to {} failed ({}); this host dropped its copy", id,
               store_->describe(), saved.error().message);
  if (it != held_.end()) {
    for (auto& pending : it->second.saves) dones.push_back(std::move(pending.done));
    drop_local(id, bridges);
  }
  lock.unlock();
  for (auto& done : dones) done(saved.error());
}

void SessionOwnership::count(const std::string& op, const Error* failure) {
  const char* outcome = !failure                                            ? "ok"
                        : failure->category == ErrorCategory::kSessionMoved ? "moved"
                                                                            : "error";
  ++ops_[op + "/" + outcome];
}

SessionOwnership::Figures SessionOwnership::figures() const {
  std::lock_guard lock(mutex_);
  return Figures{ops_, claims_, held_.size()};
}

void SessionOwnership::schedule_upkeep() {
  upkeep_timer_.expires_after(
      std::max<std::chrono::milliseconds>(lease_ / 3, std::chrono::milliseconds(10)));
  upkeep_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) {
      self->renew_leases();
      self->schedule_upkeep();
    }
  });
}

void SessionOwnership::renew_leases() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    for (const auto& [id, held] : held_) {
      if (held.running > 0 || held.saving) ids.push_back(id);
    }
  }
  if (ids.empty()) return;
  const auto sent = Clock::now();
  store_->extend(ids, [weak = weak_from_this(), ids, sent](Result<std::vector<std::string>> kept) {
    auto self = weak.lock();
    if (!self) return;
    std::lock_guard lock(self->mutex_);
    self->count("extend", kept ? nullptr : &kept.error());
    if (!kept) return;  // the leases run out unless the store answers again in time
    std::set<std::string> still(kept->begin(), kept->end());
    for (const auto& id : ids) {
      auto it = self->held_.find(id);
      if (it == self->held_.end()) continue;
      if (still.contains(id)) {
        it->second.until = sent + self->lease_;
      } else {
        it->second.until = {};  // lapsed: the next call claims it again
      }
    }
  });
}

}  // namespace mlbridge::store
