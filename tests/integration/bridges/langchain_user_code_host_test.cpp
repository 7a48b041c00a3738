// The LangChain bridge serving the user's own code through the Host API, with real Python
// workers: a bridge whose YAML declares `code: {paths, modules}` (the example package
// examples/user_code and the test package tests/python/bridges/langchain_user_code),
// `options.chains` built by every worker at init, and a persistent vector store
// (`options.vector_store.directory`) that outlives the host. Offline: RunnableLambda pipelines
// and LangChain's fake chat models, the deterministic local embedding.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mlbridge/host.hpp"
#include "test_paths.hpp"

namespace mlbridge::testing {
namespace {

using namespace std::chrono_literals;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// One `plugin: langchain` bridge of two workers with the user's code declared.
std::string deployment(const std::filesystem::path& vectors) {
  return "host:\n  root: " + std::string(MLBRIDGE_SOURCE_DIR) + "\n  python: " + python() +
         "\n  plugin_dirs: [" + LANGCHAIN_PLUGIN_DIR +
         "]\nbridges:\n  langchain:\n    plugin: langchain\n"
         "    pool: {size: 2, max_overflow: 0}\n"
         "    timeouts: {shutdown_ms: 5000}\n"
         "    code: {paths: [examples/user_code, tests/python/bridges/langchain_user_code],\n"
         "           modules: [myteam.chains, lcteam.objects]}\n"
         "    options:\n"
         "      vector_store: {directory: " +
         vectors.string() +
         "}\n"
         "      chains:\n"
         "        summary: {runnable: 'myteam.chains:summarize'}\n";
}

class LangChainUserCodeHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mlbridge-langchain-user-code-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "mlbridge.yaml") << deployment(dir_ / "vectors");
    start();
  }

  void TearDown() override {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void start() {
    auto host = Host::from_file((dir_ / "mlbridge.yaml").string());
    ASSERT_TRUE(host.ok()) << host.error().describe();
    host_ = std::move(*host);
    auto started = host_->start();
    ASSERT_TRUE(started.ok()) << started.error().describe();
  }

  void stop() {
    if (host_ != nullptr) host_->shutdown();
    host_.reset();
  }

  static ExecuteOptions in(const std::string& session = "") {
    ExecuteOptions options;
    if (!session.empty()) options.session = session;
    options.timeout = 60s;  // a cold worker on a busy machine
    return options;
  }

  Result<json> run(const std::string& command, const json& args, ExecuteOptions options = in()) {
    return host_->execute("langchain", command, args, std::move(options));
  }

  json ok(const std::string& command, const json& args, ExecuteOptions options = in()) {
    auto result = run(command, args, std::move(options));
    EXPECT_TRUE(result.ok()) << command << ": " << (result.ok() ? "" : result.error().describe());
    return result.ok() ? *result : json();
  }

  std::filesystem::path dir_;
  std::unique_ptr<Host> host_;
};

TEST_F(LangChainUserCodeHostTest, ServesTheUsersRunnablesTheirSchemasAndStreams) {
  // Declared in options.chains: every worker has it, anonymous calls land on either.
  for (int i = 0; i < 4; ++i) {
    json result = ok("invoke", {{"chain_id", "summary"},
                                {"input", {{"text", "Short. Then more."}, {"max_words", 1}}}});
    EXPECT_EQ(result["output"]["summary"], "Short.") << result.dump();
  }
  // Created by import path in a session, a factory with init.
  auto session = host_->create_session();
  ASSERT_TRUE(session.ok());
  json created = ok("create_chain",
                    {{"chain_id", "qa"},
                     {"runnable", "myteam.chains:make_answerer"},
                     {"init", {{"answers", {"Paris."}}}}},
                    in(*session));
  EXPECT_EQ(created["input_schema"]["required"], json::array({"question"})) << created.dump();
  std::mutex mutex;  // chunks arrive on the host's loop thread
  std::vector<json> chunks;
  ExecuteOptions streaming = in(*session);
  streaming.on_chunk = [&](json chunk) {
    std::lock_guard lock(mutex);
    chunks.push_back(std::move(chunk));
  };
  json streamed =
      ok("stream", {{"chain_id", "qa"}, {"input", {{"question", "Capital of France?"}}}},
         std::move(streaming));
  std::lock_guard lock(mutex);
  std::string text;
  for (const auto& chunk : chunks) text += chunk.value("token", "");
  EXPECT_EQ(text, "Paris.");
  EXPECT_EQ(streamed["output"], "Paris.");
  EXPECT_GT(chunks.size(), 1u);

  // The caller's mistakes and the user code's are told apart, each with a clear message.
  auto undeclared = run("create_chain", {{"runnable", "os:system"}}, in(*session));
  ASSERT_FALSE(undeclared.ok());
  EXPECT_EQ(undeclared.error().category, ErrorCategory::kInvalidArgument);
  EXPECT_TRUE(has(undeclared.error().message, "not declared")) << undeclared.error().message;
  ok("create_chain", {{"chain_id", "bad"}, {"runnable", "lcteam.objects:returns_a_set"}},
     in(*session));
  auto not_json = run("invoke", {{"chain_id", "bad"}, {"input", 1}}, in(*session));
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(has(not_json.error().message, "returned a set")) << not_json.error().message;
}

TEST_F(LangChainUserCodeHostTest, APersistentRetrieverOutlivesTheHost) {
  ok("create_retriever", {{"retriever_id", "kb"},
                          {"texts", {"Mount Fuji is 3776 metres high.", "The Nile flows north."}},
                          {"ids", {"fuji", "nile"}},
                          {"persist", true}});
  ok("add_documents", {{"retriever_id", "kb"},
                       {"texts", {"Lake Baikal is the deepest lake."}},
                       {"ids", {"baikal"}}});
  stop();
  start();
  auto session = host_->create_session();
  ASSERT_TRUE(session.ok());
  json found = ok("retrieve", {{"retriever_id", "kb"}, {"query", "the deepest lake"}, {"k", 1}},
                  in(*session));
  ASSERT_EQ(found["documents"].size(), 1u) << found.dump();
  EXPECT_EQ(found["documents"][0]["id"], "baikal");
  json deleted = ok("delete_documents", {{"retriever_id", "kb"}, {"ids", {"baikal"}}});
  EXPECT_EQ(deleted["documents"], 2);
}

}  // namespace
}  // namespace mlbridge::testing
