#include "mlbridge/protocol/message.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string_view>

namespace mlbridge::protocol {
namespace {

Unexpected bad_message(std::string_view kind, std::string_view problem) {
  return fail(ErrorCategory::kProtocolError,
              std::string(kind) + " message " + std::string(problem));
}

std::string string_field(const json& message, const char* key) {
  auto it = message.find(key);
  if (it == message.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::optional<std::uint64_t> id_field(const json& message) {
  auto it = message.find("id");
  if (it == message.end() || !it->is_number_integer()) return std::nullopt;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  const auto value = it->get<std::int64_t>();
  if (value < 0) return std::nullopt;
  return static_cast<std::uint64_t>(value);
}

Result<WorkerMessage> parse_hello(const json& message) {
  Hello hello;
  auto protocol = message.find("protocol");
  if (protocol == message.end() || !protocol->is_number_integer()) {
    return bad_message("hello", "has no integer 'protocol'");
  }
  hello.protocol = protocol->get<int>();
  hello.worker_id = string_field(message, "worker_id");
  if (auto pid = message.find("pid"); pid != message.end() && pid->is_number_integer()) {
    hello.pid = pid->get<std::int64_t>();
  }
  hello.framework = string_field(message, "framework");
  hello.framework_version = string_field(message, "framework_version");
  hello.bridge_version = string_field(message, "bridge_version");
  if (auto commands = message.find("commands"); commands != message.end()) {
    if (!commands->is_array()) return bad_message("hello", "has a 'commands' that is not a list");
    for (const auto& name : *commands) {
      if (name.is_string()) hello.commands.push_back(name.get<std::string>());
    }
  }
  if (auto shared = message.find("shared_blobs"); shared != message.end() && shared->is_boolean()) {
    hello.shared_blobs = shared->get<bool>();
  }
  if (auto pipelining = message.find("pipelining");
      pipelining != message.end() && pipelining->is_boolean()) {
    hello.pipelining = pipelining->get<bool>();
  }
  if (auto concurrency = message.find("concurrency");
      concurrency != message.end() && concurrency->is_number_integer()) {
    // Read at full width: a claim of 10**12 must not wrap into a small or negative int. An
    // unsigned value beyond int64 saturates; the worker clamps and warns.
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    hello.concurrency =
        concurrency->is_number_unsigned()
            ? static_cast<std::int64_t>(std::min(concurrency->get<std::uint64_t>(), kMax))
            : concurrency->get<std::int64_t>();
  }
  return WorkerMessage{std::move(hello)};
}

Result<WorkerMessage> parse_response(json& message) {
  Response response;
  response.id = id_field(message);
  auto success = message.find("success");
  if (success == message.end() || !success->is_boolean()) {
    return bad_message("response", "has no boolean 'success'");
  }
  response.success = success->get<bool>();
  if (response.success) {
    if (auto result = message.find("result"); result != message.end()) {
      response.result = std::move(*result);
    }
    if (auto state = message.find("session_state"); state != message.end()) {
      response.session_state = std::move(*state);
    }
    if (auto journal = message.find("session_journal"); journal != message.end()) {
      response.session_journal = std::move(*journal);
    }
    return WorkerMessage{std::move(response)};
  }
  auto error = message.find("error");
  if (error == message.end()) {
    response.error = {"Error", "worker reported a failure without details", "", ""};
  } else if (error->is_string()) {
    response.error = {"Error", error->get<std::string>(), "", ""};  // seed-style error
  } else if (error->is_object()) {
    response.error.type = string_field(*error, "type");
    if (response.error.type.empty()) response.error.type = "Error";
    response.error.message = string_field(*error, "message");
    response.error.traceback = string_field(*error, "traceback");
    response.error.category = string_field(*error, "category");
  } else {
    return bad_message("response", "has an 'error' that is neither a map nor a string");
  }
  return WorkerMessage{std::move(response)};
}

Result<WorkerMessage> parse_chunk(json& message) {
  auto id = id_field(message);
  if (!id) return bad_message("chunk", "has no unsigned integer 'id'");
  Chunk chunk;
  chunk.id = *id;
  if (auto seq = message.find("seq"); seq != message.end() && seq->is_number_integer()) {
    chunk.seq = seq->get<std::uint64_t>();
  }
  if (auto data = message.find("data"); data != message.end()) chunk.data = std::move(*data);
  return WorkerMessage{std::move(chunk)};
}

}  // namespace

Result<WorkerMessage> parse_worker_message(json message) {
  auto type = message.find("type");
  if (type == message.end()) return parse_response(message);  // seed compatibility
  if (!type->is_string()) return bad_message("worker", "has a 'type' that is not a string");
  const auto& name = type->get_ref<const std::string&>();
  if (name == "response") return parse_response(message);
  if (name == "chunk") return parse_chunk(message);
  if (name == "hello") return parse_hello(message);
  if (name == "log") {
    return WorkerMessage{Log{string_field(message, "level"), string_field(message, "message")}};
  }
  return bad_message("worker", "has unknown type '" + name + "'");
}

json to_json(Request request) {
  json message = json::object();
  message["type"] = "request";
  message["id"] = request.id;
  message["command"] = std::move(request.command);
  message["args"] = std::move(request.args);
  message["session_id"] = request.session_id ? json(std::move(*request.session_id)) : json(nullptr);
  if (request.deadline_ms) message["deadline_ms"] = *request.deadline_ms;
  if (!request.session_state.is_null()) message["session_state"] = std::move(request.session_state);
  return message;
}

json to_json(const Cancel& cancel) { return json{{"type", "cancel"}, {"id", cancel.id}}; }

}  // namespace mlbridge::protocol
