// The Transformers bridge through the host: cold start and generation throughput of tiny-gpt2
// (scripts/build_tiny_models.py), measured beside the same model called in-process in Python
// (tests/bench/transformers_inprocess.py, run by scripts/bench.sh in the same run).
//
// BM_TransformersColdStart: one repetition = one fresh Host with a `plugin: transformers` bridge
// (pool of 1). Host::start() loads the plugin, runs the environment check (an interpreter that
// imports transformers, torch and tokenizers), spawns the worker and waits until it is ready
// (hello, then init: the bridge imports torch and transformers); then load_model and the first
// run_pipeline. The phases come from the host's own log: the worker's spawn ("started as pid",
// debug) and the bridge's "transformers bridge: ready in X.Xs" on the worker's stderr (its
// import time, to 0.1 s). Iteration time = Host::start() → first answer.
//
// BM_TransformersGenerate: run_pipeline through Host::execute at concurrency 1 on the host of the
// last cold start (the model loaded, its first call done), as the in-process script goes on with
// the interpreter of its last cold start. Greedy, seed 0, min_new_tokens == max_new_tokens == 32:
// every call generates exactly 32 tokens.
//
// Run: build/release/bin/transformers_bench --benchmark_repetitions=3 (see docs/benchmarks.md);
// MLBRIDGE_BENCH_MODELS overrides <source>/build/models.

#include <benchmark/benchmark.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "mlbridge/host.hpp"
#include "test_paths.hpp"

namespace mlbridge::bench {
namespace {

using Clock = std::chrono::steady_clock;

// The call of tests/bench/transformers_inprocess.py; keep both in step.
constexpr const char* kModel = "tiny-gpt2";
constexpr const char* kPrompt = "The quick brown fox";
constexpr int kMaxNewTokens = 32;
constexpr int kSeed = 0;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

/// FNV-1a of the generated text: the report compares it with the in-process text's.
std::string fnv1a(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash));
  return out;
}

/// Timestamps the host's log lines that mark a cold start's phases; passes warnings on to stderr.
class TimelineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void reset() {
    std::lock_guard lock(mutex_);
    spawned_.reset();
    worker_import_ms_.reset();
  }
  std::optional<Clock::time_point> spawned() {
    std::lock_guard lock(mutex_);
    return spawned_;
  }
  std::optional<double> worker_import_ms() {
    std::lock_guard lock(mutex_);
    return worker_import_ms_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto now = Clock::now();
    const std::string_view text(msg.payload.data(), msg.payload.size());
    if (!spawned_ && text.find("started as pid") != std::string_view::npos) spawned_ = now;
    constexpr std::string_view kReady = "transformers bridge: ready in ";
    if (const auto at = text.find(kReady); at != std::string_view::npos) {
      worker_import_ms_ = std::atof(std::string(text.substr(at + kReady.size())).c_str()) * 1000;
    }
    if (msg.level >= spdlog::level::warn) {
      std::fprintf(stderr, "[%s] %.*s\n", spdlog::level::to_string_view(msg.level).data(),
                   static_cast<int>(text.size()), text.data());
    }
  }
  void flush_() override { std::fflush(stderr); }

 private:
  std::optional<Clock::time_point> spawned_;
  std::optional<double> worker_import_ms_;
};

std::shared_ptr<TimelineSink> timeline() {
  static const auto sink = [] {
    auto made = std::make_shared<TimelineSink>();
    auto logger = std::make_shared<spdlog::logger>("transformers_bench", made);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::debug);
    return made;
  }();
  return sink;
}

std::string models_dir() {
  if (const char* given = std::getenv("MLBRIDGE_BENCH_MODELS"); given && *given) return given;
  return testing::source_path("build/models");
}

std::string deployment() {
  const auto path = std::filesystem::temp_directory_path() / "mlbridge-transformers-bench.yaml";
  std::ofstream(path) << "host:\n  root: " << MLBRIDGE_SOURCE_DIR
                      << "\n  python: " << testing::python() << "\n  plugin_dirs: ["
                      << TRANSFORMERS_PLUGIN_DIR
                      << "]\nbridges:\n  transformers:\n    plugin: transformers\n"
                      << "    pool: {size: 1}\n    health: {interval_ms: 0}\n"
                      << "    options: {model_dirs: [" << models_dir() << "]}\n";
  return path.string();
}

json generate_args(const std::string& model_id) {
  return {{"model_id", model_id},
          {"inputs", kPrompt},
          {"kwargs",
           {{"max_new_tokens", kMaxNewTokens},
            {"min_new_tokens", kMaxNewTokens},
            {"do_sample", false}}},
          {"seed", kSeed}};
}

std::string generated_text(const json& answer) {
  const auto& outputs = answer.at("outputs");
  return outputs.at(0).at("generated_text").get<std::string>();
}

/// The host of the last cold start, kept for the throughput benchmark.
struct Warm {
  std::unique_ptr<Host> host;
  std::string model_id;
};
Warm& warm() {
  static Warm instance;
  return instance;
}

void BM_TransformersColdStart(benchmark::State& state) {
  auto sink = timeline();
  auto& kept = warm();
  if (kept.host) kept.host->shutdown();  // the previous repetition's worker is gone first
  kept = {};
  const std::string path = deployment();
  for (auto _ : state) {
    sink->reset();
    auto host = Host::from_file(path);
    if (!host) {
      state.SkipWithError(host.error().describe().c_str());
      return;
    }
    const auto begin = Clock::now();
    if (auto started = (*host)->start(); !started) {
      state.SkipWithError(started.error().describe().c_str());
      return;
    }
    const auto ready = Clock::now();
    auto loaded = (*host)->execute("transformers", "load_model", {{"model", kModel}});
    if (!loaded) {
      state.SkipWithError(loaded.error().describe().c_str());
      return;
    }
    const auto model_ready = Clock::now();
    const std::string model_id = (*loaded)["model_id"];
    auto answer = (*host)->execute("transformers", "run_pipeline", generate_args(model_id));
    const auto answered = Clock::now();
    if (!answer) {
      state.SkipWithError(answer.error().describe().c_str());
      return;
    }
    const auto spawned = sink->spawned();
    if (!spawned) {
      state.SkipWithError("no 'started as pid' in the host's debug log: cannot time the spawn");
      return;
    }
    state.SetIterationTime(ms_between(begin, answered) / 1000);
    state.counters["start_to_spawn_ms"] = ms_between(begin, *spawned);
    state.counters["spawn_to_ready_ms"] = ms_between(*spawned, ready);
    state.counters["worker_import_ms"] = sink->worker_import_ms().value_or(-1);
    state.counters["load_model_ms"] = ms_between(ready, model_ready);
    state.counters["first_call_ms"] = ms_between(model_ready, answered);
    state.counters["spawn_to_first_ms"] = ms_between(*spawned, answered);
    state.counters["start_to_first_ms"] = ms_between(begin, answered);
    state.SetLabel("text_fnv1a=" + fnv1a(generated_text(*answer)));
    kept = {std::move(*host), model_id};
  }
}

void BM_TransformersGenerate(benchmark::State& state) {
  auto& kept = warm();
  if (!kept.host) {  // run alone (--benchmark_filter): a host of its own
    timeline();
    auto host = Host::from_file(deployment());
    if (!host || !(*host)->start()) {
      state.SkipWithError("the host did not start");
      return;
    }
    auto loaded = (*host)->execute("transformers", "load_model", {{"model", kModel}});
    if (!loaded) {
      state.SkipWithError(loaded.error().describe().c_str());
      return;
    }
    kept = {std::move(*host), (*loaded)["model_id"]};
    (void)kept.host->execute("transformers", "run_pipeline", generate_args(kept.model_id));
  }
  const json args = generate_args(kept.model_id);
  std::string text;
  for (auto _ : state) {
    auto answer = kept.host->execute("transformers", "run_pipeline", args);
    if (!answer) {
      state.SkipWithError(answer.error().describe().c_str());
      return;
    }
    text = generated_text(*answer);
  }
  const auto calls = static_cast<double>(state.iterations());
  state.counters["calls_per_s"] = benchmark::Counter(calls, benchmark::Counter::kIsRate);
  state.counters["tokens_per_s"] =
      benchmark::Counter(calls * kMaxNewTokens, benchmark::Counter::kIsRate);
  state.counters["max_new_tokens"] = kMaxNewTokens;
  state.SetLabel("text_fnv1a=" + fnv1a(text));
}

BENCHMARK(BM_TransformersColdStart)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TransformersGenerate)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mlbridge::bench

BENCHMARK_MAIN();
