// A host under load, for the host-death tests: starts the chaos deployment (two echo bridges)
// from a YAML file, prints "ready PID..." with its workers' pids, keeps client threads calling
// (slow, streaming and session-bound calls), prints "loaded" once 20 calls completed, and runs
// until it is killed. Usage: loaded_host CONFIG.yaml

#include <unistd.h>

#include <atomic>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "chaos_host.hpp"

int main(int argc, char** argv) {
  using namespace mlbridge;
  if (argc != 2) {
    std::cerr << "usage: loaded_host CONFIG.yaml\n";
    return 2;
  }
  auto host = Host::from_file(argv[1]);
  if (!host) {
    std::cerr << host.error().describe() << "\n";
    return 1;
  }
  if (auto started = (*host)->start();
      !started || !chaos::wait_for_full_pools(**host, std::chrono::seconds(120))) {
    std::cerr << "the host did not start\n";
    return 1;
  }
  std::cout << "ready";
  for (const auto& w : chaos::workers(**host)) std::cout << " " << w.pid;
  std::cout << std::endl;

  std::vector<std::string> bridges;
  for (const auto& b : (*host)->bridges()) bridges.push_back(b["name"].get<std::string>());
  std::atomic<int> completed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&, i] {
      const std::string& bridge = bridges[i % bridges.size()];
      ExecuteOptions session;
      session.session = "client-" + std::to_string(i);
      for (int n = 0;; ++n) {
        switch (n % 3) {
          case 0:
            (void)(*host)->execute(bridge, "sleep", {{"seconds", 0.2}});
            break;
          case 1:
            (void)(*host)->execute(
                bridge, "stream", {{"count", 5}, {"delay", 0.05}},
                ExecuteOptions{
                    .session = std::nullopt, .timeout = std::nullopt, .on_chunk = [](json) {}});
            break;
          default:
            (void)(*host)->execute(bridge, "put", {{"key", "k"}, {"value", n}}, session);
        }
        if (++completed == 20) std::cout << "loaded" << std::endl;
      }
    });
  }
  for (;;) ::pause();
}
