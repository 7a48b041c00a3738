"""Chains: what ``create_chain``, ``create_conversation`` and ``create_agent`` make.

Every kind is a session resource with an id, input and output JSON Schemas (what LangServe
served as ``/input_schema`` and ``/output_schema``), and a LangChain runnable built for the
chat model it runs with (the chain's own ``model``, else the session's, else the bridge
default), so that ``configure_model`` applies to chains created before it.

- ``llm``: ``prompt | model | parser``. The prompt is a template string (one user message)
  or a list of messages ``{"role": "system|user|assistant|placeholder", "template": ...}``
  (a placeholder names a ``variable`` holding a list of messages). The output is ``str``
  (``StrOutputParser``), ``json`` (``JsonOutputParser``) or ``structured``: the model's
  ``with_structured_output`` against a JSON Schema (``schema``), the answer checked against
  that schema (:mod:`.structured`).
- ``rag``: retrieve from a session retriever, then answer from the retrieved context with
  ``{context}`` and ``{question}`` in the prompt; the answer comes with its sources.
- ``agent``: ``langchain.agents.create_agent`` with tools from the registry (:mod:`.tools`);
  the answer comes with the tool calls made.
- ``conversation``: an ``llm`` chain whose prompt has a ``history`` placeholder, plus the
  session's message history of that conversation, kept by the bridge.
  (``RunnableWithMessageHistory`` and ``InMemoryChatMessageHistory`` are deprecated in
  langchain-core 1.x, so the bridge passes the history to the prompt itself.)

Every kind runs asynchronously on the worker's event loop (``ainvoke``, ``abatch``,
``astream``: :meth:`Chain.astream` turns a run's chunks into wire chunks), so one worker
holds many runs at once; the retrieval step of a ``rag`` chain searches with the
embeddings' async API too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from mlbridge import BridgeError

from .models import ModelHandle
from .retrieval import Retriever, check_id, check_k, document_to_wire
from .runs import message_to_wire, to_wire
from .tools import normalize_specs

KINDS = ("llm", "rag", "agent", "conversation", "runnable")
OUTPUTS = ("str", "json", "structured")
ROLES = {
    "system": "system",
    "human": "human",
    "user": "human",
    "ai": "ai",
    "assistant": "ai",
    "placeholder": "placeholder",
}
TEMPLATE_FORMATS = ("f-string", "mustache")
STRUCTURED_METHODS = ("json_schema", "function_calling", "json_mode")
HISTORY = "history"
DEFAULT_RAG_SYSTEM = (
    "Answer the question using only the context below. If the context does not contain "
    "the answer, say that you don't know.\n\nContext:\n{context}"
)
DEFAULT_AGENT_SYSTEM = (
    "You are a helpful assistant. Use the tools when they help, then answer briefly."
)
MAX_TEMPLATE = 100_000

Retrievers = Callable[[str], Retriever]


def invalid(message: str) -> BridgeError:
    return BridgeError(message, category="invalid_argument")


# ------------------------------------------------------------------------ prompts


def build_prompt(raw: Any, template_format: str = "f-string") -> Any:
    """A ``ChatPromptTemplate`` from a template string or a list of messages."""
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    if template_format not in TEMPLATE_FORMATS:
        raise invalid(f"template_format must be one of {list(TEMPLATE_FORMATS)}")
    if isinstance(raw, str):
        raw = [{"role": "user", "template": raw}]
    if not isinstance(raw, list) or not raw:
        raise invalid(
            "prompt must be a template string or a non-empty list of messages "
            "{'role': 'system|user|assistant|placeholder', 'template': '...'}"
        )
    messages: list[Any] = []
    for index, item in enumerate(raw):
        if isinstance(item, list | tuple) and len(item) == 2:
            item = {"role": item[0], "template": item[1]}
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("role"), str)
            or (item["role"] not in ROLES)
        ):
            raise invalid(
                f"prompt[{index}] must be a map with 'role' (one of {sorted(ROLES)}) and 'template'"
            )
        role = ROLES[item["role"]]
        if role == "placeholder":
            variable = item.get("variable", HISTORY)
            if not isinstance(variable, str) or not variable.isidentifier():
                raise invalid(f"prompt[{index}]: variable must be an identifier")
            messages.append(
                MessagesPlaceholder(variable, optional=bool(item.get("optional", True)))
            )
            continue
        template = item.get("template", item.get("content"))
        if not isinstance(template, str) or len(template) > MAX_TEMPLATE:
            raise invalid(f"prompt[{index}]: template must be a string of at most 100000 chars")
        messages.append((role, template))
    try:
        return ChatPromptTemplate.from_messages(messages, template_format=template_format)
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid(f"invalid prompt: {exc}") from None


# ------------------------------------------------------------------------ outputs


@dataclass(frozen=True)
class OutputSpec:
    """How the model's answer becomes the chain's output."""

    kind: str = "str"
    schema: dict[str, Any] | None = None
    method: str | None = None

    @classmethod
    def parse(cls, args: dict[str, Any]) -> OutputSpec:
        kind = args.get("output", "str")
        schema = args.get("schema")
        method = args.get("method")
        if kind not in OUTPUTS:
            raise invalid(f"output must be one of {list(OUTPUTS)}")
        if kind != "structured":
            if schema is not None or method is not None:
                raise invalid("schema and method go with output: structured")
            return cls(kind)
        if not isinstance(schema, dict) or schema.get("type", "object") != "object":
            raise invalid("output structured needs 'schema': a JSON Schema of an object")
        if not isinstance(schema.get("properties"), dict) or not schema["properties"]:
            raise invalid("the schema needs 'properties'")
        if method is not None and method not in STRUCTURED_METHODS:
            raise invalid(f"method must be one of {list(STRUCTURED_METHODS)}")
        schema = {"type": "object", **schema}
        schema.setdefault("title", "Output")
        if not str(schema["title"]).replace("_", "").replace("-", "").isalnum():
            raise invalid("the schema's title must be letters, digits, _ and -")
        schema.setdefault("description", f"The {schema['title']} to return.")
        from .structured import checked_schema

        problem = checked_schema(schema)
        if problem is not None:
            raise invalid(f"the schema is not a valid JSON Schema: {problem}")
        return cls(kind, schema, method)

    def parser(self) -> Any:
        from langchain_core.output_parsers import JsonOutputParser, StrOutputParser

        return JsonOutputParser() if self.kind == "json" else StrOutputParser()

    def model_part(self, model: Any) -> Any:
        """``model | parser``, or the model's structured output runnable."""
        if self.kind != "structured":
            return model | self.parser()
        kwargs = {"method": self.method} if self.method else {}
        from .structured import SchemaConformance

        assert self.schema is not None
        try:
            answer = model.with_structured_output(self.schema, **kwargs)
        except (ValueError, NotImplementedError) as exc:
            raise invalid(f"structured output: {exc}") from None
        return answer | SchemaConformance(self.schema)

    def json_schema(self) -> dict[str, Any]:
        if self.kind == "structured":
            assert self.schema is not None
            return self.schema
        return self.parser().get_output_jsonschema()

    def public(self) -> Any:
        if self.kind != "structured":
            return self.kind
        return {"kind": self.kind, "schema": self.schema, "method": self.method or "default"}


# ------------------------------------------------------------------------ chains


@dataclass
class RunEnv:
    """What a chain runs with: the chat model, and the session's retrievers."""

    model: ModelHandle
    retrievers: Retrievers


@dataclass
class Chain:
    """Common to every kind: id, spec, pinned model, schemas, the built runnable."""

    chain_id: str
    kind: str
    spec: dict[str, Any]
    model: ModelHandle | None = None
    calls: int = 0
    created: float = field(default_factory=time.time)
    _cache: tuple[tuple[Any, ...], Any] | None = field(default=None, repr=False)

    # -- building

    def runnable(self, env: RunEnv) -> Any:
        """The runnable for ``env``, rebuilt only when the model or a retriever changed."""
        parts = self.parts(env)
        if self._cache is not None and len(self._cache[0]) == len(parts):
            if all(a is b for a, b in zip(self._cache[0], parts, strict=True)):
                return self._cache[1]
        built = self.build(env)
        self._cache = (parts, built)
        return built

    def parts(self, env: RunEnv) -> tuple[Any, ...]:
        return (env.model.model,)

    def build(self, env: RunEnv) -> Any:
        raise NotImplementedError

    # -- inputs and outputs

    def input_schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def output_schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def prepare(self, raw: Any) -> Any:
        """The runnable's input for a request's ``input``."""
        if not isinstance(raw, dict):
            raise invalid("input must be a map of the prompt's variables")
        return raw

    def result(self, output: Any) -> dict[str, Any]:
        return {"output": to_wire(output)}

    async def astream(
        self, runnable: Any, value: Any, config: dict[str, Any]
    ) -> AsyncIterator[Any]:
        """Wire chunks as they come; the last item yielded is ``("result", output)``."""
        last: Any = None
        text: list[str] = []
        async for chunk in runnable.astream(value, config):
            if isinstance(chunk, str):
                if chunk:
                    text.append(chunk)
                    yield {"token": chunk}
            elif chunk != last:
                last = chunk
                yield {"partial": to_wire(chunk)}
        yield ("result", "".join(text) if text or last is None else last)

    # -- description

    def info(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "input_schema": self.input_schema(),
            "output_schema": self.output_schema(),
            "spec": to_wire(self.spec),
        }

    def summary(self) -> dict[str, Any]:
        summary = {
            "chain_id": self.chain_id,
            "type": self.kind,
            "calls": self.calls,
            "created": self.created,
        }
        if self.model is not None:
            summary["model"] = self.model.label
        return summary


def _one_variable_input(raw: Any, variables: list[str]) -> Any:
    if isinstance(raw, str) and len(variables) == 1:
        return {variables[0]: raw}
    return raw


@dataclass
class LLMChain(Chain):
    """``prompt | model | parser``."""

    prompt: Any = None
    output: OutputSpec = field(default_factory=OutputSpec)

    def build(self, env: RunEnv) -> Any:
        return (self.prompt | self.output.model_part(env.model.model)).with_config(
            run_name=self.chain_id
        )

    def variables(self) -> list[str]:
        return sorted(self.prompt.input_variables)

    def input_schema(self) -> dict[str, Any]:
        return self.prompt.get_input_jsonschema()

    def output_schema(self) -> dict[str, Any]:
        return self.output.json_schema()

    def prepare(self, raw: Any) -> Any:
        return super().prepare(_one_variable_input(raw, self.variables()))

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "input_variables": self.variables(),
            "output": self.output.public(),
        }


@dataclass
class RagChain(Chain):
    """Retrieve, then answer from the context; the result carries the sources."""

    prompt: Any = None
    output: OutputSpec = field(default_factory=OutputSpec)
    retriever_id: str = ""
    k: int | None = None

    def parts(self, env: RunEnv) -> tuple[Any, ...]:
        return (env.model.model, env.retrievers(self.retriever_id))

    def build(self, env: RunEnv) -> Any:
        from langchain_core.runnables import RunnableLambda, RunnablePassthrough

        retriever = env.retrievers(self.retriever_id)
        k = self.k

        def retrieve(value: dict[str, Any]) -> list[tuple[Any, float]]:
            retriever.queries += 1
            return retriever.store.similarity_search_with_score(
                str(value["question"]), k=k or retriever.k
            )

        async def aretrieve(value: dict[str, Any]) -> list[tuple[Any, float]]:
            retriever.queries += 1
            return await retriever.store.asimilarity_search_with_score(
                str(value["question"]), k=k or retriever.k
            )

        def context(value: dict[str, Any]) -> str:
            return "\n\n".join(
                f"[{i + 1}] {doc.page_content}" for i, (doc, _) in enumerate(value["context"])
            )

        answer = (
            RunnablePassthrough.assign(context=RunnableLambda(context, name="format_context"))
            | self.prompt
            | self.output.model_part(env.model.model)
        )
        return (
            RunnablePassthrough.assign(
                context=RunnableLambda(retrieve, afunc=aretrieve, name="retrieve")
            )
            .assign(answer=answer)
            .with_config(run_name=self.chain_id)
        )

    def variables(self) -> list[str]:
        return sorted(set(self.prompt.input_variables) - {"context"})

    def input_schema(self) -> dict[str, Any]:
        properties = {v: {"title": v.title(), "type": "string"} for v in self.variables()}
        return {
            "title": "RagInput",
            "type": "object",
            "properties": properties,
            "required": self.variables(),
        }

    def output_schema(self) -> dict[str, Any]:
        return {
            "title": "RagOutput",
            "type": "object",
            "properties": {
                "output": self.output.json_schema(),
                "sources": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "text": {"type": "string"},
                            "metadata": {"type": "object"},
                            "score": {"type": "number"},
                        },
                    },
                },
            },
        }

    def prepare(self, raw: Any) -> Any:
        value = super().prepare(_one_variable_input(raw, ["question"]))
        if not isinstance(value.get("question"), str) or not value["question"].strip():
            raise invalid("a rag chain's input needs 'question' (a non-empty string)")
        return value

    def result(self, output: Any) -> dict[str, Any]:
        return {
            "output": to_wire(output["answer"]),
            "sources": [document_to_wire(doc, score) for doc, score in output["context"]],
        }

    async def astream(
        self, runnable: Any, value: Any, config: dict[str, Any]
    ) -> AsyncIterator[Any]:
        sources: list[Any] = []
        text: list[str] = []
        last: Any = None
        async for chunk in runnable.astream(value, config):
            if "context" in chunk:
                sources = chunk["context"]
                yield {"sources": [document_to_wire(d, s) for d, s in sources]}
            if "answer" in chunk:
                piece = chunk["answer"]
                if isinstance(piece, str):
                    if piece:
                        text.append(piece)
                        yield {"token": piece}
                elif piece != last:
                    last = piece
                    yield {"partial": to_wire(piece)}
        answer = "".join(text) if text or last is None else last
        yield ("result", {"answer": answer, "context": sources})

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "retriever_id": self.retriever_id,
            "k": self.k,
            "output": self.output.public(),
        }


@dataclass
class AgentChain(Chain):
    """``create_agent`` with registry tools; the result carries the tool calls made."""

    tools: list[dict[str, Any]] = field(default_factory=list)
    system_prompt: str = DEFAULT_AGENT_SYSTEM
    max_iterations: int = 10

    def parts(self, env: RunEnv) -> tuple[Any, ...]:
        retrievers = tuple(
            env.retrievers(t["retriever_id"]) for t in self.tools if t["name"] == "retriever"
        )
        return (env.model.model, *retrievers)

    def build(self, env: RunEnv) -> Any:
        from langchain.agents import create_agent

        from .tools import build_tools

        tools = build_tools(self.tools, env.retrievers)
        try:
            graph = create_agent(
                env.model.model, tools, system_prompt=self.system_prompt, name=self.chain_id
            )
        except NotImplementedError as exc:
            raise BridgeError(
                f"the model {env.model.label!r} cannot call tools: {exc}",
                category="invalid_configuration",
            ) from None
        # Each iteration is a model step and a tools step; one more for the final answer.
        return graph.with_config(recursion_limit=2 * self.max_iterations + 1)

    def input_schema(self) -> dict[str, Any]:
        return {
            "title": "AgentInput",
            "type": "object",
            "properties": {
                "input": {"type": "string", "description": "the user's request"},
                "messages": {
                    "type": "array",
                    "description": "or a conversation: maps with 'role' and 'content'",
                    "items": {
                        "type": "object",
                        "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
                        "required": ["role", "content"],
                    },
                },
            },
        }

    def output_schema(self) -> dict[str, Any]:
        return {
            "title": "AgentOutput",
            "type": "object",
            "properties": {
                "output": {"type": "string", "description": "the final answer"},
                "tool_calls": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "args": {"type": "object"},
                            "id": {"type": "string"},
                            "result": {"type": "string"},
                        },
                    },
                },
            },
        }

    def prepare(self, raw: Any) -> Any:
        if isinstance(raw, str):
            raw = {"input": raw}
        if not isinstance(raw, dict):
            raise invalid("an agent's input is a string, {'input': ...} or {'messages': [...]}")
        if isinstance(raw.get("input"), str) and raw["input"].strip():
            return {"messages": [{"role": "user", "content": raw["input"]}]}
        messages = raw.get("messages")
        if (
            isinstance(messages, list)
            and messages
            and all(
                isinstance(m, dict)
                and m.get("role") in ("user", "assistant", "system", "human", "ai")
                and isinstance(m.get("content"), str)
                for m in messages
            )
        ):
            return {"messages": [dict(m) for m in messages]}
        raise invalid(
            "an agent's input needs 'input' (a non-empty string) or 'messages' "
            "(maps with 'role' user|assistant|system and 'content')"
        )

    def result(self, output: Any) -> dict[str, Any]:
        return agent_result(output["messages"])

    async def astream(
        self, runnable: Any, value: Any, config: dict[str, Any]
    ) -> AsyncIterator[Any]:
        from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

        messages: list[Any] = []
        async for mode, data in runnable.astream(
            value, config, stream_mode=["messages", "updates"]
        ):
            if mode == "messages":
                chunk, _ = data
                if isinstance(chunk, AIMessageChunk) and isinstance(chunk.content, str):
                    if chunk.content:
                        yield {"token": chunk.content}
                continue
            for update in (data or {}).values():
                for message in (
                    (update or {}).get("messages", []) if isinstance(update, dict) else []
                ):
                    messages.append(message)
                    if isinstance(message, AIMessage):
                        for call in message.tool_calls:
                            yield {
                                "tool_call": {
                                    "name": call["name"],
                                    "args": to_wire(call["args"]),
                                    "id": call.get("id"),
                                }
                            }
                    elif isinstance(message, ToolMessage):
                        yield {
                            "tool_result": {
                                "name": message.name,
                                "id": message.tool_call_id,
                                "result": to_wire(message.content),
                            }
                        }
        yield ("result", {"messages": messages})

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "tools": [t["tool_name"] for t in self.tools],
            "max_iterations": self.max_iterations,
        }


def agent_result(messages: list[Any]) -> dict[str, Any]:
    """The final answer and the tool calls (with their results) of an agent's messages."""
    from langchain_core.messages import AIMessage, ToolMessage

    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    calls = []
    final = ""
    for message in messages:
        if not isinstance(message, AIMessage):
            continue
        for call in message.tool_calls:
            answered = results.get(call.get("id"))
            calls.append(
                {
                    "name": call["name"],
                    "args": to_wire(call["args"]),
                    "id": call.get("id"),
                    "result": to_wire(answered.content) if answered is not None else None,
                    "status": getattr(answered, "status", None) if answered else "not run",
                }
            )
        if not message.tool_calls:
            final = message.text if hasattr(message, "text") else str(message.content)
    return {
        "output": to_wire(final),
        "tool_calls": calls,
        "steps": sum(1 for m in messages if isinstance(m, AIMessage)),
    }


@dataclass
class Conversation(Chain):
    """An ``llm`` chain with a ``history`` placeholder, and the messages so far.

    ``turn_lock``: a turn holds it from reading the history to remembering its reply, so
    turns never interleave, even in the anonymous session (whose calls the SDK runs side by
    side; a named session's calls already run one at a time).
    """

    prompt: Any = None
    history: list[Any] = field(default_factory=list)
    max_messages: int = 100
    turns: int = 0
    turn_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)

    def build(self, env: RunEnv) -> Any:
        from langchain_core.output_parsers import StrOutputParser

        return (self.prompt | env.model.model | StrOutputParser()).with_config(
            run_name=self.chain_id
        )

    def variables(self) -> list[str]:
        return sorted(set(self.prompt.input_variables) - {HISTORY})

    def input_schema(self) -> dict[str, Any]:
        schema = dict(self.prompt.get_input_jsonschema())
        properties = dict(schema.get("properties") or {})
        properties.pop(HISTORY, None)
        schema["properties"] = properties
        schema["required"] = [r for r in schema.get("required", []) if r != HISTORY]
        schema.pop("$defs", None)
        return schema

    def output_schema(self) -> dict[str, Any]:
        return {"title": "ConversationOutput", "type": "string"}

    def prepare(self, raw: Any) -> Any:
        value = super().prepare(_one_variable_input(raw, ["input"]))
        if not isinstance(value.get("input"), str):
            raise invalid("a conversation's input needs 'input' (the user's message)")
        return {**value, HISTORY: list(self.history)}

    def remember(self, user: str, reply: str) -> None:
        from langchain_core.messages import AIMessage, HumanMessage

        self.history.extend([HumanMessage(content=user), AIMessage(content=reply)])
        self.turns += 1
        excess = len(self.history) - self.max_messages
        if excess > 0:
            del self.history[: excess + (excess % 2)]  # whole turns

    def restore(self, messages: Any, turns: Any = None) -> None:
        """Replace the history with ``messages`` as :meth:`messages` gives them."""
        from langchain_core.messages import AIMessage, HumanMessage

        kinds = {"user": HumanMessage, "assistant": AIMessage}
        if not isinstance(messages, list) or len(messages) > self.max_messages:
            raise ValueError(f"messages must be a list of at most {self.max_messages} messages")
        history = []
        for item in messages:
            role = item.get("role") if isinstance(item, dict) else None
            if role not in kinds or not isinstance(item.get("content"), str):
                raise ValueError("each message needs a role (user, assistant) and a content string")
            history.append(kinds[role](content=item["content"]))
        if turns is not None and (isinstance(turns, bool) or not isinstance(turns, int)):
            raise ValueError("turns must be an integer")
        self.history = history
        self.turns = len(history) // 2 if turns is None else turns

    async def astream(
        self, runnable: Any, value: Any, config: dict[str, Any]
    ) -> AsyncIterator[Any]:
        text: list[str] = []
        async for chunk in runnable.astream(value, config):
            if chunk:
                text.append(chunk)
                yield {"token": chunk}
        yield ("result", "".join(text))

    def messages(self) -> list[dict[str, Any]]:
        return [message_to_wire(m) for m in self.history]

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "input_variables": self.variables(),
            "turns": self.turns,
            "history_length": len(self.history),
            "max_messages": self.max_messages,
        }


# ----------------------------------------------------------------------- creating


_LLM_KEYS = {"chain_id", "type", "prompt", "template_format", "output", "schema", "method"}
_RAG_KEYS = _LLM_KEYS | {"retriever_id", "k"}
_COMMON = {"model", "replace", "description"}


def _check_keys(args: dict[str, Any], known: set[str], what: str) -> None:
    unknown = sorted(set(args) - known - _COMMON)
    if unknown:
        raise invalid(f"{what}: unknown arguments {unknown}; known: {sorted(known | _COMMON)}")


def create_chain(
    chain_id: str, args: dict[str, Any], model: ModelHandle | None, retrievers: Retrievers
) -> Chain:
    """An ``llm`` or ``rag`` chain, or the user's runnable (:mod:`.user_chain`), from
    ``create_chain``'s arguments."""
    kind = args.get("type", "runnable" if "runnable" in args else "llm")
    if kind == "runnable" or "runnable" in args:
        from .user_chain import create_user_chain

        return create_user_chain(chain_id, args)
    spec = {k: v for k, v in args.items() if k not in ("replace", "chain_id")}
    if kind == "llm":
        _check_keys(args, _LLM_KEYS, "create_chain")
        if "prompt" not in args:
            raise invalid("create_chain needs 'prompt' (a template string or a list of messages)")
        prompt = build_prompt(args["prompt"], args.get("template_format", "f-string"))
        return LLMChain(chain_id, "llm", spec, model, prompt=prompt, output=OutputSpec.parse(args))
    if kind == "rag":
        _check_keys(args, _RAG_KEYS, "create_chain (rag)")
        retriever_id = check_id(args.get("retriever_id"), "retriever_id")
        retrievers(retriever_id)  # must exist now
        raw_prompt = args.get("prompt") or [
            {"role": "system", "template": DEFAULT_RAG_SYSTEM},
            {"role": "user", "template": "{question}"},
        ]
        prompt = build_prompt(raw_prompt, args.get("template_format", "f-string"))
        missing = {"context", "question"} - set(prompt.input_variables)
        if missing:
            raise invalid(
                f"a rag prompt needs the variables {{context}} and {{question}}; "
                f"missing {sorted(missing)}"
            )
        k = check_k(args.get("k"), 0) or None
        return RagChain(
            chain_id,
            "rag",
            spec,
            model,
            prompt=prompt,
            output=OutputSpec.parse(args),
            retriever_id=retriever_id,
            k=k,
        )
    if kind in ("agent", "conversation"):
        raise invalid(f"use create_{kind} to make a {kind}")
    raise invalid(
        f"unknown chain type {kind!r}; create_chain makes 'llm' or 'rag' chains, or serves "
        "your own with runnable: 'package.module:attr'"
    )


_AGENT_KEYS = {"agent_id", "chain_id", "tools", "system_prompt", "max_iterations"}


def create_agent(
    chain_id: str, args: dict[str, Any], model: ModelHandle | None, retrievers: Retrievers
) -> AgentChain:
    _check_keys(args, _AGENT_KEYS, "create_agent")
    try:
        tools = normalize_specs(args.get("tools"))
    except ValueError as exc:
        raise invalid(str(exc)) from None
    for tool in tools:
        if tool["name"] == "retriever":
            retrievers(tool["retriever_id"])  # must exist now
    system_prompt = args.get("system_prompt", DEFAULT_AGENT_SYSTEM)
    if not isinstance(system_prompt, str) or len(system_prompt) > MAX_TEMPLATE:
        raise invalid("system_prompt must be a string")
    iterations = args.get("max_iterations", 10)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or not 1 <= iterations <= 50:
        raise invalid("max_iterations must be an integer from 1 to 50")
    spec = {k: v for k, v in args.items() if k not in ("replace", "chain_id", "agent_id")}
    return AgentChain(
        chain_id,
        "agent",
        spec,
        model,
        tools=tools,
        system_prompt=system_prompt,
        max_iterations=iterations,
    )


_CONVERSATION_KEYS = {"conversation_id", "chain_id", "system_prompt", "prompt", "max_messages"}


def create_conversation(
    conversation_id: str,
    args: dict[str, Any],
    model: ModelHandle | None,
    base: Chain | None,
    default_max: int,
) -> Conversation:
    """A conversation from a system prompt, a prompt, or an existing ``llm`` chain."""
    _check_keys(args, _CONVERSATION_KEYS, "create_conversation")
    given = [k for k in ("chain_id", "system_prompt", "prompt") if args.get(k) is not None]
    if len(given) > 1:
        raise invalid(f"give at most one of chain_id, system_prompt and prompt (got {given})")
    if base is not None:
        if not isinstance(base, LLMChain) or base.output.kind != "str":
            raise invalid(
                f"chain {base.chain_id!r} cannot hold a conversation: it must be an llm chain "
                "with output str"
            )
        prompt = base.prompt
        model = model or base.model
    elif args.get("prompt") is not None:
        prompt = build_prompt(args["prompt"])
    else:
        system_prompt = args.get("system_prompt") or "You are a helpful assistant."
        if not isinstance(system_prompt, str) or len(system_prompt) > MAX_TEMPLATE:
            raise invalid("system_prompt must be a string")
        prompt = build_prompt(
            [
                {"role": "system", "template": system_prompt},
                {"role": "placeholder", "variable": HISTORY},
                {"role": "user", "template": "{input}"},
            ]
        )
    names = set(prompt.input_variables) | set(getattr(prompt, "optional_variables", []) or [])
    if HISTORY not in names or "input" not in prompt.input_variables:
        raise invalid(
            "a conversation's prompt needs a placeholder for 'history' "
            "({'role': 'placeholder', 'variable': 'history'}) and an {input} variable"
        )
    max_messages = args.get("max_messages", default_max)
    if (
        isinstance(max_messages, bool)
        or not isinstance(max_messages, int)
        or not 2 <= max_messages <= 10_000
    ):
        raise invalid("max_messages must be an integer from 2 to 10000")
    spec = {k: v for k, v in args.items() if k not in ("replace", "conversation_id")}
    return Conversation(
        conversation_id, "conversation", spec, model, prompt=prompt, max_messages=max_messages
    )
