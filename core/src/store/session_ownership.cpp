#include "session_ownership.hpp"

#include <spdlog/spdlog.h>

#include <future>
#include <set>

#include "mlbridge/registry/bridge.hpp"

namespace mlbridge::store {
namespace {

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
                                   std::chrono::milliseconds lease)
    : store_(std::move(store)),
      states_(std::move(states)),
      registry_(registry),
      loop_(loop),
      lease_(lease),
      upkeep_timer_(loop.context()) {}

void SessionOwnership::start() {
  loop_.post([weak = weak_from_this()] {
    if (auto self = weak.lock()) self->schedule_upkeep();
  });
}

void SessionOwnership::stop() {
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

void SessionOwnership::claim(const std::string& id, bool for_call,
                             std::function<void(Result<bool>)> done) {
  const auto sent = Clock::now();
  store_->claim(id, [weak = weak_from_this(), id, sent, for_call,
                     done = std::move(done)](Result<StoredSession> claimed) {
    auto self = weak.lock();
    if (!self) return done(Error::make(ErrorCategory::kBridgeUnavailable, "the host stopped"));
    self->on_claimed(id, sent, for_call, std::move(claimed), done);
  });
}

void SessionOwnership::on_claimed(const std::string& id, Clock::time_point sent, bool for_call,
                                  Result<StoredSession> claimed,
                                  const std::function<void(Result<bool>)>& done) {
  // Listed before the mutex is taken: the registry's lock is never taken under this one.
  const auto bridges = registry_.list();
  std::unique_lock lock(mutex_);
  if (!claimed) {
    const Error& failure = claimed.error();
    count("claim", &failure);
    if (failure.category == ErrorCategory::kSessionMoved) {
      ++claims_["moved"];
      if (held_.contains(id))
        drop_local(id, bridges);  // another host has it now: this copy is stale
    }
    lock.unlock();
    return done(claimed.error());
  }
  count("claim", nullptr);
  auto it = held_.find(id);
  const bool current =
      it == held_.end() ? !claimed->exists : it->second.version == claimed->version;
  if (!current) {
    if (auto installed = install(id, *claimed, bridges); !installed) {
      drop_local(id, bridges);
      lock.unlock();
      return done(installed.error());
    }
  }
  ++claims_[!claimed->exists ? "new" : current ? "renewed" : "taken_over"];
  Held& held = held_[id];
  held.version = claimed->version;
  held.until = sent + lease_;
  if (for_call) ++held.running;
  lock.unlock();
  done(claimed->exists);
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
  claim(id, false, [promise](Result<bool> claimed) { promise->set_value(std::move(claimed)); });
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
