#include "call_command.hpp"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <vector>

#include "mlbridge/config/python_locator.hpp"
#include "mlbridge/host.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/runtime/event_loop.hpp"
#include "mlbridge/session/session_id.hpp"
#include "mlbridge/worker/worker_client.hpp"
#include "remote_call.hpp"

namespace mlbridge::cli {
namespace {

struct CallArgs {
  std::vector<std::string> names;  // [BRIDGE] COMMAND
  std::string config = "config/mlbridge.yaml";
  std::string script;
  std::string args_json = "{}";
  std::string session;
  int timeout_ms = 0;
  std::string codec = "json";
  std::string python;
  std::string url;
  std::string token;
};

void print_chunk(const json& chunk) {
  std::cout << protocol::to_plain_json(chunk).dump() << "\n" << std::flush;
}

// One block on stderr: the error, then its Python traceback when it has one.
void print_error(const Error& error) {
  std::cerr << "error: " << error.describe() << "\n";
  if (!error.traceback.empty()) {
    std::cerr << error.traceback;
    if (error.traceback.back() != '\n') std::cerr << "\n";
  }
}

int print_result(const Result<json>& result) {
  if (!result) {
    print_error(result.error());
    return 1;
  }
  std::cout << protocol::to_plain_json(*result).dump(2) << "\n";
  return 0;
}

// --script mode: one worker of a script, no configuration, no plugin.
int run_script(const CallArgs& args, const std::string& command, json call_args) {
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
    print_error(client.error());
    return 1;
  }
  worker::CallOptions options;
  options.timeout = std::chrono::milliseconds(args.timeout_ms > 0 ? args.timeout_ms : 30000);
  if (!args.session.empty()) options.session_id = args.session;
  options.on_chunk = print_chunk;
  return print_result((*client)->call(command, std::move(call_args), options));
}

// Deployment mode: the bridge as configured (plugin, pool, environment check, error rules).
int run_bridge(const CallArgs& args, const std::string& bridge, const std::string& command,
               json call_args) {
  auto host = Host::from_file(args.config);
  if (!host) {
    std::cerr << "error: " << host.error().describe() << "\n";
    return 2;
  }
  const std::string name = bridge.empty() ? (*host)->config().default_bridge : bridge;
  if (name.empty()) {
    std::cerr << "error: invalid_argument: name a bridge (mlbridge call BRIDGE COMMAND); "
              << args.config << " has no host.default_bridge\n";
    return 2;
  }
  // Named, the bridge must start: its start failure (a script that fails at import, say) is
  // this command's error, reported once.
  if (auto started = (*host)->start({name}); !started) {
    print_error(started.error());
    return 1;
  }
  ExecuteOptions options;
  if (!args.session.empty()) options.session = args.session;
  if (args.timeout_ms > 0) options.timeout = std::chrono::milliseconds(args.timeout_ms);
  options.on_chunk = print_chunk;
  const int status = print_result((*host)->execute(name, command, std::move(call_args), options));
  (*host)->shutdown();
  return status;
}

int run_call(const CallArgs& args) {
  auto parsed = json::parse(args.args_json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    std::cerr << "error: invalid_argument: --args must be a JSON object, got: " << args.args_json
              << "\n";
    return 2;
  }
  if (!args.url.empty()) {
    if (args.names.size() != 2) {
      std::cerr << "error: invalid_argument: with --url, name the bridge and the command: "
                   "mlbridge call BRIDGE COMMAND --url URL\n";
      return 2;
    }
    const char* env_token = std::getenv("MLBRIDGE_TOKEN");
    return run_remote_call({.url = args.url,
                            .token = !args.token.empty()    ? args.token
                                     : env_token != nullptr ? env_token
                                                            : "",
                            .bridge = args.names[0],
                            .command = args.names[1],
                            .args = std::move(parsed),
                            .session = args.session,
                            .timeout_ms = args.timeout_ms});
  }
  if (!args.script.empty()) {
    if (args.names.size() != 1) {
      std::cerr << "error: invalid_argument: with --script, give only the command: "
                   "mlbridge call --script FILE COMMAND\n";
      return 2;
    }
    return run_script(args, args.names[0], std::move(parsed));
  }
  const bool named = args.names.size() == 2;
  return run_bridge(args, named ? args.names[0] : "", args.names.back(), std::move(parsed));
}

}  // namespace

void add_call_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CallArgs>();
  auto* call = app.add_subcommand(
      "call",
      "Run one command on a bridge and print the result as JSON (stream chunks first, one per "
      "line). Errors go to stderr as 'error: <category>: <message>' with exit code 1.");
  call->add_option("names", args->names,
                   "BRIDGE COMMAND (the bridge from --config; omitted: host.default_bridge), or "
                   "only COMMAND with --script")
      ->required()
      ->expected(1, 2);
  call->add_option("--config", args->config, "Deployment YAML")->capture_default_str();
  call->add_option("--script", args->script,
                   "Run this BaseBridge script in one worker instead of a configured bridge")
      ->check(CLI::ExistingFile);
  call->add_option("--args", args->args_json, "Arguments as a JSON object");
  call->add_option("--session", args->session, "Session id (1 to 128 of A-Z a-z 0-9 . _ : -)")
      ->check([](const std::string& id) {
        auto valid = session::check_session_id(id);
        return valid ? std::string() : valid.error().message;
      });
  call->add_option("--timeout-ms,--timeout", args->timeout_ms,
                   "Deadline in milliseconds (default: the bridge's timeouts.request_ms)")
      ->check(CLI::PositiveNumber);
  call->add_option("--url", args->url,
                   "Send the command to a running `mlbridge serve` at this URL (e.g. "
                   "http://127.0.0.1:8787), so that calls share its workers and sessions");
  call->add_option("--token", args->token, "Bearer token for --url (default: $MLBRIDGE_TOKEN)");
  call->add_option("--codec", args->codec, "Wire codec with --script: json or msgpack");
  call->add_option("--python", args->python,
                   "Python interpreter with --script (default: .venv/bin/python)");
  call->callback([args, &exit_code] { exit_code = run_call(*args); });
}

}  // namespace mlbridge::cli
