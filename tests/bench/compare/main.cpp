// compare_bench: mlbridge's side of the comparison in tests/bench/compare.py. Each subcommand
// measures one group and prints one JSON object per result on stdout.
//
//   compare_bench floors     --seconds S --workers 1,2   the C++ ↔ C++ and C++ ↔ Python floors
//                                                        (latency; throughput of W Python loops)
//   compare_bench api        --seconds S --workers 1,2 --callers 1,8,64,512 --depths 1,2
//                            (--depths: pool.pipeline_depth values, one set of rows each)
//   compare_bench http       --seconds S --workers 1,2 --callers 1,8,64,512
//   compare_bench http       --seconds S --port P --path /noop --body '{}' --label NAME
//                            --workers W --callers ...   (an external server, e.g. FastAPI)
//   compare_bench payload    --seconds S --sizes 1024,1048576,16777216
//   compare_bench coldstart  --bridge echo|dspy|langchain|transformers
//   compare_bench recovery   --workers W --callers C

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "api.hpp"
#include "floors.hpp"
#include "http_load.hpp"
#include "lifecycle.hpp"
#include "measure.hpp"

namespace {

using namespace mlbridge::bench;

std::vector<long long> list_of(const std::string& text) {
  std::vector<long long> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) values.push_back(std::stoll(item));
  return values;
}

std::vector<int> ints(const std::string& text) {
  std::vector<int> out;
  for (auto v : list_of(text)) out.push_back(static_cast<int>(v));
  return out;
}

int usage() {
  std::fprintf(
      stderr,
      "usage: compare_bench floors|api|http|payload|coldstart|recovery [--seconds S] "
      "[--workers LIST] [--callers LIST] [--depths LIST] [--sizes LIST] [--bridge KIND] [--port P "
      "--path PATH --body JSON --label NAME]\n");
  return 2;
}

void external_http(const std::map<std::string, std::string>& o, double seconds) {
  HttpTarget target{"127.0.0.1", std::stoi(o.at("port")), o.at("path"), o.at("body")};
  const std::string label = o.at("label");
  if (o.contains("latency")) {
    auto fields = http_latency(target, seconds);
    fields["system"] = label;
    fields["codec"] = "json";
    emit("latency", fields);
  }
  for (int c : ints(o.at("callers"))) {
    auto fields = http_throughput(target, c, seconds);
    fields["system"] = label;
    fields["codec"] = "json";
    fields["workers"] = std::stoi(o.at("workers"));
    fields["callers"] = c;
    emit("throughput", fields);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string group = argv[1];
  std::map<std::string, std::string> o = {{"seconds", "1"},
                                          {"workers", "1,2"},
                                          {"callers", "1,8,64,512"},
                                          {"sizes", "1024"},
                                          {"depths", "1"}};
  for (int i = 2; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "--latency") {
      o["latency"] = "1";
      continue;
    }
    if (key.rfind("--", 0) != 0 || i + 1 >= argc) return usage();
    o[key.substr(2)] = argv[++i];
  }
  spdlog::set_level(spdlog::level::warn);
  const double seconds = std::stod(o["seconds"]);
  if (group == "floors") {
    run_floor_latency(seconds);
    run_floor_throughput(ints(o["workers"]), seconds);
  } else if (group == "api") {
    run_api_latency(seconds);
    run_api_throughput(ints(o["workers"]), ints(o["callers"]), ints(o["depths"]), seconds);
  } else if (group == "http" && o.contains("port")) {
    external_http(o, seconds);
  } else if (group == "http") {
    run_mlbridge_http(ints(o["workers"]), ints(o["callers"]), seconds);
  } else if (group == "payload") {
    for (auto size : list_of(o["sizes"])) run_pipe_echo(static_cast<std::size_t>(size), seconds);
    std::vector<std::size_t> sizes;
    for (auto size : list_of(o["sizes"])) sizes.push_back(static_cast<std::size_t>(size));
    run_api_payload(sizes, seconds);
    run_http_payload(sizes, seconds);
  } else if (group == "coldstart" && o.contains("bridge")) {
    run_cold_start(o["bridge"]);
  } else if (group == "recovery") {
    run_recovery(std::stoi(o["workers"]), ints(o["callers"]).front());
  } else {
    return usage();
  }
  return 0;
}
