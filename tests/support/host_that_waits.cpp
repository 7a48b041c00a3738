// A minimal host for the host-death test: starts one echo worker, prints the worker's pid on
// stdout, then waits to be killed. Usage: host_that_waits PYTHON SCRIPT

#include <unistd.h>

#include <iostream>

#include "mlbridge/runtime/event_loop.hpp"
#include "mlbridge/worker/worker_client.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: host_that_waits PYTHON SCRIPT\n";
    return 2;
  }
  mlbridge::runtime::EventLoop loop;
  mlbridge::worker::WorkerConfig config;
  config.python = argv[1];
  config.script = argv[2];
  config.env = mlbridge::worker::minimal_environment();
  auto client = mlbridge::worker::WorkerClient::start(loop, config);
  if (!client) {
    std::cerr << client.error().describe() << "\n";
    return 1;
  }
  std::cout << (*client)->pid() << std::endl;
  for (;;) ::pause();
}
