#include "mlbridge/host.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

#include "command_catalog.hpp"
#include "mlbridge/registry/host_commands.hpp"
#include "mlbridge/registry/registry.hpp"
#include "mlbridge/runtime/event_loop.hpp"
#include "mlbridge/session/session_id.hpp"
#include "mlbridge/store/redis_session_store.hpp"
#include "store/session_ownership.hpp"

namespace mlbridge {
namespace {

pool::CallRequest to_request(const std::string& command, json args, ExecuteOptions options) {
  pool::CallRequest request;
  request.command = command;
  request.args = std::move(args);
  request.session_id = std::move(options.session);
  request.timeout = options.timeout;
  request.on_chunk = std::move(options.on_chunk);
  return request;
}

// A call's session id, checked where it enters the C++ API (the HTTP and CLI paths come here too).
Status check_call_session(const ExecuteOptions& options) {
  if (!options.session) return Ok{};
  return session::check_session_id(*options.session);
}

// The longest wait for the bridges' list_commands answers (snapshot(true)).
constexpr std::chrono::milliseconds kCommandsWait{5000};

std::string new_session_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "s-";
  for (int i = 0; i < 16; ++i) id += kHex[rng() % 16];
  return id;
}

// `<hostname>-<8 random hex>`: new at every start, so a host that rejoins holds none of the
// leases it held before.
std::string generated_host_id() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') std::strcpy(name, "host");
  std::string id;
  for (const char* c = name; *c && id.size() < 100; ++c) {
    const bool fits = std::isalnum(static_cast<unsigned char>(*c)) || *c == '.' || *c == '_' ||
                      *c == ':' || *c == '-';
    id += fits ? *c : '-';
  }
  std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  id += '-';
  for (int i = 0; i < 8; ++i) id += kHex[rng() % 16];
  return id;
}

// When a call must have ended: its own timeout, or its bridge's request_timeout, from now. A
// call of a session that waits for its claim spends part of it waiting.
std::chrono::steady_clock::time_point call_deadline(
    registry::Bridge& bridge, std::optional<std::chrono::milliseconds> timeout) {
  return std::chrono::steady_clock::now() +
         timeout.value_or(bridge.pool().config().request_timeout);
}

// When the host's event loop polls between events (host.loop_spin_us): always, or while at most
// host.loop_spin_max_calls calls are in flight.
runtime::EventLoop::PollingWorthwhile polling_worthwhile(
    std::optional<int> max_calls, std::shared_ptr<const calls::InFlightCalls> calls) {
  if (!max_calls || *max_calls == 0) return {};
  return [most = static_cast<std::size_t>(*max_calls), calls = std::move(calls)] {
    return calls->size() <= most;
  };
}

}  // namespace

Host::Host(config::HostConfig config)
    : config_(std::move(config)),
      host_id_(config_.id.empty() ? generated_host_id() : config_.id),
      session_states_(std::make_shared<session::StateStore>(config_.session_state_max_bytes,
                                                            config_.session_state_total_max_bytes)),
      loop_(std::make_unique<runtime::EventLoop>(
          std::chrono::microseconds(config_.loop_spin_us),
          polling_worthwhile(config_.loop_spin_max_calls, in_flight_))),
      registry_(std::make_unique<registry::Registry>(*loop_, config_, session_states_)),
      call_records_(std::make_shared<calls::CallRecords>(calls::RetentionLimits{
          std::chrono::milliseconds(config_.call_results.ttl_ms), config_.call_results.max})),
      commands_(std::make_shared<CommandCatalog>()) {
  for (const auto& [name, bridge] : config_.bridges) file_bridges_.insert(name);
  if (config_.session_store != "memory") {
    auto endpoint = store::parse_redis_url(config_.session_store);
    // load_host_config checked it already; a HostConfig built in code may not have been.
    if (!endpoint) throw std::invalid_argument("host.session_store: " + endpoint.error().message);
    const std::chrono::milliseconds lease(config_.session_lease_ms);
    const std::chrono::milliseconds claim_wait(config_.effective_claim_wait_ms());
    auto shared = store::RedisSessionStore::create(std::move(*endpoint), host_id_, lease);
    spdlog::info("sessions are kept in {} (host id {}, lease {} ms, claims wait up to {} ms)",
                 shared->describe(), host_id_, lease.count(), claim_wait.count());
    ownership_ = std::make_shared<store::SessionOwnership>(std::move(shared), session_states_,
                                                           *registry_, *loop_, lease, claim_wait);
    session_states_->set_sync(ownership_);
    ownership_->start();
  }
}

Host::~Host() { shutdown(); }

Result<std::unique_ptr<Host>> Host::from_file(const std::string& path) {
  auto config = config::load_host_config(path);
  if (!config) return std::move(config).error();
  return std::unique_ptr<Host>(new Host(std::move(*config)));
}

std::unique_ptr<Host> Host::from_config(config::HostConfig config) {
  return std::unique_ptr<Host>(new Host(std::move(config)));
}

Status Host::start(const std::vector<std::string>& only) { return registry_->register_all(only); }

std::string Host::next_call_id() { return "call-" + std::to_string(next_call_++); }

Result<std::shared_ptr<registry::Bridge>> Host::call_target(const std::string& bridge,
                                                            const std::string& command,
                                                            const ExecuteOptions& options) {
  if (auto valid = check_call_session(options); !valid) {
    Error error = std::move(valid).error();
    error.bridge = bridge;
    error.command = command;
    return error;
  }
  auto target = registry_->get(bridge);
  if (!target) {
    Error error = std::move(target).error();
    error.command = command;
    return error;
  }
  return target;
}

CallTicket Host::execute_async(const std::string& bridge, const std::string& command, json args,
                               ExecuteOptions options, std::function<void(Result<json>)> on_done) {
  CallTicket ticket;
  ticket.id = next_call_id();
  if (options.on_call_id) options.on_call_id(ticket.id);
  auto target = call_target(bridge, command, options);
  if (!target) {
    on_done(std::move(target).error());
    return ticket;
  }
  auto on_retry = std::move(options.on_retry);
  submit(*target, ticket, to_request(command, std::move(args), std::move(options)),
         std::move(on_done), std::move(on_retry));
  return ticket;
}

void Host::with_session(const std::string& id, const std::string& call_id,
                        std::chrono::steady_clock::time_point deadline,
                        std::function<void(std::function<void()>)> go,
                        std::function<void(Error)> failed) {
  auto release = [weak = std::weak_ptr<store::SessionOwnership>(ownership_), id] {
    if (auto ownership = weak.lock()) ownership->end_call(id);
  };
  if (ownership_->begin_call(id)) return go(std::move(release));
  // A cancel while the claim waits ends it at once (the canceller is replaced by the pool's once
  // the call is dispatched). `cancelled` catches a cancel before the claim is registered or
  // after it was answered but before `go`; one that lands between `go`'s start and the pool's
  // canceller being attached is lost (the call then runs, as a cancel that comes just too late).
  const auto waiter = ownership_->next_waiter();
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  auto cancelled_error = [id] {
    return Error::make(ErrorCategory::kCancelled,
                       "the call was cancelled while it waited for session '" + id +
                           "' to be free of another host's lease; it did not run");
  };
  in_flight_->attach(call_id, [weak = std::weak_ptr<store::SessionOwnership>(ownership_), id,
                               waiter, cancelled, cancelled_error] {
    cancelled->store(true);
    if (auto ownership = weak.lock()) ownership->abandon(id, waiter, cancelled_error());
  });
  ownership_->claim(id, true, deadline, waiter,
                    [go = std::move(go), failed = std::move(failed), release = std::move(release),
                     cancelled, cancelled_error](Result<bool> claimed) mutable {
                      if (!claimed) return failed(std::move(claimed).error());
                      if (cancelled->load()) {
                        release();
                        return failed(cancelled_error());
                      }
                      go(std::move(release));
                    });
  if (cancelled->load()) ownership_->abandon(id, waiter, cancelled_error());
}

void Host::submit(const std::shared_ptr<registry::Bridge>& target, CallTicket& ticket,
                  pool::CallRequest request, std::function<void(Result<json>)> on_done,
                  std::function<void(std::uint32_t, const Error&)> on_retry) {
  // Listed under its id while in flight, for cancel_call.
  in_flight_->begin(ticket.id);
  if (ownership_ && request.session_id) {
    // The session must be this host's before its call runs: held already, the call goes now;
    // else after its claim (then the ticket's handle stays 0: cancel_call(id) cancels it).
    struct Parked {
      pool::CallRequest request;
      std::function<void(Result<json>)> on_done;
      std::function<void(std::uint32_t, const Error&)> on_retry;
    };
    auto parked = std::make_shared<Parked>(
        Parked{std::move(request), std::move(on_done), std::move(on_retry)});
    ticket.bridge = target;
    const std::string session = *parked->request.session_id;
    const auto caller = std::this_thread::get_id();  // go() on it: at once, inside submit()
    const auto deadline = call_deadline(*target, parked->request.timeout);
    with_session(
        session, ticket.id, deadline,
        [this, target, parked, call_id = ticket.id, caller, deadline,
         &ticket](std::function<void()> release) {
          // After a claim (on another thread): the call has what is left of its deadline.
          if (std::this_thread::get_id() != caller) {
            parked->request.timeout = std::max(
                std::chrono::milliseconds(1), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  deadline - std::chrono::steady_clock::now()));
          }
          auto done = [release = std::move(release),
                       on_done = std::move(parked->on_done)](Result<json> result) {
            release();
            on_done(std::move(result));
          };
          CallTicket later;
          later.id = call_id;
          dispatch(target, later, std::move(parked->request), std::move(done),
                   std::move(parked->on_retry));
          // On the caller's thread go() runs inside submit(), whose ticket is still alive; on the
          // store's thread (after a claim) the ticket is the caller's again.
          if (std::this_thread::get_id() == caller) ticket.handle = later.handle;
        },
        [in_flight = in_flight_, call_id = ticket.id, parked,
         bridge = target->name()](Error failure) {
          in_flight->end(call_id);
          failure.bridge = bridge;
          failure.command = parked->request.command;
          parked->on_done(std::move(failure));
        });
    return;
  }
  dispatch(target, ticket, std::move(request), std::move(on_done), std::move(on_retry));
}

void Host::dispatch(const std::shared_ptr<registry::Bridge>& target, CallTicket& ticket,
                    pool::CallRequest request, std::function<void(Result<json>)> on_done,
                    std::function<void(std::uint32_t, const Error&)> on_retry) {
  auto done = [in_flight = in_flight_, id = ticket.id,
               on_done = std::move(on_done)](Result<json> result) {
    in_flight->end(id);
    on_done(std::move(result));
  };
  const auto handle = target->execute(std::move(request), std::move(done), std::move(on_retry));
  ticket.bridge = target;
  ticket.handle = handle;
  in_flight_->attach(ticket.id, [bridge = ticket.bridge, handle] {
    if (auto b = bridge.lock()) b->cancel(handle);
  });
}

CallTicket Host::execute_async_encoded(
    const std::string& bridge, const std::string& command, protocol::EncodedArgs args,
    ExecuteOptions options, std::function<void(Result<protocol::EncodedResult>)> on_done) {
  // The pool hands the result over as a json string holding its JSON text
  // (pool::CallRequest::result_as_json_text).
  auto as_text = [on_done = std::move(on_done)](Result<json> result) {
    if (!result) return on_done(std::move(result).error());
    if (result->is_string()) {
      return on_done(protocol::EncodedResult{std::move(result->get_ref<std::string&>())});
    }
    try {  // a result the pool made itself, not a worker's
      on_done(protocol::EncodedResult{protocol::to_plain_json(*result).dump()});
    } catch (const json::type_error& error) {
      on_done(Error::make(ErrorCategory::kInternal,
                          std::string("a result cannot be printed as JSON: ") + error.what()));
    }
  };
  CallTicket ticket;
  ticket.id = next_call_id();
  if (options.on_call_id) options.on_call_id(ticket.id);
  auto target = call_target(bridge, command, options);
  if (!target) {
    as_text(std::move(target).error());
    return ticket;
  }
  auto on_retry = std::move(options.on_retry);
  pool::CallRequest request = to_request(command, json::object(), std::move(options));
  request.encoded_args = args.shared();
  request.result_as_json_text = true;
  submit(*target, ticket, std::move(request), std::move(as_text), std::move(on_retry));
  return ticket;
}

Result<std::string> Host::cast(const std::string& bridge, const std::string& command, json args,
                               ExecuteOptions options) {
  if (auto valid = check_call_session(options); !valid) return std::move(valid).error();
  auto target = registry_->get(bridge);
  if (!target) {
    Error error = std::move(target).error();
    error.command = command;
    return error;
  }
  // Refused here too (Bridge::execute refuses every client call of one), so that a
  // fire-and-forget call of a host-only built-in fails at once instead of in the log.
  if (registry::is_host_command(command))
    return registry::no_such_command((*target)->name(), command);
  const std::string call_id = next_call_id();
  const std::optional<std::string> options_session = options.session;
  call_records_->started(call_id, (*target)->name(), command);
  in_flight_->begin(call_id);
  auto request = to_request(command, std::move(args), std::move(options));
  const auto request_timeout = request.timeout;
  request.on_started = [records = call_records_, call_id] { records->running(call_id); };
  auto start = [records = call_records_, in_flight = in_flight_, call_id, bridge = *target,
                request = std::make_shared<pool::CallRequest>(std::move(request))](
                   std::function<void()> release) {
    const auto handle = bridge->cast(
        std::move(*request), call_id,
        [records, in_flight, call_id, release = std::move(release)](Result<json> result) {
          if (release) release();
          in_flight->end(call_id);
          records->finished(call_id, std::move(result));
        });
    in_flight->attach(call_id, [weak = std::weak_ptr<registry::Bridge>(bridge), handle] {
      if (auto b = weak.lock()) b->cancel(handle);
    });
  };
  if (ownership_ && options_session) {
    // A session held by another host: the record says so (session_moved), like any failure.
    const auto deadline = call_deadline(**target, request_timeout);
    with_session(*options_session, call_id, deadline, std::move(start),
                 [records = call_records_, in_flight = in_flight_, call_id,
                  name = (*target)->name(), command](Error failure) {
                   failure.bridge = name;
                   failure.command = command;
                   in_flight->end(call_id);
                   records->finished(call_id, std::move(failure));
                 });
    return call_id;
  }
  start(nullptr);
  return call_id;
}

void Host::cancel(const CallTicket& ticket) {
  if (ticket.handle == 0) {
    // A call of a session that waited for its claim has no handle in its ticket: its id finds
    // it (cancelled as soon as it reaches its pool). A call that failed early is not in flight.
    if (!ticket.id.empty()) in_flight_->cancel(ticket.id);
    return;
  }
  if (auto bridge = ticket.bridge.lock()) bridge->cancel(ticket.handle);
}

Status Host::cancel_call(const std::string& id) {
  if (in_flight_->cancel(id)) return Ok{};
  return fail(ErrorCategory::kNotFound,
              "no call '" + id +
                  "' in flight: the id is unknown or the call has finished (a fire-and-forget "
                  "call's outcome is in its record: GET /v1/calls/{id}, call_record)");
}

Result<calls::CallRecord> Host::call_record(const std::string& id) {
  return call_records_->get(id);
}

std::future<Result<json>> Host::execute_async(const std::string& bridge, const std::string& command,
                                              json args, ExecuteOptions options) {
  auto promise = std::make_shared<std::promise<Result<json>>>();
  auto future = promise->get_future();
  execute_async(bridge, command, std::move(args), std::move(options),
                [promise](Result<json> result) { promise->set_value(std::move(result)); });
  return future;
}

Result<json> Host::execute(const std::string& bridge, const std::string& command, json args,
                           ExecuteOptions options) {
  return execute_async(bridge, command, std::move(args), std::move(options)).get();
}

Result<json> Host::run_resource(const std::string& bridge, const std::string& verb,
                                const std::string& kind, json args, ExecuteOptions options) {
  if (auto valid = check_call_session(options); !valid) return std::move(valid).error();
  auto target = registry_->get(bridge);
  if (!target) return std::move(target).error();
  auto command = (*target)->resource_command(verb, kind);
  if (!command) return std::move(command).error();
  auto promise = std::make_shared<std::promise<Result<json>>>();
  auto future = promise->get_future();
  CallTicket ticket;
  ticket.id = next_call_id();
  submit(*target, ticket, to_request(*command, std::move(args), std::move(options)),
         [promise](Result<json> result) { promise->set_value(std::move(result)); }, {});
  return future.get();
}

Result<json> Host::create_resource(const std::string& bridge, const std::string& kind, json args,
                                   ExecuteOptions options) {
  return run_resource(bridge, "create", kind, std::move(args), std::move(options));
}
Result<json> Host::execute_resource(const std::string& bridge, const std::string& kind, json args,
                                    ExecuteOptions options) {
  return run_resource(bridge, "execute", kind, std::move(args), std::move(options));
}
Result<json> Host::list_resources(const std::string& bridge, const std::string& kind,
                                  ExecuteOptions options) {
  return run_resource(bridge, "list", kind, json::object(), std::move(options));
}
Result<json> Host::delete_resource(const std::string& bridge, const std::string& kind, json args,
                                   ExecuteOptions options) {
  return run_resource(bridge, "delete", kind, std::move(args), std::move(options));
}

Result<std::string> Host::create_session(std::optional<std::string> id, json state) {
  if (id) {
    if (auto valid = session::check_session_id(*id); !valid) return std::move(valid).error();
  }
  const std::string session = id.value_or(new_session_id());
  if (ownership_) {
    // The store decides whether it exists (another host may have made it); this host claims it.
    auto held = hold_session(session);
    if (!held) return std::move(held).error();
    if (*held) {
      return fail(ErrorCategory::kInvalidArgument,
                  "session '" + session + "' already exists; end it first or use another id");
    }
    std::lock_guard lock(sessions_mutex_);
    sessions_.erase(session);  // a copy of a session since ended on another host
  }
  {
    std::lock_guard lock(sessions_mutex_);
    if (sessions_.contains(session)) {
      return fail(ErrorCategory::kInvalidArgument,
                  "session '" + session + "' already exists; end it first or use another id");
    }
    if (sessions_.size() >= config_.max_sessions) {
      return fail(ErrorCategory::kOverloaded,
                  "cannot create session '" + session + "': the host holds " +
                      std::to_string(sessions_.size()) +
                      " sessions, its limit (host.max_sessions " +
                      std::to_string(config_.max_sessions) +
                      "); end sessions that are no longer used (DELETE /v1/sessions/{id}, "
                      "end_session) or raise host.max_sessions");
    }
    if (!state.is_null()) {
      auto stored = session_states_->set(session, std::move(state));
      if (!stored) return std::move(stored).error();
    }
    sessions_.insert(session);
  }
  // Each bridge knows the session from its first call; a lost one is recreated here.
  for (auto& bridge : registry_->list()) {
    auto created = bridge->pool().create_session(session);
    (void)created;  // an existing, live session of a bridge is fine
  }
  if (ownership_) {
    if (auto saved = ownership_->save_state_and_wait(session); !saved) {
      std::lock_guard lock(sessions_mutex_);
      sessions_.erase(session);
      return std::move(saved).error();
    }
  }
  return session;
}

Status Host::end_session(const std::string& id) {
  if (auto valid = session::check_session_id(id); !valid) return std::move(valid).error();
  bool known = false;
  if (ownership_) {
    auto ended = ownership_->end_and_wait(id);
    if (!ended) return std::move(ended).error();
    known = *ended;
  }
  {
    std::lock_guard lock(sessions_mutex_);
    if (sessions_.erase(id) > 0) known = true;
  }
  for (auto& bridge : registry_->list()) {
    if (bridge->pool().end_session(id)) known = true;
  }
  session_states_->erase(id);
  if (!known) return fail(ErrorCategory::kNotFound, "no session '" + id + "'");
  return Ok{};
}

bool Host::session_known(const std::string& id) {
  {
    std::lock_guard lock(sessions_mutex_);
    if (sessions_.contains(id)) return true;
  }
  if (session_states_->version(id) != 0) return true;
  for (auto& bridge : registry_->list()) {
    for (const auto& s : bridge->pool().sessions()) {
      if (s.id == id) return true;
    }
  }
  return false;
}

namespace {
Unexpected unknown_session(const std::string& id) {
  return fail(ErrorCategory::kNotFound,
              "no session '" + id + "'; create it first (POST /v1/sessions, create_session)");
}
}  // namespace

Result<bool> Host::hold_session(const std::string& id) { return ownership_->claim_and_wait(id); }

Status Host::check_known_session(const std::string& id) {
  if (auto valid = session::check_session_id(id); !valid) return std::move(valid).error();
  if (ownership_) {
    auto held = hold_session(id);  // loads the store's copy when it changed elsewhere
    if (!held) return std::move(held).error();
    if (*held) return Ok{};
  }
  if (!session_known(id)) return unknown_session(id);
  return Ok{};
}

Result<std::uint64_t> Host::saved_state_version(const std::string& id,
                                                Result<std::uint64_t> version) {
  if (!version || !ownership_) return version;
  if (auto saved = ownership_->save_state_and_wait(id); !saved) return std::move(saved).error();
  return version;
}

Result<session::StateSnapshot> Host::get_session_state(const std::string& id) {
  if (auto known = check_known_session(id); !known) return std::move(known).error();
  return session_states_->get(id);
}

Result<std::uint64_t> Host::set_session_state(const std::string& id, json state) {
  if (auto known = check_known_session(id); !known) return std::move(known).error();
  return saved_state_version(id, session_states_->set(id, std::move(state)));
}

Result<std::uint64_t> Host::update_session_state(const std::string& id, const json& patch) {
  if (auto known = check_known_session(id); !known) return std::move(known).error();
  return saved_state_version(id, session_states_->update(id, patch));
}

std::vector<std::string> Host::list_sessions() {
  std::set<std::string> ids;
  {
    std::lock_guard lock(sessions_mutex_);
    ids = sessions_;
  }
  for (auto& bridge : registry_->list()) {
    for (const auto& s : bridge->pool().sessions()) ids.insert(s.id);
  }
  return {ids.begin(), ids.end()};
}

Result<Host::SessionPage> Host::list_sessions_page(std::size_t limit, const std::string& after) {
  if (limit < 1 || limit > kMaxSessionPage) {
    return fail(ErrorCategory::kInvalidArgument,
                "a page of sessions holds 1 to " + std::to_string(kMaxSessionPage) +
                    " ids; got a limit of " + std::to_string(limit));
  }
  if (!after.empty()) {
    if (auto valid = session::check_session_id(after); !valid) {
      return fail(ErrorCategory::kInvalidArgument,
                  "'after' must be a session id from a previous page: " + valid.error().message);
    }
  }
  const std::vector<std::string> ids = list_sessions();
  SessionPage page;
  auto it = after.empty() ? ids.begin() : std::upper_bound(ids.begin(), ids.end(), after);
  for (; it != ids.end() && page.ids.size() < limit; ++it) page.ids.push_back(*it);
  if (it != ids.end()) page.after = page.ids.back();
  return page;
}

// The registry applies host.runtime_registration (registry::RegistrationPolicy) to these four.
Status Host::register_bridge(const std::string& name, const json& config) {
  return registry_->register_bridge(name, config);
}

Status Host::unregister_bridge(const std::string& name) {
  return registry_->unregister_bridge(name);
}

Status Host::restart_bridge(const std::string& name) { return registry_->restart_bridge(name); }

Result<std::vector<std::string>> Host::update_bridge(const std::string& name, const json& patch) {
  auto changes = registry_->update_bridge(name, patch);
  if (!changes) return std::move(changes).error();
  std::vector<std::string> out;
  for (const auto& change : *changes) out.push_back(change.describe());
  return out;
}

Result<json> Host::reload(const std::string& path) {
  const std::string file = path.empty() ? config_.source : path;
  if (file.empty()) {
    return fail(ErrorCategory::kInvalidArgument,
                "this host was not built from a file; name the YAML file to reload");
  }
  auto next = config::load_host_config(file);
  if (!next) return std::move(next).error();
  std::lock_guard serial(reload_mutex_);
  auto report = registry_->apply(*next, file_bridges_);
  if (!report) return report;
  file_bridges_.clear();
  for (const auto& [name, bridge] : next->bridges) file_bridges_.insert(name);
  json ignored = json::array();
  const auto& now = config_;
  const std::vector<std::pair<std::string, bool>> host_keys{
      {"root", next->root != now.root},
      {"python", next->python != now.python},
      {"plugin_dirs", next->plugin_dirs != now.plugin_dirs},
      {"listen", next->listen != now.listen},
      {"auth_token_env", next->auth_token_env != now.auth_token_env},
      {"default_bridge", next->default_bridge != now.default_bridge},
      {"runtime_registration", next->runtime_registration != now.runtime_registration},
      {"allowed_origins", next->allowed_origins != now.allowed_origins},
      {"allowed_hosts", next->allowed_hosts != now.allowed_hosts},
      {"log_level", next->log_level != now.log_level},
      {"log_format", next->log_format != now.log_format},
      {"max_body_bytes", next->max_body_bytes != now.max_body_bytes},
      {"loop_spin_us", next->loop_spin_us != now.loop_spin_us},
      // Unset in the file: whatever the host started with (mlbridge serve fills one in).
      {"loop_spin_max_calls", next->loop_spin_max_calls && *next->loop_spin_max_calls !=
                                                               now.loop_spin_max_calls.value_or(0)},
      {"call_results", next->call_results != now.call_results},
      {"session_store", next->session_store != now.session_store},
      {"session_lease_ms", next->session_lease_ms != now.session_lease_ms},
      {"session_claim_wait_ms", next->session_claim_wait_ms != now.session_claim_wait_ms},
      {"id", next->id != now.id}};
  for (const auto& [key, changed] : host_keys) {
    if (!changed) continue;
    ignored.push_back("host." + key);
    spdlog::warn("host.{} changed in {}; restart the host to apply it", key, file);
  }
  (*report)["host_changes_ignored"] = ignored;
  spdlog::info("reloaded {}: {}", file, report->dump());
  return report;
}

BridgeSnapshot Host::snapshot_of(const std::shared_ptr<registry::Bridge>& bridge,
                                 std::chrono::milliseconds commands_wait) {
  BridgeSnapshot out;
  out.name = bridge->name();
  const auto& info = bridge->adapter()->info();
  out.plugin = info.name;
  out.framework = info.framework;
  out.pool = bridge->pool().stats();
  const bool worker_ready = out.pool.idle + out.pool.busy > 0;
  out.ready =
      worker_ready || (bridge->pool().config().lazy && out.pool.state == pool::PoolState::kRunning);
  const auto ops = bridge->operations();
  out.circuit = ops.circuit;
  out.retry = ops.retry;
  out.casts = ops.casts;
  out.calls = bridge->call_metrics().snapshot();
  out.commands = commands_->get(bridge, worker_ready && commands_wait.count() > 0, commands_wait);
  return out;
}

HostSnapshot Host::snapshot(bool with_commands) {
  HostSnapshot out;
  const auto deadline = std::chrono::steady_clock::now() + kCommandsWait;
  for (const auto& bridge : registry_->list()) {
    auto wait = std::chrono::milliseconds(0);
    if (with_commands) {
      wait = std::max(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                deadline - std::chrono::steady_clock::now()));
    }
    out.bridges.push_back(snapshot_of(bridge, wait));
  }
  out.event_loop_cpu_time = loop_->cpu_time();
  out.session_store.host_id = host_id_;
  if (ownership_) {
    const auto figures = ownership_->figures();
    out.session_store.kind = "redis";
    out.session_store.address = ownership_->store().describe();
    out.session_store.connected = ownership_->store().connected();
    out.session_store.held = figures.held;
    out.session_store.ops = figures.ops;
    out.session_store.claims = figures.claims;
  }
  return out;
}

json Host::bridges() {
  json list = json::array();
  for (const auto& bridge : snapshot().bridges) list.push_back(describe_json(bridge));
  return list;
}

Result<json> Host::bridge(const std::string& name) {
  auto target = registry_->get(name);
  if (!target) return std::move(target).error();
  // Known commands only: asking a worker here would count a call in the figures it shows.
  return detail_json(snapshot_of(*target, std::chrono::milliseconds(0)));
}

json Host::stats() { return stats_json(snapshot()); }

std::chrono::nanoseconds Host::event_loop_cpu_time() const { return loop_->cpu_time(); }

json Host::health() {
  json bridges = json::object();
  bool ready = true;
  for (auto& bridge : registry_->list()) {
    const json d = bridge->describe();
    bridges[bridge->name()] = d["state"];
    if (!d["ready"].get<bool>()) ready = false;
  }
  json out = {{"live", true}, {"ready", ready}, {"bridges", bridges}};
  // Reported, never deciding readiness: without Redis anonymous calls still work here.
  if (ownership_) {
    SessionStoreSnapshot store;
    store.kind = "redis";
    store.address = ownership_->store().describe();
    store.connected = ownership_->store().connected();
    store.host_id = host_id_;
    store.held = ownership_->figures().held;
    out["session_store"] = to_json(store);
  }
  return out;
}

void Host::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // Calls waiting for another host's lease fail now, before the pools drain.
  if (ownership_) ownership_->end_waits();
  registry_->shutdown();
  if (ownership_) {
    // The pools are drained (their saves are in): give the leases up so that other hosts take
    // these sessions over at once, then break the StateStore -> ownership reference.
    ownership_->stop();
    session_states_->set_sync(nullptr);
    ownership_.reset();
  }
}

}  // namespace mlbridge
