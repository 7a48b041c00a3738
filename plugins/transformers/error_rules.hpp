#pragma once

/// @file
/// How errors of the Transformers bridge map to mlbridge categories. transformers_bridge.py
/// already gives a category to what it recognises (transformers_support/errors.py) and keeps the
/// original type ("torch.OutOfMemoryError", "RuntimeError", "OSError"); these rules say the same
/// for the host, so that the category holds whichever way the error comes (and YAML `errors:`
/// can still override it). They come before the host's defaults, and a configured rule beats a
/// worker's own category: every rule here agrees with the bridge's.
///
/// - out of memory (torch.OutOfMemoryError, MemoryError, torch's CPU allocator's "can't allocate
///   memory", the bridge's MemoryBudgetExceeded) → resource_exhausted, not retryable;
/// - a model that is not there (the bridge's ModelNotFound, transformers' OSError "is not a local
///   folder" / "Can't load" / "does not appear to have a file named") → not_found;
/// - an unknown task (transformers' KeyError "Unknown task") or a model that cannot serve the
///   task ("Unrecognized configuration class") → invalid_argument;
/// - CUDA missing (the bridge's CudaUnavailable, torch's "not compiled with CUDA", "no NVIDIA
///   driver") → invalid_configuration.

#include <nlohmann/json.hpp>

namespace mlbridge::transformers_plugin {

using json = nlohmann::json;

/// The rules as the SDK's error_rule() objects, first match first.
json transformers_error_rules();

}  // namespace mlbridge::transformers_plugin
