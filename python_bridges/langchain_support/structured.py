"""Structured output held to its JSON Schema.

``with_structured_output`` asks the model for JSON of a schema but returns whatever JSON the
model sent. :func:`checked_schema` rejects a schema that is not valid JSON Schema when the chain
is created; :func:`conforming` is the last step of a structured chain: it passes streamed
partial objects through as they come and checks the final object, raising
``OutputParserException`` (category ``model_error``) that names where the answer breaks the
schema, so a caller never receives an object its schema does not describe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from langchain_core.exceptions import OutputParserException
from langchain_core.runnables import Runnable, RunnableConfig

_MAX_REPORTED = 3


def checked_schema(schema: dict[str, Any]) -> str | None:
    """``None`` when ``schema`` is valid JSON Schema (2020-12), else what is wrong with it."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "the top level"
        return f"at {where}: {exc.message}"
    return None


def violations(validator: Draft202012Validator, value: Any) -> list[str]:
    """Where and how ``value`` breaks the schema, first few in document order."""
    errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top level)'}: {error.message}"
        for error in errors
    ]


class SchemaConformance(Runnable[Any, Any]):
    """Passes its input through, failing when the (final) value breaks the schema."""

    def __init__(self, schema: dict[str, Any]):
        self.title = str(schema.get("title", "Output"))
        self.validator = Draft202012Validator(schema)

    def check(self, value: Any) -> Any:
        found = violations(self.validator, value)
        if found:
            shown = "; ".join(found[:_MAX_REPORTED])
            more = f" (and {len(found) - _MAX_REPORTED} more)" if len(found) > _MAX_REPORTED else ""
            raise OutputParserException(
                f"the model's answer does not match the schema '{self.title}': {shown}{more}"
            )
        return value

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.check(input)

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        # Structured output streams cumulative partial objects: the last one is the answer.
        last: Any = None
        for chunk in input:
            last = chunk
            yield chunk
        self.check(last)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        yield self.check(input)

    # The async twins check on the loop: the default ones would hop to a thread for a
    # schema check of microseconds.

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.check(input)

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        last: Any = None
        async for chunk in input:
            last = chunk
            yield chunk
        self.check(last)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        yield self.check(input)
