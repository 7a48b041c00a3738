#include "mlbridge/session/session_state.hpp"

#include "mlbridge/store/session_store.hpp"

namespace mlbridge::session {

Result<StateChange> StateChange::from_wire(const json& wire) {
  auto bad = [](const std::string& what) {
    return fail(ErrorCategory::kProtocolError,
                "a response's session_state " + what +
                    "; expected {\"base_version\": int, \"set\": {...}, \"unset\": [...]}");
  };
  if (!wire.is_object()) return bad("is not a map");
  StateChange change;
  if (auto base = wire.find("base_version"); base != wire.end()) {
    if (!base->is_number_unsigned()) return bad("has a base_version that is not an unsigned int");
    change.base_version = base->get<std::uint64_t>();
  }
  if (auto set = wire.find("set"); set != wire.end() && !set->is_null()) {
    if (!set->is_object()) return bad("has a 'set' that is not a map");
    change.set = *set;
  }
  if (auto unset = wire.find("unset"); unset != wire.end() && !unset->is_null()) {
    if (!unset->is_array()) return bad("has an 'unset' that is not a list");
    for (const auto& key : *unset) {
      if (!key.is_string()) return bad("has an 'unset' entry that is not a string");
      change.unset.push_back(key.get<std::string>());
    }
  }
  return change;
}

StateSnapshot StateStore::get(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = states_.find(id);
  return it == states_.end() ? StateSnapshot{} : it->second.snapshot;
}

std::uint64_t StateStore::version(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = states_.find(id);
  return it == states_.end() ? 0 : it->second.snapshot.version;
}

std::size_t StateStore::total_bytes() const {
  std::lock_guard lock(mutex_);
  return total_bytes_;
}

Result<std::uint64_t> StateStore::store(const std::string& id, json data) {
  const std::size_t bytes = data.dump(-1, ' ', false, json::error_handler_t::replace).size();
  if (bytes > max_bytes_) {
    return fail(ErrorCategory::kResourceExhausted,
                "the state of session '" + id + "' would be " + std::to_string(bytes) +
                    " bytes, above the bound of " + std::to_string(max_bytes_) +
                    " bytes (host.session_state_max_bytes); keep large data elsewhere and store "
                    "a reference, or raise the bound");
  }
  auto it = states_.find(id);
  const std::size_t replaced = it == states_.end() ? 0 : it->second.bytes;
  if (bytes > replaced && total_bytes_ - replaced + bytes > total_max_bytes_) {
    return fail(ErrorCategory::kOverloaded,
                "the state of session '" + id + "' (" + std::to_string(bytes) +
                    " bytes) does not fit: the states of all sessions would take " +
                    std::to_string(total_bytes_ - replaced + bytes) +
                    " bytes, above the bound of " + std::to_string(total_max_bytes_) +
                    " bytes (host.session_state_total_max_bytes); end sessions that are no longer "
                    "used, keep large data elsewhere, or raise the bound");
  }
  if (it == states_.end()) it = states_.emplace(id, Stored{}).first;
  total_bytes_ = total_bytes_ - replaced + bytes;
  it->second.bytes = bytes;
  it->second.snapshot.version = next_version_++;
  it->second.snapshot.data = std::move(data);
  return it->second.snapshot.version;
}

Result<std::uint64_t> StateStore::set(const std::string& id, json data) {
  if (!data.is_object()) {
    return fail(
        ErrorCategory::kInvalidArgument,
        "a session state must be a JSON object (a map), not " + std::string(data.type_name()));
  }
  std::lock_guard lock(mutex_);
  return store(id, std::move(data));
}

Result<std::uint64_t> StateStore::update(const std::string& id, const json& patch) {
  if (!patch.is_object()) {
    return fail(ErrorCategory::kInvalidArgument,
                "a session state update must be a JSON object (a merge patch), not " +
                    std::string(patch.type_name()));
  }
  std::lock_guard lock(mutex_);
  auto it = states_.find(id);
  json data = it == states_.end() ? json::object() : it->second.snapshot.data;
  data.merge_patch(patch);
  return store(id, std::move(data));
}

Result<AppliedChange> StateStore::apply(const std::string& id, const StateChange& change) {
  std::lock_guard lock(mutex_);
  auto it = states_.find(id);
  const std::uint64_t current = it == states_.end() ? 0 : it->second.snapshot.version;
  json data = it == states_.end() ? json::object() : it->second.snapshot.data;
  for (const auto& [key, value] : change.set.items()) data[key] = value;
  for (const auto& key : change.unset) data.erase(key);
  auto version = store(id, std::move(data));
  if (!version) return std::move(version).error();
  return AppliedChange{*version, current == change.base_version};
}

Result<std::uint64_t> StateStore::install(const std::string& id, json data) {
  if (!data.is_object()) data = json::object();
  std::lock_guard lock(mutex_);
  return store(id, std::move(data));
}

void StateStore::erase(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = states_.find(id);
  if (it == states_.end()) return;
  total_bytes_ -= it->second.bytes;
  states_.erase(it);
}

}  // namespace mlbridge::session
