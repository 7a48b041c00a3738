// POST /v1/bridges/{name}/commands/{command}: JSON in and out, Server-Sent Events with
// "stream": true, 202 with "reply": false. POST /v1/bridges/{name}/resources/{kind}/{verb}: the
// same through the bridge adapter's resource mapping.

#include <atomic>
#include <memory>

#include "http_errors.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/registry/registry.hpp"
#include "routes.hpp"
#include "sse_channel.hpp"

namespace mlbridge::server {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kMaxTimeoutMs = 7LL * 24 * 3600 * 1000;
// How long a streamed answer's headers wait for the call's first event.
constexpr auto kFirstEventWait = 1s;

// The fields of a command body, checked.
struct CommandBody {
  json args = json::object();
  ExecuteOptions options;
  bool stream = false;
  bool reply = true;
};

Result<CommandBody> read_command_body(const httplib::Request& request) {
  auto body = parse_body(request);
  if (!body) return std::move(body).error();
  CommandBody out;
  for (const auto& [key, value] : body->items()) {
    if (key == "args") {
      if (!value.is_object() && !value.is_null()) {
        return fail(ErrorCategory::kInvalidArgument,
                    std::string("\"args\" must be a JSON object, got ") + value.type_name());
      }
      if (value.is_object()) {
        out.args = value;
        // Bytes travel in HTTP bodies as {"__bytes__": base64}, as answers carry them.
        if (auto bytes = protocol::from_plain_json(out.args); !bytes) {
          return fail(ErrorCategory::kInvalidArgument,
                      "\"args\" holds a \"__bytes__\" value that is not valid base64");
        }
      }
    } else if (key == "session") {
      if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
        return fail(ErrorCategory::kInvalidArgument, "\"session\" must be a non-empty string");
      }
      out.options.session = value.get<std::string>();
    } else if (key == "timeout_ms") {
      if (!value.is_number_integer() || value.get<std::int64_t>() <= 0 ||
          value.get<std::int64_t>() > kMaxTimeoutMs) {
        return fail(ErrorCategory::kInvalidArgument,
                    "\"timeout_ms\" must be an integer from 1 to " + std::to_string(kMaxTimeoutMs) +
                        " (milliseconds, at most a week)");
      }
      out.options.timeout = std::chrono::milliseconds(value.get<std::int64_t>());
    } else if (key == "stream" || key == "reply") {
      if (!value.is_boolean()) {
        return fail(ErrorCategory::kInvalidArgument,
                    "\"" + key + "\" must be true or false, got " + value.dump());
      }
      (key == "stream" ? out.stream : out.reply) = value.get<bool>();
    } else {
      return fail(ErrorCategory::kInvalidArgument,
                  "unknown field \"" + key +
                      "\" (a command body has args, session, timeout_ms, stream and reply)");
    }
  }
  if (out.stream && !out.reply) {
    return fail(ErrorCategory::kInvalidArgument, "\"stream\": true needs \"reply\": true");
  }
  return out;
}

void answer_streamed(Host& host, const std::string& bridge, const std::string& command,
                     CommandBody body, httplib::Response& response) {
  auto channel = std::make_shared<SseChannel>();
  body.options.on_chunk = [channel](json chunk) { channel->push_chunk(chunk); };
  const CallTicket ticket =
      host.execute_async(bridge, command, std::move(body.args), std::move(body.options),
                         [channel](Result<json> result) { channel->finish(result); });
  // The headers wait for the call's first event, a second at most: a call that fails before it
  // streams anything (an unknown bridge or command, overloaded, an open circuit, a bad argument)
  // is answered with its own status code and error body, as a call without "stream" would be.
  if (auto early = channel->error_before_first_chunk(kFirstEventWait)) {
    return send_error(response, *early);
  }
  response.set_header("Cache-Control", "no-cache");
  response.set_chunked_content_provider(
      "text/event-stream",
      [channel, ticket, &host](std::size_t, httplib::DataSink& sink) {
        auto batch = channel->next(1s);
        // A comment line while nothing happens: a client that went away shows up as a failed
        // write, and the call is cancelled instead of running on for nobody.
        const std::string text = batch.text.empty() ? ": waiting\n\n" : batch.text;
        if (!sink.write(text.data(), text.size())) {
          host.cancel(ticket);
          return false;
        }
        if (batch.finished) sink.done();
        return true;
      },
      [ticket, &host](bool success) {
        if (!success) host.cancel(ticket);
      });
}

void answer_detached(Host& host, const std::string& bridge, const std::string& command,
                     CommandBody body, httplib::Response& response) {
  auto call_id = host.cast(bridge, command, std::move(body.args), std::move(body.options));
  if (!call_id) return send_error(response, call_id.error());
  send_json(response, {{"call_id", *call_id}}, 202);
}

void run_command(RouteContext& context, const httplib::Request& request,
                 httplib::Response& response, const std::string& bridge,
                 const std::string& command) {
  auto body = read_command_body(request);
  if (!body) return send_error(response, body.error());
  if (body->stream)
    return answer_streamed(context.host, bridge, command, std::move(*body), response);
  if (!body->reply)
    return answer_detached(context.host, bridge, command, std::move(*body), response);
  // Written on the loop thread before a retry, read here after the call completed.
  auto attempts = std::make_shared<std::atomic<std::uint32_t>>(1);
  body->options.on_retry = [attempts](std::uint32_t next, const Error&) { *attempts = next; };
  auto result =
      context.host.execute(bridge, command, std::move(body->args), std::move(body->options));
  if (!result) return send_error(response, result.error());
  json out = {{"result", *result}};
  if (*attempts > 1) out["attempts"] = attempts->load();
  send_json(response, out);
}

}  // namespace

void add_command_routes(httplib::Server& server, RouteContext& context) {
  server.Post(R"(/v1/bridges/([^/]+)/commands/([^/]+))",
              [&context](const httplib::Request& request, httplib::Response& response) {
                run_command(context, request, response, request.matches[1], request.matches[2]);
              });
  server.Post(R"(/v1/bridges/([^/]+)/resources/([^/]+)/([^/]+))",
              [&context](const httplib::Request& request, httplib::Response& response) {
                const std::string bridge = request.matches[1];
                auto target = context.host.registry().get(bridge);
                if (!target) return send_error(response, target.error());
                auto command =
                    (*target)->resource_command(request.matches[3].str(), request.matches[2].str());
                if (!command) return send_error(response, command.error());
                run_command(context, request, response, bridge, *command);
              });
}

}  // namespace mlbridge::server
