"""The LangChain bridge: chains, conversations, retrievers and agents as session resources.

Run it the way the host does::

    python python_bridges/langchain_bridge.py --worker-id langchain-1 --codec json --protocol 1

What LangServe gave its users (invoke, batch, stream, schemas) behind the host's pools and
sessions. Everything a session creates lives in its resource store; ``cleanup_session`` (or
the session's expiry in the host) drops it.

Model
    ``configure_model`` ``{model, base_url, api_key_env, temperature, max_tokens, timeout,
    max_retries, stream_usage, offline, replies}`` or ``{"reset": true}`` → the model
    description ``{scope, model, offline, provider, settings, api_key_set?, note?}``: the
    session's own model (a session is required; the default is ``options.model``). A key
    goes only to an endpoint the operator paired it with (``options.endpoints``,
    ``langchain_support.endpoints``). ``get_model`` → the same description. With no key and
    no ``base_url`` the model is LangChain's offline ``GenericFakeChatModel``
    (``langchain_support.offline``), and every answer says
    ``"model": "offline GenericFakeChatModel", "offline": true``.

Chains (``langchain_support.chains``)
    ``create_chain`` ``{chain_id?, type: "llm"|"rag", prompt, template_format?, output:
    "str"|"json"|"structured", schema?, method?, retriever_id? (rag), k? (rag), model?,
    replace?}`` → ``{chain_id, type, input_schema, output_schema, ...}``;
    ``get_chain_info`` ``{chain_id}`` → schemas, spec, calls; ``list_chains`` → summaries;
    ``delete_chain`` ``{chain_id}`` (any kind: chains, conversations, agents).

Your own code (``langchain_support.user_code``, ``user_chain``)
    ``create_chain`` ``{chain_id?, runnable: "pkg.mod:attr", init?}`` serves a ``Runnable`` (or
    a factory returning one, called with ``init``) of a module the bridge's YAML declares
    (``code.modules``); type ``runnable``, its JSON schemas from the runnable. Outputs that
    are not JSON fail with ``invalid_configuration`` naming the type. Agents take tools by
    import path (``tools: ["myteam.tools:search"]``). ``options.chains`` ``{chain_id:
    create_chain arguments}`` (``type: agent``: create_agent's) are built by each worker at
    init and found by every session.

Running (any chain id; per-call ``config``: ``{tags, metadata, run_name, max_concurrency,
recursion_limit}``)
    ``invoke`` ``{chain_id, input, config?}`` → ``{chain_id, type, output, model, offline,
    llm_calls, usage, elapsed_ms, run: {id, name, tags, metadata}}`` plus ``sources`` (rag),
    ``tool_calls`` and ``steps`` (agent), ``turns`` (conversation).
    ``batch`` ``{chain_id, inputs: [...], max_concurrency?, config?}`` → ``{results: [{output,
    ...} | {error: {type, message, category, retryable}}], succeeded, failed, ...}``.
    ``stream`` ``{chain_id, input, config?}`` → chunks as they come: ``{"token": text}``,
    ``{"partial": value}`` (json/structured output), ``{"sources": [...]}`` (rag),
    ``{"tool_call": {...}}`` / ``{"tool_result": {...}}`` (agent); then the ``invoke`` result
    with ``chunks``.

Conversations
    ``create_conversation`` ``{conversation_id?, system_prompt? | prompt? | chain_id?,
    max_messages?, model?}``; ``chat`` ``{conversation_id, message, variables?, config?,
    stream?}`` → ``{conversation_id, reply, turns, history_length, ...}``; ``get_history``
    ``{conversation_id, limit?}`` → ``{messages: [{role, content}], count}``;
    ``clear_history`` ``{conversation_id}`` → ``{cleared}``.

Retrieval (``langchain_support.retrieval``)
    ``create_retriever`` ``{retriever_id?, texts + metadatas? + ids? | documents, embeddings?,
    k?, replace?}`` → ``{retriever_id, documents, embeddings, offline, ...}``; ``retrieve``
    ``{retriever_id, query, k?}`` → ``{documents: [{id, text, metadata, score}]}``;
    ``list_retrievers``; ``delete_retriever``; ``add_documents`` ``{retriever_id, texts |
    documents}`` (same id: replaced); ``delete_documents`` ``{retriever_id, ids}``. With
    ``persist: true`` the retriever is the bridge's, on disk under
    ``options.vector_store.directory`` (LanceDB: ``langchain_support.persistent``), found by
    every session and worker and kept across restarts. Embeddings: an OpenAI-compatible
    endpoint, or offline the deterministic local embedding (named as such in every answer).

Agents (``langchain_support.tools``)
    ``create_agent`` ``{agent_id?, tools: ["calculator", {"name": "retriever", "retriever_id":
    ...}], system_prompt?, max_iterations?, model?}`` → like ``create_chain``; run it with
    ``invoke``/``batch``/``stream`` (``input``: a string, ``{"input": ...}`` or
    ``{"messages": [...]}``). ``list_tools`` → the registry.

Concurrency: one worker holds up to 256 calls at once (``concurrency``; the YAML's
``pool.max_concurrency`` overrides it). ``invoke``, ``batch``, ``stream``, ``chat``,
``create_retriever`` and ``retrieve`` are ``async def`` commands that run on the worker's
event loop with LangChain's async API (``ainvoke``, ``abatch``, ``astream``, async
embeddings); streamed chunks go out with ``await ctx.stream(...)``. The bookkeeping commands
(``create_chain``, ``configure_model``, ``list_*`` ...) are plain ``def`` commands, run in the
SDK's thread pool. One session's calls run one at a time and in order; a conversation's
turns never interleave, even without a session.

Errors: the bridge raises ``BridgeError`` with explicit categories for what it detects
itself (unknown id → ``not_found``, bad arguments → ``invalid_argument``); failures of the
model keep the provider's type name, e.g. ``openai.RateLimitError``, with a category hint
(``langchain_support.errors``). API keys are named by environment variable, never sent,
and redacted from every answer, chunk, error and line of stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

# langchain_support lives beside this file (and mlbridge too, in a checkout without an install).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from langchain_support import chains as chain_support  # noqa: E402
from langchain_support import endpoints as endpoint_support  # noqa: E402
from langchain_support import models as model_support  # noqa: E402
from langchain_support import persistent as persistent_support  # noqa: E402
from langchain_support import retrieval  # noqa: E402
from langchain_support.errors import error_info, raise_translated  # noqa: E402
from langchain_support.runs import (  # noqa: E402
    RunRecorder,
    StreamStopper,
    parse_config,
    runnable_config,
)
from langchain_support.tools import REGISTRY  # noqa: E402
from langchain_support.user_chain import UserChain  # noqa: E402

from mlbridge import BaseBridge, BridgeError, CallContext  # noqa: E402
from mlbridge.framework_command import translated_command  # noqa: E402
from mlbridge.secrets import REDACTOR, install_redacting_stdio  # noqa: E402
from mlbridge.settings import ScopedSetting, option_int  # noqa: E402

MODEL_KEY = "model"
CHAIN_PREFIX = "chain:"
RETRIEVER_PREFIX = "retriever:"
_OPTION_KEYS = {
    "model",
    "embeddings",
    "endpoints",
    "max_concurrency",
    "max_batch",
    "max_history",
    "vector_store",
    "chains",
}


def langchain_command(name: str, description: str) -> Callable[[Callable[..., Any]], Any]:
    """``@command`` plus what every LangChain command needs, for ``async def`` and ``def``.

    The bridge is made ready, ``args`` must be a map, errors are translated (provider types,
    categories, no secrets: ``langchain_support.errors``) and the result is redacted
    (``mlbridge.framework_command``). Cancellation passes through untouched.
    """

    def enter(self: LangChainBridge, args: Any) -> str:
        if not isinstance(args, dict):
            raise BridgeError(f"{name}: args must be a map", category="invalid_argument")
        self._ready()
        for key in ("chain_id", "conversation_id", "retriever_id", "agent_id"):
            if isinstance(args.get(key), str):
                return f"{name} {args[key]!r}"
        return name

    return translated_command(name, description, enter, raise_translated)


def _invalid(message: str) -> BridgeError:
    return BridgeError(REDACTOR.redact(message), category="invalid_argument")


def _where(ctx: CallContext) -> str:
    return f"session {ctx.session_id!r}" if ctx.session_id else "the anonymous session"


class LangChainBridge(BaseBridge):
    """LangChain chains, conversations, retrievers and agents behind the mlbridge protocol."""

    framework = "langchain"
    bridge_version = "0.1.0"
    concurrency = 256
    """Calls one worker holds at once: chains wait on a remote model almost all the time."""
    sync_overlap = True
    """The ``def`` commands of different sessions may overlap in the SDK's thread pool: they
    build session objects and share nothing but the defaults, which only ``initialize`` sets."""

    def __init__(self) -> None:
        self.options: dict[str, Any] | None = None
        self.model: ScopedSetting[model_support.ModelHandle] = ScopedSetting(MODEL_KEY)
        self.embeddings: retrieval.EmbeddingsConfig = retrieval.EmbeddingsConfig()
        self.endpoints = endpoint_support.EndpointPolicy([])
        self.max_concurrency = 4
        self.max_batch = 1000
        self.max_history = 100
        self.persistent = persistent_support.PersistentRetrievers(
            persistent_support.VectorStoreConfig()
        )
        self.declared: dict[str, chain_support.Chain] = {}
        """Chains of ``options.chains``: the bridge's, found by every session."""

    # ------------------------------------------------------------------ set-up

    def initialize(self, options: dict[str, Any]) -> None:
        """Redact stdio and build the default model from ``options.model``."""
        install_redacting_stdio()
        REDACTOR.add_from_env()
        unknown = sorted(set(options) - _OPTION_KEYS)
        if unknown:
            raise BridgeError(
                f"options: unknown keys {unknown}; known: {sorted(_OPTION_KEYS)}",
                category="invalid_configuration",
            )
        self.max_concurrency = option_int(options, "max_concurrency", 4, 1, 64)
        self.max_batch = option_int(options, "max_batch", 1000, 1, 100_000)
        self.max_history = option_int(options, "max_history", 100, 2, 10_000)
        try:
            config = model_support.ModelConfig.parse(options.get("model"), where="options.model")
            self.embeddings = retrieval.EmbeddingsConfig.parse(
                options.get("embeddings"), where="options.embeddings"
            )
            self.persistent = persistent_support.PersistentRetrievers(
                persistent_support.VectorStoreConfig.parse(options.get("vector_store"))
            )
        except BridgeError as exc:
            raise BridgeError(exc.message, category="invalid_configuration") from None
        config = endpoint_support.with_default_key(config)
        self.embeddings = endpoint_support.with_default_key(self.embeddings)
        self.endpoints = endpoint_support.EndpointPolicy.from_options(
            options.get("endpoints"), config, self.embeddings
        )
        default = self.model.default = model_support.build(config, strict=False)
        self.declared = self._declared_chains(options.get("chains"))
        self.options = options
        note = f" ({default.reason})" if default.reason else ""
        print(f"langchain bridge: ready; default model: {default.label}{note}", file=sys.stderr)

    def _declared_chains(self, raw: Any) -> dict[str, chain_support.Chain]:
        """Build ``options.chains`` ``{chain_id: create_chain arguments}`` (``type: agent``:
        create_agent's). A conversation keeps one history, so it cannot be the bridge's."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise BridgeError(
                "options.chains must be a map of chain id to create_chain arguments",
                category="invalid_configuration",
            )
        built: dict[str, chain_support.Chain] = {}
        for chain_id, args in raw.items():
            try:
                built[chain_id] = self._declared_chain(chain_id, args)
            except BridgeError as exc:
                raise BridgeError(
                    f"options.chains.{chain_id}: {exc.message}", category="invalid_configuration"
                ) from None
        names = ", ".join(built) or "none"
        print(f"langchain bridge: chains declared in options: {names}", file=sys.stderr)
        return built

    def _declared_chain(self, chain_id: str, args: Any) -> chain_support.Chain:
        retrieval.check_id(chain_id, "a chain id")
        if not isinstance(args, dict):
            raise _invalid("must be a map of create_chain arguments")
        kind = args.get("type")
        if kind == "conversation":
            raise _invalid(
                "a conversation holds one message history, so it cannot be shared by every "
                "caller: create_conversation makes one per session"
            )
        model = self._pinned_model(args)
        if kind != "agent":
            return chain_support.create_chain(chain_id, args, model, self._bridge_retriever)
        agent_args = {k: v for k, v in args.items() if k != "type"}
        chain = chain_support.create_agent(chain_id, agent_args, model, self._bridge_retriever)
        assert self.model.default is not None
        env = chain_support.RunEnv(chain.model or self.model.default, self._bridge_retriever)
        chain.runnable(env)  # a model without tools fails now, not at the first call
        return chain

    def _bridge_retriever(self, retriever_id: str) -> retrieval.Retriever:
        """A persistent retriever: the only kind a chain of ``options.chains`` may use."""
        found = self.persistent.find(retriever_id, self._saved_embeddings)
        if found is None:
            raise BridgeError(
                f"persistent retriever {retriever_id!r} not found under "
                "options.vector_store.directory; a chain of options.chains can only use a "
                "persistent retriever (create_retriever with persist: true)",
                category="not_found",
            )
        return found

    def _ready(self) -> None:
        if self.options is None:  # a host that skipped init: defaults
            self.initialize({})

    def capabilities(self) -> dict[str, Any]:
        return {
            "streaming": True,
            "sessions": True,
            "cancellation": True,
            "chain_types": list(chain_support.KINDS),
            "outputs": list(chain_support.OUTPUTS),
            "tools": sorted(REGISTRY),
            "embeddings": list(retrieval.PROVIDERS),
        }

    # ---------------------------------------------------------------- session state

    def _model(self, ctx: CallContext, chain: chain_support.Chain | None = None) -> Any:
        if chain is not None and chain.model is not None:
            return chain.model
        return self.model.current(ctx)

    def _chain(self, args: dict[str, Any], ctx: CallContext, key: str = "chain_id") -> Any:
        chain_id = args.get(key)
        if not isinstance(chain_id, str) or not chain_id:
            raise BridgeError(f"{key} (a string) is required", category="invalid_argument")
        chain = ctx.resources.get(CHAIN_PREFIX + chain_id) or self.declared.get(chain_id)
        if chain is None:
            what = "conversation" if key == "conversation_id" else "chain"
            raise BridgeError(
                f"{what} {chain_id!r} not found in {_where(ctx)}; list_chains shows its chains",
                category="not_found",
            )
        return chain

    def _conversation(self, args: dict[str, Any], ctx: CallContext) -> Any:
        key = "conversation_id" if "conversation_id" in args else "chain_id"
        chain = self._chain(args, ctx, key)
        if not isinstance(chain, chain_support.Conversation):
            raise BridgeError(
                f"{chain.chain_id!r} is a {chain.kind} chain, not a conversation",
                category="invalid_argument",
            )
        return chain

    def _retriever_lookup(self, ctx: CallContext) -> Callable[[str], retrieval.Retriever]:
        """Finds a retriever of the session, else a persistent one of the bridge."""

        def lookup(retriever_id: str) -> retrieval.Retriever:
            found = ctx.resources.get(RETRIEVER_PREFIX + retriever_id)
            if found is None:
                found = self.persistent.find(retriever_id, self._saved_embeddings)
            if found is None:
                persistent_note = (
                    " nor among the persistent retrievers" if self.persistent.enabled else ""
                )
                raise BridgeError(
                    f"retriever {retriever_id!r} not found in {_where(ctx)}{persistent_note}; "
                    "create_retriever makes one",
                    category="not_found",
                )
            return found

        return lookup

    def _saved_embeddings(self, saved: dict[str, Any]) -> retrieval.EmbeddingsHandle:
        """The embeddings a persistent retriever was made with, under today's endpoints."""
        config = retrieval.EmbeddingsConfig.parse(saved, where="a persistent retriever's")
        if config.provider != "local":
            config = self.endpoints.bind(config, "a persistent retriever's embeddings")
        return retrieval.build_embeddings(config, strict=False)

    def _new_id(self, args: dict[str, Any], key: str, prefix: str) -> str:
        value = args.get(key) or f"{prefix}-{uuid.uuid4().hex[:12]}"
        return retrieval.check_id(value, key)

    def _store(self, key: str, value: Any, ctx: CallContext, replace: Any, what: str) -> None:
        if key in ctx.resources and replace is not True:
            raise BridgeError(
                f"{what} {key.partition(':')[2]!r} already exists; pass replace: true to "
                "overwrite it",
                category="invalid_argument",
            )
        ctx.resources[key] = value

    def _pinned_model(self, args: dict[str, Any]) -> model_support.ModelHandle | None:
        if args.get("model") is None:
            return None
        return model_support.build(self._requested_model(args["model"], "model"), strict=True)

    def _requested_model(self, raw: Any, where: str) -> model_support.ModelConfig:
        """A request's model settings, bound to a configured endpoint and the retry limit."""
        config = model_support.ModelConfig.parse(raw, where=where)
        limit = self.model.default.config.max_retries if self.model.default else 2
        config = model_support.within_retry_limit(
            config, raw, limit, where, "options.model.max_retries"
        )
        return self.endpoints.bind(config, where)

    def _env(self, ctx: CallContext, chain: chain_support.Chain) -> chain_support.RunEnv:
        return chain_support.RunEnv(self._model(ctx, chain), self._retriever_lookup(ctx))

    # -------------------------------------------------------------------- model

    @langchain_command("configure_model", "Set the chat model of the session.")
    def configure_model(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """The session's own model; ``{"reset": true}`` goes back to ``options.model``.

        The default model is the operator's: without a session this is refused, so that no
        caller changes the model of every other caller of the worker. A key goes only to an
        endpoint the operator paired it with (``options.endpoints``, see endpoints.py).
        """
        if not ctx.session_id:
            raise BridgeError(
                "configure_model changes the chat model of one session; pass a session, or "
                "set options.model in the bridge's YAML",
                category="invalid_argument",
            )

        def build(settings: dict[str, Any]) -> model_support.ModelHandle:
            config = self._requested_model(settings, "configure_model")
            return model_support.build(config, strict=True)

        def default() -> model_support.ModelHandle:  # never called: a session resets its own
            return self._model(ctx)

        self.model.configure(args, ctx, build, default)
        return self._describe_model(ctx)

    @langchain_command("get_model", "The chat model that the session's chains run with.")
    def get_model(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return self._describe_model(ctx)

    def _describe_model(self, ctx: CallContext) -> dict[str, Any]:
        return self.model.describe(ctx, self._model(ctx).describe())

    # ------------------------------------------------------------------- chains

    @langchain_command(
        "create_chain",
        "Create a prompt | model | parser chain (llm or rag), or serve your own Runnable.",
    )
    def create_chain(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        chain_id = self._new_id(args, "chain_id", "chain")
        chain = chain_support.create_chain(
            chain_id, args, self._pinned_model(args), self._retriever_lookup(ctx)
        )
        self._store(CHAIN_PREFIX + chain_id, chain, ctx, args.get("replace"), "chain")
        return {**chain.info(), "created": True}

    @langchain_command("create_agent", "Create a tool-calling agent (LangChain create_agent).")
    def create_agent(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        key = "agent_id" if "agent_id" in args else "chain_id"
        chain_id = self._new_id(args, key, "agent")
        chain = chain_support.create_agent(
            chain_id, args, self._pinned_model(args), self._retriever_lookup(ctx)
        )
        chain.runnable(self._env(ctx, chain))  # build now: a model without tools fails here
        self._store(CHAIN_PREFIX + chain_id, chain, ctx, args.get("replace"), "chain")
        return {**chain.info(), "agent_id": chain_id, "created": True}

    @langchain_command("get_chain_info", "Input and output schemas, spec and calls of a chain.")
    def get_chain_info(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        chain = self._chain(args, ctx)
        if isinstance(chain, UserChain):
            return chain.info()
        handle = self._model(ctx, chain)
        return {**chain.info(), "model": handle.label, "offline": handle.offline}

    @langchain_command("list_chains", "The session's chains, conversations and agents.")
    def list_chains(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        kind = args.get("type")
        found = [
            v.summary()
            for k, v in ctx.resources.items()
            if k.startswith(CHAIN_PREFIX) and (kind is None or v.kind == kind)
        ]
        found += [
            {**v.summary(), "declared": True}
            for k, v in self.declared.items()
            if CHAIN_PREFIX + k not in ctx.resources and (kind is None or v.kind == kind)
        ]
        return {"chains": found, "count": len(found), "session_id": ctx.session_id}

    @langchain_command("delete_chain", "Delete a chain, conversation or agent of the session.")
    def delete_chain(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        key = next(
            (k for k in ("chain_id", "conversation_id", "agent_id") if k in args), "chain_id"
        )
        chain = self._chain(args, ctx, key)
        if CHAIN_PREFIX + chain.chain_id not in ctx.resources:
            raise _invalid(
                f"chain {chain.chain_id!r} is declared in the bridge's YAML (options.chains): "
                "it is there for every caller and cannot be deleted by one"
            )
        del ctx.resources[CHAIN_PREFIX + chain.chain_id]
        return {"chain_id": chain.chain_id, "type": chain.kind, "deleted": True}

    # ------------------------------------------------------------------ running

    def _base_result(
        self, chain: chain_support.Chain, handle: model_support.ModelHandle
    ) -> dict[str, Any]:
        if isinstance(chain, UserChain):  # the user's runnable brings its own model
            return {"chain_id": chain.chain_id, "type": chain.kind, "runnable": chain.ref}
        return {
            "chain_id": chain.chain_id,
            "type": chain.kind,
            "model": handle.label,
            "offline": handle.offline,
        }

    def _config(self, args: dict[str, Any]) -> dict[str, Any]:
        return parse_config(args.get("config"))

    async def _run(
        self,
        chain: chain_support.Chain,
        value: Any,
        config: dict[str, Any],
        ctx: CallContext,
        stream: bool,
    ) -> dict[str, Any]:
        """One run of a chain (streamed or not); the invoke result."""
        if isinstance(chain, chain_support.Conversation):
            async with chain.turn_lock:  # read the history, answer, remember: one turn at once
                return await self._run_once(chain, value, config, ctx, stream)
        return await self._run_once(chain, value, config, ctx, stream)

    async def _run_once(
        self,
        chain: chain_support.Chain,
        value: Any,
        config: dict[str, Any],
        ctx: CallContext,
        stream: bool,
    ) -> dict[str, Any]:
        handle = self._model(ctx, chain)
        runnable = chain.runnable(self._env(ctx, chain))
        prepared = chain.prepare(value)
        recorder = RunRecorder(handle.label, stream_usage=handle.config.stream_usage is True)
        chunks = 0
        if stream:
            output = None
            stopper = StreamStopper()
            items = chain.astream(runnable, prepared, runnable_config(config, recorder, stopper))
            try:
                async for item in items:
                    if isinstance(item, tuple):
                        output = item[1]
                        break
                    chunks += 1
                    await ctx.stream(REDACTOR.redact_value(item))
            except (asyncio.CancelledError, KeyboardInterrupt):
                # Cancelled: stop the model before closing the stream, which would otherwise
                # drain the model's remaining output first (see StreamStopper).
                stopper.stop()
                raise
            finally:
                with contextlib.suppress(Exception):
                    await items.aclose()
        else:
            output = await runnable.ainvoke(prepared, runnable_config(config, recorder))
        chain.calls += 1
        result = {**self._base_result(chain, handle), **chain.result(output)}
        if isinstance(chain, chain_support.Conversation):
            chain.remember(prepared["input"], output)
            result.update(turns=chain.turns, history_length=len(chain.history))
        if stream:
            result["chunks"] = chunks
        return {**result, **recorder.public()}

    @langchain_command("invoke", "Run a chain, conversation or agent on one input.")
    async def invoke(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        chain = self._chain(args, ctx)
        return await self._run(chain, args.get("input"), self._config(args), ctx, stream=False)

    @langchain_command("stream", "Run a chain and stream its output as chunks.")
    async def stream(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        chain = self._chain(args, ctx)
        return await self._run(chain, args.get("input"), self._config(args), ctx, stream=True)

    @langchain_command("batch", "Run a chain on many inputs, with bounded concurrency.")
    async def batch(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """``{"chain_id", "inputs": [...], "max_concurrency"}``; a failed item has ``error``."""
        chain = self._chain(args, ctx)
        if isinstance(chain, chain_support.Conversation):
            raise _invalid("a conversation's turns run one at a time: use chat or invoke")
        items = args.get("inputs")
        if not isinstance(items, list) or not 1 <= len(items) <= self.max_batch:
            raise _invalid(f"inputs must be a list of 1 to {self.max_batch} inputs")
        config = self._config(args)
        concurrency = args.get("max_concurrency", config.get("max_concurrency"))
        if concurrency is None:
            concurrency = self.max_concurrency
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise _invalid("max_concurrency must be a positive integer")
        config["max_concurrency"] = min(concurrency, 64)
        prepared = [chain.prepare(item) for item in items]
        handle = self._model(ctx, chain)
        runnable = chain.runnable(self._env(ctx, chain))
        recorder = RunRecorder(handle.label)
        outputs = await runnable.abatch(
            prepared, runnable_config(config, recorder), return_exceptions=True
        )
        results: list[dict[str, Any]] = []
        for output in outputs:
            if isinstance(output, asyncio.CancelledError | KeyboardInterrupt):
                raise output
            if isinstance(output, Exception):
                results.append({"error": error_info(output)})
            else:
                results.append(chain.result(output))
        chain.calls += len(items)
        failed = sum(1 for r in results if "error" in r)
        public = recorder.public(root=False)
        return {
            **self._base_result(chain, handle),
            "results": results,
            "succeeded": len(results) - failed,
            "failed": failed,
            "max_concurrency": config["max_concurrency"],
            **public,
            "runs": [r["id"] for r in recorder.roots],
        }

    # ------------------------------------------------------------ conversations

    @langchain_command("create_conversation", "A chain plus a message history in the session.")
    def create_conversation(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        conversation_id = self._new_id(args, "conversation_id", "conversation")
        base = self._chain(args, ctx) if args.get("chain_id") else None
        conversation = chain_support.create_conversation(
            conversation_id, args, self._pinned_model(args), base, self.max_history
        )
        self._store(CHAIN_PREFIX + conversation_id, conversation, ctx, args.get("replace"), "chain")
        return {**conversation.info(), "conversation_id": conversation_id, "created": True}

    @langchain_command("chat", "One turn of a conversation; the history stays in the session.")
    async def chat(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        conversation = self._conversation(args, ctx)
        message = args.get("message")
        if not isinstance(message, str) or not message.strip():
            raise _invalid("chat needs 'message' (a non-empty string)")
        variables = args.get("variables") or {}
        if not isinstance(variables, dict):
            raise _invalid("variables must be a map")
        value = {**variables, "input": message}
        result = await self._run(
            conversation, value, self._config(args), ctx, stream=bool(args.get("stream"))
        )
        result["conversation_id"] = conversation.chain_id
        result["reply"] = result["output"]
        self._journal_history(conversation, ctx)
        return result

    @staticmethod
    def _journal_history(conversation: Any, ctx: CallContext) -> None:
        """Journal the history as data: a replay restores it instead of asking the model again
        (which would cost tokens and answer differently). Bounded by max_history."""
        if ctx.session_id:
            ctx.session.record(
                "restore_history",
                {
                    "conversation_id": conversation.chain_id,
                    "messages": conversation.messages(),
                    "turns": conversation.turns,
                },
                object=f"chain:{conversation.chain_id}/history",
            )

    @langchain_command("restore_history", "Set a conversation's messages (from get_history).")
    def restore_history(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """``{"conversation_id", "messages": [{"role", "content"}], "turns"?}``: how a session's
        conversations come back on another worker (see docs/sessions.md)."""
        conversation = self._conversation(args, ctx)
        try:
            conversation.restore(args.get("messages"), args.get("turns"))
        except ValueError as exc:
            raise _invalid(str(exc)) from None
        return {"conversation_id": conversation.chain_id, "restored": len(conversation.history)}

    @langchain_command("get_history", "The messages of a conversation so far.")
    def get_history(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        conversation = self._conversation(args, ctx)
        limit = args.get("limit")
        messages = conversation.messages()
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise _invalid("limit must be a positive integer")
            messages = messages[-limit:]
        return {
            "conversation_id": conversation.chain_id,
            "messages": messages,
            "count": len(messages),
            "total": len(conversation.history),
            "turns": conversation.turns,
            "session_id": ctx.session_id,
        }

    @langchain_command("clear_history", "Forget the messages of a conversation.")
    def clear_history(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        conversation = self._conversation(args, ctx)
        cleared = len(conversation.history)
        conversation.history.clear()
        conversation.turns = 0
        return {"conversation_id": conversation.chain_id, "cleared": cleared}

    # ---------------------------------------------------------------- retrieval

    @langchain_command(
        "create_retriever",
        "Embed texts into a vector store: the session's in memory, or the bridge's on disk.",
    )
    async def create_retriever(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        known = {"retriever_id", "texts", "metadatas", "ids", "documents", "embeddings", "k"}
        known |= {"replace", "persist"}
        unknown = sorted(set(args) - known)
        if unknown:
            raise _invalid(f"unknown arguments {unknown}; known: {sorted(known)}")
        persist = args.get("persist", False)
        if not isinstance(persist, bool):
            raise _invalid("persist must be true or false")
        retriever_id = self._new_id(args, "retriever_id", "retriever")
        key = RETRIEVER_PREFIX + retriever_id
        if persist:
            self.persistent.check_name(retriever_id)
        elif key in ctx.resources and args.get("replace") is not True:
            raise _invalid(
                f"retriever {retriever_id!r} already exists; pass replace: true to overwrite it"
            )
        documents = retrieval.parse_documents(args)
        config = self.embeddings
        if args.get("embeddings") is not None:
            config = model_support.within_retry_limit(
                retrieval.EmbeddingsConfig.parse(args["embeddings"]),
                args["embeddings"],
                self.embeddings.max_retries,
                "embeddings",
                "options.embeddings.max_retries",
            )
            config = self.endpoints.bind(config, "embeddings")
        embeddings = retrieval.build_embeddings(config, strict=args.get("embeddings") is not None)
        k = retrieval.check_k(args.get("k"), 4)
        started = time.monotonic()
        if persist:
            retriever = await self.persistent.create(
                retriever_id,
                documents,
                embeddings,
                k,
                args.get("replace") is True,
                fingerprint=persistent_support.fingerprint(args),
            )
        else:
            retriever = await retrieval.Retriever.acreate(retriever_id, documents, embeddings, k)
            ctx.resources[key] = retriever
        return {
            **retriever.info(),
            "created": True,
            "elapsed_ms": int((time.monotonic() - started) * 1000),
        }

    @langchain_command("retrieve", "The documents of a retriever most similar to a query.")
    async def retrieve(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        retriever_id = args.get("retriever_id")
        if not isinstance(retriever_id, str) or not retriever_id:
            raise _invalid("retriever_id (a string) is required")
        query = args.get("query")
        if not isinstance(query, str) or not query.strip():
            raise _invalid("query must be a non-empty string")
        retriever = self._retriever_lookup(ctx)(retriever_id)
        documents = await retriever.asearch(query, retrieval.check_k(args.get("k"), retriever.k))
        return {
            "retriever_id": retriever_id,
            "query": query,
            "documents": documents,
            "count": len(documents),
            "embeddings": retriever.embeddings.label,
            "offline": retriever.embeddings.offline,
        }

    def _retriever_arg(self, args: dict[str, Any], ctx: CallContext) -> retrieval.Retriever:
        retriever_id = args.get("retriever_id")
        if not isinstance(retriever_id, str) or not retriever_id:
            raise _invalid("retriever_id (a string) is required")
        return self._retriever_lookup(ctx)(retriever_id)

    @langchain_command("add_documents", "Add documents to a retriever (same id: replaced).")
    async def add_documents(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """``{"retriever_id", "texts" + "metadatas"? + "ids"? | "documents"}``; embedded with
        the retriever's embeddings. A document whose id is there already replaces it; one
        without an id gets an id from its content, so adding it again replaces it."""
        known = {"retriever_id", "texts", "metadatas", "ids", "documents"}
        unknown = sorted(set(args) - known)
        if unknown:
            raise _invalid(f"unknown arguments {unknown}; known: {sorted(known)}")
        retriever = self._retriever_arg(args, ctx)
        documents = retrieval.parse_documents(args, content_ids=True)
        counts = await retriever.add(documents)
        return {
            "retriever_id": retriever.retriever_id,
            **counts,
            "ids": [d.id for d in documents],
            "documents": retriever.documents,
            "persistent": retriever.persistent,
        }

    @langchain_command("delete_documents", "Delete documents of a retriever by id.")
    async def delete_documents(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """``{"retriever_id", "ids": [...]}`` → ``{deleted, missing: [ids not there]}``."""
        unknown = sorted(set(args) - {"retriever_id", "ids"})
        if unknown:
            raise _invalid(f"unknown arguments {unknown}; known: ['ids', 'retriever_id']")
        ids = args.get("ids")
        if (
            not isinstance(ids, list)
            or not ids
            or not all(isinstance(i, str) and i for i in ids)
            or len(ids) > retrieval.MAX_DOCUMENTS
        ):
            raise _invalid(
                f"ids must be a list of 1 to {retrieval.MAX_DOCUMENTS} non-empty strings"
            )
        retriever = self._retriever_arg(args, ctx)
        counts = await retriever.delete(list(dict.fromkeys(ids)))
        return {
            "retriever_id": retriever.retriever_id,
            **counts,
            "documents": retriever.documents,
            "persistent": retriever.persistent,
        }

    @langchain_command("list_retrievers", "The session's retrievers, and the persistent ones.")
    def list_retrievers(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        found = [v.info() for k, v in ctx.resources.items() if k.startswith(RETRIEVER_PREFIX)]
        return {
            "retrievers": found,
            "count": len(found),
            "persistent": self.persistent.ids(),
            "session_id": ctx.session_id,
        }

    @langchain_command(
        "delete_retriever", "Delete a retriever of the session, or a persistent one from disk."
    )
    def delete_retriever(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        retriever = self._retriever_arg(args, ctx)
        if retriever.persistent:
            self.persistent.drop(retriever.retriever_id)
        else:
            del ctx.resources[RETRIEVER_PREFIX + retriever.retriever_id]
        return {
            "retriever_id": retriever.retriever_id,
            "deleted": True,
            "persistent": retriever.persistent,
        }

    @langchain_command("list_tools", "The tools an agent may use.")
    def list_tools(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return {
            "tools": [
                {"name": name, "description": entry["description"], "settings": entry["settings"]}
                for name, entry in sorted(REGISTRY.items())
            ]
        }


if __name__ == "__main__":
    LangChainBridge.main()
