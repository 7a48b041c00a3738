#include "mlbridge/store/redis_session_store.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>

#include "session_lua_scripts.hpp"

namespace mlbridge::store {
namespace {

constexpr std::string_view kSessionJournalField = "journal:";

std::string session_lease_key(const std::string& id) { return "mlbridge:{" + id + "}:lease"; }
std::string session_data_key(const std::string& id) { return "mlbridge:{" + id + "}:data"; }

std::vector<std::string> session_keys(const std::string& id) {
  return {session_lease_key(id), session_data_key(id)};
}

// A reply that is not what the script answers. An error reply is Redis refusing to serve now
// (LOADING after a restart, READONLY on a replica, OOM): unavailable, retryable. Anything else
// is a bug or a foreign key under our name.
Error session_store_unexpected(const std::string& store, const std::string& what,
                               const RedisReply& reply) {
  if (reply.type == RedisReply::Type::kError) {
    return Error::make(ErrorCategory::kBridgeUnavailable,
                       store + " refused the session store's " + what + " (" + reply.text +
                           "); session calls fail until it serves again");
  }
  return Error::make(ErrorCategory::kInternal,
                     store + " gave an unexpected answer to the session store's " + what);
}

// {0, owner, pttl}: another host holds the session.
Error session_moved_error(const std::string& id, const RedisReply& reply) {
  const std::string owner = reply.elements.size() > 1 ? reply.elements[1].text : "?";
  const long long left = reply.elements.size() > 2 ? std::max(0LL, reply.elements[2].integer) : 0LL;
  Error e = Error::make(ErrorCategory::kSessionMoved,
                        "session '" + id + "' is held by host '" + owner + "' (its lease has " +
                            std::to_string(left) +
                            " ms left); this host did not run the call: send it to that host, "
                            "or retry once the lease has lapsed");
  // Exact, so that a host waiting for the lease claims again as it lapses (HTTP rounds it up to
  // whole seconds, at least 1).
  e.retry_after = std::chrono::milliseconds(std::max(1LL, left));
  return e;
}

bool is_script_status_reply(const RedisReply& reply) {
  return reply.type == RedisReply::Type::kArray && !reply.elements.empty() &&
         reply.elements[0].type == RedisReply::Type::kInteger;
}

Result<StoredSession> read_session_hash(const std::string& store, const std::string& id,
                                        const RedisReply& hash) {
  StoredSession out;
  if (hash.type != RedisReply::Type::kArray) return session_store_unexpected(store, "claim", hash);
  try {
    for (std::size_t i = 0; i + 1 < hash.elements.size(); i += 2) {
      const std::string& field = hash.elements[i].text;
      const std::string& value = hash.elements[i + 1].text;
      out.exists = true;
      if (field == "version") {
        out.version = std::stoull(value);
      } else if (field == "state") {
        out.state = json::parse(value);
      } else if (field.starts_with(kSessionJournalField)) {
        out.journals[field.substr(kSessionJournalField.size())] = json::parse(value);
      }
    }
  } catch (const std::exception& bad) {
    return Error::make(ErrorCategory::kInternal, store + " holds a damaged record of session '" +
                                                     id + "' (" + bad.what() +
                                                     "); end the session to start it again");
  }
  return out;
}

}  // namespace

std::shared_ptr<RedisSessionStore> RedisSessionStore::create(RedisEndpoint endpoint,
                                                             std::string host_id,
                                                             std::chrono::milliseconds lease,
                                                             RedisClientOptions options) {
  std::string text = endpoint.display();
  auto client = RedisClient::create(std::move(endpoint), options);
  client->start();
  return std::make_shared<RedisSessionStore>(std::move(client), std::move(text), std::move(host_id),
                                             lease);
}

RedisSessionStore::RedisSessionStore(std::shared_ptr<RedisClient> client, std::string endpoint_text,
                                     std::string host_id, std::chrono::milliseconds lease)
    : client_(std::move(client)),
      endpoint_(std::move(endpoint_text)),
      host_id_(std::move(host_id)),
      lease_(lease),
      claim_(client_->script(lua::kClaim)),
      save_(client_->script(lua::kSave)),
      end_(client_->script(lua::kEnd)),
      extend_(client_->script(lua::kExtend)),
      release_(client_->script(lua::kRelease)) {}

void RedisSessionStore::claim(const std::string& id,
                              std::function<void(Result<StoredSession>)> done) {
  claim_.run(session_keys(id), {host_id_, std::to_string(lease_.count())},
             [store = endpoint_, id, done = std::move(done)](Result<RedisReply> reply) {
               if (!reply) return done(std::move(reply).error());
               if (!is_script_status_reply(*reply))
                 return done(session_store_unexpected(store, "claim", *reply));
               if (reply->elements[0].integer != 1) return done(session_moved_error(id, *reply));
               if (reply->elements.size() < 2)
                 return done(session_store_unexpected(store, "claim", *reply));
               done(read_session_hash(store, id, reply->elements[1]));
             });
}

void RedisSessionStore::save(const std::string& id, SessionSave save,
                             std::function<void(Result<std::uint64_t>)> done) {
  std::vector<std::string> argv{host_id_, std::to_string(lease_.count()),
                                std::to_string(save.expected_version)};
  if (save.state) {
    argv.push_back("state");
    argv.push_back(save.state->dump(-1, ' ', false, json::error_handler_t::replace));
  }
  for (const auto& [bridge, journal] : save.journals) {
    argv.push_back(std::string(kSessionJournalField) + bridge);
    argv.push_back(journal.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  save_.run(session_keys(id), std::move(argv),
            [store = endpoint_, id, expected = save.expected_version,
             done = std::move(done)](Result<RedisReply> reply) {
              if (!reply) return done(std::move(reply).error());
              if (!is_script_status_reply(*reply) || reply->elements.size() < 2) {
                return done(session_store_unexpected(store, "save", *reply));
              }
              const long long status = reply->elements[0].integer;
              if (status == 1) return done(static_cast<std::uint64_t>(reply->elements[1].integer));
              if (status == 0) return done(session_moved_error(id, *reply));
              Error e = Error::make(
                  ErrorCategory::kSessionMoved,
                  "session '" + id + "' changed in " + store +
                      " while this host held a copy (version " + reply->elements[1].text +
                      ", this host had " + std::to_string(expected) +
                      "): another host served it meanwhile; this host dropped its copy, "
                      "retry the call");
              e.retry_after = std::chrono::milliseconds(1000);
              done(std::move(e));
            });
}

void RedisSessionStore::end(const std::string& id, std::function<void(Result<bool>)> done) {
  end_.run(session_keys(id), {host_id_},
           [store = endpoint_, id, done = std::move(done)](Result<RedisReply> reply) {
             if (!reply) return done(std::move(reply).error());
             if (!is_script_status_reply(*reply) || reply->elements.size() < 2) {
               return done(session_store_unexpected(store, "end", *reply));
             }
             if (reply->elements[0].integer != 1) return done(session_moved_error(id, *reply));
             done(reply->elements[1].integer > 0);
           });
}

namespace {

// Collects the answers of one batch of per-session commands, then reports once.
template <typename Outcome>
struct LeaseBatch {
  std::mutex mutex;
  std::size_t left = 0;
  Outcome outcome;
};

}  // namespace

void RedisSessionStore::extend(std::vector<std::string> ids,
                               std::function<void(Result<std::vector<std::string>>)> done) {
  if (ids.empty()) return done(std::vector<std::string>{});
  struct Outcome {
    std::vector<std::string> kept;
    std::optional<Error> failure;
  };
  auto batch = std::make_shared<LeaseBatch<Outcome>>();
  batch->left = ids.size();
  auto shared_done =
      std::make_shared<std::function<void(Result<std::vector<std::string>>)>>(std::move(done));
  // hiredis pipelines the commands: one batch on the wire, answers in order.
  for (const auto& id : ids) {
    extend_.run(session_keys(id), {host_id_, std::to_string(lease_.count())},
                [batch, shared_done, id](Result<RedisReply> reply) {
                  std::unique_lock lock(batch->mutex);
                  if (!reply) {
                    if (!batch->outcome.failure) batch->outcome.failure = reply.error();
                  } else if (reply->type == RedisReply::Type::kInteger && reply->integer == 1) {
                    batch->outcome.kept.push_back(id);
                  }
                  if (--batch->left > 0) return;
                  Outcome outcome = std::move(batch->outcome);
                  lock.unlock();
                  if (outcome.failure) return (*shared_done)(std::move(*outcome.failure));
                  (*shared_done)(std::move(outcome.kept));
                });
  }
}

void RedisSessionStore::release(std::vector<std::string> ids, std::function<void()> done) {
  if (ids.empty()) return done();
  auto left = std::make_shared<std::atomic<std::size_t>>(ids.size());
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  for (const auto& id : ids) {
    release_.run(session_keys(id), {host_id_}, [left, shared_done](Result<RedisReply>) {
      if (left->fetch_sub(1) == 1) (*shared_done)();
    });
  }
}

}  // namespace mlbridge::store
