#include "session_rules.hpp"

namespace mlbridge::langchain_plugin {

sdk::json session_rules() {
  using sdk::session_setup;
  using sdk::session_undo;
  return {{"setup",
           {session_setup("configure_model", "model"),
            session_setup("create_retriever", "retriever:{retriever_id}"),
            // Documents added to or deleted from a retriever, replayed in order after its
            // creation (a document without an id gets one from its content, so a replay on a
            // persistent retriever replaces what it added instead of adding it twice).
            session_setup("add_documents", "retriever:{retriever_id}", true),
            session_setup("delete_documents", "retriever:{retriever_id}", true),
            session_setup("create_chain", "chain:{chain_id}"),
            session_setup("create_agent", "chain:{chain_id}"),
            session_setup("create_conversation", "chain:{conversation_id}"),
            session_setup("restore_history", "chain:{conversation_id}/history")}},
          {"undo",
           {session_undo("delete_chain", "chain:{chain_id}"),
            session_undo("delete_retriever", "retriever:{retriever_id}"),
            session_undo("clear_history", "chain:{conversation_id}/history")}}};
}

}  // namespace mlbridge::langchain_plugin
