// Killing the host with SIGKILL under load leaves no worker behind: neither a host built on the
// C++ API with two pools busy with slow, streaming and session-bound calls, nor `mlbridge serve`
// busy with HTTP calls; also not a worker that is SIGSTOPped at that moment. Workers die by
// PR_SET_PDEATHSIG (SIGKILL, which also ends a stopped process), tied to the host's event-loop
// thread that spawned them.
//
// This test process is a child subreaper, so orphaned workers would be re-parented to it (and
// reaped by it); they are also searched for in the whole of /proc by the marker in their
// command line.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "chaos_host.hpp"
#include "process_census.hpp"

namespace mlbridge::chaos {
namespace {

using namespace std::chrono_literals;

// A child process whose stdout we read line by line.
struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;

  std::string next_line() {
    char buffer[4096];
    if (out == nullptr || std::fgets(buffer, sizeof buffer, out) == nullptr) return "";
    return buffer;
  }
  // Reads lines until one starts with `prefix`; "" when the child closed its stdout first.
  std::string line_starting(const std::string& prefix) {
    for (;;) {
      std::string line = next_line();
      if (line.empty() || line.rfind(prefix, 0) == 0) return line;
    }
  }
  void kill_and_reap() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      pid = -1;
    }
    if (out != nullptr) std::fclose(out);
    out = nullptr;
  }
  ~Child() { kill_and_reap(); }
};

Child spawn(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  return Child{pid, ::fdopen(pipe_fds[0], "r")};
}

class HostKill : public ::testing::Test {
 protected:
  void SetUp() override {
    // Orphans come to us, not to init: we can see and reap them.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    marker_ = "hostkill" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_";
    dir_ = std::filesystem::temp_directory_path() / ("mlbridge-" + marker_);
    std::filesystem::create_directories(dir_);
    config_ = (dir_ / "mlbridge.yaml").string();
    std::ofstream(config_) << chaos_yaml(marker_);
  }
  void TearDown() override {
    // Whatever happened, leave nothing running.
    for (const auto& p : testing::processes_marked(marker_)) ::kill(p.pid, SIGKILL);
    reap_orphans();
    std::filesystem::remove_all(dir_);
  }

  static void reap_orphans() {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }

  // Every process of this test's deployment that still exists after `limit`.
  std::vector<std::string> survivors(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::vector<std::string> left;
    do {
      reap_orphans();
      left.clear();
      for (const auto& p : testing::processes_marked(marker_)) left.push_back(describe(p));
      for (const auto& p : testing::descendants_of(::getpid())) {
        if (p.state != 'Z') left.push_back("descendant " + describe(p));
      }
      if (left.empty()) return left;
      std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return left;
  }

  std::string marker_;
  std::filesystem::path dir_;
  std::string config_;
};

std::vector<pid_t> parse_pids(const std::string& line) {
  std::istringstream in(line);
  std::string word;
  in >> word;  // "ready"
  std::vector<pid_t> pids;
  for (pid_t pid; in >> pid;) pids.push_back(pid);
  return pids;
}

TEST_F(HostKill, ApiHostUnderLoadLeavesNothingBehind) {
  Child host = spawn({LOADED_HOST, config_});
  ASSERT_GT(host.pid, 0);
  const auto pids = parse_pids(host.line_starting("ready"));
  ASSERT_EQ(pids.size(), 2u * kPoolSize) << "the loaded host did not report its workers";
  ASSERT_EQ(host.line_starting("loaded"), "loaded\n") << "the host's calls did not complete";
  ::kill(pids.front(), SIGSTOP);  // a stopped worker must die too

  host.kill_and_reap();

  const auto left = survivors(20s);
  for (const auto& p : left) ADD_FAILURE() << "outlived its host: " << p;
  for (pid_t pid : pids) EXPECT_FALSE(testing::process_exists(pid)) << "worker " << pid;
}

TEST_F(HostKill, ServeUnderLoadLeavesNothingBehind) {
  Child serve = spawn({MLBRIDGE_BINARY, "serve", "--config", config_, "--listen", "127.0.0.1:0"});
  ASSERT_GT(serve.pid, 0);
  const std::string banner = serve.line_starting("mlbridge serving on");
  std::smatch port_match;
  ASSERT_TRUE(std::regex_search(banner, port_match, std::regex(R"(:(\d+))")))
      << "no port in '" << banner << "'";
  const int port = std::stoi(port_match[1]);

  std::vector<pid_t> pids;
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30s);
  for (const auto& name : bridge_names(marker_)) {
    auto described = client.Get("/v1/bridges/" + name);
    ASSERT_TRUE(described && described->status == 200) << "GET /v1/bridges/" << name;
    const json bridge = json::parse(described->body);
    for (const auto& w : bridge["workers"]) {
      pids.push_back(w["pid"].get<pid_t>());
    }
  }
  ASSERT_EQ(pids.size(), 2u * kPoolSize);

  std::atomic<int> completed{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  const auto names = bridge_names(marker_);
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(10s);
      c.set_connection_timeout(2s);
      const std::string base = "/v1/bridges/" + names[i % 2] + "/commands/";
      const json sleep_body = {{"args", {{"seconds", 0.2}}}};
      const json stream_body = {{"args", {{"count", 5}, {"delay", 0.05}}}, {"stream", true}};
      const json put_body = {{"args", {{"key", "k"}, {"value", i}}},
                             {"session", "client-" + std::to_string(i)}};
      for (int n = 0; !stop; ++n) {
        const bool ok =
            n % 3 == 0
                ? static_cast<bool>(c.Post(base + "sleep", sleep_body.dump(), "application/json"))
            : n % 3 == 1
                ? static_cast<bool>(c.Post(base + "stream", stream_body.dump(), "application/json"))
                : static_cast<bool>(c.Post(base + "put", put_body.dump(), "application/json"));
        if (ok) ++completed;
        if (!ok) std::this_thread::sleep_for(50ms);
      }
    });
  }
  const auto loaded_by = std::chrono::steady_clock::now() + 120s;
  while (completed < 20 && std::chrono::steady_clock::now() < loaded_by) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GE(completed.load(), 20) << "the server did not answer under load";
  ::kill(pids.front(), SIGSTOP);

  serve.kill_and_reap();
  stop = true;
  for (auto& t : clients) t.join();

  const auto left = survivors(20s);
  for (const auto& p : left) ADD_FAILURE() << "outlived mlbridge serve: " << p;
  for (pid_t pid : pids) EXPECT_FALSE(testing::process_exists(pid)) << "worker " << pid;
}

}  // namespace
}  // namespace mlbridge::chaos
