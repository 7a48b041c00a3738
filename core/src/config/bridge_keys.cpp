#include "mlbridge/config/bridge_keys.hpp"

#include <algorithm>
#include <limits>

namespace mlbridge::config {
namespace {

static_assert(std::is_same_v<std::size_t, std::uint64_t>,
              "FieldRef holds std::size_t members as Field<std::uint64_t>");

constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint64_t>::max();
// Bounds that stop typos (an extra zero) from spawning thousands of interpreters or overflowing
// clock arithmetic; real deployments sit far below them.
constexpr std::uint64_t kMaxWorkers = 1024;
constexpr std::uint64_t kMaxPipelineDepth = 16;
constexpr std::uint64_t kMaxMilliseconds = 365ull * 24 * 3600 * 1000;  // a year
constexpr std::uint64_t kMaxSeconds = kMaxMilliseconds / 1000;
constexpr std::uint64_t kMaxCount = 1'000'000'000;
constexpr std::uint64_t kMinFrameBytes = 1024;
constexpr std::uint64_t kMaxFrameBytes = 0xFFFFFFFFull;  // the 4-byte length header
constexpr std::uint64_t kMaxMemoryMb = 1ull << 30;       // an exbibyte

template <typename M>
struct MemberOf;
template <typename C, typename T>
struct MemberOf<T C::*> {
  using Type = T;
};
template <auto Member>
using MemberType = typename MemberOf<decltype(Member)>::Type;

// A top-level member of BridgeConfig.
template <auto Member>
constexpr Field<MemberType<Member>> top(void (*to_pool)(const MemberType<Member>&,
                                                        pool::PoolConfig&) = nullptr) {
  using T = MemberType<Member>;
  return {+[](BridgeConfig& c) -> T& { return c.*Member; },
          +[](const BridgeConfig& c) -> const T& { return c.*Member; }, to_pool};
}

// A member of one of BridgeConfig's sections (`pool`, `timeouts`, ...).
template <auto Section, auto Member>
constexpr Field<MemberType<Member>> in(void (*to_pool)(const MemberType<Member>&,
                                                       pool::PoolConfig&) = nullptr) {
  using T = MemberType<Member>;
  return {+[](BridgeConfig& c) -> T& { return (c.*Section).*Member; },
          +[](const BridgeConfig& c) -> const T& { return (c.*Section).*Member; }, to_pool};
}

// The 1:1 conversions: a PoolConfig member, or a member of its worker template.
template <auto Member>
void pool_setting(const MemberType<Member>& value, pool::PoolConfig& config) {
  config.*Member = value;
}
template <auto Member>
void worker_setting(const MemberType<Member>& value, pool::PoolConfig& config) {
  config.worker.*Member = value;
}

// timeouts.shutdown_ms bounds both a worker's graceful stop and the pool's drain.
void shutdown_setting(const std::chrono::milliseconds& value, pool::PoolConfig& config) {
  config.worker.shutdown_timeout = value;
  config.shutdown_timeout = value;
}

using B = BridgeConfig;
using P = pool::PoolConfig;
using W = worker::WorkerConfig;
using K = KeyType;

constexpr KeySpec kKeys[] = {
    // Top-level keys: what runs.
    {.path = "plugin",
     .type = K::kPluginName,
     .live = false,
     .doc =
         "the framework plugin, `libmlbridge_<plugin>.so`; without one, the generic adapter runs",
     .default_text = "none (generic adapter)",
     .field = top<&B::plugin>()},
    {.path = "script",
     .type = K::kNonEmptyString,
     .live = false,
     .doc = "the Python file that runs the bridge (relative to host.root)",
     .default_text = "the plugin's; required without a plugin",
     .field = top<&B::script>()},
    {.path = "python",
     .type = K::kNonEmptyString,
     .live = false,
     .doc = "the interpreter of this bridge's workers",
     .default_text = "host.python",
     .field = top<&B::python>()},
    {.path = "codec",
     .type = K::kCodec,
     .live = false,
     .doc = "the encoding of frames on the worker's pipes",
     .field = top<&B::codec>(&worker_setting<&W::codec>)},
    {.path = "max_frame_bytes",
     .type = K::kInteger,
     .min = kMinFrameBytes,
     .max = kMaxFrameBytes,
     .live = false,
     .doc = "the largest protocol frame, either way",
     .field = top<&B::max_frame_bytes>(&worker_setting<&W::max_frame_bytes>)},
    {.path = "shared_blob_min_bytes",
     .type = K::kInteger,
     .min = 0,
     .max = kMaxFrameBytes,
     .live = false,
     .doc = "msgpack: bytes values this long go through shared memory, not the pipe (0: never)",
     .field = top<&B::shared_blob_min_bytes>(&worker_setting<&W::shared_blob_min_bytes>)},
    {.path = "working_dir",
     .type = K::kString,
     .live = false,
     .doc = "the workers' working directory (relative to host.root)",
     .default_text = "host.root",
     .field = top<&B::working_dir>()},

    // code: the user's own Python (docs/python-sdk.md, "Your own code").
    {.path = "code.paths",
     .type = K::kStringList,
     .live = false,
     .doc = "directories put first on the workers' sys.path (relative to host.root; each must "
            "exist), passed as `--code-path DIR`",
     .field = in<&B::code, &CodeSettings::paths>()},
    {.path = "code.modules",
     .type = K::kModuleNames,
     .live = false,
     .doc = "modules every worker imports at start, passed as `--code-module NAME`; requests may "
            "name only their objects (`pkg.mod:attr`), and an import error fails the start",
     .field = in<&B::code, &CodeSettings::modules>()},

    // pool:
    {.path = "pool.size",
     .type = K::kInteger,
     .min = 0,
     .max = kMaxWorkers,
     .doc = "workers kept running (0: only overflow workers, started on demand)",
     .field = in<&B::pool, &PoolSettings::size>(&pool_setting<&P::size>)},
    {.path = "pool.max_overflow",
     .type = K::kInteger,
     .min = 0,
     .max = kMaxWorkers,
     .doc = "extra workers started while calls queue up",
     .field = in<&B::pool, &PoolSettings::max_overflow>(&pool_setting<&P::max_overflow>)},
    {.path = "pool.lazy",
     .type = K::kBoolean,
     .doc = "start workers on first use instead of at registration",
     .field = in<&B::pool, &PoolSettings::lazy>(&pool_setting<&P::lazy>)},
    {.path = "pool.queue_limit",
     .type = K::kInteger,
     .min = 1,
     .max = kMaxCount,
     .doc = "calls waiting for a worker; more are refused (overloaded)",
     .field = in<&B::pool, &PoolSettings::queue_limit>(&pool_setting<&P::queue_limit>)},
    {.path = "pool.checkout_timeout_ms",
     .type = K::kMilliseconds,
     .min = 1,
     .max = kMaxMilliseconds,
     .doc = "the longest a call waits for a worker",
     .field = in<&B::pool, &PoolSettings::checkout_timeout>(&pool_setting<&P::checkout_timeout>)},
    {.path = "pool.max_requests",
     .type = K::kInteger,
     .min = 0,
     .max = kUnbounded / 2,
     .doc = "recycle a worker after this many calls (0: never)",
     .field = in<&B::pool, &PoolSettings::max_requests>(&pool_setting<&P::max_requests>)},
    {.path = "pool.max_requests_jitter",
     .type = K::kInteger,
     .min = 0,
     .max = kUnbounded / 2,
     .doc = "plus up to this many, so workers do not recycle together",
     .field =
         in<&B::pool, &PoolSettings::max_requests_jitter>(&pool_setting<&P::max_requests_jitter>)},
    {.path = "pool.idle_timeout_ms",
     .type = K::kMilliseconds,
     .min = 1,
     .max = kMaxMilliseconds,
     .doc = "overflow workers idle this long stop",
     .field = in<&B::pool, &PoolSettings::idle_timeout>(&pool_setting<&P::idle_timeout>)},
    {.path = "pool.pipeline_depth",
     .type = K::kInteger,
     .min = 1,
     .max = kMaxPipelineDepth,
     .doc = "anonymous calls a busy worker may hold (1: one at a time; docs/operations.md)",
     .field = in<&B::pool, &PoolSettings::pipeline_depth>(&pool_setting<&P::pipeline_depth>)},
    {.path = "pool.max_concurrency",
     .type = K::kOptionalInteger,
     .min = 1,
     .max = worker::kMaxWorkerConcurrency,
     .live = false,
     .doc = "calls one worker runs at once (its slots), passed as `--concurrency N`; null: what "
            "the worker's hello declares (1: one at a time; docs/operations.md)",
     .default_text = "null (the worker's hello)",
     .field = in<&B::pool, &PoolSettings::max_concurrency>(&worker_setting<&W::max_concurrency>)},

    // timeouts:
    {.path = "timeouts.request_ms",
     .type = K::kMilliseconds,
     .min = 1,
     .max = kMaxMilliseconds,
     .doc = "the default deadline of a call",
     .field = in<&B::timeouts, &TimeoutSettings::request>(&pool_setting<&P::request_timeout>)},
    {.path = "timeouts.startup_ms",
     .type = K::kMilliseconds,
     .min = 1,
     .max = kMaxMilliseconds,
     .doc = "spawn of a worker to ready",
     .field = in<&B::timeouts, &TimeoutSettings::startup>(&worker_setting<&W::startup_timeout>)},
    {.path = "timeouts.shutdown_ms",
     .type = K::kMilliseconds,
     .min = 1,
     .max = kMaxMilliseconds,
     .doc = "graceful stop of a worker, and the bridge's drain budget",
     .field = in<&B::timeouts, &TimeoutSettings::shutdown>(&shutdown_setting)},
    {.path = "timeouts.cancel_grace_ms",
     .type = K::kMilliseconds,
     .min = 1,
     .max = kMaxMilliseconds,
     .doc = "from SIGINT (a cancelled or late call) to SIGKILL when the worker does not answer",
     .field = in<&B::timeouts, &TimeoutSettings::cancel_grace>(&worker_setting<&W::cancel_grace>)},

    // health:
    {.path = "health.interval_ms",
     .type = K::kMilliseconds,
     .min = 0,
     .max = kMaxMilliseconds,
     .doc = "ping idle workers this often (0: never)",
     .field = in<&B::health, &HealthSettings::interval>(&pool_setting<&P::health_interval>)},
    {.path = "health.timeout_ms",
     .type = K::kMilliseconds,
     .min = 1,
     .max = kMaxMilliseconds,
     .doc = "a ping unanswered this long failed",
     .field = in<&B::health, &HealthSettings::timeout>(&pool_setting<&P::health_timeout>)},
    {.path = "health.max_failures",
     .type = K::kInteger,
     .min = 1,
     .max = kMaxCount,
     .doc = "failed pings in a row before a worker is replaced",
     .field =
         in<&B::health, &HealthSettings::max_failures>(&pool_setting<&P::health_max_failures>)},

    // restart:
    {.path = "restart.max_restarts",
     .type = K::kInteger,
     .min = 0,
     .max = kMaxCount,
     .doc = "failed starts tolerated within the window before the bridge fails (crash-loop guard)",
     .field = in<&B::restart, &RestartSettings::max_restarts>(&pool_setting<&P::max_restarts>)},
    {.path = "restart.window_s",
     .type = K::kSeconds,
     .min = 1,
     .max = kMaxSeconds,
     .doc = "the window of the crash-loop guard",
     .field = in<&B::restart, &RestartSettings::window>(&pool_setting<&P::restart_window>)},

    // limits:
    {.path = "limits.max_memory_mb",
     .type = K::kOptionalInteger,
     .min = 1,
     .max = kMaxMemoryMb,
     .doc = "recycle a worker whose resident memory (RSS) passes this; null: no limit",
     .field = in<&B::limits, &LimitSettings::max_memory_mb>(&pool_setting<&P::max_memory_mb>)},

    // sessions:
    {.path = "sessions.ttl_s",
     .type = K::kSeconds,
     .min = 1,
     .max = kMaxSeconds,
     .doc = "idle sessions end after this",
     .field = in<&B::sessions, &SessionSettings::ttl>(&pool_setting<&P::session_ttl>)},
    {.path = "sessions.max",
     .type = K::kInteger,
     .min = 1,
     .max = kMaxCount,
     .live = false,
     .doc = "live sessions at most (the size of the session table)",
     .field = in<&B::sessions, &SessionSettings::max>(&pool_setting<&P::max_sessions>)},
    {.path = "sessions.replay",
     .type = K::kReplayRules,
     .doc =
         "how a session is rebuilt on another worker, over the plugin's rules (docs/sessions.md)",
     .default_text = "the plugin's rules, else none",
     .field = in<&B::sessions, &SessionSettings::replay>()},

    // env:
    {.path = "env.pass",
     .type = K::kEnvNames,
     .live = false,
     .doc = "host variables handed to the workers when set (PATH, HOME, LANG, LC_ALL, TZ, TMPDIR "
            "always are)",
     .field = top<&B::env_pass>()},
    {.path = "env.set",
     .type = K::kEnvValues,
     .live = false,
     .doc = "variables the workers get with these values (over env.pass)",
     .field = top<&B::env_set>()},

    // What the bridge needs, and what it is told.
    {.path = "required_env",
     .type = K::kEnvNames,
     .live = false,
     .doc = "variables that must be set before any worker starts",
     .field = top<&B::required_env>()},
    {.path = "required_packages",
     .type = K::kStringList,
     .live = false,
     .doc = "import names located at start (and imported by `mlbridge check`)",
     .field = top<&B::required_packages>()},
    {.path = "options",
     .type = K::kMap,
     .doc = "handed to the plugin and to the bridge's initialize(); a change recycles the workers "
            "one at a time",
     .field = top<&B::options>(&worker_setting<&W::init_options>)},
    {.path = "errors",
     .type = K::kErrorRules,
     .doc = "rules that give Python errors a category, applied before the plugin's rules",
     .field = top<&B::errors>()},
    {.path = "idempotent",
     .type = K::kStringList,
     .doc = "commands that are safe to retry",
     .default_text = "the plugin's list, else `[]`",
     .field = top<&B::idempotent_commands>()},

    // retry:
    {.path = "retry.max_attempts",
     .type = K::kInteger,
     .min = 1,
     .max = 100,
     .doc = "tries in all of an idempotent call, the first included (1: no retries)",
     .field = in<&B::retry, &ops::RetrySettings::max_attempts>()},
    {.path = "retry.backoff_initial_ms",
     .type = K::kMilliseconds,
     .min = 0,
     .max = kMaxMilliseconds,
     .doc = "the first wait is uniform in [0, this]",
     .field = in<&B::retry, &ops::RetrySettings::backoff_initial>()},
    {.path = "retry.backoff_max_ms",
     .type = K::kMilliseconds,
     .min = 0,
     .max = kMaxMilliseconds,
     .doc = "waits double per attempt up to this",
     .field = in<&B::retry, &ops::RetrySettings::backoff_max>()},
    {.path = "retry.budget",
     .type = K::kInteger,
     .min = 0,
     .max = kMaxCount,
     .doc = "retry tokens saved up at most (and the number the bridge starts with)",
     .field = in<&B::retry, &ops::RetrySettings::budget>()},
    {.path = "retry.budget_percent",
     .type = K::kInteger,
     .min = 0,
     .max = 100,
     .doc = "each first attempt earns this percent of a token; each retry spends one",
     .field = in<&B::retry, &ops::RetrySettings::budget_percent>()},

    // circuit_breaker:
    {.path = "circuit_breaker.failures",
     .type = K::kInteger,
     .min = 0,
     .max = kMaxCount,
     .doc = "consecutive failures that open the circuit (0: no breaker)",
     .field = in<&B::circuit_breaker, &ops::CircuitBreakerSettings::failures>()},
    {.path = "circuit_breaker.cooldown_ms",
     .type = K::kMilliseconds,
     .min = 1,
     .max = kMaxMilliseconds,
     .doc = "open this long before probing",
     .field = in<&B::circuit_breaker, &ops::CircuitBreakerSettings::cooldown>()},
    {.path = "circuit_breaker.probes",
     .type = K::kInteger,
     .min = 1,
     .max = kMaxCount,
     .doc = "calls let through while half-open; this many successes close it",
     .field = in<&B::circuit_breaker, &ops::CircuitBreakerSettings::probes>()},
};

std::string_view first_segment(std::string_view path) { return path.substr(0, path.find('.')); }

}  // namespace

std::string_view KeySpec::section() const {
  const auto dot = path.find('.');
  return dot == std::string_view::npos ? std::string_view() : path.substr(0, dot);
}

std::string_view KeySpec::name() const {
  const auto dot = path.find('.');
  return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

std::span<const KeySpec> bridge_keys() { return kKeys; }

const KeySpec* find_bridge_key(std::string_view path) {
  for (const auto& key : kKeys) {
    if (key.path == path) return &key;
  }
  return nullptr;
}

const std::vector<std::string_view>& bridge_top_level_keys() {
  static const std::vector<std::string_view> keys = [] {
    std::vector<std::string_view> out;
    for (const auto& key : kKeys) {
      const std::string_view top = first_segment(key.path);
      if (std::find(out.begin(), out.end(), top) == out.end()) out.push_back(top);
    }
    return out;
  }();
  return keys;
}

std::vector<std::string_view> bridge_section_keys(std::string_view section) {
  std::vector<std::string_view> out;
  for (const auto& key : kKeys) {
    if (key.section() == section && !section.empty()) out.push_back(key.name());
  }
  return out;
}

}  // namespace mlbridge::config
