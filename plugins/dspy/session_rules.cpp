#include "session_rules.hpp"

namespace mlbridge::dspy_plugin {

sdk::json session_rules() {
  using sdk::session_setup;
  using sdk::session_undo;
  return {{"setup",
           {session_setup("configure_lm", "lm"),
            session_setup("create_program", "program:{program_id}"),
            session_setup("load_program", "program:{program_id}")}},
          {"undo", {session_undo("delete_program", "program:{program_id}")}}};
}

}  // namespace mlbridge::dspy_plugin
