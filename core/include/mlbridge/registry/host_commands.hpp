#pragma once

/// @file
/// The built-in commands that belong to the host, not to its clients: `init` (the worker's
/// start, with the bridge's options), `shutdown`, `cleanup` and `cleanup_session`. The pool and
/// the worker send them to their own workers; a client's call of one (by any spelling, e.g.
/// `common:shutdown` or `echo:init`) is answered not_found, as a command the bridge does not
/// have, so that nobody can restart a worker with options of their choice or stop workers.
/// Stateless; any thread.

#include <string>
#include <string_view>

#include "mlbridge/errors/error.hpp"

namespace mlbridge::registry {

/// Whether `command` names a host-only built-in, bare or after a `<namespace>:` prefix.
bool is_host_command(std::string_view command);

/// The not_found error a client gets for a host-only built-in: "bridge 'echo' has no command
/// 'init'", with bridge and command set.
Error no_such_command(const std::string& bridge, const std::string& command);

}  // namespace mlbridge::registry
