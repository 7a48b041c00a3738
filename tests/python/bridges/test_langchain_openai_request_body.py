"""The OpenAI chat-completion request body without the SDK's type walk (openai_request_body.py):
the same body the SDK's own transform makes, for every shape the bridge sends, and the SDK's own
transform for anything that is not plain JSON."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Required, TypedDict

import pytest

body_support = pytest.importorskip("langchain_support.openai_request_body")
openai = pytest.importorskip("openai")

from openai._utils import PropertyInfo  # noqa: E402
from openai._utils import async_maybe_transform as sdk_transform  # noqa: E402
from openai.resources.chat.completions import completions as completions_module  # noqa: E402
from openai.types.chat import completion_create_params as params  # noqa: E402

CREATE = params.CompletionCreateParamsNonStreaming
STREAM = params.CompletionCreateParamsStreaming

BODIES: list[dict[str, Any]] = [
    {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
    {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "Look a thing up.",
                    "parameters": {
                        "type": "object",
                        "properties": {"q": {"type": "string"}},
                        "required": ["q"],
                    },
                },
            }
        ],
        "tool_choice": "auto",
        "temperature": 0.2,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "seed": 7,
        "n": 1,
        "logit_bias": {"50256": -100},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
        "metadata": {"team": "search"},
        "stream": False,
    },
]


def transform(body: dict[str, Any], expected: Any, fast: bool) -> Any:
    function = completions_module.async_maybe_transform if fast else sdk_transform
    return asyncio.run(function(body, expected))


@pytest.fixture(scope="module", autouse=True)
def fast_path() -> None:
    assert body_support.install(), "the installed openai SDK should take the fast path"


@pytest.mark.parametrize("body", BODIES, ids=["minimal", "everything"])
@pytest.mark.parametrize("expected", [CREATE, STREAM], ids=["create", "stream"])
def test_the_same_body_as_the_sdks_transform(body: dict[str, Any], expected: Any) -> None:
    assert transform(body, expected, fast=True) == transform(body, expected, fast=False)


def test_omitted_parameters_are_dropped_as_the_sdk_drops_them() -> None:
    body = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": openai.NOT_GIVEN,
        "tools": openai.omit,
        "user": None,
    }
    fast = transform(body, CREATE, fast=True)
    assert fast == transform(body, CREATE, fast=False)
    assert "temperature" not in fast and "tools" not in fast and fast["user"] is None


def test_data_that_is_not_plain_json_goes_through_the_sdk() -> None:
    messages = ({"role": "user", "content": "hi"},)  # a tuple: the SDK makes it a list
    body = {"model": "gpt-test", "messages": messages}
    fast = transform(body, CREATE, fast=True)
    assert fast == transform(body, CREATE, fast=False)
    assert fast["messages"] == [{"role": "user", "content": "hi"}]


class Aliased(TypedDict, total=False):
    card_id: Required[Annotated[str, PropertyInfo(alias="cardID")]]


def test_other_parameter_types_go_through_the_sdk() -> None:
    out = asyncio.run(completions_module.async_maybe_transform({"card_id": "c"}, Aliased))
    assert out == {"cardID": "c"}


class Inner(TypedDict, total=False):
    when: Annotated[str, PropertyInfo(format="iso8601")]


class Outer(TypedDict, total=False):
    items: list[Inner | None]


class Clean(TypedDict, total=False):
    items: list[dict[str, int] | None]


def test_a_property_info_anywhere_in_the_annotations_is_found() -> None:
    assert not body_support.property_info_free(Outer, PropertyInfo)
    assert body_support.property_info_free(Clean, PropertyInfo)
    assert body_support.property_info_free(CREATE, PropertyInfo)


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        ({"a": [1, 2.5, "x", None, True, {"b": []}]}, True),
        ({1: "x"}, False),
        ({"a": (1, 2)}, False),
        ({"a": b"bytes"}, False),
        ({"a": object()}, False),
    ],
)
def test_plain_json(value: Any, plain: bool) -> None:
    assert body_support.is_plain_json(value) is plain


def test_very_deep_data_goes_through_the_sdk() -> None:
    deep: Any = "leaf"
    for _ in range(200):
        deep = [deep]
    assert not body_support.is_plain_json(deep)


def test_install_is_idempotent() -> None:
    first = completions_module.async_maybe_transform
    assert body_support.install()
    assert completions_module.async_maybe_transform is first
    assert body_support.installed()
