"""LM settings: validation, building the LM, running under it, and its call history.

An :class:`LMConfig` is what ``configure_lm`` and ``options.lm`` accept::

    {"model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:8000/v1",
     "api_key_env": "OPENAI_API_KEY", "temperature": 0.0, "max_tokens": 1000,
     "cache": false, "num_retries": 3, "timeout_s": 60, "engine": "auto",
     "adapter": "chat", "model_type": "chat", "offline": false}

The key itself is never accepted: ``api_key_env`` names the environment variable that
holds it, read when the LM is built, and :mod:`.endpoints` decides beforehand whether that
key may go to the LM's destination. Every built LM is given its key explicitly (the
placeholder ``EMPTY`` when it has none), so LiteLLM never picks one from the environment.
With no key and no ``api_base``, or with no ``model``, the LM is DSPy's offline DummyLM
(see :mod:`.offline`).

:func:`running` applies an LM with ``dspy.context`` (never ``dspy.configure``), so that
calls and sessions sharing a worker (many at once: the bridge runs calls as asyncio tasks)
never see each other's LM, and collects what each call cost: LM calls, token usage, and
the call history (redacted, kept per session).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from mlbridge import BridgeError
from mlbridge.secrets import REDACTOR, refuse_keys, unset_key_variable

from . import metadata_memo

#: The key sent to an ``api_base`` when none is configured (local servers ignore it).
NO_KEY_PLACEHOLDER = "EMPTY"

ENGINES = ("litellm", "auto", "lm15")
ADAPTERS = ("chat", "json")
MODEL_TYPES = ("chat", "responses", "text")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_KEYS = {
    "model",
    "api_base",
    "api_key_env",
    "temperature",
    "max_tokens",
    "cache",
    "num_retries",
    "timeout_s",
    "engine",
    "adapter",
    "model_type",
    "offline",
}


@dataclass(frozen=True)
class LMConfig:
    """Validated LM settings (the key's *name* only)."""

    model: str | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    cache: bool = False
    num_retries: int = 3
    timeout_s: float | None = None
    engine: str = "auto"
    adapter: str = "chat"
    model_type: str = "chat"
    offline: bool = False

    @classmethod
    def parse(
        cls, raw: Any, *, base: LMConfig | None = None, where: str = "configure_lm"
    ) -> LMConfig:
        """Validate a settings map (over ``base``); raise ``BridgeError`` invalid_argument."""
        if raw is None:
            return base or cls()
        if not isinstance(raw, dict):
            raise BridgeError(f"{where}: LM settings must be a map", category="invalid_argument")
        refuse_keys(raw, where)
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise BridgeError(
                f"{where}: unknown LM settings {unknown}; known: {sorted(_KEYS)}",
                category="invalid_argument",
            )
        values = asdict(base or cls())
        values.update(raw)
        problems = []

        def check(name: str, ok: bool, wanted: str) -> None:
            if not ok:
                problems.append(f"{name} must be {wanted} (got {values[name]!r})")

        for name in ("model", "api_base", "api_key_env"):
            check(
                name,
                values[name] is None or (isinstance(values[name], str) and values[name]),
                "a non-empty string",
            )
        if isinstance(values["api_key_env"], str) and values["api_key_env"]:
            check(
                "api_key_env",
                bool(_ENV_NAME.fullmatch(values["api_key_env"])),
                "an environment variable name",
            )
        number = (int, float)
        check(
            "temperature",
            values["temperature"] is None
            or (
                isinstance(values["temperature"], number)
                and not isinstance(values["temperature"], bool)
                and 0 <= values["temperature"] <= 2
            ),
            "a number from 0 to 2",
        )
        check(
            "max_tokens",
            values["max_tokens"] is None
            or (
                isinstance(values["max_tokens"], int)
                and not isinstance(values["max_tokens"], bool)
                and values["max_tokens"] > 0
            ),
            "a positive integer",
        )
        check(
            "timeout_s",
            values["timeout_s"] is None
            or (
                isinstance(values["timeout_s"], number)
                and not isinstance(values["timeout_s"], bool)
                and values["timeout_s"] > 0
            ),
            "a positive number of seconds",
        )
        check(
            "num_retries",
            isinstance(values["num_retries"], int)
            and not isinstance(values["num_retries"], bool)
            and 0 <= values["num_retries"] <= 10,
            "an integer from 0 to 10",
        )
        for name in ("cache", "offline"):
            check(name, isinstance(values[name], bool), "true or false")
        check("engine", values["engine"] in ENGINES, f"one of {list(ENGINES)}")
        check("adapter", values["adapter"] in ADAPTERS, f"one of {list(ADAPTERS)}")
        check("model_type", values["model_type"] in MODEL_TYPES, f"one of {list(MODEL_TYPES)}")
        if problems:
            raise BridgeError(f"{where}: {'; '.join(problems)}", category="invalid_argument")
        return cls(**values)

    def public(self) -> dict[str, Any]:
        """The settings as data (there is no key in them to hide)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class LMHandle:
    """A built LM with its settings; what a session (or the bridge default) runs under."""

    config: LMConfig
    lm: Any
    adapter: Any
    offline: bool
    reason: str = ""

    @property
    def label(self) -> str:
        """``"offline DummyLM"`` or the model string; every answer carries it."""
        from .offline import LABEL

        return LABEL if self.offline else str(self.config.model)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "lm": self.label,
            "offline": self.offline,
            "settings": self.config.public(),
        }
        if self.config.api_key_env:
            described["api_key_set"] = bool(os.environ.get(self.config.api_key_env))
        if self.reason:
            described["note"] = self.reason
        return described


def build(config: LMConfig, *, strict: bool = True) -> LMHandle:
    """Build the LM a config describes.

    ``strict`` (``configure_lm``): an ``api_key_env`` naming an unset variable is an
    ``invalid_configuration`` error. Otherwise (``options.lm`` at start) the bridge falls
    back to the offline LM and says why.
    """
    import dspy

    from .offline import OfflineLM

    adapter = dspy.JSONAdapter() if config.adapter == "json" else dspy.ChatAdapter()

    def offline(reason: str) -> LMHandle:
        return LMHandle(config, OfflineLM(), adapter, offline=True, reason=reason)

    if config.offline:
        return offline("offline was requested")
    if not config.model:
        return offline("no model is configured")
    key = None
    if config.api_key_env:
        key = os.environ.get(config.api_key_env) or None
        if key is None:
            message = unset_key_variable(config.api_key_env)
            if strict:
                raise BridgeError(message, category="invalid_configuration")
            if not config.api_base:
                return offline(message)
        REDACTOR.add(key)
    if key is None and not config.api_base:
        return offline("no API key and no api_base are configured")
    kwargs: dict[str, Any] = {
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "cache": config.cache,
        "num_retries": config.num_retries,
        "engine": config.engine,
        "model_type": config.model_type,
        # Always a key of our choosing: LiteLLM left without one reads the provider's variable
        # from the environment and sends it wherever the LM points (endpoints.py decides
        # which key may go where). A local OpenAI-compatible server ignores the placeholder.
        "api_key": key if key is not None else NO_KEY_PLACEHOLDER,
    }
    if config.api_base:
        kwargs["api_base"] = config.api_base
    if config.timeout_s is not None:
        kwargs["timeout"] = config.timeout_s
    try:
        lm = dspy.LM(config.model, **kwargs)
    except (ValueError, TypeError, dspy.LMError) as exc:
        raise BridgeError(
            f"cannot build LM {config.model!r}: {REDACTOR.redact(str(exc))}",
            category="invalid_configuration",
        ) from None
    if config.engine == "litellm":
        warm_up_litellm()
    # DSPy's per-call model lookups (pricing, capabilities) answered once per model.
    metadata_memo.install()
    return LMHandle(config, lm, adapter, offline=False)


def warm_up_litellm() -> None:
    """Import LiteLLM now (seconds on a cold start) rather than inside the first call."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from dspy.clients._litellm import get_litellm

    get_litellm(feature="dspy.LM")


# ------------------------------------------------------------------- history and usage


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-able, redacted copy of a history value."""
    if depth > 12:
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return REDACTOR.redact(value)
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return _plain(dump(), depth + 1)
        except Exception:  # noqa: BLE001 - a best-effort rendering
            pass
    return REDACTOR.redact(str(value))


def history_entry(raw: dict[str, Any]) -> dict[str, Any]:
    """One of DSPy's history entries as data: model, messages, outputs, usage (redacted)."""
    kwargs = {
        k: v
        for k, v in (raw.get("kwargs") or {}).items()
        if not k.startswith("api_") and k not in ("headers", "extra_headers")
    }
    entry = {
        "timestamp": raw.get("timestamp"),
        "model": raw.get("model"),
        "response_model": raw.get("response_model"),
        "messages": raw.get("messages")
        or ([{"role": "user", "content": raw["prompt"]}] if raw.get("prompt") else []),
        "outputs": raw.get("outputs"),
        "usage": raw.get("usage") or {},
        "cost": raw.get("cost"),
        "kwargs": kwargs,
    }
    return _plain(entry)


class HistoryRecorder:
    """Collects the history entries of one call's LM calls (and nothing else).

    The bridge runs many calls at once, so DSPy's process-wide ``GLOBAL_HISTORY`` cannot tell
    whose an entry is. Each call runs under its own shallow copy of the LM
    (``BaseLM.copy``: shares the provider client, not the history) whose ``update_history``
    (DSPy's hook for every finished LM call) appends here; copies that DSPy makes of it
    (``lm.copy(rollout_id=...)``) keep the hook. Appending is thread-safe, so the threads of
    ``Evaluate`` and of an optimizer record here too. Nothing goes into the global, LM or
    module histories, so none of them grows with the calls of a long-lived worker.

    ``stop_when``: for synchronous work in a thread (``Evaluate``, an optimizer), which a
    cancel cannot interrupt: once it returns true, the next LM call that finishes raises
    ``asyncio.CancelledError``, a ``BaseException`` that DSPy's per-example error handling
    lets through, so the work ends within one LM call of the cancel.
    """

    def __init__(self, stop_when: Callable[[], bool] | None = None) -> None:
        self.entries: list[dict[str, Any]] = []
        self.stop_when = stop_when

    def record(self, entry: dict[str, Any]) -> None:
        """DSPy's ``update_history`` of the call's LM: keep ``entry``; stop if cancelled."""
        self.entries.append(entry)
        if self.stop_when is not None and self.stop_when():
            raise asyncio.CancelledError("the call was cancelled; stopped after an LM call")

    def attach(self, lm: Any, **changes: Any) -> Any:
        """A copy of ``lm`` (with ``changes``, as ``lm.copy(**changes)``) whose finished calls
        are recorded here; ``lm`` itself if it cannot copy."""
        if not hasattr(lm, "copy"):
            return lm
        recorded = lm.copy(**changes)
        recorded.update_history = self.record
        return recorded


@dataclass
class RunStats:
    """What the LM calls under :func:`running` cost."""

    lm_calls: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    elapsed_ms: int = 0
    cost: float | None = 0.0
    """USD, LiteLLM's price of the calls; ``None`` when a call's model has no known price."""

    def public(self) -> dict[str, Any]:
        return {
            "lm_calls": self.lm_calls,
            "usage": _plain(self.usage),
            "cost": self.cost,
            "elapsed_ms": self.elapsed_ms,
        }


def _add_usage(total: dict[str, Any], usage: dict[str, Any]) -> None:
    for key, value in usage.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict):
            _add_usage(total.setdefault(key, {}), value)


def total_usage(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Token usage summed per model over DSPy history entries (cache hits add nothing)."""
    totals: dict[str, dict[str, Any]] = {}
    for entry in entries:
        usage = _plain(entry.get("usage") or {})
        if isinstance(usage, dict) and usage:
            _add_usage(totals.setdefault(str(entry.get("model")), {}), usage)
    return totals


def total_cost(entries: list[dict[str, Any]]) -> float | None:
    """LiteLLM's cost of the entries (DSPy's ``cost``); ``None`` if a call that used tokens
    has none (a model without a price, the offline LM). Cache hits cost nothing."""
    total = 0.0
    for entry in entries:
        cost = entry.get("cost")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            total += cost
        elif entry.get("usage"):
            return None
    return total


# ------------------------------------------------------------------- retries and deadline


def retry_wait_s(attempt: int) -> float:
    """DSPy's wait before retry ``attempt + 1`` when the provider gives no Retry-After
    (``dspy.clients.execution._delay``): 1, 2, 4 ... seconds, at most 60."""
    return float(min(2 ** min(attempt, 6), 60))


def retries_within(seconds_left: float, num_retries: int) -> int:
    """How many of ``num_retries`` retries can start before the call's deadline.

    A retry whose wait would end at or after the deadline is never started: the caller gets
    the provider's error before the deadline instead of a timeout after a futile wait.
    """
    waited = 0.0
    for attempt in range(num_retries):
        waited += retry_wait_s(attempt)
        if waited >= seconds_left:
            return attempt
    return num_retries


def within_deadline(handle: LMHandle, deadline_ms: int | None) -> Any:
    """``handle``'s LM with its retries, and its request timeout, capped by the deadline
    (:func:`deadline_changes`)."""
    changes = deadline_changes(handle, deadline_ms)
    return handle.lm.copy(**changes) if changes else handle.lm


def deadline_changes(handle: LMHandle, deadline_ms: int | None) -> dict[str, Any]:
    """What ``handle``'s LM must change to fit the call's deadline (``LM.copy`` arguments).

    ``deadline_ms`` is what the host had left for the call when it sent it (``ctx``). DSPy
    retries an LM request itself (``num_retries``, the one retry layer of this bridge: the
    plugin turns the host's off), so the call's deadline has to bound DSPy's schedule. A
    capped timeout is set only when the LM does not cache: it is part of DSPy's cache key.
    """
    if deadline_ms is None or handle.offline or not hasattr(handle.lm, "copy"):
        return {}
    seconds_left = max(deadline_ms / 1000.0, 0.001)
    config = handle.config
    changes: dict[str, Any] = {}
    retries = retries_within(seconds_left, config.num_retries)
    if retries < config.num_retries:
        changes["num_retries"] = retries
    if not config.cache and (config.timeout_s is None or config.timeout_s > seconds_left):
        changes["timeout"] = request_timeout_within(seconds_left)
    return changes


def request_timeout_within(seconds_left: float) -> float:
    """A request timeout that ends within ``seconds_left``, on a coarse grid.

    LiteLLM caches its HTTP clients by their settings, the timeout included: a timeout that
    differed by a few milliseconds on every call built a new client for every call (measured:
    ~1.5-2 ms of CPU a call, and no reuse of its connection pool). Whole seconds from 2 s up,
    tenths below, so that calls with the usual deadline share one client. Rounding down keeps
    the request inside the call's deadline; the host enforces the deadline anyway.
    """
    if seconds_left >= 2.0:
        return float(int(seconds_left))
    return max(int(seconds_left * 10) / 10.0, 0.1)


@contextmanager
def running(
    handle: LMHandle,
    history: deque[dict[str, Any]] | None,
    deadline_ms: int | None = None,
    stop_when: Callable[[], bool] | None = None,
) -> Iterator[RunStats]:
    """Run DSPy code under ``handle``'s LM; fill the stats and the session's history.

    A context manager usable around ``await program.acall(...)`` (a call's task) as well as
    around sync DSPy code (a thread of the SDK's pool): ``dspy.context`` is a context
    variable, so every task and thread sees only its own call's LM. LM calls and usage are
    counted from the call's own history entries (:class:`HistoryRecorder`), which also cover
    the threads of ``Evaluate`` (DSPy's usage tracker copies itself per thread).
    ``deadline_ms`` (the call's, from its context) caps the LM's retries and timeout;
    ``stop_when`` ends synchronous work once the call is cancelled (:class:`HistoryRecorder`).
    """
    import dspy

    stats = RunStats()
    recorder = HistoryRecorder(stop_when)
    started = time.monotonic()
    # One copy of the LM per call: the deadline's changes and the history hook together.
    lm = recorder.attach(handle.lm, **deadline_changes(handle, deadline_ms))
    try:
        with dspy.context(lm=lm, adapter=handle.adapter, max_history_size=0):
            yield stats
    finally:
        stats.elapsed_ms = int((time.monotonic() - started) * 1000)
        entries = list(recorder.entries)
        stats.lm_calls = len(entries)
        stats.usage = total_usage(entries)
        stats.cost = total_cost(entries)
        if history is not None:
            history.extend(history_entry(entry) for entry in entries)
