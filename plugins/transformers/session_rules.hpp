#pragma once

/// @file
/// How a Transformers session is rebuilt on another worker: the models it loaded (replayed in
/// order, each under the model_id it had) and the unload that drops one. Models preloaded with
/// `options.preload` are on every worker and need no journal. Constant data; any thread.

#include <mlbridge/sdk/plugin.hpp>

namespace mlbridge::transformers_plugin {

/// The rules of Adapter::session_rules(): load_model builds `model:{model_id}` (the id the worker
/// chose is written into the journal, so the replay loads it under the same id); unload_model
/// removes it.
sdk::json session_rules();

}  // namespace mlbridge::transformers_plugin
