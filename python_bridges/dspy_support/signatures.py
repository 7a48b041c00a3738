"""Signatures from requests: DSPy's string form or structured fields.

String form (DSPy's own): ``"question, context: list[str] -> answer, confidence: float"``.
Structured form::

    {"inputs": [{"name": "question", "type": "str", "description": "..."}],
     "outputs": [{"name": "answer", "type": "float"}],
     "instructions": "Answer with a number."}

A signature of the user's own is a ``dspy.Signature`` class by import path
(``"myteam.programs:AnswerWithCitations"``, stored as ``{"ref": ...}``); its field types may
be Pydantic models. A field may also be the string ``"name: type"``. Types are those DSPy's
signature parser accepts (``str``, ``int``, ``float``, ``bool``, ``list[str]``, ``dict[str, Any]``,
``Literal['a', 'b']``, ``Optional[int]``, ...); they are parsed by DSPy, never evaluated.
Every problem raises ``ValueError`` with a message that names the field.
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any

from .user_refs import is_ref, resolve_signature

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = {"completed"}


def _field_list(raw: Any, role: str) -> list[dict[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"signature {role} must be a list of fields, got {type(raw).__name__}")
    fields = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            name, _, type_ = item.partition(":")
            item = {"name": name.strip(), "type": type_.strip() or "str"}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError(f"signature {role}[{index}] needs a 'name' (a string)")
        type_ = item.get("type") or "str"
        description = item.get("description", item.get("desc"))
        if not isinstance(type_, str) or (
            description is not None and not isinstance(description, str)
        ):
            raise ValueError(
                f"signature {role}[{index}] ({item['name']!r}): type and description are strings"
            )
        fields.append(
            {
                "name": item["name"].strip(),
                "type": type_.strip(),
                **({"description": description} if description else {}),
            }
        )
    return fields


def normalize_spec(signature: Any, instructions: Any = None) -> dict[str, Any]:
    """The canonical, JSON-able spec of a signature given as a string or a map."""
    if instructions is not None and not isinstance(instructions, str):
        raise ValueError("instructions must be a string")
    if isinstance(signature, str) and is_ref(signature):
        spec: dict[str, Any] = {"ref": signature}
    elif isinstance(signature, str):
        if signature.count("->") != 1:
            raise ValueError(
                f"signature {signature!r} must have the form 'inputs -> outputs' "
                "with exactly one '->'"
            )
        spec = {"string": signature.strip()}
    elif isinstance(signature, dict):
        unknown = set(signature) - {"inputs", "outputs", "instructions"}
        if unknown:
            raise ValueError(
                f"unknown signature keys {sorted(unknown)}; use inputs, outputs, instructions"
            )
        spec = {
            "inputs": _field_list(signature.get("inputs"), "inputs"),
            "outputs": _field_list(signature.get("outputs"), "outputs"),
        }
        instructions = instructions or signature.get("instructions")
    else:
        raise ValueError(
            "signature must be a string such as 'question -> answer', a map with inputs and "
            "outputs, or a dspy.Signature of your own by import path ('package.module:Sig')"
        )
    if instructions:
        spec["instructions"] = instructions
    build_signature(spec)  # validate now, so that a bad signature never becomes a program
    return spec


def build_signature(spec: dict[str, Any]) -> Any:
    """A ``dspy.Signature`` class from a canonical spec (see :func:`normalize_spec`)."""
    import dspy

    instructions = spec.get("instructions")
    if "ref" in spec:
        found = resolve_signature(spec["ref"])
        return found.with_instructions(instructions) if instructions else found
    if "string" in spec:
        text = spec["string"]
        descriptions: dict[str, str] = {}
    else:
        for role in ("inputs", "outputs"):
            for field in spec[role]:
                if not _NAME.fullmatch(field["name"]):
                    raise ValueError(f"field name {field['name']!r} is not an identifier")
        inputs = ", ".join(f"{f['name']}: {f['type']}" for f in spec["inputs"])
        outputs = ", ".join(f"{f['name']}: {f['type']}" for f in spec["outputs"])
        text = f"{inputs} -> {outputs}"
        descriptions = {
            f["name"]: f["description"]
            for f in spec["inputs"] + spec["outputs"]
            if f.get("description")
        }
    try:
        signature = dspy.Signature(text, instructions) if instructions else dspy.Signature(text)
    except (ValueError, SyntaxError, TypeError, NameError, KeyError, AttributeError) as exc:
        raise ValueError(f"invalid signature {text!r}: {exc}") from None
    names = list(signature.input_fields) + list(signature.output_fields)
    declared = [
        part.split(":")[0].strip() for side in text.split("->") for part in _top_level(side)
    ]
    repeated = sorted({n for n in declared if declared.count(n) > 1})
    if repeated:
        raise ValueError(f"invalid signature {text!r}: field {', '.join(repeated)} appears twice")
    if not signature.output_fields:
        raise ValueError(f"invalid signature {text!r}: it needs at least one output field")
    reserved = _RESERVED & set(names)
    if reserved:
        raise ValueError(
            f"invalid signature {text!r}: {sorted(reserved)} is reserved by DSPy's adapters"
        )
    for name, description in descriptions.items():
        signature = signature.with_updated_fields(name, desc=description)
    return signature


def _top_level(side: str) -> list[str]:
    """The comma-separated parts of one side of a signature, brackets respected."""
    parts, depth, current = [], 0, ""
    for char in side:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def type_name(annotation: Any) -> str:
    """A type as DSPy's prompts name it (``str``, ``list[str]``, ``Literal['a', 'b']``)."""
    from dspy.adapters.utils import get_annotation_name

    return get_annotation_name(annotation)


def describe(signature: Any) -> dict[str, Any]:
    """Fields (name, type, description) and instructions of a ``dspy.Signature``."""

    def fields(found: dict[str, Any]) -> list[dict[str, str]]:
        described = []
        for name, info in found.items():
            extra = info.json_schema_extra or {}
            entry = {"name": name, "type": type_name(info.annotation)}
            desc = extra.get("desc")
            if desc and desc != f"${{{name}}}":
                entry["description"] = desc
            described.append(entry)
        return described

    return {
        "inputs": fields(signature.input_fields),
        "outputs": fields(signature.output_fields),
        "instructions": signature.instructions,
        "string": signature_string(signature),
    }


def signature_string(signature: Any) -> str:
    """``"question: str, context: list[str] -> answer: str"``."""

    def side(found: dict[str, Any]) -> str:
        return ", ".join(f"{n}: {type_name(i.annotation)}" for n, i in found.items())

    return f"{side(signature.input_fields)} -> {side(signature.output_fields)}"


def derived_signature(module: Any, ref: str) -> Any:
    """The interface of a user module given without a signature: the named parameters of its
    ``forward`` as inputs, the outputs of its last predictor as outputs."""
    import dspy

    forward = type(module).forward  # not module.forward: DSPy warns on that access
    try:
        hints = typing.get_type_hints(forward)
    except Exception:  # noqa: BLE001 - unresolvable hints: the fields are text
        hints = {}
    params = [
        p
        for p in list(inspect.signature(forward).parameters.values())[1:]
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    predictors = module.predictors()
    if not params or not predictors:
        raise ValueError(
            f"{ref}: cannot tell its inputs and outputs (forward needs named parameters and "
            "the module a predictor); pass 'signature', e.g. 'question -> answer'"
        )
    fields: dict[str, Any] = {}
    for param in params:
        annotation = hints.get(param.name, str)
        fields[param.name] = (annotation, dspy.InputField())
    last = predictors[-1].signature
    for name, info in last.output_fields.items():
        if name != "reasoning" and name not in fields:
            fields[name] = (info.annotation, dspy.OutputField())
    try:
        return dspy.make_signature(fields)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{ref}: cannot derive its signature ({exc}); pass 'signature'") from None
