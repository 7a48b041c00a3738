#pragma once

/// @file
/// How a DSPy session is rebuilt on another worker: the commands that build its LM and programs
/// (replayed in order) and the one that deletes a program. Constant data; any thread.

#include <mlbridge/sdk/plugin.hpp>

namespace mlbridge::dspy_plugin {

/// The rules of Adapter::session_rules(): configure_lm, create_program and load_program build;
/// delete_program removes. optimize_program journals its compiled program itself (as a
/// load_program of the saved state), so a replay never optimises again.
sdk::json session_rules();

}  // namespace mlbridge::dspy_plugin
