// POST /v1/bridges/{name}/commands/{command}: JSON in and out, Server-Sent Events with
// "stream": true, 202 with "reply": false. POST /v1/bridges/{name}/resources/{kind}/{verb}: the
// same through the bridge adapter's resource mapping.
//
// Every call starts through Host's callback forms on the I/O thread and answers through the
// exchange when it completes: no thread waits for a call. A client that goes away first cancels
// its call (Exchange::on_abandon). The body is read without a DOM where it can be
// (command_body.hpp): its args reach the worker through Host::execute_async_encoded, and the
// result comes back as JSON text, never a DOM, for plain and streamed calls alike.

#include <atomic>
#include <memory>

#include "command_body.hpp"
#include "http_errors.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/registry/registry.hpp"
#include "routes.hpp"
#include "session_header.hpp"
#include "streamed_call.hpp"

namespace mlbridge::server {
namespace {

using namespace std::chrono_literals;

// How long a streamed answer's head waits for the call's first event.
constexpr auto kFirstEventWait = 1s;

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

// Starts the call through the DOM-free path when the body was read without a DOM; `on_done` gets
// the result as JSON text either way.
CallTicket start_call(Host& host, const std::string& bridge, const std::string& command,
                      CommandBody body, std::function<void(Result<std::string>)> on_done) {
  if (body.encoded) {
    return host.execute_async_encoded(
        bridge, command, std::move(*body.encoded), std::move(body.options),
        [on_done = std::move(on_done)](Result<protocol::EncodedResult> result) {
          if (!result) return on_done(std::move(result).error());
          on_done(std::move(result->json_text));
        });
  }
  return host.execute_async(bridge, command, std::move(body.args), std::move(body.options),
                            [on_done = std::move(on_done)](Result<json> result) {
                              if (!result) return on_done(std::move(result).error());
                              on_done(protocol::to_plain_json(*result).dump(
                                  -1, ' ', false, json::error_handler_t::replace));
                            });
}

void answer_streamed(Host& host, const std::string& bridge, const std::string& command,
                     CommandBody body, const ExchangePtr& exchange) {
  auto stream = std::make_shared<StreamedCall>(exchange, capture_call_id(body.options));
  body.options.on_chunk = [stream](json chunk) { stream->chunk(chunk); };
  const CallTicket ticket =
      start_call(host, bridge, command, std::move(body),
                 [stream](Result<std::string> result) { stream->finish(result); });
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

// {"result": <result text>} (and "attempts" when the call was retried), without a DOM. The
// result text (up to tens of MB) becomes the body in place when it has the room: moved, its
// bytes shifted, no new allocation to fault in.
std::string result_body(std::string result_text, std::uint32_t attempts) {
  constexpr std::string_view kPrefix = "{\"result\":";
  std::string suffix;
  if (attempts > 1) suffix = ",\"attempts\":" + std::to_string(attempts);
  suffix += '}';
  const std::size_t size = kPrefix.size() + result_text.size() + suffix.size();
  if (result_text.capacity() < size) {  // one copy into a new string rather than two
    std::string out;
    out.reserve(size);
    out += kPrefix;
    out += result_text;
    out += suffix;
    return out;
  }
  result_text.insert(0, kPrefix);
  result_text += suffix;
  return result_text;
}

void answer_once(Host& host, const std::string& bridge, const std::string& command,
                 CommandBody body, const ExchangePtr& exchange) {
  // Written on the loop thread before a retry, read there when the call completes.
  auto attempts = std::make_shared<std::atomic<std::uint32_t>>(1);
  body.options.on_retry = [attempts](std::uint32_t next, const Error&) { *attempts = next; };
  auto call_id = capture_call_id(body.options);
  const CallTicket ticket =
      start_call(host, bridge, command, std::move(body),
                 [exchange, attempts, call_id](Result<std::string> result) {
                   HttpResponse response;
                   if (result) {
                     response.set_content(result_body(std::move(*result), attempts->load()),
                                          "application/json");
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
  auto session = session_of_request(request, body->options.session, "the body's \"session\"");
  if (!session) return reply_error(exchange, session.error());
  body->options.session = std::move(*session);
  if (body->stream)
    return answer_streamed(context.host, bridge, command, std::move(*body), exchange);
  if (!body->reply)
    return answer_detached(context.host, bridge, command, std::move(*body), exchange);
  answer_once(context.host, bridge, command, std::move(*body), exchange);
}

}  // namespace

void add_command_routes(Router& router, RouteContext& context) {
  router.add_async("POST", "/v1/bridges/{name}/commands/{command}",
                   [&context](HttpRequest&& request, const ExchangePtr& exchange) {
                     run_command(context, request, exchange, request.matches[1],
                                 request.matches[2]);
                   });
  router.add_async("POST", "/v1/bridges/{name}/resources/{kind}/{verb}",
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
