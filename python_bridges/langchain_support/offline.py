"""The offline chat model and the deterministic local embedding.

:class:`OfflineChatModel` is LangChain's own ``GenericFakeChatModel`` (scripted replies,
token streaming through the usual callbacks) extended so that every chain, agent and
structured output works with no model and no network:

- scripted replies (``configure_model {"offline": true, "replies": [...]}``) come first, in
  order;
- then a reply computed from the prompt: with a tool forced (structured output), a call of
  that tool with arguments of the schema's types; with tools offered (an agent), a
  ``calculator`` call for an arithmetic question, a call of a search tool (one ``query``
  argument) otherwise, and after a tool result an answer built from it; without tools, the
  sentence of a ``Context:`` section that best matches the question (RAG), else the value
  of an arithmetic expression in the question (``"What is 6*7?"`` → ``42``), else
  ``"offline answer"``. A prompt that mentions JSON gets ``{"answer": ...}``.

Usage is counted in words. Every answer of the bridge made with this model says
``"model": "offline GenericFakeChatModel"`` and ``"offline": true``.

:class:`LocalHashEmbeddings` is a deterministic local embedding (feature hashing of the
words of a text): lexical, not semantic, but stable across processes and good enough for a
question that shares words with the passage that answers it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterator
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

from mlbridge.arithmetic import arithmetic_in

LABEL = "offline GenericFakeChatModel"
OFFLINE_TEXT = "offline answer"
UNKNOWN_TEXT = "I don't know."
EMBEDDINGS_LABEL = "local-hashing (deterministic offline embedding: lexical, not semantic)"

_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_STOPWORDS = frozenset(
    """a an and are as at be by can could did do does for from had has have how i if in
    into is it its me my of on or our so than that the their them then there these they
    this to was we were what when where which who whom why will with would you your
    about answer context question please tell using only below""".split()
)


# --------------------------------------------------------------------------- words


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content_words(text: str) -> list[str]:
    """Lower-case words of ``text`` without stop words, crudely singularized."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def best_sentence(passages: str, question: str) -> str | None:
    """The sentence of ``passages`` sharing most words with ``question`` (first on ties)."""
    wanted = set(content_words(question))
    best, best_score = None, 0
    for sentence in _SENTENCE.split(passages):
        sentence = sentence.strip()
        if not sentence:
            continue
        score = len(wanted & set(content_words(sentence)))
        if score > best_score:
            best, best_score = sentence, score
    return best


# ----------------------------------------------------------------------- the model


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text", "") if isinstance(part, dict) else str(part) for part in content
    )


def _value(schema: dict[str, Any], name: str, question: str) -> Any:
    """A value of a JSON Schema property's type, derived from the question if it can be."""
    found = arithmetic_in(question)
    result = found[1] if found else None
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None and schema.get("anyOf"):
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        return _value(options[0], name, question) if options else None
    if kind == "integer":
        return int(result) if result is not None else 0
    if kind == "number":
        return float(result) if result is not None else 0.0
    if kind == "boolean":
        return True
    if kind == "array":
        return [_value(schema.get("items") or {"type": "string"}, name, question)]
    if kind == "object":
        return {
            key: _value(prop, key, question)
            for key, prop in (schema.get("properties") or {}).items()
            if isinstance(prop, dict)
        }
    return str(result) if result is not None else OFFLINE_TEXT


def _forced_tool(tools: list[dict[str, Any]], tool_choice: Any) -> dict[str, Any] | None:
    """The tool the caller forces (structured output binds one with ``tool_choice``)."""
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
    elif isinstance(tool_choice, str) and tool_choice not in ("auto", "none"):
        name = tool_choice
    else:
        return None
    if name in ("any", "required", True):
        return tools[0] if len(tools) == 1 else None
    return next((t for t in tools if t["function"]["name"] == name), None)


def _call(tool: dict[str, Any], args: dict[str, Any]) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[
            {
                "name": tool["function"]["name"],
                "args": args,
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "tool_call",
            }
        ],
    )


def _text_reply(messages: list[BaseMessage], question: str) -> str:
    prompt = "\n".join(_text(m) for m in messages)
    if "Context:" in prompt:
        context = "\n".join(
            _text(m).partition("Context:")[2] for m in messages if "Context:" in _text(m)
        )
        text = best_sentence(context, question) or UNKNOWN_TEXT
        text = re.sub(r"^\[\d+\]\s*", "", text)  # the passage number of a RAG context
    else:
        found = arithmetic_in(question)
        text = str(found[1]) if found else OFFLINE_TEXT
    if "json" in prompt.lower():
        return json.dumps({"answer": text})
    return text


def offline_reply(
    messages: list[BaseMessage],
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
) -> AIMessage:
    """The reply to a prompt (see the module docstring)."""
    humans = [m for m in messages if isinstance(m, HumanMessage)]
    question = _text(humans[-1]) if humans else (_text(messages[-1]) if messages else "")
    last = messages[-1] if messages else None
    if tools:
        forced = _forced_tool(tools, tool_choice)
        if forced is not None:
            schema = forced["function"].get("parameters") or {}
            return _call(forced, _value({**schema, "type": "object"}, "", question))
        if isinstance(last, ToolMessage):
            result = _text(last)
            if last.name == "calculator":
                return AIMessage(content=f"The answer is {result}.")
            return AIMessage(content=best_sentence(result, question) or UNKNOWN_TEXT)
        names = {t["function"]["name"]: t for t in tools}
        found = arithmetic_in(question)
        if found and "calculator" in names:
            return _call(names["calculator"], {"expression": found[0]})
        for tool in tools:
            properties = (tool["function"].get("parameters") or {}).get("properties") or {}
            if list(properties) == ["query"]:
                return _call(tool, {"query": question})
    return AIMessage(content=_text_reply(messages, question))


class OfflineChatModel(GenericFakeChatModel):
    """``GenericFakeChatModel`` with computed replies and tool calling (module docstring)."""

    messages: Iterator[AIMessage | str] = iter(())
    """Scripted replies, used first and in order."""

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _reply(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        scripted = next(self.messages, None)
        if scripted is None:
            message = offline_reply(messages, kwargs.get("tools"), kwargs.get("tool_choice"))
        elif isinstance(scripted, str):
            message = AIMessage(content=scripted)
        else:
            message = scripted
        prompt_words = sum(len(_text(m).split()) for m in messages)
        output_words = len(_text(message).split())
        message.usage_metadata = {
            "input_tokens": prompt_words,
            "output_tokens": output_words,
            "total_tokens": prompt_words + output_words,
        }
        message.response_metadata = {"model_name": LABEL, "finish_reason": "stop"}
        if message.id is None:
            message.id = f"offline-{uuid.uuid4().hex[:12]}"
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, **kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._reply(messages, **kwargs)
        text = _text(message)
        tokens = re.findall(r"\s*\S+\s*$|\s*\S+", text) if text.strip() else []
        for index, token in enumerate(tokens):
            last = index == len(tokens) - 1 and not message.tool_calls
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content=token,
                    id=message.id,
                    usage_metadata=message.usage_metadata if last else None,
                    response_metadata=message.response_metadata if last else {},
                    chunk_position="last" if last else None,
                )
            )
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
        if message.tool_calls or not tokens:
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    id=message.id,
                    tool_call_chunks=[
                        {
                            "name": call["name"],
                            "args": json.dumps(call["args"]),
                            "id": call["id"],
                            "index": i,
                            "type": "tool_call_chunk",
                        }
                        for i, call in enumerate(message.tool_calls)
                    ],
                    usage_metadata=message.usage_metadata,
                    response_metadata=message.response_metadata,
                    chunk_position="last",
                )
            )
            if run_manager:
                run_manager.on_llm_new_token("", chunk=chunk)
            yield chunk


# ------------------------------------------------------------------- the embedding


class LocalHashEmbeddings(Embeddings):
    """A deterministic local embedding: signed feature hashing of a text's content words.

    Stable across processes and machines (BLAKE2b, not Python's salted ``hash``); texts that
    share words are close, texts that do not are orthogonal or nearly so.
    """

    def __init__(self, dimensions: int = 256):
        self.dimensions = dimensions

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in content_words(text):
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "big") % self.dimensions
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:  # no content words: a fixed unit vector, similar to nothing else
            vector[0] = 1.0
            return vector
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)

    # Hashing a few texts takes microseconds: the async API computes on the loop instead of
    # hopping to a thread as LangChain's default does.

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)
