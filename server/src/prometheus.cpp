#include "prometheus.hpp"

#include <map>
#include <sstream>
#include <type_traits>
#include <vector>

#include "mlbridge/host_snapshot.hpp"

#ifndef MLBRIDGE_VERSION
#define MLBRIDGE_VERSION "unknown"
#endif

namespace mlbridge::server {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string escape_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string label_text(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += labels[i].first + "=\"" + escape_label(labels[i].second) + "\"";
  }
  return out + "}";
}

std::string number(double value) {
  std::ostringstream out;
  out.precision(9);
  out << value;
  return out.str();
}

// Collects samples by metric so each metric's HELP/TYPE header is written once.
class Exposition {
 public:
  void declare(const std::string& name, const std::string& type, const std::string& help) {
    if (meta_.count(name)) return;
    meta_[name] = "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    order_.push_back(name);
  }
  void sample(const std::string& metric, const std::string& series, const Labels& labels,
              double value) {
    samples_[metric] += series + label_text(labels) + " " + number(value) + "\n";
  }
  void histogram(const std::string& name, const Labels& labels,
                 const telemetry::LatencyHistogram& h) {
    const auto& bounds = telemetry::LatencyHistogram::kBounds;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      Labels with_le = labels;
      with_le.emplace_back("le", number(bounds[i]));
      sample(name, name + "_bucket", with_le, static_cast<double>(h.cumulative(i)));
    }
    Labels inf = labels;
    inf.emplace_back("le", "+Inf");
    sample(name, name + "_bucket", inf, static_cast<double>(h.count()));
    sample(name, name + "_sum", labels, h.sum_seconds());
    sample(name, name + "_count", labels, static_cast<double>(h.count()));
  }
  std::string text() const {
    std::string out;
    for (const auto& name : order_) {
      out += meta_.at(name);
      if (auto it = samples_.find(name); it != samples_.end()) out += it->second;
    }
    return out;
  }

 private:
  std::vector<std::string> order_;
  std::map<std::string, std::string> meta_;
  std::map<std::string, std::string> samples_;
};

// The families of a declared stats list (pool_stats.hpp, call_metrics.hpp, ops_stats.hpp), in
// list order.
template <typename Specs>
void declare_families(Exposition& out, const Specs& specs) {
  for (const auto& spec : specs) {
    if (spec.family.empty()) continue;
    out.declare(std::string(spec.family), std::string(telemetry::prometheus_type(spec.kind)),
                std::string(spec.help));
  }
}

// One sample (a histogram: its series) per declared stat of `stats` that has a family. Counters
// take `counter_labels`, the others `labels`; a stat's `state` is added as a label.
template <typename Stats>
void sample_stats(Exposition& out, const Stats& stats, const Labels& labels,
                  const Labels& counter_labels) {
  visit_stats(stats, [&](const telemetry::StatSpec& spec, const auto& value) {
    if (spec.family.empty()) return;
    const std::string family(spec.family);
    Labels with = spec.kind == telemetry::StatKind::kCounter ? counter_labels : labels;
    if (!spec.state.empty()) with.emplace_back("state", std::string(spec.state));
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, telemetry::LatencyHistogram>) {
      out.histogram(family, with, value);
    } else {
      out.sample(family, family, with, static_cast<double>(value));
    }
  });
}

void declare_all(Exposition& out) {
  out.declare("mlbridge_build_info", "gauge", "Version of the mlbridge host (always 1).");
  out.declare("mlbridge_uptime_seconds", "gauge", "Seconds since the server started.");
  out.declare("mlbridge_event_loop_cpu_seconds_total", "counter",
              "CPU time of the host's event-loop thread (dispatch and worker I/O of every pool).");
  out.declare("mlbridge_bridge_info", "gauge",
              "One per registered bridge, with its plugin, framework and state.");
  out.declare("mlbridge_session_store_ops_total", "counter",
              "Operations on the shared session store (host.session_store: redis), by op "
              "(claim, save, end, extend) and outcome (ok, moved, error).");
  out.declare(
      "mlbridge_session_claims_total", "counter",
      "Claims of sessions in the shared store, by outcome: new, taken_over (loaded from "
      "the store), renewed (this host's copy was current), waited (another host's lease was "
      "waited out), moved (another host holds it).");
  declare_families(out, telemetry::kCallStatSpecs);
  declare_families(out, pool::kPoolStatSpecs);
  declare_families(out, pool::kWorkerStatSpecs);
  declare_families(out, ops::kCircuitStatSpecs);
  declare_families(out, ops::kRetryStatSpecs);
  declare_families(out, ops::kCastStatSpecs);
}

// The samples of a bridge's circuit, retry and cast figures (ops_stats.hpp) that have a family.
template <typename Stats>
void sample_operations(Exposition& out, const Stats& stats, const std::string& bridge) {
  visit_stats(stats, [&](const ops::OpsStatSpec& spec, const auto& value) {
    if (spec.family.empty()) return;
    const std::string family(spec.family);
    Labels labels{{"bridge", bridge}};
    if (!spec.label.empty()) labels.emplace_back(spec.label, spec.label_value);
    out.sample(family, family, labels, ops::metric_value(value));
  });
}

void bridge_operations(Exposition& out, const BridgeSnapshot& bridge) {
  sample_operations(out, bridge.circuit, bridge.name);
  sample_operations(out, bridge.retry, bridge.name);
  sample_operations(out, bridge.casts, bridge.name);
}

}  // namespace

std::string render_metrics(Host& host, std::chrono::steady_clock::time_point started) {
  return render_metrics(host.snapshot(), std::chrono::steady_clock::now() - started);
}

std::string render_metrics(const HostSnapshot& snapshot, std::chrono::nanoseconds uptime) {
  Exposition out;
  declare_all(out);
  out.sample("mlbridge_build_info", "mlbridge_build_info", {{"version", MLBRIDGE_VERSION}}, 1);
  out.sample("mlbridge_uptime_seconds", "mlbridge_uptime_seconds", {},
             std::chrono::duration<double>(uptime).count());
  out.sample("mlbridge_event_loop_cpu_seconds_total", "mlbridge_event_loop_cpu_seconds_total", {},
             std::chrono::duration<double>(snapshot.event_loop_cpu_time).count());
  for (const auto& [key, count] : snapshot.session_store.ops) {
    const auto slash = key.find('/');
    out.sample("mlbridge_session_store_ops_total", "mlbridge_session_store_ops_total",
               {{"op", key.substr(0, slash)}, {"outcome", key.substr(slash + 1)}},
               static_cast<double>(count));
  }
  for (const auto& [outcome, count] : snapshot.session_store.claims) {
    out.sample("mlbridge_session_claims_total", "mlbridge_session_claims_total",
               {{"outcome", outcome}}, static_cast<double>(count));
  }
  for (const auto& bridge : snapshot.bridges) {
    const std::string& name = bridge.name;
    const auto& stats = bridge.pool;
    out.sample("mlbridge_bridge_info", "mlbridge_bridge_info",
               {{"bridge", name},
                {"plugin", bridge.plugin},
                {"framework", bridge.framework},
                {"state", std::string(pool::to_string(stats.state))}},
               1);
    for (const auto& [command, m] : bridge.calls) {
      const Labels labels{{"bridge", name}, {"command", command}};
      Labels ok = labels;
      ok.emplace_back("outcome", "ok");
      ok.emplace_back("category", "");
      sample_stats(out, m, labels, ok);
      for (const auto& [category, count] : m.failed) {
        Labels failed = labels;
        failed.emplace_back("outcome", "error");
        failed.emplace_back("category", std::string(to_string(category)));
        out.sample("mlbridge_calls_total", "mlbridge_calls_total", failed,
                   static_cast<double>(count));
      }
    }
    const Labels bridge_label{{"bridge", name}};
    sample_stats(out, stats, bridge_label, bridge_label);
    for (const auto& worker : stats.workers) {
      const Labels worker_labels{{"bridge", name}, {"worker", worker.id}};
      sample_stats(out, worker, worker_labels, worker_labels);
    }
    bridge_operations(out, bridge);
  }
  return out.text();
}

}  // namespace mlbridge::server
