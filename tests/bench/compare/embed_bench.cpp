// The embedded-interpreter peer: the same no-op (a Python function returning its argument, an
// empty dict) called in process through pybind11, the least a C++ program can pay to run Python
// (no process boundary, no serialization, one GIL). Prints JSON lines like compare_bench:
// "latency" at concurrency 1, then "throughput" with 1, 2 and 8 calling threads, each taking the
// GIL for its call.
//
//   embed_bench [SECONDS] [CALLERS,...]

#include <pybind11/embed.h>

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <thread>
#include <vector>

#include "measure.hpp"

namespace py = pybind11;
using namespace mlbridge::bench;

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  std::vector<int> callers;
  std::stringstream list(argc > 2 ? argv[2] : "1,2,8");
  for (std::string item; std::getline(list, item, ',');) callers.push_back(std::stoi(item));

  py::scoped_interpreter interpreter;
  py::exec("def noop(args):\n    return args\n");
  py::object noop = py::globals()["noop"];
  auto call = [&] {
    py::object result = noop(py::dict());
    if (!py::isinstance<py::dict>(result)) throw std::runtime_error("noop returned no dict");
  };

  auto latency = summarize_latencies(time_calls(call, seconds));
  latency["system"] = "embedded interpreter (pybind11)";
  latency["codec"] = "none";
  emit("latency", latency);

  py::gil_scoped_release released;  // the caller threads take the GIL per call
  for (const int threads : callers) {
    std::atomic<bool> stop{false};
    std::atomic<long> completed{0};
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) {
      pool.emplace_back([&] {
        py::gil_scoped_acquire thread_state;  // kept for the thread's life: no per-call setup
        py::gil_scoped_release between_calls;
        while (!stop.load()) {
          py::gil_scoped_acquire gil;
          call();
          completed.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    const double rate = rate_of(completed, 0.2, seconds);
    stop.store(true);
    for (auto& t : pool) t.join();
    emit("throughput", {{"system", "embedded interpreter (pybind11)"},
                        {"codec", "none"},
                        {"workers", 1},
                        {"callers", threads},
                        {"calls_per_s", rate},
                        {"errors", 0}});
  }
  return 0;
}
