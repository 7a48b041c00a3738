#include "mlbridge/worker/worker_client.hpp"

namespace mlbridge::worker {

WorkerClient::WorkerClient(runtime::EventLoop& loop, WorkerPtr worker)
    : loop_(loop), worker_(std::move(worker)) {}

Result<std::unique_ptr<WorkerClient>> WorkerClient::start(runtime::EventLoop& loop,
                                                          WorkerConfig config,
                                                          process::SpawnerPtr spawner) {
  auto started = std::make_shared<std::promise<Result<protocol::Hello>>>();
  auto worker = loop.run_sync([&] {
    auto created = Worker::create(loop.context(), std::move(config), std::move(spawner));
    created->start(
        [started](Result<protocol::Hello> hello) { started->set_value(std::move(hello)); });
    return created;
  });
  auto hello = started->get_future().get();
  std::unique_ptr<WorkerClient> client(new WorkerClient(loop, worker));
  client->pid_ = loop.run_sync([&] { return worker->pid(); });
  if (!hello) return std::move(hello).error();  // the client's destructor reaps what is left
  client->hello_ = std::move(*hello);
  return client;
}

WorkerClient::~WorkerClient() { stop(); }

void WorkerClient::stop() {
  if (!worker_) return;
  std::promise<void> stopped;
  loop_.post([&] { worker_->stop([&stopped] { stopped.set_value(); }); });
  stopped.get_future().wait();
  loop_.run_sync([this] { worker_.reset(); });
}

WorkerState WorkerClient::state() const {
  return loop_.run_sync([this] { return worker_ ? worker_->state() : WorkerState::kExited; });
}

void WorkerClient::call_async(std::string command, json args, CallOptions options,
                              Worker::CallHandler on_done) {
  loop_.post([this, command = std::move(command), args = std::move(args),
              options = std::move(options), on_done = std::move(on_done)]() mutable {
    worker_->call(std::move(command), std::move(args), std::move(options), std::move(on_done));
  });
}

std::future<Result<json>> WorkerClient::call_async(std::string command, json args,
                                                   CallOptions options) {
  auto promise = std::make_shared<std::promise<Result<json>>>();
  auto future = promise->get_future();
  call_async(std::move(command), std::move(args), std::move(options),
             [promise](Result<json> result) { promise->set_value(std::move(result)); });
  return future;
}

Result<json> WorkerClient::call(std::string command, json args, CallOptions options) {
  return call_async(std::move(command), std::move(args), std::move(options)).get();
}

}  // namespace mlbridge::worker
