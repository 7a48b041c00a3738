"""Unit tests of errors, command discovery, sessions and the call context."""

from __future__ import annotations

from typing import Any

import pytest

from mlbridge import BaseBridge, BridgeError, CallContext, command
from mlbridge.command import build_routes, discover
from mlbridge.errors import exception_to_error, type_name
from mlbridge.resources import SessionStore


class _Outer(Exception):
    pass


_Outer.__module__ = "litellm.exceptions"


def test_type_names() -> None:
    assert type_name(ValueError) == "ValueError"
    assert type_name(_Outer) == "litellm._Outer"
    assert type_name(BridgeError) == "mlbridge.BridgeError"


def test_exception_to_error_has_type_message_traceback() -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        error = exception_to_error(exc)
    assert error["type"] == "KeyError"
    assert error["message"] == "'missing'"
    assert "Traceback (most recent call last)" in error["traceback"]
    assert "category" not in error


def test_bridge_error_category_and_type() -> None:
    error = exception_to_error(BridgeError("slow down", category="rate_limit", type="Throttled"))
    assert (error["type"], error["message"], error["category"]) == (
        "Throttled",
        "slow down",
        "rate_limit",
    )
    with pytest.raises(ValueError, match="unknown error category"):
        BridgeError("x", category="sort_of_bad")


def test_empty_message_falls_back_to_the_type() -> None:
    assert exception_to_error(RuntimeError())["message"] == "RuntimeError"


class _Bridge(BaseBridge):
    framework = "demo"

    @command("hello", description="Say hello.")
    def hello(self, args: Any, ctx: CallContext) -> str:
        return "hi"

    @command()
    def documented(self, args: Any, ctx: CallContext) -> None:
        """First line is the description.

        Not this one.
        """


def test_discovery_namespaces_and_descriptions() -> None:
    commands = discover(_Bridge)
    assert commands["hello"][1].description == "Say hello."
    assert commands["documented"][1].description == "First line is the description."
    assert commands["ping"][1].builtin and not commands["hello"][1].builtin
    routes = build_routes(_Bridge(), commands, "demo")
    assert {"hello", "demo:hello", "ping", "common:ping"} <= routes.keys()
    assert "demo:ping" not in routes and "common:hello" not in routes


def test_override_without_decorator_keeps_the_command() -> None:
    class Child(_Bridge):
        def hello(self, args: Any, ctx: CallContext) -> str:
            return "child"

    routes = build_routes(Child(), discover(Child), "demo")
    assert routes["hello"](None, None) == "child"


def test_clash_with_builtin_is_refused() -> None:
    class Clash(BaseBridge):
        framework = "clash"

        @command("ping")
        def my_ping(self, args: Any, ctx: CallContext) -> None: ...

    with pytest.raises(TypeError, match="built-in 'ping'"):
        discover(Clash)


def test_bad_command_names() -> None:
    with pytest.raises(ValueError):
        command("a:b")
    with pytest.raises(TypeError):
        command(lambda self, args, ctx: None)  # type: ignore[arg-type]


def test_sessions_are_isolated_and_counted() -> None:
    store = SessionStore()
    store.get("a").resources["k"] = 1
    store.get("b").resources["k"] = 2
    store.get(None).resources["k"] = 3
    assert store.get("") is store.anonymous
    assert store.get("a").resources["k"] == 1 and store.get("b").resources["k"] == 2
    assert len(store) == 2 and store.resource_counts() == {"a": 1, "b": 1}
    assert store.drop("a") == 1 and "a" not in store and store.drop("a") == 0
    assert store.clear() == 2 and len(store) == 0 and not store.anonymous.resources


def test_context_streams_chunks_with_sequence_numbers() -> None:
    sent: list[dict[str, Any]] = []
    session = SessionStore().get("s1")
    ctx = CallContext(9, session, 1000, "w1", sent.append)
    ctx.stream("a")
    ctx.stream({"b": 1})
    assert sent == [
        {"type": "chunk", "id": 9, "seq": 0, "data": "a"},
        {"type": "chunk", "id": 9, "seq": 1, "data": {"b": 1}},
    ]
    assert (ctx.session_id, ctx.resources, ctx.worker_id, ctx.deadline_ms) == ("s1", {}, "w1", 1000)
