// Sessions of the framework bridges outlive their worker: the real DSPy and LangChain plugins
// and workers (offline), a session's objects built, its worker SIGKILLed, and the next calls
// find the same objects (the same answers) on another worker. Prints the replay time of each
// (the figure of docs/sessions.md).

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "mlbridge/host.hpp"
#include "mlbridge/registry/registry.hpp"
#include "test_paths.hpp"

namespace mlbridge::testing {
namespace {

using namespace std::chrono_literals;

// A rebuilt object is the same object, made again: its creation time and call counters restart.
json same(json value) {
  if (value.is_object()) {
    for (const char* key : {"created_at", "created", "calls"}) value.erase(key);
    for (auto& [key, item] : value.items()) item = same(item);
  } else if (value.is_array()) {
    for (auto& item : value) item = same(item);
  }
  return value;
}

class SessionReplayHostTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (host_) host_->shutdown();
    host_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // A host with one bridge of `plugin` from `plugin_dir`, two workers (so one is ready at once
  // when the other dies); `extra` adds YAML lines to the bridge.
  void start(const std::string& plugin, const std::string& plugin_dir,
             const std::string& extra = "") {
    bridge_ = plugin;
    dir_ = std::filesystem::temp_directory_path() /
           ("mlbridge-replay-" + plugin + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    const std::string yaml =
        "host:\n  root: " + std::string(MLBRIDGE_SOURCE_DIR) + "\n  python: " + python() +
        "\n  plugin_dirs: [" + plugin_dir + "]\nbridges:\n  " + plugin +
        ":\n    plugin: " + plugin +
        "\n    pool: {size: 2, max_overflow: 0}\n    timeouts: {shutdown_ms: 5000}\n" +
        "    env: {set: {DSPY_CACHEDIR: " + (dir_ / "cache").string() + "}}\n" + extra;
    std::ofstream(dir_ / "mlbridge.yaml") << yaml;
    auto host = Host::from_file((dir_ / "mlbridge.yaml").string());
    ASSERT_TRUE(host.ok()) << host.error().describe();
    host_ = std::move(*host);
    auto started = host_->start();
    ASSERT_TRUE(started.ok()) << started.error().describe();
    ASSERT_TRUE(wait_ready(2));
    auto id = host_->create_session(std::string("s"), json{{"user", "ada"}});
    ASSERT_TRUE(id.ok()) << id.error().describe();
  }

  json ok(const std::string& command, const json& args) {
    ExecuteOptions options;
    options.session = "s";
    options.timeout = 120s;  // cold imports on a busy machine
    auto result = host_->execute(bridge_, command, args, options);
    EXPECT_TRUE(result.ok()) << command << ": " << (result.ok() ? "" : result.error().describe());
    return result.ok() ? *result : json();
  }

  mlbridge::pool::Pool& workers() { return (*host_->registry().get(bridge_))->pool(); }

  bool wait_ready(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 180s;  // hang guard only
    while (std::chrono::steady_clock::now() < deadline) {
      const auto s = workers().stats();
      if (s.idle + s.busy >= n && s.starting == 0) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // SIGKILLs the worker session "s" is bound to and waits for the pool to be whole again.
  void kill_home() {
    std::string home;
    for (const auto& s : workers().sessions()) {
      if (s.id == "s") home = s.worker_id;
    }
    pid_t victim = -1;
    for (const auto& w : workers().stats().workers) {
      if (w.id == home) victim = w.pid;
    }
    ASSERT_GT(victim, 0) << "session s has no worker";
    ::kill(victim, SIGKILL);
    const auto deadline = std::chrono::steady_clock::now() + 60s;  // hang guard only
    auto gone = [&] {
      for (const auto& w : workers().stats().workers) {
        if (w.pid == victim) return false;
      }
      return true;
    };
    while (!gone() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(gone());
    ASSERT_TRUE(wait_ready(2));
  }

  void report_replay() {
    const auto stats = workers().stats();
    EXPECT_EQ(stats.sessions_replayed, 1u);
    EXPECT_EQ(stats.sessions_lost, 0u);
    std::cout << "[figure] " << bridge_
              << " session replay: " << stats.replay_time.sum_seconds() * 1000.0 << " ms\n";
  }

  std::string bridge_;
  std::filesystem::path dir_;
  std::unique_ptr<Host> host_;
};

TEST_F(SessionReplayHostTest, ADspySessionSurvivesTheSigkillOfItsWorker) {
  start("dspy", DSPY_PLUGIN_DIR);
  const json trainset = {{{"question", "Who wrote Hamlet?"}, {"answer", "Shakespeare"}},
                         {{"question", "Largest planet?"}, {"answer", "Jupiter"}}};
  ok("configure_lm", {{"model", "openai/gpt-4o-mini"}});  // no key: the offline DummyLM
  ok("create_program", {{"program_id", "qa"}, {"signature", "question -> answer"}});
  ok("create_program", {{"signature", "text -> summary"}});  // an id the worker chooses
  ok("create_program", {{"program_id", "gone"}, {"signature", "a -> b"}});
  ok("delete_program", {{"program_id", "gone"}});
  ok("create_program",
     {{"program_id", "src"}, {"module", "chain_of_thought"}, {"signature", "question -> answer"}});
  const json optimized = ok("optimize_program", {{"program_id", "src"},
                                                 {"optimizer", "labeled_few_shot"},
                                                 {"trainset", trainset},
                                                 {"metric", "exact_match"}});
  ASSERT_EQ(optimized["demos"], 2) << optimized.dump();
  ok("load_program", {{"data", ok("save_program", {{"program_id", "qa"}})}, {"program_id", "qa2"}});
  const json programs = ok("list_programs", json::object());
  const json src = ok("get_program_info", {{"program_id", "src"}});
  const json lm = ok("get_lm", json::object());
  const json answer =
      ok("execute_program", {{"program_id", "qa"}, {"inputs", {{"question", "What is 2+2?"}}}});
  const json state = ok("save_program", {{"program_id", "src"}});

  kill_home();
  EXPECT_EQ(same(ok("list_programs", json::object())), same(programs));
  EXPECT_EQ(same(ok("get_program_info", {{"program_id", "src"}})), same(src));  // demos and all
  EXPECT_EQ(ok("get_lm", json::object()), lm);
  json again =
      ok("execute_program", {{"program_id", "qa"}, {"inputs", {{"question", "What is 2+2?"}}}});
  EXPECT_EQ(again["outputs"], answer["outputs"]);
  EXPECT_EQ(ok("save_program", {{"program_id", "src"}})["state"], state["state"]);
  report_replay();
}

TEST_F(SessionReplayHostTest, ALangChainSessionKeepsItsChainsAndChatHistory) {
  start("langchain", LANGCHAIN_PLUGIN_DIR);
  ok("create_chain", {{"chain_id", "qa"}, {"prompt", "Answer: {question}"}});
  ok("create_retriever",
     {{"retriever_id", "docs"}, {"texts", {"Paris is in France.", "Rome is in Italy."}}});
  ok("create_conversation", {{"conversation_id", "talk"}, {"system_prompt", "You are terse."}});
  ok("chat", {{"conversation_id", "talk"}, {"message", "I am Ada."}});
  ok("chat", {{"conversation_id", "talk"}, {"message", "What is 2+5?"}});
  ok("create_conversation", {{"conversation_id", "other"}});
  ok("chat", {{"conversation_id", "other"}, {"message", "hello"}});
  ok("clear_history", {{"conversation_id", "other"}});
  const json chains = ok("list_chains", json::object());
  const json history = ok("get_history", {{"conversation_id", "talk"}});
  const json cleared = ok("get_history", {{"conversation_id", "other"}});
  const json found = ok("retrieve", {{"retriever_id", "docs"}, {"query", "France"}});
  const json answer = ok("invoke", {{"chain_id", "qa"}, {"input", {{"question", "2+2?"}}}});
  ASSERT_EQ(history["count"], 4) << history.dump();

  kill_home();
  EXPECT_EQ(same(ok("list_chains", json::object())), same(chains));
  EXPECT_EQ(ok("get_history", {{"conversation_id", "talk"}}), history);  // no model call
  EXPECT_EQ(ok("get_history", {{"conversation_id", "other"}}), cleared);
  EXPECT_EQ(ok("retrieve", {{"retriever_id", "docs"}, {"query", "France"}})["documents"],
            found["documents"]);
  EXPECT_EQ(ok("invoke", {{"chain_id", "qa"}, {"input", {{"question", "2+2?"}}}})["output"],
            answer["output"]);
  // The conversation goes on from where it was.
  EXPECT_EQ(ok("chat", {{"conversation_id", "talk"}, {"message", "And 3+4?"}})["turns"], 3);
  report_replay();
  // The session's host-side state went along untouched.
  EXPECT_EQ(host_->get_session_state("s")->data, (json{{"user", "ada"}}));
}

// The names and tasks of the models a list_models answer shows (their memory figures differ on a
// fresh worker).
json model_names(const json& listing) {
  json names = json::array();
  for (const auto& model : listing["models"]) {
    names.push_back({model["model_id"], model["task"], model["path"]});
  }
  return names;
}

TEST_F(SessionReplayHostTest, ATransformersSessionKeepsItsModels) {
  // The tiny local models (scripts/build_tiny_models.py; setup.sh builds them).
  const std::string models = source_path("build/models");
  ASSERT_TRUE(std::filesystem::exists(models + "/tiny-gpt2")) << "run scripts/setup.sh";
  start("transformers", TRANSFORMERS_PLUGIN_DIR, "    options: {model_dirs: [" + models + "]}\n");
  ok("load_model", {{"model", "tiny-gpt2"}});  // an id the worker chooses
  ok("load_model", {{"model", "tiny-bert-sentiment"}, {"model_id", "mood"}});
  ok("load_model", {{"model", "tiny-bert"}, {"model_id", "gone"}});
  ok("unload_model", {{"model_id", "gone"}});
  const json listing = ok("list_models", json::object());
  ASSERT_EQ(listing["count"], 2) << listing.dump();
  const json generate = {{"model_id", "tiny-gpt2"},
                         {"inputs", "The river"},
                         {"kwargs", {{"max_new_tokens", 8}}},
                         {"seed", 7}};
  const json text = ok("run_pipeline", generate);
  const json mood = ok("run_pipeline", {{"model_id", "mood"}, {"inputs", "a fine day"}});

  kill_home();
  EXPECT_EQ(model_names(ok("list_models", json::object())), model_names(listing));
  EXPECT_EQ(ok("run_pipeline", generate)["outputs"], text["outputs"]);
  EXPECT_EQ(ok("run_pipeline", {{"model_id", "mood"}, {"inputs", "a fine day"}})["outputs"],
            mood["outputs"]);
  report_replay();
}

}  // namespace
}  // namespace mlbridge::testing
