"""The offline LM: DSPy's own ``DummyLM`` answering any signature deterministically.

``dspy.utils.DummyLM`` replays scripted answers. :class:`OfflineLM` is a ``DummyLM`` whose
answers are computed from the prompt instead, so that every program works with no model
and no network:

- a few-shot demo whose inputs equal the request's is answered as the demo was (the
  ``follow_examples`` idea of ``DummyLM``, so an optimized program answers its demos);
- otherwise every output field the prompt asks for gets a value of its type: the result of
  an arithmetic expression found in the inputs (``"What is 2+2?"`` → ``4``) for text and
  number fields, else ``"offline answer"`` / ``0`` / ``0.0`` / ``True`` / ``[...]`` /
  ``{}`` / a literal's first option, and for a type with a JSON schema in the prompt (a
  Pydantic model, a list of them) the smallest value that schema accepts; a ReAct step
  calls ``calculator`` once for an arithmetic question, then ``finish``.

Replies use the format of the adapter that asked (ChatAdapter markers or a JSON object).
The bridge marks every answer from this LM with ``"lm": "offline DummyLM"``.

This relies on DSPy 3.4's DummyLM engine (``dspy.clients.engines.dummy_engine``); the
version is pinned in requirements.txt.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dspy.clients.engines.dummy_engine import AsyncDummyEngine, DummyEngine
from dspy.lm15 import Message, Response, TextPart, Usage
from dspy.utils.dummies import DummyLM

from mlbridge.arithmetic import arithmetic_in

LABEL = "offline DummyLM"
OFFLINE_TEXT = "offline answer"
OFFLINE_REASONING = "No language model is configured; this is DSPy's offline DummyLM."

_HEADER = re.compile(r"\[\[ ## (\w+) ## \]\]")
_OUTPUT_FIELD = re.compile(r"^\d+\. `(\w+)` \((.*?)\):?")
_REMINDER = re.compile(
    r"`(?:\[\[ ## )?(\w+)(?: ## \]\])?`"
    r"(?: \(must be formatted as a valid Python (.*?)\))?(?:,|\.|$)"
)


def _sections(text: str) -> dict[str, str]:
    """``[[ ## name ## ]]`` sections of a message, the output reminder cut off."""
    text = text.split("\n\nRespond with")[0]
    found: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        match = _HEADER.match(line.strip())
        if match:
            if current is not None:
                found.setdefault(current, "\n".join(lines).strip())
            current, lines = match.group(1), [line.strip()[match.end() :]]
        elif current is not None:
            lines.append(line)
    if current is not None:
        found.setdefault(current, "\n".join(lines).strip())
    found.pop("completed", None)
    return found


def output_fields(system: str, last_user: str) -> list[tuple[str, str]]:
    """``[(name, type)]`` of the outputs a ChatAdapter or JSONAdapter prompt asks for."""
    fields: list[tuple[str, str]] = []
    _, marker, rest = system.partition("Your output fields are:")
    for line in rest.splitlines()[1:] if marker else ():
        match = _OUTPUT_FIELD.match(line.strip())
        if match:
            fields.append((match.group(1), match.group(2)))
        elif line and not line.startswith((" ", "\t")) and fields:
            break
    if not fields:
        reminder = last_user.partition("Respond with")[2]
        fields = [(n, t or "str") for n, t in _REMINDER.findall(reminder) if n != "completed"]
    return fields


def _literal_options(type_: str) -> list[str]:
    inner = type_[type_.find("[") + 1 : type_.rfind("]")] if "[" in type_ else ""
    return [o.strip().strip("'\"") for o in inner.split(",") if o.strip()]


def _value(name: str, type_: str, inputs: dict[str, str]) -> Any:
    question = inputs.get("question") or " ".join(v for k, v in inputs.items() if k != "trajectory")
    found = arithmetic_in(question)
    result = found[1] if found else None
    base = type_.replace(" ", "")
    if name == "reasoning":
        return OFFLINE_REASONING
    if name == "next_thought":
        return "Offline step: use the calculator for arithmetic, then finish."
    if base.startswith("Literal["):
        options = _literal_options(type_)
        if "finish" in options:  # a ReAct step
            first_step = not any(k.startswith("observation_") for k in inputs) and (
                "observation_0" not in inputs.get("trajectory", "")
            )
            return (
                "calculator"
                if result is not None and first_step and ("calculator" in options)
                else "finish"
            )
        return options[0] if options else ""
    if base == "int":
        return int(result) if result is not None else 0
    if base == "float":
        return float(result) if result is not None else 0.0
    if base == "bool":
        return True
    if base.startswith(("list[", "tuple[", "set[")):
        return [_value("item", base[base.index("[") + 1 : -1].split(",")[0], {})]
    if base.startswith("dict") or base in ("Any",):
        return {}
    if base.startswith(("Optional[", "Union[")) or "|" in base:
        first = base.partition("[")[2].split(",")[0] if "[" in base else base.split("|")[0]
        return _value(name, first.rstrip("]"), inputs)
    return str(result) if result is not None else OFFLINE_TEXT


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    return json.dumps(value)


NOT_SUPPLIED = "Not supplied for this particular example."


def _demo_fields(content: str) -> dict[str, Any]:
    """The output values of a demo's answer (ChatAdapter sections or a JSON object)."""
    try:
        found = json.loads(content)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        found = {}
        for name, raw in _sections(content).items():
            try:
                found[name] = json.loads(raw)
            except ValueError:
                found[name] = raw
    return {k: v for k, v in found.items() if not str(v).strip().startswith(NOT_SUPPLIED)}


_SCHEMA = re.compile(
    r"\{(\w+)\}\s+# note: the value you produce must adhere to the JSON schema: (\{.*\})\s*$",
    re.M,
)


def _schemas(system: str) -> dict[str, Any]:
    """The JSON schemas the prompt gives for output fields of structured types."""
    found = {}
    for match in _SCHEMA.finditer(system):
        try:
            found[match.group(1)] = json.loads(match.group(2))
        except ValueError:
            continue
    return found


def from_schema(schema: Any, defs: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """The smallest value a JSON schema accepts (text ``"offline answer"``, numbers 0)."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    defs = {**(defs or {}), **schema.get("$defs", {})}
    if "$ref" in schema:
        return from_schema(defs.get(str(schema["$ref"]).rsplit("/", 1)[-1]), defs, depth + 1)
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key) or [] if o.get("type") != "null"]
        if options:
            return from_schema(options[0], defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: from_schema(v, defs, depth + 1) for k, v in props.items()}
    if kind == "array":
        return [from_schema(schema.get("items") or {"type": "string"}, defs, depth + 1)]
    return {"integer": 0, "number": 0.0, "boolean": True, "null": None}.get(str(kind), OFFLINE_TEXT)


def offline_reply(messages: list[dict[str, Any]]) -> str:
    """The reply content for a chat prompt (see the module docstring)."""
    texts = [
        (m.get("role"), m.get("content") if isinstance(m.get("content"), str) else "")
        for m in messages
    ]
    system = next((t for r, t in texts if r == "system"), "")
    users = [i for i, (r, _) in enumerate(texts) if r == "user"]
    last_user = texts[users[-1]][1] if users else ""
    inputs = _sections(last_user)
    schemas = _schemas(system)
    fields = {
        name: from_schema(schemas[name]) if name in schemas else _value(name, type_, inputs)
        for name, type_ in output_fields(system, last_user)
    }
    for index in users[:-1]:  # follow a demo with the same inputs
        if (
            index + 1 < len(texts)
            and texts[index + 1][0] == "assistant"
            and inputs
            and _sections(texts[index][1]) == inputs
        ):
            demo = _demo_fields(texts[index + 1][1])
            fields.update({k: v for k, v in demo.items() if k in fields})
            break
    if "next_tool_args" in fields and not fields["next_tool_args"]:
        found = arithmetic_in(inputs.get("question") or " ".join(inputs.values()))
        calling = fields.get("next_tool_name") == "calculator" and found
        fields["next_tool_args"] = {"expression": found[0]} if calling else {}
    if "Respond with a JSON object" in last_user:
        return json.dumps(fields)
    if not fields:
        return OFFLINE_TEXT
    parts = [f"[[ ## {name} ## ]]\n{_format(value)}" for name, value in fields.items()]
    return "\n\n".join([*parts, "[[ ## completed ## ]]"])


class OfflineEngine(DummyEngine):
    """DummyLM's engine with computed answers and word-count usage."""

    def _complete_messages(self, messages: list[dict[str, Any]]) -> Response:
        text = offline_reply(messages)
        prompt_words = sum(len(str(m.get("content") or "").split()) for m in messages)
        output_words = len(text.split())
        return Response(
            id=None,
            model="dummy",
            message=Message.assistant([TextPart(text)]),
            finish_reason="stop",
            usage=Usage(
                input_tokens=prompt_words,
                output_tokens=output_words,
                total_tokens=prompt_words + output_words,
            ),
        )


class OfflineLM(DummyLM):
    """``dspy.utils.DummyLM`` that answers any signature (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(answers=[])
        self._use_offline_engine()

    def _use_offline_engine(self) -> None:
        self._engine_spec = OfflineEngine(self)
        self._async_engine_spec = AsyncDummyEngine(self._engine_spec)

    def copy(self, **kwargs: Any) -> OfflineLM:
        copied = super().copy(**kwargs)
        copied._use_offline_engine()
        return copied
