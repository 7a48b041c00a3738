#include "session_rules.hpp"

namespace mlbridge::transformers_plugin {

sdk::json session_rules() {
  return {{"setup", {sdk::session_setup("load_model", "model:{model_id}")}},
          {"undo", {sdk::session_undo("unload_model", "model:{model_id}")}}};
}

}  // namespace mlbridge::transformers_plugin
