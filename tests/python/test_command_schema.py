"""``@command(schema=...)``: the SDK checks and keeps a command's JSON schemas, and
``list_commands`` reports them (what the host's OpenAPI document is built from)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import Spawn

from mlbridge import command
from mlbridge.builtins import describe_command
from mlbridge.command import CommandSpec, discover


class _Schemas:
    @command("typed", schema={"args": {"type": "object"}, "result": {"type": "string"}})
    def typed(self, args: Any, ctx: Any) -> str:
        """Answer a string.

        More text that is not the description."""
        return "x"

    @command("plain")
    def plain(self, args: Any, ctx: Any) -> None:
        return None


def _spec(name: str) -> CommandSpec:
    return discover(_Schemas)[name][1]


def test_schema_is_kept_and_description_defaults_to_the_docstring() -> None:
    spec = _spec("typed")
    assert spec.args_schema == {"type": "object"}
    assert spec.result_schema == {"type": "string"}
    assert spec.description == "Answer a string."


def test_describe_carries_schemas_only_where_declared() -> None:
    typed = describe_command("typed", _spec("typed"), "fw")
    assert typed == {
        "name": "typed",
        "namespace": "fw",
        "description": "Answer a string.",
        "args_schema": {"type": "object"},
        "result_schema": {"type": "string"},
    }
    plain = describe_command("plain", _spec("plain"), "fw")
    assert "args_schema" not in plain and "result_schema" not in plain


def test_args_only_schema() -> None:
    @command("a", schema={"args": {"type": "object", "required": ["x"]}})
    def handler(self: Any, args: Any, ctx: Any) -> None:
        return None

    spec = handler.__mlbridge_command__  # type: ignore[attr-defined]
    assert spec.args_schema == {"type": "object", "required": ["x"]}
    assert spec.result_schema is None


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"arguments": {}}, "unknown key(s) 'arguments'"),
        ({"args": "object"}, "schema['args'] must be a JSON Schema object"),
        ({"result": {"default": object()}}, "schema['result'] is not JSON"),
        (["args"], "must be a mapping"),
    ],
)
def test_bad_schema_is_refused_at_definition(schema: Any, message: str) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        command("x", schema=schema)


def test_echo_bridge_lists_its_schemas(spawn: Spawn) -> None:
    worker = spawn()
    worker.hello()
    listed = {c["name"]: c for c in worker.result("list_commands")["commands"]}
    assert listed["sleep"]["args_schema"]["properties"]["seconds"]["type"] == "number"
    assert listed["sleep"]["result_schema"]["required"] == ["slept"]
    assert listed["echo"]["description"] == "Return the arguments unchanged (bytes included)."
    assert "args_schema" not in listed["ping"]
