// POST /v1/bridges/{name}/commands/{command}: JSON in and out, Server-Sent Events with
// "stream": true, 202 with "reply": false. POST /v1/bridges/{name}/resources/{kind}/{verb}: the
// same through the bridge adapter's resource mapping.
//
// Every call starts through Host::execute_async's callback form on the I/O thread and answers
// through the exchange when it completes: no thread waits for a call. A client that goes away
// first cancels its call (Exchange::on_abandon).

#include <atomic>
#include <memory>

#include "http_errors.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/registry/registry.hpp"
#include "routes.hpp"
#include "streamed_call.hpp"

namespace mlbridge::server {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kMaxTimeoutMs = 7LL * 24 * 3600 * 1000;
// How long a streamed answer's head waits for the call's first event.
constexpr auto kFirstEventWait = 1s;

// The fields of a command body, checked.
struct CommandBody {
  json args = json::object();
  ExecuteOptions options;
  bool stream = false;
  bool reply = true;
};

// The request body's text is read here and nowhere else, so that a body can later be handed on
// without building a DOM.
Result<CommandBody> read_command_body(std::string_view text) {
  auto body = parse_json_object(text);
  if (!body) return std::move(body).error();
  CommandBody out;
  for (auto& [key, value] : body->items()) {
    if (key == "args") {
      if (!value.is_object() && !value.is_null()) {
        return fail(ErrorCategory::kInvalidArgument,
                    std::string("\"args\" must be a JSON object, got ") + value.type_name());
      }
      if (value.is_object()) {
        out.args = std::move(value);
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

void reply_error(const ExchangePtr& exchange, const Error& error) {
  HttpResponse response;
  send_error(response, error);
  exchange->reply(std::move(response));
}

// Where a call's id lands before the call can answer (ExecuteOptions::on_call_id runs first).
std::shared_ptr<std::string> capture_call_id(ExecuteOptions& options) {
  auto call_id = std::make_shared<std::string>();
  options.on_call_id = [call_id](const std::string& id) { *call_id = id; };
  return call_id;
}

void add_call_id(HttpResponse& response, const std::string& call_id) {
  for (auto& header : call_id_headers(call_id)) response.headers.push_back(std::move(header));
}

void answer_streamed(Host& host, const std::string& bridge, const std::string& command,
                     CommandBody body, const ExchangePtr& exchange) {
  auto stream = std::make_shared<StreamedCall>(exchange, capture_call_id(body.options));
  body.options.on_chunk = [stream](json chunk) { stream->chunk(chunk); };
  const CallTicket ticket =
      host.execute_async(bridge, command, std::move(body.args), std::move(body.options),
                         [stream](Result<json> result) { stream->finish(result); });
  exchange->after(kFirstEventWait, [stream] { stream->tick(); });
  exchange->on_abandon([&host, ticket] { host.cancel(ticket); });
}

void answer_detached(Host& host, const std::string& bridge, const std::string& command,
                     CommandBody body, const ExchangePtr& exchange) {
  auto call_id = host.cast(bridge, command, std::move(body.args), std::move(body.options));
  if (!call_id) return reply_error(exchange, call_id.error());
  HttpResponse response;
  send_json(response, {{"call_id", *call_id}}, 202);
  add_call_id(response, *call_id);
  exchange->reply(std::move(response));
}

void answer_once(Host& host, const std::string& bridge, const std::string& command,
                 CommandBody body, const ExchangePtr& exchange) {
  // Written on the loop thread before a retry, read there when the call completes.
  auto attempts = std::make_shared<std::atomic<std::uint32_t>>(1);
  body.options.on_retry = [attempts](std::uint32_t next, const Error&) { *attempts = next; };
  auto call_id = capture_call_id(body.options);
  const CallTicket ticket =
      host.execute_async(bridge, command, std::move(body.args), std::move(body.options),
                         [exchange, attempts, call_id](Result<json> result) {
                           HttpResponse response;
                           if (result) {
                             json out = {{"result", std::move(*result)}};
                             if (*attempts > 1) out["attempts"] = attempts->load();
                             send_json(response, out);
                           } else {
                             send_error(response, result.error());
                           }
                           add_call_id(response, *call_id);
                           exchange->reply(std::move(response));
                         });
  exchange->on_abandon([&host, ticket] { host.cancel(ticket); });
}

void run_command(RouteContext& context, const HttpRequest& request, const ExchangePtr& exchange,
                 const std::string& bridge, const std::string& command) {
  auto body = read_command_body(request.body);
  if (!body) return reply_error(exchange, body.error());
  if (body->stream)
    return answer_streamed(context.host, bridge, command, std::move(*body), exchange);
  if (!body->reply)
    return answer_detached(context.host, bridge, command, std::move(*body), exchange);
  answer_once(context.host, bridge, command, std::move(*body), exchange);
}

}  // namespace

void add_command_routes(Router& router, RouteContext& context) {
  router.add_async("POST", R"(/v1/bridges/([^/]+)/commands/([^/]+))",
                   [&context](HttpRequest&& request, const ExchangePtr& exchange) {
                     run_command(context, request, exchange, request.matches[1],
                                 request.matches[2]);
                   });
  router.add_async("POST", R"(/v1/bridges/([^/]+)/resources/([^/]+)/([^/]+))",
                   [&context](HttpRequest&& request, const ExchangePtr& exchange) {
                     const std::string bridge = request.matches[1];
                     auto target = context.host.registry().get(bridge);
                     if (!target) return reply_error(exchange, target.error());
                     auto command =
                         (*target)->resource_command(request.matches[3], request.matches[2]);
                     if (!command) return reply_error(exchange, command.error());
                     run_command(context, request, exchange, bridge, *command);
                   });
}

}  // namespace mlbridge::server
