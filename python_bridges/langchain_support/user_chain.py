"""``create_chain`` with ``runnable: "pkg.mod:attr"``: the user's own Runnable, served.

What LangServe's ``add_routes(app, runnable)`` gave: invoke, batch and stream of any
``Runnable`` with its input and output JSON Schemas (``get_chain_info``). The runnable is the
user's, built once at ``create_chain`` (a factory is called with ``init``); it keeps its own
model, so the session's ``configure_model`` does not apply to it. Inputs go to it as they
come (any JSON value); outputs must be JSON (:func:`.user_code.json_output`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .chains import Chain, RunEnv
from .user_code import invalid, json_output, resolve_runnable

KIND = "runnable"
_KEYS = {"chain_id", "type", "runnable", "init", "model", "replace", "description"}


@dataclass
class UserChain(Chain):
    """A chain around the user's ``Runnable``."""

    ref: str = ""
    user_runnable: Any = field(default=None, repr=False)

    def parts(self, env: RunEnv) -> tuple[Any, ...]:
        return (self.user_runnable,)

    def build(self, env: RunEnv) -> Any:
        return self.user_runnable.with_config(run_name=self.chain_id)

    def input_schema(self) -> dict[str, Any]:
        return self.user_runnable.get_input_jsonschema()

    def output_schema(self) -> dict[str, Any]:
        return self.user_runnable.get_output_jsonschema()

    def prepare(self, raw: Any) -> Any:
        return raw  # the runnable's own input: any JSON value, checked by the runnable

    def result(self, output: Any) -> dict[str, Any]:
        return {"output": json_output(output, f"runnable {self.ref!r}")}

    async def astream(
        self, runnable: Any, value: Any, config: dict[str, Any]
    ) -> AsyncIterator[Any]:
        """Text (a string or a message chunk's text) as ``token``, anything else as ``chunk``;
        the result is the chunks added up (LangChain's ``+``), else the last one."""
        from langchain_core.messages import BaseMessageChunk

        where = f"runnable {self.ref!r}"
        total: Any = None
        addable = True
        async for chunk in runnable.astream(value, config):
            if isinstance(chunk, str):
                if chunk:
                    yield {"token": chunk}
            elif isinstance(chunk, BaseMessageChunk) and isinstance(chunk.content, str):
                if chunk.content:
                    yield {"token": chunk.content}
            else:
                yield {"chunk": json_output(chunk, where, "chunk")}
            if total is None:
                total = chunk
            elif addable:
                try:
                    total = total + chunk
                except TypeError:
                    addable = False
                    total = chunk
            else:
                total = chunk
        yield ("result", total)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "runnable": self.ref}


def create_user_chain(chain_id: str, args: dict[str, Any]) -> UserChain:
    """A ``runnable`` chain from ``create_chain``'s arguments (``runnable``, ``init``)."""
    unknown = sorted(set(args) - _KEYS)
    if unknown:
        raise invalid(
            f"create_chain (runnable): unknown arguments {unknown}; known: {sorted(_KEYS)}"
        )
    if args.get("type", KIND) != KIND:
        raise invalid(f"runnable goes with type {KIND!r} (or no type), not {args['type']!r}")
    if args.get("model") is not None:
        raise invalid("a user runnable brings its own model: model does not apply to it")
    ref = args.get("runnable")
    runnable = resolve_runnable(ref, args.get("init"))
    spec = {k: v for k, v in args.items() if k not in ("replace", "chain_id")}
    return UserChain(chain_id, KIND, spec, None, ref=ref, user_runnable=runnable)
