"""Helpers of the LangChain bridge (``python_bridges/langchain_bridge.py``).

One module per concern (API-key redaction is ``mlbridge.secrets``): ``models`` (chat model
settings: langchain-openai or the offline fake model), ``offline`` (the offline chat model
and the deterministic local embedding), ``tools`` (the agent tool registry), ``retrieval``
(embeddings, in-memory vector stores, retrievers), ``chains`` (prompts, output parsers,
the chain kinds and their schemas), ``runs`` (per-call config, callbacks, wire values) and
``errors`` (turning LangChain and OpenAI errors into bridge errors).

``langchain_core`` is imported with the bridge (a fraction of a second). The expensive
imports wait until they are needed: ``langchain_openai`` (the OpenAI SDK, seconds) when a
model or embeddings use an endpoint, ``langchain.agents`` (LangGraph) when an agent is built,
and numpy (through the vector store) with the first retriever.
"""
