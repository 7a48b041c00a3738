#pragma once

/// @file
/// The session store in Redis (host.session_store: redis://...): one lease key and one data hash
/// per session (`mlbridge:{<sid>}:lease`, `mlbridge:{<sid>}:data`), every operation one Lua
/// script, so a lease check and the write it guards are atomic. See session_store.hpp for the
/// contract and docs/sessions.md, "Sessions across hosts".
///
/// Threading: as SessionStore (callbacks on the Redis client's loop thread). Ownership: shared;
/// the store owns its RedisClient and stops it in stop().

#include <chrono>
#include <memory>
#include <string>

#include "mlbridge/store/redis_client.hpp"
#include "mlbridge/store/session_store.hpp"

namespace mlbridge::store {

class RedisSessionStore : public SessionStore {
 public:
  /// Starts a client for `endpoint` (it connects in the background). `host_id` names this host
  /// on its leases; a lease lasts `lease` after the operation that set it.
  static std::shared_ptr<RedisSessionStore> create(RedisEndpoint endpoint, std::string host_id,
                                                   std::chrono::milliseconds lease,
                                                   RedisClientOptions options = {});
  /// The same on a client the caller made and started (tests).
  RedisSessionStore(std::shared_ptr<RedisClient> client, std::string endpoint_text,
                    std::string host_id, std::chrono::milliseconds lease);

  std::string describe() const override { return endpoint_; }
  bool connected() const override { return client_->connected(); }
  void claim(const std::string& id, std::function<void(Result<StoredSession>)> done) override;
  void save(const std::string& id, SessionSave save,
            std::function<void(Result<std::uint64_t>)> done) override;
  void end(const std::string& id, std::function<void(Result<bool>)> done) override;
  void extend(std::vector<std::string> ids,
              std::function<void(Result<std::vector<std::string>>)> done) override;
  void release(std::vector<std::string> ids, std::function<void()> done) override;
  void stop() override { client_->stop(); }

  const std::string& host_id() const { return host_id_; }

 private:
  std::shared_ptr<RedisClient> client_;
  std::string endpoint_;
  std::string host_id_;
  std::chrono::milliseconds lease_;
  // The Lua scripts (session_lua_scripts.hpp), run by SHA1.
  RedisScript claim_, save_, end_, extend_, release_;
};

}  // namespace mlbridge::store
