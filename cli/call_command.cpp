#include "call_command.hpp"

#include <iostream>
#include <memory>

#include "mlbridge/config/python_locator.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/runtime/event_loop.hpp"
#include "mlbridge/worker/worker_client.hpp"

namespace mlbridge::cli {
namespace {

struct CallArgs {
  std::string script;
  std::string command;
  std::string args_json = "{}";
  std::string session;
  int timeout_ms = 30000;
  std::string codec = "json";
  std::string python;
};

int run_call(const CallArgs& args) {
  auto parsed = protocol::json::parse(args.args_json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    std::cerr << "error: invalid_argument: --args must be a JSON object, got: " << args.args_json
              << "\n";
    return 2;
  }
  auto codec = protocol::parse_codec(args.codec);
  if (!codec) {
    std::cerr << "error: invalid_argument: --codec must be json or msgpack\n";
    return 2;
  }
  worker::WorkerConfig config;
  config.bridge = "cli";
  config.worker_id = "cli-1";
  config.python = args.python.empty() ? config::default_python(MLBRIDGE_SOURCE_DIR) : args.python;
  config.script = args.script;
  config.codec = *codec;
  config.env = worker::minimal_environment();

  runtime::EventLoop loop;
  auto client = worker::WorkerClient::start(loop, config);
  if (!client) {
    std::cerr << "error: " << client.error().describe() << "\n";
    return 1;
  }
  worker::CallOptions options;
  options.timeout = std::chrono::milliseconds(args.timeout_ms);
  if (!args.session.empty()) options.session_id = args.session;
  options.on_chunk = [](protocol::json chunk) {
    std::cout << protocol::to_plain_json(chunk).dump() << "\n" << std::flush;
  };
  auto result = (*client)->call(args.command, std::move(parsed), options);
  if (!result) {
    std::cerr << "error: " << result.error().describe() << "\n";
    if (!result.error().traceback.empty()) std::cerr << result.error().traceback;
    return 1;
  }
  std::cout << protocol::to_plain_json(*result).dump(2) << "\n";
  return 0;
}

}  // namespace

void add_call_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CallArgs>();
  auto* call =
      app.add_subcommand("call", "Run one command on a bridge worker and print the result");
  call->add_option("--script", args->script, "BaseBridge script to run")
      ->required()
      ->check(CLI::ExistingFile);
  call->add_option("command", args->command, "Command name, e.g. echo or common:ping")->required();
  call->add_option("--args", args->args_json, "Arguments as a JSON object");
  call->add_option("--session", args->session, "Session id");
  call->add_option("--timeout", args->timeout_ms, "Deadline in milliseconds")
      ->check(CLI::PositiveNumber);
  call->add_option("--codec", args->codec, "Wire codec: json or msgpack");
  call->add_option("--python", args->python, "Python interpreter (default: .venv/bin/python)");
  call->callback([args, &exit_code] { exit_code = run_call(*args); });
}

}  // namespace mlbridge::cli
