#pragma once

/// @file
/// `mlbridge::Host`: the C++ API. A host runs the bridges of one deployment (YAML file or config
/// object), each with its own pool of Python workers, and lets applications call them
/// synchronously or asynchronously, use sessions and resources, and add or remove bridges while
/// it runs.
///
/// Threading: every member function is thread-safe and may be called from any thread except the
/// host's own event-loop thread (where handlers and stream chunks run). Ownership: the Host owns
/// its event loop, bridges and workers; destroying it shuts everything down and reaps every
/// worker.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mlbridge/calls/call_records.hpp"
#include "mlbridge/calls/in_flight_calls.hpp"
#include "mlbridge/config/host_config.hpp"
#include "mlbridge/errors/error.hpp"
#include "mlbridge/errors/result.hpp"
#include "mlbridge/host_snapshot.hpp"
#include "mlbridge/pool/call.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/encoded_args.hpp"

namespace mlbridge {

using json = protocol::json;

namespace store {
class SessionOwnership;
}
namespace registry {
class Bridge;
class Registry;
}  // namespace registry
namespace runtime {
class EventLoop;
}
class CommandCatalog;

/// Identifies a call started with the callback form of execute_async, for cancel(). Copyable;
/// an empty ticket (a call that failed before it reached a pool) cancels nothing.
struct CallTicket {
  std::weak_ptr<registry::Bridge> bridge;
  std::uint64_t handle = 0;
  /// The call's id ("call-<n>", unique in this host; the server sends it as
  /// `X-Mlbridge-Call-Id`); cancel_call(id) cancels it while it is in flight. Set also for a
  /// call that failed before it reached a pool.
  std::string id;
};

/// Per-call options.
struct ExecuteOptions {
  /// Session id: the call runs on its worker. It must follow session::check_session_id
  /// (mlbridge/session/session_id.hpp); another id fails the call with invalid_argument.
  std::optional<std::string> session;
  std::optional<std::chrono::milliseconds>
      timeout;                         ///< Deadline; the bridge's request_ms if empty.
  std::function<void(json)> on_chunk;  ///< Streaming chunks, on the loop thread.
  /// Before each retry of an idempotent call, on the loop thread: the attempt about to start
  /// (2, 3, ...) and the error that ended the previous one.
  std::function<void(std::uint32_t next_attempt, const Error& cause)> on_retry;
  /// The call's id ("call-<n>", as CallTicket::id), once, on the calling thread, before anything
  /// else of the call runs (before on_done even when the call fails at once): for a caller that
  /// must name the call in its answer whichever comes first.
  std::function<void(const std::string& call_id)> on_call_id;
};

class Host {
 public:
  /// Loads and validates a YAML deployment (nothing starts yet).
  static Result<std::unique_ptr<Host>> from_file(const std::string& path);
  /// Uses an already parsed configuration.
  static std::unique_ptr<Host> from_config(config::HostConfig config);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  /// Registers and starts the configured bridges (all, or only those named), in parallel. When
  /// all start, a bridge whose workers cannot start stays listed as failed (its calls fail fast
  /// with the cause); a bridge named in `only` must start, or its start failure is the result.
  /// A bad plugin, config or environment is an error naming the bridge.
  Status start(const std::vector<std::string>& only = {});

  /// Runs a command on a bridge ("" = host.default_bridge) and waits for the result. The
  /// host-only built-ins (init, shutdown, cleanup, cleanup_session, by any spelling) are not
  /// commands a client can call: not_found, as for any command the bridge does not have.
  Result<json> execute(const std::string& bridge, const std::string& command,
                       json args = json::object(), ExecuteOptions options = {});
  /// The same; the future completes with the result or the error.
  std::future<Result<json>> execute_async(const std::string& bridge, const std::string& command,
                                          json args = json::object(), ExecuteOptions options = {});
  /// The same; `on_done` runs once on the loop thread (or at once on the calling thread when the
  /// call fails before reaching a pool). The ticket cancels the call.
  CallTicket execute_async(const std::string& bridge, const std::string& command, json args,
                           ExecuteOptions options, std::function<void(Result<json>)> on_done);
  /// The same with args that never become a DOM (for bodies that only pass through, like the
  /// HTTP API's): `args` (protocol::EncodedArgs::from_json) go into the worker's frame as they
  /// are, or transcoded to JSON text in one pass for a `codec: json` worker. A DOM is built only
  /// where one is needed: when the bridge's plugin has a shape_args hook (the call then takes
  /// the normal path), and for the replay journal of a session command that journals its args.
  /// `on_done` gets the result as JSON text (bytes as `{"__bytes__": base64}`), once, on the loop
  /// thread (or at once on the calling thread when the call fails before reaching a pool).
  CallTicket execute_async_encoded(const std::string& bridge, const std::string& command,
                                   protocol::EncodedArgs args, ExecuteOptions options,
                                   std::function<void(Result<protocol::EncodedResult>)> on_done);
  /// Fire and forget: starts the call and returns its call id ("call-<n>") at once. The call
  /// counts in the statistics like any other; when it fails, the failure is logged (warning)
  /// with the call id and counted in the bridge's `casts.failed`. Fails only when the bridge is
  /// unknown (not_found).
  Result<std::string> cast(const std::string& bridge, const std::string& command,
                           json args = json::object(), ExecuteOptions options = {});

  /// Cancels a call: a queued call never runs, a running one is interrupted; its `on_done` gets
  /// `cancelled`. A finished call or an empty ticket is ignored.
  void cancel(const CallTicket& ticket);

  /// Every call started through execute, execute_async or cast has an id "call-<n>" and is
  /// listed under it while in flight. cancel_call cancels it like cancel(ticket): queued, it
  /// never runs; running, it is interrupted; its caller gets `cancelled`. not_found when no call
  /// with that id is in flight (unknown, or already finished). Any thread but the loop's.
  Status cancel_call(const std::string& id);
  /// The record of a fire-and-forget call (cast): state (queued, running, succeeded, failed,
  /// cancelled), bridge, command, result or error, start and finish times. Kept
  /// host.call_results.ttl_ms after it finished, host.call_results.max records at most (the
  /// oldest finished go first). not_found for an unknown or expired id, or one that was not a
  /// cast (only casts are recorded; their callers have no other way to the result). Any thread.
  Result<calls::CallRecord> call_record(const std::string& id);

  /// Resources through the bridge adapter's mapping (e.g. kind "program": create_program, ...).
  Result<json> create_resource(const std::string& bridge, const std::string& kind, json args,
                               ExecuteOptions options = {});
  Result<json> execute_resource(const std::string& bridge, const std::string& kind, json args,
                                ExecuteOptions options = {});
  Result<json> list_resources(const std::string& bridge, const std::string& kind,
                              ExecuteOptions options = {});
  Result<json> delete_resource(const std::string& bridge, const std::string& kind, json args,
                               ExecuteOptions options = {});

  /// Sessions span bridges: a session id used with several bridges has a home worker in each.
  /// create_session makes an id when none is given; `state` (a JSON object, or null for none)
  /// is the session's initial host-side state. A session outlives its workers: see
  /// docs/sessions.md. invalid_argument for an id that breaks session::check_session_id;
  /// overloaded when host.max_sessions sessions exist already (end some, or raise the key).
  Result<std::string> create_session(std::optional<std::string> id = std::nullopt,
                                     json state = nullptr);
  /// Ends a session everywhere and forgets its state.
  Status end_session(const std::string& id);
  /// Every session id the host or one of its bridges knows, in id order. Its size is bounded by
  /// host.max_sessions plus each bridge's sessions.max; list_sessions_page reads it in pages.
  std::vector<std::string> list_sessions();

  /// One page of session ids (see list_sessions_page).
  struct SessionPage {
    std::vector<std::string> ids;      ///< In id order.
    std::optional<std::string> after;  ///< Pass as `after` for the next page; empty at the end.
  };
  /// At most `limit` session ids (1 to kMaxSessionPage) that sort after `after` ("" = from the
  /// first). invalid_argument for a limit out of range or an `after` that is not a session id.
  Result<SessionPage> list_sessions_page(std::size_t limit, const std::string& after = "");
  /// The largest page list_sessions_page returns.
  static constexpr std::size_t kMaxSessionPage = 1000;

  /// A session's host-side state (one map shared by every bridge; handlers see it as
  /// `ctx.session.state`) with its version. not_found for an unknown session.
  Result<session::StateSnapshot> get_session_state(const std::string& id);
  /// Replaces the state (a JSON object); returns the new version. resource_exhausted past
  /// host.session_state_max_bytes; not_found for an unknown session.
  Result<std::uint64_t> set_session_state(const std::string& id, json state);
  /// Merges a JSON merge patch (RFC 7386: null removes a key) into the state.
  Result<std::uint64_t> update_session_state(const std::string& id, const json& patch);

  /// Runtime changes of the bridges (these four) need host.runtime_registration.enabled and stay
  /// within its allow-lists (registry::RegistrationPolicy); otherwise invalid_configuration
  /// saying what to change, before anything is loaded or started.
  ///
  /// Adds a bridge while the host runs (config: a JSON object with the YAML keys). It may name
  /// only host.python or an interpreter of host.runtime_registration.pythons, a script in one of
  /// its script_dirs, env.pass variables of its env_pass, and no env.set variable that changes
  /// how an interpreter, loader or shell starts.
  Status register_bridge(const std::string& name, const json& config);
  /// Removes a bridge after its calls in flight finished or failed.
  Status unregister_bridge(const std::string& name);
  /// Changes a running bridge without restarting it: `patch` holds the YAML keys to change
  /// (e.g. {"pool": {"size": 4}, "timeouts": {"request_ms": 90000}}; objects merge key by key,
  /// null resets a key to its default). Validated in full first: a bad value changes nothing and
  /// the error names the key. Returns the changes applied ("pool.size: 1 -> 4"), each logged.
  /// See registry::Registry::update_bridge.
  Result<std::vector<std::string>> update_bridge(const std::string& name, const json& patch);
  /// Starts a bridge in state `failed` (its crash-loop guard tripped: restart.max_restarts) again:
  /// the restart count is cleared and its workers start; once one is ready its calls work. Fix
  /// the cause first (the last start error is in bridge(name)["last_error"]). A bridge that has
  /// not failed is left as it is. not_found for an unknown bridge. Any thread.
  Status restart_bridge(const std::string& name);
  /// Reads the YAML file again (the host's own file, or `path`) and applies the difference to
  /// the bridges: added ones start, removed ones drain, changed ones update (see
  /// registry::Registry::apply); bridges registered at runtime are left alone. A file that does not
  /// load or validate changes nothing. Changes of the `host:` section are not applied; the report
  /// lists them under "host_changes_ignored".
  Result<json> reload(const std::string& path = "");

  /// Every figure of every bridge (pools, workers, calls by command, errors by category, queue,
  /// in flight, latency histograms, circuit, retries, casts) and the commands each bridge's
  /// workers declared, in one typed value: what bridges(), bridge(), stats() and the server's
  /// `/metrics` and `/openapi.json` are built from. Blocking (reads every pool); any thread but
  /// the loop's. Commands are those known already, unless `with_commands`: then a bridge with a
  /// ready worker whose commands are not known yet is asked (`list_commands`, once per bridge;
  /// counted in its figures like any call), waiting a few seconds at most for the answers.
  HostSnapshot snapshot(bool with_commands = false);

  /// Each bridge's description (name, plugin, framework, state, workers, counts):
  /// describe_json() of each bridge of snapshot().
  json bridges();
  /// One bridge's description with its declared commands (name, namespace, description,
  /// args_schema and result_schema where the command declares them): detail_json(). The
  /// commands are those known already (snapshot(true) asks for them); an empty list before.
  Result<json> bridge(const std::string& name);

  /// Per-bridge statistics: calls, errors by category, queue, workers, latency quantiles.
  json stats();
  /// CPU time the host's event-loop thread (every pool's dispatcher, every worker's I/O) has used
  /// so far. Any thread.
  std::chrono::nanoseconds event_loop_cpu_time() const;
  /// {"live": true, "ready": every bridge has a ready worker, "bridges": {name: state}}.
  json health();

  /// Drains every bridge and stops every worker. Idempotent; also done by the destructor.
  void shutdown();

  const config::HostConfig& config() const { return config_; }
  /// This host's name on the session leases it holds in a shared store (host.id, or
  /// `<hostname>-<8 random hex>` chosen at construction).
  const std::string& host_id() const { return host_id_; }
  /// The registry, for the server and advanced users.
  registry::Registry& registry() { return *registry_; }

 private:
  explicit Host(config::HostConfig config);
  Result<json> run_resource(const std::string& bridge, const std::string& verb,
                            const std::string& kind, json args, ExecuteOptions options);

  bool session_known(const std::string& id);
  std::string next_call_id();
  // The bridge a call goes to when its session id passes the checks; otherwise the error, naming
  // the command (and the bridge, for a bad session id).
  Result<std::shared_ptr<registry::Bridge>> call_target(const std::string& bridge,
                                                        const std::string& command,
                                                        const ExecuteOptions& options);
  // Runs `request` on `target` as the call `ticket.id` (listed for cancel_call while in flight);
  // fills the ticket's bridge and handle.
  void submit(const std::shared_ptr<registry::Bridge>& target, CallTicket& ticket,
              pool::CallRequest request, std::function<void(Result<json>)> on_done,
              std::function<void(std::uint32_t, const Error&)> on_retry);
  // submit()'s second half: the call goes to its bridge's pool now.
  void dispatch(const std::shared_ptr<registry::Bridge>& target, CallTicket& ticket,
                pool::CallRequest request, std::function<void(Result<json>)> on_done,
                std::function<void(std::uint32_t, const Error&)> on_retry);
  BridgeSnapshot snapshot_of(const std::shared_ptr<registry::Bridge>& bridge,
                             std::chrono::milliseconds commands_wait);

  // With a shared session store: runs `go` once this host holds session `id` (at once when it
  // does already; else after a claim, on the store's or the loop's thread), or `failed` with the
  // claim's error. While another host's lease lives the claim waits, until `deadline` at the
  // latest (and host.session_claim_wait_ms); call `call_id` cancelled meanwhile ends the wait.
  // `go` gets the function that ends the call's hold on the session.
  void with_session(const std::string& id, const std::string& call_id,
                    std::chrono::steady_clock::time_point deadline,
                    std::function<void(std::function<void()>)> go,
                    std::function<void(Error)> failed);
  // The host's session API with a shared store: the session loaded here (claimed) first.
  Result<bool> hold_session(const std::string& id);
  // A valid id of a session this host or the store knows (loaded here); else the error.
  Status check_known_session(const std::string& id);
  // With a shared store: `version` once the state it names is saved there.
  Result<std::uint64_t> saved_state_version(const std::string& id, Result<std::uint64_t> version);

  config::HostConfig config_;
  std::string host_id_;
  session::StateStorePtr session_states_;
  // Before loop_: the loop asks it whether polling is worthwhile, until the loop is destroyed.
  std::shared_ptr<calls::InFlightCalls> in_flight_ = std::make_shared<calls::InFlightCalls>();
  std::unique_ptr<runtime::EventLoop> loop_;
  std::unique_ptr<registry::Registry> registry_;
  // Sessions in a shared store (host.session_store: redis://...); null with the memory store.
  std::shared_ptr<store::SessionOwnership> ownership_;
  std::mutex sessions_mutex_;
  std::set<std::string> sessions_;  // created through create_session; host.max_sessions at most
  bool shut_down_ = false;
  std::atomic<std::uint64_t> next_call_{1};
  std::shared_ptr<calls::CallRecords> call_records_;
  // The commands each bridge's workers declared (list_commands), asked once per bridge object.
  std::shared_ptr<CommandCatalog> commands_;
  std::mutex reload_mutex_;
  std::set<std::string> file_bridges_;  // the bridges the file declared at its last (re)load
};

}  // namespace mlbridge
