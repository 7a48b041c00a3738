"""``@command`` for framework bridges: checked args, translated errors, redacted results.

A framework bridge (DSPy, LangChain, ...) wraps every command the same way: check the
arguments and make the bridge ready, run the handler (``async def`` on the worker's loop,
``def`` in its thread pool), turn what the framework raised into a
:class:`~mlbridge.errors.BridgeError` with the bridge's own rules, and redact secrets from
the result. What differs between bridges is passed in: ``enter`` and ``translate``.
Cancellation (``asyncio.CancelledError`` in a task, ``KeyboardInterrupt`` from the SIGINT
of a worker at concurrency 1) is not an ``Exception`` and passes through untouched.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from .command import command
from .context import CallContext
from .secrets import REDACTOR

__all__ = ["translated_command"]

Enter = Callable[[Any, Any], str]
"""``(bridge, args) -> where``: checks the call, readies the bridge, names the call for errors."""

Translate = Callable[[Exception, str], None]
"""``(exc, where)``: raises the translated error (never returns)."""


def translated_command(
    name: str,
    description: str,
    enter: Enter,
    translate: Translate,
    translate_sync: Translate | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """A ``@command(name)`` decorator that runs ``enter``, the handler, then redacts its result.

    ``translate`` raises the bridge's error for an exception of the handler;
    ``translate_sync`` (default: ``translate``) does so for a plain ``def`` handler, for a
    framework that reports a cancellation of its threads as an ordinary exception.
    """
    for_sync = translate_sync or translate

    def wrap(func: Callable[..., Any]) -> Any:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(self: Any, args: Any, ctx: CallContext) -> Any:
                where = enter(self, args)
                try:
                    result = await func(self, args, ctx)
                except Exception as exc:
                    translate(exc, where)
                    raise  # unreachable: translate always raises
                return REDACTOR.redact_value(result)

            return command(name, description=description)(run_async)

        @functools.wraps(func)
        def run_sync(self: Any, args: Any, ctx: CallContext) -> Any:
            where = enter(self, args)
            try:
                result = func(self, args, ctx)
            except Exception as exc:
                for_sync(exc, where)
                raise  # unreachable: translate always raises
            return REDACTOR.redact_value(result)

        return command(name, description=description)(run_sync)

    return wrap
