// Prints the OpenAPI document of a host: `openapi_document CONFIG.yaml` starts the host of that
// file, builds server::build_openapi from its snapshot (with the workers' commands) and writes
// the JSON to stdout. For test_openapi_document.py, which validates it with
// openapi-spec-validator. Exit 1 (with the reason on stderr) when the host does not start.

#include <iostream>

#include "mlbridge/host.hpp"
#include "openapi.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: openapi_document CONFIG.yaml\n";
    return 2;
  }
  auto host = mlbridge::Host::from_file(argv[1]);
  if (!host) {
    std::cerr << host.error().describe() << "\n";
    return 1;
  }
  if (auto started = (*host)->start(); !started) {
    std::cerr << started.error().describe() << "\n";
    return 1;
  }
  const auto document = mlbridge::server::build_openapi(
      (*host)->snapshot(/*with_commands=*/true),
      {"mlbridge", "test", "http://127.0.0.1:8787", /*bearer_auth=*/true});
  std::cout << document.dump(2) << "\n";
  (*host)->shutdown();
  return 0;
}
