// The Transformers bridge end to end: the plugin's hooks through the host's PluginLoader (no
// Python), then the real libmlbridge_transformers.so and real Python workers running
// python_bridges/transformers_bridge.py through the Host API, on the tiny local models that
// scripts/build_tiny_models.py builds into build/models (offline; built here when missing).
// One host serves the whole suite (a worker imports torch once); the memory-limit test has its
// own.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cancel_on_first_chunk.hpp"
#include "mlbridge/errors/translator.hpp"
#include "mlbridge/host.hpp"
#include "mlbridge/plugin/plugin_loader.hpp"
#include "test_paths.hpp"

namespace mlbridge::testing {
namespace {

using namespace std::chrono_literals;
using json = protocol::json;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool gpu_present() {
  return std::filesystem::exists("/dev/nvidia0") ||
         std::filesystem::exists("/proc/driver/nvidia/gpus");
}

// ------------------------------------------------------------------------------ plugin hooks

class TransformersPluginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    static plugin::PluginLoader loader({TRANSFORMERS_PLUGIN_DIR});
    auto loaded = loader.load("transformers");
    ASSERT_TRUE(loaded.ok()) << loaded.error().describe();
    adapter_ = *loaded;
  }

  static Status validate_options(const json& options, const json& extra = json::object()) {
    json bridge = {{"plugin", "transformers"}, {"options", options}};
    bridge.update(extra);
    return adapter_->validate(bridge);
  }

  static Error translate(const std::string& type, const std::string& message) {
    errors::ErrorTranslator translator({}, adapter_->error_rules());
    Error error = Error::make(ErrorCategory::kInternal, message);
    error.python_type = type;
    return translator.translate(error);
  }

  static plugin::AdapterPtr adapter_;
};

plugin::AdapterPtr TransformersPluginTest::adapter_;

TEST_F(TransformersPluginTest, DefaultsSuitAMemoryHeavyOfflineBridge) {
  auto defaults = adapter_->defaults();
  ASSERT_TRUE(defaults.ok()) << defaults.error().describe();
  const json& d = *defaults;
  EXPECT_EQ(d["script"], "python_bridges/transformers_bridge.py");
  EXPECT_EQ(d["pool"]["size"], 1);
  EXPECT_EQ(d["pool"]["max_overflow"], 0);
  EXPECT_EQ(d["pool"]["max_requests"], 0);
  EXPECT_GE(d["timeouts"]["startup_ms"].get<int>(), 120000);
  EXPECT_GE(d["timeouts"]["request_ms"].get<int>(), 120000);
  EXPECT_GT(d["limits"]["max_memory_mb"].get<int>(), 0);
  EXPECT_EQ(d["env"]["set"]["HF_HUB_OFFLINE"], "1");
  const auto& idempotent = d["idempotent"];
  EXPECT_NE(std::find(idempotent.begin(), idempotent.end(), "embed"), idempotent.end());
  EXPECT_EQ(std::find(idempotent.begin(), idempotent.end(), "unload_model"), idempotent.end());
  EXPECT_EQ(std::find(idempotent.begin(), idempotent.end(), "generate_stream"), idempotent.end());
}

TEST_F(TransformersPluginTest, ValidationNamesTheKey) {
  const std::string models = source_path("tests/data");  // any existing directory
  EXPECT_TRUE(validate_options({{"model_dirs", {models}},
                                {"device", "cpu"},
                                {"dtype", "bfloat16"},
                                {"max_model_memory_mb", 512},
                                {"preload", {{{"model", "tiny-gpt2"}, {"task", "ner"}}}}})
                  .ok());
  auto problem = [&](const json& options, const json& extra = json::object()) {
    auto status = validate_options(options, extra);
    EXPECT_FALSE(status.ok()) << options.dump();
    return status.ok() ? std::string() : status.error().message;
  };
  EXPECT_TRUE(has(problem({{"colour", "blue"}}), "options.colour"));
  EXPECT_TRUE(has(problem({{"device", "tpu"}}), "options.device"));
  EXPECT_TRUE(has(problem({{"dtype", "int3"}}), "options.dtype"));
  EXPECT_TRUE(has(problem({{"model_dirs", {"/no/such/models"}}}), "/no/such/models"));
  EXPECT_TRUE(has(problem({{"cache_dir", "/no/such/cache"}}), "options.cache_dir"));
  EXPECT_TRUE(has(problem({{"max_batch", 0}}), "options.max_batch"));
  EXPECT_TRUE(has(problem({{"preload", {{{"model", "x"}, {"task", "summarise"}}}}}),
                  "options.preload[0].task"));
  EXPECT_TRUE(has(problem({}, {{"env", {{"set", {{"HF_HUB_OFFLINE", "0"}}}}}}), "HF_HUB_OFFLINE"));
  EXPECT_TRUE(has(problem({{"max_model_memory_mb", 4096}}, {{"limits", {{"max_memory_mb", 4096}}}}),
                  "limits.max_memory_mb"));
  if (!gpu_present()) {
    EXPECT_TRUE(has(problem({{"device", "cuda"}}), "no NVIDIA GPU"));
  }
}

TEST_F(TransformersPluginTest, ErrorRulesGiveTheIssuesCategories) {
  auto oom = translate("torch.OutOfMemoryError", "CUDA out of memory. Tried to allocate 2 GiB");
  EXPECT_EQ(oom.category, ErrorCategory::kResourceExhausted);
  EXPECT_FALSE(oom.retryable);
  EXPECT_EQ(translate("MemoryError", "").category, ErrorCategory::kResourceExhausted);
  EXPECT_EQ(translate("RuntimeError",
                      "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate "
                      "memory: you tried to allocate 281474976710656 bytes")
                .category,
            ErrorCategory::kResourceExhausted);
  EXPECT_EQ(translate("OSError",
                      "/srv/models/x is not a local folder and is not a valid model identifier")
                .category,
            ErrorCategory::kNotFound);
  EXPECT_EQ(translate("OSError", "Can't load tokenizer for '/srv/models/x'").category,
            ErrorCategory::kNotFound);
  EXPECT_EQ(translate("ModelNotFound", "model 'x' not found").category, ErrorCategory::kNotFound);
  EXPECT_EQ(translate("KeyError", "\"Unknown task summarise, available tasks are [...]\"").category,
            ErrorCategory::kInvalidArgument);
  EXPECT_EQ(translate("AssertionError", "Torch not compiled with CUDA enabled").category,
            ErrorCategory::kInvalidConfiguration);
  EXPECT_EQ(translate("CudaUnavailable", "device 'cuda' was asked for").category,
            ErrorCategory::kInvalidConfiguration);
  // Nothing else is claimed: an unrelated RuntimeError stays as the worker said.
  EXPECT_EQ(translate("RuntimeError", "shape mismatch").category, ErrorCategory::kInternal);
}

TEST_F(TransformersPluginTest, ModelResourceVerbs) {
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"create", "load_model"},    {"get", "get_model_info"},  {"list", "list_models"},
      {"execute", "run_pipeline"}, {"delete", "unload_model"},
  };
  for (const auto& [verb, command] : expected) {
    auto mapped = adapter_->resource_command(verb, "model");
    ASSERT_TRUE(mapped.ok()) << verb;
    EXPECT_EQ(*mapped, command) << verb;
  }
  EXPECT_FALSE(adapter_->resource_command("create", "program").ok());
}

// ---------------------------------------------------------------------------- through a host

/// build/models, built by scripts/build_tiny_models.py (a no-op when up to date).
std::string models_dir() {
  static const std::string dir = [] {
    const std::string out = source_path("build/models");
    const std::string command =
        python() + " " + source_path("scripts/build_tiny_models.py") + " --quiet --out " + out;
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    return out;
  }();
  return dir;
}

/// A deployment with one `plugin: transformers` bridge on the plugin's defaults.
std::string deployment(const std::filesystem::path& dir, const std::string& extra = "") {
  const std::string yaml = "host:\n  root: " + std::string(MLBRIDGE_SOURCE_DIR) +
                           "\n  python: " + python() + "\n  plugin_dirs: [" +
                           TRANSFORMERS_PLUGIN_DIR +
                           "]\nbridges:\n  transformers:\n    plugin: transformers\n"
                           "    timeouts: {shutdown_ms: 10000}\n" +
                           extra + "    options: {model_dirs: [" + models_dir() + "]}\n";
  const auto path = dir / "mlbridge.yaml";
  std::ofstream(path) << yaml;
  return path.string();
}

std::unique_ptr<Host> start_host(const std::string& path) {
  auto host = Host::from_file(path);
  if (!host.ok()) throw std::runtime_error(host.error().describe());
  auto started = (*host)->start();
  if (!started.ok()) throw std::runtime_error(started.error().describe());
  return std::move(*host);
}

class TransformersHostTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() /
           ("mlbridge-transformers-host-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    host_ = start_host(deployment(dir_));
  }
  static void TearDownTestSuite() {
    if (host_) host_->shutdown();
    host_.reset();
    std::filesystem::remove_all(dir_);
  }

  static ExecuteOptions in(const std::string& session) {
    ExecuteOptions options;
    if (!session.empty()) options.session = session;
    return options;
  }

  static json ok(const std::string& command, const json& args, const std::string& session = "") {
    auto result = host_->execute("transformers", command, args, in(session));
    EXPECT_TRUE(result.ok()) << command << ": " << (result.ok() ? "" : result.error().describe());
    if (!result.ok()) throw std::runtime_error(command + " failed");
    return *result;
  }

  static Error fails(const std::string& command, const json& args,
                     const std::string& session = "") {
    auto result = host_->execute("transformers", command, args, in(session));
    EXPECT_FALSE(result.ok()) << command
                              << " should have failed: " << (result.ok() ? result->dump() : "");
    if (result.ok()) throw std::runtime_error(command + " succeeded");
    return result.error();
  }

  static long worker_pid() { return ok("get_info", json::object())["pid"].get<long>(); }

  static std::filesystem::path dir_;
  static std::unique_ptr<Host> host_;
};

std::filesystem::path TransformersHostTest::dir_;
std::unique_ptr<Host> TransformersHostTest::host_;

TEST_F(TransformersHostTest, ModelsAreResourcesSharedBySessions) {
  const std::string a = host_->create_session().value();
  const std::string b = host_->create_session().value();
  auto created =
      host_->create_resource("transformers", "model", {{"model", "tiny-bert-sentiment"}}, in(a));
  ASSERT_TRUE(created.ok()) << created.error().describe();
  EXPECT_EQ((*created)["task"], "text-classification");
  EXPECT_GT((*created)["parameters"].get<long>(), 0);
  EXPECT_GT((*created)["memory_bytes"].get<long>(), 0);
  const std::string id = (*created)["model_id"];

  auto ran = host_->execute_resource(
      "transformers", "model",
      {{"model_id", id}, {"inputs", "This was a wonderful day."}, {"kwargs", {{"top_k", nullptr}}}},
      in(a));
  ASSERT_TRUE(ran.ok()) << ran.error().describe();
  std::vector<std::string> labels;
  double total = 0;
  for (const auto& score : (*ran)["outputs"]) {
    labels.push_back(score["label"]);
    total += score["score"].get<double>();
  }
  std::sort(labels.begin(), labels.end());
  EXPECT_EQ(labels, (std::vector<std::string>{"negative", "neutral", "positive"}));
  EXPECT_NEAR(total, 1.0, 1e-4);

  // Session b has no reference until it loads the model, which then costs nothing.
  EXPECT_EQ(fails("run_pipeline", {{"model_id", id}, {"inputs", "x"}}, b).category,
            ErrorCategory::kNotFound);
  auto shared = ok("load_model", {{"model", "tiny-bert-sentiment"}}, b);
  EXPECT_TRUE(shared["shared"].get<bool>());
  EXPECT_EQ(shared["references"], 2);
  auto listed = host_->list_resources("transformers", "model", in(b));
  ASSERT_TRUE(listed.ok()) << listed.error().describe();
  EXPECT_EQ((*listed)["count"], 1);

  auto dropped = host_->delete_resource("transformers", "model", {{"model_id", id}}, in(a));
  ASSERT_TRUE(dropped.ok()) << dropped.error().describe();
  EXPECT_FALSE((*dropped)["unloaded"].get<bool>());  // b still holds it
  EXPECT_TRUE(ok("unload_model", {{"model_id", id}}, b)["unloaded"].get<bool>());
}

TEST_F(TransformersHostTest, SameSeedSameTextAndABatch) {
  const std::string s = host_->create_session().value();
  ok("load_model", {{"model", "tiny-gpt2"}}, s);
  const json args = {{"model_id", "tiny-gpt2"},
                     {"inputs", "The river"},
                     {"kwargs", {{"max_new_tokens", 10}, {"temperature", 0.9}}},
                     {"seed", 42}};
  const json first = ok("run_pipeline", args, s);
  const json second = ok("run_pipeline", args, s);
  EXPECT_EQ(first["outputs"], second["outputs"]);
  const std::string text = first["outputs"][0]["generated_text"];
  EXPECT_EQ(text.rfind("The river", 0), 0u) << text;

  json batch = args;
  batch["inputs"] = {"The river", "A fox", "Numbers"};
  const json many = ok("run_pipeline", batch, s);
  EXPECT_TRUE(many["batch"].get<bool>());
  EXPECT_EQ(many["outputs"].size(), 3u);
}

TEST_F(TransformersHostTest, StreamArrivesChunkByChunk) {
  const std::string s = host_->create_session().value();
  ok("load_model", {{"model", "tiny-gpt2"}}, s);
  std::mutex mutex;
  std::vector<std::string> chunks;
  ExecuteOptions options = in(s);
  options.on_chunk = [&](json chunk) {
    std::lock_guard lock(mutex);
    chunks.push_back(chunk["text"].get<std::string>());
  };
  auto result = host_->execute("transformers", "generate_stream",
                               {{"model_id", "tiny-gpt2"},
                                {"prompt", "Once upon a time"},
                                {"kwargs", {{"max_new_tokens", 12}, {"temperature", 0.8}}},
                                {"seed", 5}},
                               options);
  ASSERT_TRUE(result.ok()) << result.error().describe();
  std::lock_guard lock(mutex);
  EXPECT_GE(chunks.size(), 2u);
  EXPECT_EQ(chunks.size(), (*result)["chunks"].get<std::size_t>());
  std::string joined;
  for (const auto& chunk : chunks) joined += chunk;
  EXPECT_EQ(joined, (*result)["text"].get<std::string>());
}

TEST_F(TransformersHostTest, ChatMessagesGoThroughTheChatTemplate) {
  const std::string s = host_->create_session().value();
  ok("load_model", {{"model", "tiny-gpt2"}}, s);
  const json chat = json::array({{{"role", "system"}, {"content", "You are brief."}},
                                 {{"role", "user"}, {"content", "Say hello."}}});
  const json answer = ok("run_pipeline",
                         {{"model_id", "tiny-gpt2"},
                          {"inputs", chat},
                          {"kwargs", {{"max_new_tokens", 4}, {"min_new_tokens", 4}}},
                          {"seed", 3}},
                         s)["outputs"][0];
  ASSERT_EQ(answer["messages"].size(), 3u) << answer.dump();
  EXPECT_EQ(answer["messages"][2]["role"], "assistant");
  EXPECT_EQ(answer["messages"][2]["content"], answer["generated_text"]);
  const Error bad =
      fails("run_pipeline",
            {{"model_id", "tiny-gpt2"}, {"inputs", {{{"role", "robot"}, {"content", "x"}}}}}, s);
  EXPECT_EQ(bad.category, ErrorCategory::kInvalidArgument);
  EXPECT_NE(bad.message.find("role must be one of"), std::string::npos) << bad.message;
}

TEST_F(TransformersHostTest, SummarizationAndQuestionAnswering) {
  const std::string s = host_->create_session().value();
  ok("load_model", {{"model", "tiny-t5"}, {"task", "summarization"}, {"model_id", "sum"}}, s);
  const json summary = ok("run_pipeline",
                          {{"model_id", "sum"},
                           {"inputs", "The tower was completed in 1889."},
                           {"kwargs", {{"max_new_tokens", 3}}}},
                          s);
  EXPECT_EQ(summary["task"], "summarization");
  EXPECT_TRUE(summary["outputs"][0]["summary_text"].is_string()) << summary.dump();
  ok("load_model", {{"model", "tiny-bert-qa"}}, s);
  const std::string context = "The Eiffel Tower was completed in 1889 in Paris.";
  const json found =
      ok("run_pipeline",
         {{"model_id", "tiny-bert-qa"},
          {"inputs", {{"question", "When was it completed?"}, {"context", context}}}},
         s)["outputs"];
  const auto start = found["start"].get<std::size_t>();
  const auto end = found["end"].get<std::size_t>();
  ASSERT_LT(start, end);
  EXPECT_EQ(context.substr(start, end - start), found["answer"].get<std::string>());
}

TEST_F(TransformersHostTest, EmbeddingsArriveAsBinaryOrLists) {
  const std::string s = host_->create_session().value();
  ok("load_model", {{"model", "tiny-bert"}}, s);
  const json packed =
      ok("embed", {{"model_id", "tiny-bert"}, {"inputs", {"The fox", "The owl", "The bell"}}}, s);
  EXPECT_EQ(packed["shape"], json::array({3, 64}));
  ASSERT_TRUE(packed["embeddings"].is_binary()) << packed["embeddings"].type_name();
  EXPECT_EQ(packed["embeddings"].get_binary().size(), 3u * 64u * 4u);
  const json listed =
      ok("embed", {{"model_id", "tiny-bert"}, {"inputs", "The fox"}, {"format", "list"}}, s);
  ASSERT_EQ(listed["embeddings"].size(), 1u);
  EXPECT_EQ(listed["embeddings"][0].size(), 64u);
}

TEST_F(TransformersHostTest, MissingPathIsNotFoundAndTheWorkerLives) {
  const long pid = worker_pid();
  const Error error = fails("load_model", {{"model", "/no/such/model-dir"}});
  EXPECT_EQ(error.category, ErrorCategory::kNotFound);
  EXPECT_EQ(error.python_type, "ModelNotFound");
  EXPECT_TRUE(has(error.message, "/no/such/model-dir")) << error.message;
  EXPECT_EQ(worker_pid(), pid);
}

TEST_F(TransformersHostTest, ArgumentAndConfigurationErrors) {
  EXPECT_EQ(fails("load_model", {{"model", "tiny-gpt2"}, {"task", "summarise"}}).category,
            ErrorCategory::kInvalidArgument);
  if (!gpu_present()) {
    const Error cuda = fails("load_model", {{"model", "tiny-gpt2"}, {"device", "cuda"}});
    EXPECT_EQ(cuda.category, ErrorCategory::kInvalidConfiguration);
    EXPECT_TRUE(has(cuda.message, "CUDA")) << cuda.message;
  }
}

TEST_F(TransformersHostTest, AnImpossibleAllocationIsResourceExhausted) {
  const std::string s = host_->create_session().value();
  ok("load_model", {{"model", "tiny-gpt2"}}, s);
  const long pid = worker_pid();
  // 2^55 sequences (2^58 bytes): beyond RAM and any x86-64 address space; refused at once.
  const Error error = fails("run_pipeline",
                            {{"model_id", "tiny-gpt2"},
                             {"inputs", "x"},
                             {"kwargs",
                              {{"max_new_tokens", 2},
                               {"do_sample", true},
                               {"num_return_sequences", 36028797018963968LL}}}},
                            s);
  EXPECT_EQ(error.category, ErrorCategory::kResourceExhausted);
  EXPECT_FALSE(error.retryable);
  EXPECT_EQ(worker_pid(), pid);
  ok("run_pipeline",
     {{"model_id", "tiny-gpt2"}, {"inputs", "x"}, {"kwargs", {{"max_new_tokens", 1}}}}, s);
}

TEST_F(TransformersHostTest, TokenizeAndDetokenizeRoundTrip) {
  const std::string s = host_->create_session().value();
  ok("load_model", {{"model", "tiny-gpt2"}}, s);
  ok("load_model", {{"model", "tiny-bert"}}, s);
  const std::string text = "Anna walked from the station to the harbour.";
  const json gpt =
      ok("tokenize", {{"model_id", "tiny-gpt2"}, {"text", text}, {"return_offsets", true}}, s);
  EXPECT_EQ(gpt["model_id"], "tiny-gpt2");
  const std::size_t count = gpt["count"].get<std::size_t>();
  EXPECT_GT(count, 1u);
  EXPECT_EQ(gpt["ids"].size(), count);
  EXPECT_EQ(gpt["tokens"].size(), count);
  ASSERT_EQ(gpt["offsets"].size(), count);
  std::string spans;
  for (const auto& offset : gpt["offsets"]) {
    spans += text.substr(offset[0].get<std::size_t>(),
                         offset[1].get<std::size_t>() - offset[0].get<std::size_t>());
  }
  EXPECT_EQ(spans, text);
  // Byte-level BPE gives the text back exactly.
  EXPECT_EQ(ok("detokenize", {{"model_id", "tiny-gpt2"}, {"ids", gpt["ids"]}}, s)["text"], text);

  // WordPiece adds [CLS] and [SEP], lower-cases, and rejoins the final " ." when decoding.
  const json bert = ok("tokenize", {{"model_id", "tiny-bert"}, {"text", text}}, s);
  EXPECT_EQ(bert["tokens"].front(), "[CLS]");
  EXPECT_EQ(bert["tokens"].back(), "[SEP]");
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  EXPECT_EQ(ok("detokenize",
               {{"model_id", "tiny-bert"}, {"ids", bert["ids"]}, {"skip_special_tokens", true}},
               s)["text"],
            lower);

  // A batch both ways, in order.
  const json many = ok("tokenize", {{"model_id", "tiny-gpt2"}, {"text", {"a", "b c"}}}, s);
  ASSERT_EQ(many["count"], 2);
  json rows = json::array();
  for (const auto& item : many["items"]) rows.push_back(item["ids"]);
  EXPECT_EQ(many["items"][0]["count"], 1);
  EXPECT_EQ(many["items"][1]["count"], 2);
  const json texts = ok("detokenize", {{"model_id", "tiny-gpt2"}, {"ids", rows}}, s);
  EXPECT_EQ(texts["texts"], json::array({"a", "b c"}));
  EXPECT_EQ(texts["count"], 2);

  const Error bad = fails("detokenize", {{"model_id", "tiny-gpt2"}, {"ids", {1000000000}}}, s);
  EXPECT_EQ(bad.category, ErrorCategory::kInvalidArgument) << bad.describe();
  EXPECT_EQ(fails("tokenize", {{"model_id", "not-loaded"}, {"text", "x"}}, s).category,
            ErrorCategory::kNotFound);
}

TEST_F(TransformersHostTest, GetModelInfoDescribesTheLoadedModel) {
  const std::string s = host_->create_session().value();
  const json loaded = ok("load_model", {{"model", "tiny-bert-sentiment"}}, s);
  const std::string id = loaded["model_id"];
  const json info = ok("get_model_info", {{"model_id", id}}, s);
  EXPECT_EQ(info["model_id"], id);
  EXPECT_EQ(info["task"], "text-classification");
  EXPECT_EQ(info["device"], "cpu");
  EXPECT_EQ(info["parameters"], loaded["parameters"]);
  EXPECT_EQ(info["memory_bytes"], loaded["memory_bytes"]);
  EXPECT_GT(info["memory_bytes"].get<long>(), 0);
  EXPECT_EQ(info["model_type"], "bert");
  EXPECT_GT(info["hidden_size"].get<int>(), 0);
  EXPECT_GT(info["num_layers"].get<int>(), 0);
  EXPECT_GT(info["vocab_size"].get<int>(), 0);
  std::vector<std::string> labels;
  for (const auto& [index, label] : info["labels"].items()) labels.push_back(label);
  std::sort(labels.begin(), labels.end());
  EXPECT_EQ(labels, (std::vector<std::string>{"negative", "neutral", "positive"}));
  EXPECT_FALSE(info["tokenizer"]["class"].get<std::string>().empty());
  EXPECT_GT(info["tokenizer"]["vocab_size"].get<int>(), 0) << info["tokenizer"].dump();
  EXPECT_EQ(info["tokenizer"]["special_tokens"]["cls_token"], "[CLS]");
  EXPECT_GE(info["references"], 1);

  // A generative model carries its generation config.
  ok("load_model", {{"model", "tiny-gpt2"}}, s);
  const json gpt = ok("get_model_info", {{"model_id", "tiny-gpt2"}}, s);
  EXPECT_EQ(gpt["task"], "text-generation");
  EXPECT_EQ(gpt["model_type"], "gpt2");
  EXPECT_TRUE(gpt["generation_config"].is_object()) << gpt["generation_config"].dump();

  // Another session sees nothing it did not load.
  const std::string other = host_->create_session().value();
  EXPECT_EQ(fails("get_model_info", {{"model_id", id}}, other).category, ErrorCategory::kNotFound);
  ASSERT_TRUE(host_->end_session(s).ok());
}

TEST_F(TransformersHostTest, UnloadModelFreesItsMemory) {
  const std::string s = host_->create_session().value();
  const json loaded = ok("load_model", {{"model", "small-gpt2"}}, s);  // ~35 MB of weights
  const std::string id = loaded["model_id"];
  const long weights = loaded["memory_bytes"].get<long>();
  EXPECT_GT(weights, 30L * 1024 * 1024);
  // The weights are memory-mapped from model.safetensors: a call touches every page.
  ok("run_pipeline",
     {{"model_id", id}, {"inputs", "The river"}, {"kwargs", {{"max_new_tokens", 2}}}}, s);
  auto held = [&](const json& listed) {
    for (const auto& model : listed["models"]) {
      if (model["model_id"] == id) return true;
    }
    return false;
  };
  ASSERT_TRUE(held(ok("list_models", json::object(), s)));

  const json dropped = ok("unload_model", {{"model_id", id}}, s);
  EXPECT_EQ(dropped["model_id"], id);
  EXPECT_EQ(dropped["unloaded"], true);
  EXPECT_EQ(dropped["references"], 0);
  EXPECT_EQ(dropped["memory_bytes"], weights);
  const long before = dropped["rss_before_bytes"].get<long>();
  const long after = dropped["rss_after_bytes"].get<long>();
  const long freed = dropped["freed_bytes"].get<long>();
  EXPECT_GT(freed, 0) << dropped.dump();
  EXPECT_EQ(freed, before - after) << dropped.dump();
  EXPECT_GE(freed, weights / 2) << "most of the weights went back to the system: "
                                << dropped.dump();

  // Gone from the session and from the worker.
  const json mine = ok("list_models", json::object(), s);
  EXPECT_FALSE(held(mine)) << mine.dump();
  EXPECT_EQ(mine["count"], 0);
  const json every = ok("list_models", {{"all", true}}, s);
  EXPECT_FALSE(held(every)) << every.dump();
  EXPECT_EQ(fails("get_model_info", {{"model_id", id}}, s).category, ErrorCategory::kNotFound);
  EXPECT_EQ(fails("unload_model", {{"model_id", id}}, s).category, ErrorCategory::kNotFound);
}

TEST_F(TransformersHostTest, AStreamCancelledFromItsFirstChunkEndsCancelledAndTheWorkerServes) {
  const std::string s = host_->create_session().value();
  ok("load_model", {{"model", "small-gpt2"}}, s);
  const long pid = worker_pid();
  // 250 tokens of greedy generation: long enough for the cancellation below to reach it.
  const json args = {
      {"model_id", "small-gpt2"},
      {"prompt", "The"},
      {"kwargs", {{"max_new_tokens", 250}, {"min_new_tokens", 250}, {"do_sample", false}}}};

  const CancelledStream cancelled =
      cancel_on_first_chunk(*host_, "transformers", "generate_stream", args, in(s), 300s);
  ASSERT_TRUE(cancelled.finished) << "hang guard";
  const Result<json>& result = cancelled.result;
  ASSERT_FALSE(result.ok()) << "the stream ran to its end before the cancel reached it: "
                            << result->dump();
  EXPECT_EQ(result.error().category, ErrorCategory::kCancelled) << result.error().describe();
  EXPECT_EQ(result.error().command, "generate_stream");
  EXPECT_GE(cancelled.chunks, 1u);

  // The same worker goes on serving: a short stream of the same model runs to its end.
  EXPECT_EQ(worker_pid(), pid);
  std::mutex mutex;
  std::size_t chunks = 0;
  ExecuteOptions again = in(s);
  again.on_chunk = [&](json) {
    std::lock_guard lock(mutex);
    ++chunks;
  };
  json short_args = args;
  short_args["kwargs"] = {{"max_new_tokens", 4}, {"min_new_tokens", 4}, {"do_sample", false}};
  auto after = host_->execute("transformers", "generate_stream", short_args, again);
  ASSERT_TRUE(after.ok()) << after.error().describe();
  EXPECT_EQ((*after)["tokens"], 4);
  std::lock_guard lock(mutex);
  EXPECT_EQ((*after)["chunks"].get<std::size_t>(), chunks);
  EXPECT_GE(chunks, 1u);
  ASSERT_TRUE(host_->end_session(s).ok());  // its reference to small-gpt2 goes
}

// A worker whose RSS passes limits.max_memory_mb after a call is replaced by a fresh one, and no
// call fails on the way. 64 MiB is far below what importing torch takes, so every worker goes
// after its first call.
TEST(TransformersMemoryLimit, AWorkerOverTheLimitIsReplacedCleanly) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mlbridge-transformers-limit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto host = start_host(deployment(dir, "    limits: {max_memory_mb: 64}\n"));
  auto pid = [&]() -> long {
    auto result = host->execute("transformers", "get_info", json::object());
    EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().describe());
    return result.ok() ? (*result)["pid"].get<long>() : -1;
  };
  const long first = pid();
  auto loaded = host->execute("transformers", "load_model", {{"model", "tiny-gpt2"}});
  EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error().describe());
  // The replacement imports torch before it serves: ask until it answers (bounded).
  long now = pid();
  for (int i = 0; i < 600 && (now == first || now < 0); ++i) {
    std::this_thread::sleep_for(200ms);
    now = pid();
  }
  EXPECT_NE(now, first) << "the worker over the limit was never replaced";
  const json stats = host->stats()["transformers"];
  EXPECT_GE(stats["recycled"].get<int>(), 1);
  EXPECT_EQ(stats["errors"], 0) << stats.dump();
  host->shutdown();
  host.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mlbridge::testing
