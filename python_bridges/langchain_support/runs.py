"""Per-call config, what a run cost, and LangChain values as wire data.

Every ``invoke``, ``batch``, ``stream`` and ``chat`` takes an optional ``config``::

    {"tags": ["prod"], "metadata": {"user": "u1"}, "run_name": "answer", "max_concurrency": 4}

which becomes LangChain's ``RunnableConfig`` (so a tracer such as LangSmith, configured by
the environment, sees it). :class:`RunRecorder` is a callback handler added to every run: it
records the root run (id, name, tags, metadata as LangChain saw them), the chat model calls
and their token usage. Every answer reports the usage, except a streamed run's unless the
model's ``stream_usage`` is true: that setting is what asks a provider for the usage of a
stream (OpenAI's ``stream_options.include_usage``), so a streamed answer carries ``usage``
exactly when it was asked for, whatever the model (the offline one included).
"""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import add_usage
from langchain_core.outputs import ChatGeneration, LLMResult

from mlbridge import BridgeError
from mlbridge.secrets import REDACTOR

_CONFIG_KEYS = {"tags", "metadata", "run_name", "max_concurrency", "recursion_limit"}
MAX_CONCURRENCY = 64


def parse_config(raw: Any, where: str = "config") -> dict[str, Any]:
    """Validate a per-call config into the parts of a ``RunnableConfig`` it may set."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BridgeError(f"{where} must be a map", category="invalid_argument")
    unknown = sorted(set(raw) - _CONFIG_KEYS)
    if unknown:
        raise BridgeError(
            f"{where}: unknown keys {unknown}; known: {sorted(_CONFIG_KEYS)}",
            category="invalid_argument",
        )
    config: dict[str, Any] = {}
    tags = raw.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise BridgeError(
                f"{where}.tags must be a list of strings", category="invalid_argument"
            )
        config["tags"] = list(tags)
    metadata = raw.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
            raise BridgeError(f"{where}.metadata must be a map", category="invalid_argument")
        config["metadata"] = dict(metadata)
    run_name = raw.get("run_name")
    if run_name is not None:
        if not isinstance(run_name, str) or not run_name:
            raise BridgeError(
                f"{where}.run_name must be a non-empty string", category="invalid_argument"
            )
        config["run_name"] = run_name
    for name, high in (("max_concurrency", MAX_CONCURRENCY), ("recursion_limit", 1000)):
        value = raw.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise BridgeError(
                    f"{where}.{name} must be an integer from 1 to {high}",
                    category="invalid_argument",
                )
            config[name] = value
    return config


class RunRecorder(BaseCallbackHandler):
    """Records root runs, chat model calls and token usage (thread-safe, for batches too).

    ``stream_usage``: the model's setting of that name is true, so the usage of streamed model
    calls was asked for and is reported; otherwise a run whose model streamed reports none
    (``public`` leaves ``usage`` out).

    ``run_inline``: an async run calls it on the event loop, not through the loop's thread
    pool (LangChain's default for a sync handler); it only counts, under a lock, so it
    never blocks the loop."""

    run_inline = True

    def __init__(self, label: str, stream_usage: bool = False) -> None:
        super().__init__()
        self.label = label
        self.stream_usage = stream_usage
        self.roots: list[dict[str, Any]] = []
        self.llm_calls = 0
        self.usage: dict[str, Any] = {}
        self.streamed = False  #: a model call of this run streamed its tokens
        self.started = time.monotonic()
        self._streaming_calls: set[UUID] = set()
        self._lock = threading.Lock()

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if parent_run_id is None:
            with self._lock:
                self.roots.append(
                    {
                        "id": str(run_id),
                        "name": kwargs.get("name") or (serialized or {}).get("name"),
                        "tags": list(tags or []),
                        "metadata": to_wire(
                            {k: v for k, v in (metadata or {}).items() if not k.startswith("ls_")}
                        ),
                    }
                )

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        with self._lock:
            self.llm_calls += 1

    def on_llm_start(self, serialized: Any, prompts: Any, **kwargs: Any) -> None:
        with self._lock:
            self.llm_calls += 1

    def on_llm_new_token(self, token: str, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self.streamed = True
            self._streaming_calls.add(run_id)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            streamed = run_id in self._streaming_calls
            self._streaming_calls.discard(run_id)
        if streamed and not self.stream_usage:
            return  # not asked for: a real provider would not have sent it
        for generations in response.generations:
            for generation in generations:
                if not isinstance(generation, ChatGeneration):
                    continue
                message = generation.message
                usage = getattr(message, "usage_metadata", None)
                if not isinstance(message, AIMessage) or not usage:
                    continue
                name = str(message.response_metadata.get("model_name") or self.label)
                with self._lock:
                    known = self.usage.get(name)
                    self.usage[name] = add_usage(known, usage) if known else dict(usage)

    def public(self, root: bool = True) -> dict[str, Any]:
        """What the run cost (and, with ``root``, the root run as LangChain saw it)."""
        with self._lock:
            result: dict[str, Any] = {"llm_calls": self.llm_calls}
            if self.stream_usage or not self.streamed:
                result["usage"] = to_wire(self.usage)
            result["elapsed_ms"] = int((time.monotonic() - self.started) * 1000)
            if root and self.roots:
                result["run"] = self.roots[0]
        return result


class StreamCancelled(Exception):  # noqa: N818 - it names what happened, not an error
    """Raised into a chat model's stream by :class:`StreamStopper` once the call was cancelled."""


class StreamStopper(BaseCallbackHandler):
    """Ends a cancelled stream at the model's next token.

    Closing a cancelled ``Runnable.stream`` makes langchain-core drain the rest of the model's
    output (for tracing): a fake model's whole script, a real model's tokens, billed, until the
    host kills the worker for ignoring the cancellation. After :meth:`stop`, the next
    ``on_llm_new_token`` raises instead (``raise_error`` lets it through), which ends the
    model's stream and with it the drain. An async stream that is cancelled stops at the
    model's pending read already; the stopper then ends what LangChain still drains.
    """

    raise_error = True
    run_inline = True

    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        if self.stopped:
            raise StreamCancelled("the call was cancelled; the model's stream is stopped")


def runnable_config(
    config: dict[str, Any], recorder: RunRecorder, *handlers: BaseCallbackHandler
) -> dict[str, Any]:
    """A ``RunnableConfig`` with the recorder (and ``handlers``) among its callbacks."""
    return {**config, "callbacks": [recorder, *handlers]}


def message_to_wire(message: BaseMessage) -> dict[str, Any]:
    """A chat message as ``{"role", "content", ...}`` (tool calls included)."""
    roles = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
    item: dict[str, Any] = {
        "role": roles.get(message.type, message.type),
        "content": to_wire(message.content),
    }
    if isinstance(message, AIMessage) and message.tool_calls:
        item["tool_calls"] = [
            {"name": c["name"], "args": to_wire(c["args"]), "id": c.get("id")}
            for c in message.tool_calls
        ]
    if message.type == "tool":
        item["tool_call_id"] = getattr(message, "tool_call_id", None)
        item["name"] = message.name
    return item


def to_wire(value: Any, depth: int = 0) -> Any:
    """A codec-safe, redacted copy of a LangChain value."""
    if depth > 20:
        return REDACTOR.redact(str(value))
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return REDACTOR.redact(value)
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        return {str(k): to_wire(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_wire(v, depth + 1) for v in value]
    if isinstance(value, BaseMessage):
        return message_to_wire(value)
    page_content = getattr(value, "page_content", None)
    if isinstance(page_content, str):
        from .retrieval import document_to_wire

        return document_to_wire(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return to_wire(dump(mode="json"), depth + 1)
        except Exception:  # noqa: BLE001 - a best-effort rendering
            pass
    return REDACTOR.redact(str(value))
