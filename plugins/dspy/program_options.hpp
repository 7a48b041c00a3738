#pragma once

/// @file
/// `options.programs`: the programs every worker of a DSPy bridge builds at init
/// (dspy_bridge.py `_declared_programs`). Checked here for shape before any worker starts:
/// a list of `create_program` argument maps, each with its own `program_id`, and every
/// import path they use (`module`, `signature`, `tools`) naming a module of the
/// bridge's `code.modules`. What only Python can check (that a signature parses, that an
/// import path names a dspy.Module) fails the worker's init with the item's key instead.
/// Pure functions; any thread.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::dspy_plugin {

using json = nlohmann::json;

/// True for `package.module:attribute` (attribute may be dotted), the form of an import path.
bool is_import_path(const std::string& text);

/// Every problem of `programs` (the value of `options.programs`), each naming its key
/// (`options.programs[1].init`); `code` is the bridge's `code` section (may be null).
std::vector<std::string> check_programs(const json& programs, const json& code);

}  // namespace mlbridge::dspy_plugin
