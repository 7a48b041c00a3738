#include "mlbridge/host.hpp"

#include <algorithm>
#include <random>

#include "mlbridge/registry/registry.hpp"
#include "mlbridge/runtime/event_loop.hpp"

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

std::string new_session_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "s-";
  for (int i = 0; i < 16; ++i) id += kHex[rng() % 16];
  return id;
}

json histogram_json(const telemetry::LatencyHistogram& h) {
  return {{"count", h.count()},
          {"sum_s", h.sum_seconds()},
          {"p50_s", h.quantile(0.5)},
          {"p99_s", h.quantile(0.99)}};
}

}  // namespace

Host::Host(config::HostConfig config)
    : config_(std::move(config)),
      session_states_(std::make_shared<session::StateStore>(config_.session_state_max_bytes)),
      loop_(std::make_unique<runtime::EventLoop>()),
      registry_(std::make_unique<registry::Registry>(*loop_, config_, session_states_)) {}

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

CallTicket Host::execute_async(const std::string& bridge, const std::string& command, json args,
                               ExecuteOptions options, std::function<void(Result<json>)> on_done) {
  auto target = registry_->get(bridge);
  if (!target) {
    Error error = std::move(target).error();
    error.command = command;
    on_done(std::move(error));
    return {};
  }
  const auto handle = (*target)->execute(to_request(command, std::move(args), std::move(options)),
                                         std::move(on_done));
  return {*target, handle};
}

void Host::cancel(const CallTicket& ticket) {
  if (ticket.handle == 0) return;
  if (auto bridge = ticket.bridge.lock()) bridge->pool().cancel(ticket.handle);
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
  auto target = registry_->get(bridge);
  if (!target) return std::move(target).error();
  auto command = (*target)->resource_command(verb, kind);
  if (!command) return std::move(command).error();
  return (*target)->execute(to_request(*command, std::move(args), std::move(options))).get();
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
  const std::string session = id.value_or(new_session_id());
  {
    std::lock_guard lock(sessions_mutex_);
    if (std::find(sessions_.begin(), sessions_.end(), session) != sessions_.end()) {
      return fail(ErrorCategory::kInvalidArgument,
                  "session '" + session + "' already exists; end it first or use another id");
    }
    if (!state.is_null()) {
      auto stored = session_states_->set(session, std::move(state));
      if (!stored) return std::move(stored).error();
    }
    sessions_.push_back(session);
  }
  // Each bridge knows the session from its first call; a lost one is recreated here.
  for (auto& bridge : registry_->list()) {
    auto created = bridge->pool().create_session(session);
    (void)created;  // an existing, live session of a bridge is fine
  }
  return session;
}

Status Host::end_session(const std::string& id) {
  bool known = false;
  {
    std::lock_guard lock(sessions_mutex_);
    auto it = std::find(sessions_.begin(), sessions_.end(), id);
    if (it != sessions_.end()) {
      sessions_.erase(it);
      known = true;
    }
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
    if (std::find(sessions_.begin(), sessions_.end(), id) != sessions_.end()) return true;
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

Result<session::StateSnapshot> Host::get_session_state(const std::string& id) {
  if (!session_known(id)) return unknown_session(id);
  return session_states_->get(id);
}

Result<std::uint64_t> Host::set_session_state(const std::string& id, json state) {
  if (!session_known(id)) return unknown_session(id);
  return session_states_->set(id, std::move(state));
}

Result<std::uint64_t> Host::update_session_state(const std::string& id, const json& patch) {
  if (!session_known(id)) return unknown_session(id);
  return session_states_->update(id, patch);
}

std::vector<std::string> Host::list_sessions() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(sessions_mutex_);
    ids = sessions_;
  }
  for (auto& bridge : registry_->list()) {
    for (const auto& s : bridge->pool().sessions()) {
      if (std::find(ids.begin(), ids.end(), s.id) == ids.end()) ids.push_back(s.id);
    }
  }
  return ids;
}

Status Host::register_bridge(const std::string& name, const json& config) {
  if (!config_.allow_runtime_registration) {
    return fail(ErrorCategory::kInvalidConfiguration,
                "runtime registration is switched off (host.allow_runtime_registration: false)");
  }
  return registry_->register_bridge(name, config);
}

Status Host::unregister_bridge(const std::string& name) {
  return registry_->unregister_bridge(name);
}

json Host::bridges() {
  json list = json::array();
  for (auto& bridge : registry_->list()) list.push_back(bridge->describe());
  return list;
}

Result<json> Host::bridge(const std::string& name) {
  auto target = registry_->get(name);
  if (!target) return std::move(target).error();
  return (*target)->describe();
}

json Host::stats() {
  json out = json::object();
  for (auto& bridge : registry_->list()) {
    const auto s = bridge->pool().stats();
    json by_category = json::object();
    for (const auto& [category, count] : s.errors_by_category)
      by_category[std::string(to_string(category))] = count;
    out[bridge->name()] = {{"state", std::string(pool::to_string(s.state))},
                           {"calls", s.calls},
                           {"errors", s.errors},
                           {"errors_by_category", by_category},
                           {"queue_length", s.queue_length},
                           {"busy", s.busy},
                           {"idle", s.idle},
                           {"starting", s.starting},
                           {"restarts", s.restarts},
                           {"recycled", s.recycled},
                           {"failed_starts", s.failed_starts},
                           {"sessions", s.sessions},
                           {"sessions_replayed", s.sessions_replayed},
                           {"sessions_moved", s.sessions_moved},
                           {"sessions_lost", s.sessions_lost},
                           {"replay_time", histogram_json(s.replay_time)},
                           {"queue_wait", histogram_json(s.queue_wait)},
                           {"execution", histogram_json(s.execution)}};
  }
  return out;
}

json Host::health() {
  json bridges = json::object();
  bool ready = true;
  for (auto& bridge : registry_->list()) {
    const json d = bridge->describe();
    bridges[bridge->name()] = d["state"];
    if (!d["ready"].get<bool>()) ready = false;
  }
  return {{"live", true}, {"ready", ready}, {"bridges", bridges}};
}

void Host::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  registry_->shutdown();
}

}  // namespace mlbridge
