"""DSPy's model-metadata lookups, memoised: the same answers without a table scan per LM call.

DSPy (3.4) looks the model up in its bundled metadata table
(``dspy.clients.model_metadata.model_info``) up to three times per LM call: to plan the
request's capabilities (``dspy.clients.capabilities``) and to price the response
(``dspy.clients.costs``). For a model the table names, that is a dictionary lookup and a deep
copy. For a model it does not name (a model served by a local OpenAI-compatible server: vLLM,
Ollama, a proxy, the LLM benchmark's mock), every lookup scans all of the table's entries:
measured, ~1.4 ms of CPU per ``Predict`` call of ~4.5 ms (tests/bench/llm/cpu_per_call.py,
docs/benchmarks-llm.analysis.md).

The table is loaded once per process and not changed afterwards, so an answer depends only
on the arguments and the table. :func:`install` rebinds the name ``model_info`` in those two
modules to :func:`memoised`, which keeps each answer (per table object, at most
``MAX_ENTRIES`` of them) and returns a deep copy of it, as DSPy's function returns a copy of
its entry. It is idempotent and thread-safe, and leaves DSPy as it is when its layout differs
(another DSPy version): then nothing is memoised and nothing breaks.

Called when the bridge builds a real LM (:func:`dspy_support.lm.build`); the offline DummyLM
never looks a model up.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

MAX_ENTRIES = 1024
"""Distinct (provider, model, namespaces) answers kept; the memo starts over beyond this."""

_CONSUMERS = ("dspy.clients.capabilities", "dspy.clients.costs")

_lock = threading.Lock()
_memo: dict[tuple[Any, ...], Any] = {}
_original: Any = None


def _table() -> Any:
    """The metadata table DSPy has loaded (``None`` before its first lookup)."""
    from dspy.clients import model_metadata

    return getattr(model_metadata, "_data", None)


def memoised(provider: Any, model: Any, *, namespaces: Any = None) -> Any:
    """``model_info(provider, model, namespaces=...)``, from the memo when it was asked before."""
    original = _original
    table = _table()
    try:
        key = (id(table), provider, model, None if namespaces is None else tuple(namespaces))
        hash(key)
    except TypeError:  # an argument DSPy's own function may accept but a key cannot hold
        return original(provider, model, namespaces=namespaces)
    if table is not None:
        found = _memo.get(key, _memo)
        if found is not _memo:
            return copy.deepcopy(found)
    answer = original(provider, model, namespaces=namespaces)
    table = _table()  # the first lookup loads the table
    if table is not None:
        with _lock:
            if len(_memo) >= MAX_ENTRIES:
                _memo.clear()
            _memo[(id(table), *key[1:])] = copy.deepcopy(answer)
    return answer


def install() -> bool:
    """Make DSPy's per-call metadata lookups use :func:`memoised`; true when they do."""
    global _original
    import importlib

    with _lock:
        try:
            from dspy.clients import model_metadata

            modules = [importlib.import_module(name) for name in _CONSUMERS]
        except ImportError:
            return False
        original = getattr(model_metadata, "model_info", None)
        if not callable(original) or not all(
            getattr(module, "model_info", None) in (original, memoised) for module in modules
        ):
            return False  # a layout this module does not know: leave DSPy alone
        _original = original
        for module in modules:
            module.model_info = memoised
        return True


def installed() -> bool:
    """Whether DSPy's consumers of ``model_info`` use the memo now."""
    import sys

    return all(
        getattr(sys.modules.get(name), "model_info", None) is memoised for name in _CONSUMERS
    )
