"""Every optimizer of the installed DSPy, by name, with its own arguments and progress.

The optimizers are discovered, not listed: every class of ``dspy.teleprompt`` that subclasses
``Teleprompter`` (MIPROv2, COPRO, GEPA, SIMBA, BootstrapFewShotWithRandomSearch, ...). A
request names one case- and underscore-insensitively (``"mipro_v2"``, ``"MIPROv2"``); an
unknown name is refused with the list of what is installed.

``optimizer_args`` go to the class's constructor, ``compile_args`` to its ``compile``; both
are checked against the parameters the installed DSPy declares. The bridge supplies what a
request cannot carry: the metric, the call's LM as GEPA's ``reflection_lm``, ``num_threads``.

Progress (:class:`Progress`): the optimizer's own log lines (``dspy.teleprompt.*``: MIPROv2's
"Trial 3 / 5", GEPA's "Iteration 2: ... score ...") and every tenth metric call become
stream chunks ``{"event": "progress", "trial", "trials", "best_score", "metric_calls",
"message"}`` (``null`` where the optimizer did not say).

Cancel: an optimizer is synchronous code in a thread, which nothing can interrupt. The
metric checks the call's cancel flag before every evaluation, and the LM checks it after
every call (``lm.HistoryRecorder``); either raises ``asyncio.CancelledError``, a
``BaseException`` that the optimizers' per-trial error handling lets through, so the work
ends within one metric call or LM call of the cancel.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from mlbridge.secrets import REDACTOR

#: Parameters the bridge fills itself; a request may not set them.
BRIDGE_FILLED = ("metric", "reflection_lm", "student", "trainset", "teacher")
_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z]{2})")
_TRIAL = re.compile(r"\b(?:Trial|Iteration)\s+(\d+)(?:\s*/\s*(\d+))?")
_BEST = re.compile(r"[Bb]est[^:\n]*?score[^:\n]*?:?\s*(-?\d+(?:\.\d+)?)")
_SCORE = re.compile(r"\bscore[^:\n]*?:\s*(-?\d+(?:\.\d+)?)", re.I)


def _key(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def snake_name(cls_name: str) -> str:
    """``BootstrapFewShot`` → ``bootstrap_few_shot``; ``MIPROv2`` → ``miprov2``."""
    return _WORD.sub("_", cls_name).lower()


def installed() -> dict[str, type]:
    """Every concrete ``Teleprompter`` subclass of ``dspy.teleprompt``, by snake name."""
    import dspy.teleprompt as teleprompt
    from dspy.teleprompt import Teleprompter

    found = {}
    for attr in dir(teleprompt):
        obj = getattr(teleprompt, attr)
        if inspect.isclass(obj) and issubclass(obj, Teleprompter) and obj is not Teleprompter:
            found[snake_name(obj.__name__)] = obj
    return dict(sorted(found.items()))


def find(name: Any) -> tuple[str, type]:
    """``(snake name, class)`` of the optimizer ``name``; raises ``ValueError``."""
    available = installed()
    wanted = _key(str(name))
    for snake, cls in available.items():
        if _key(snake) == wanted or _key(cls.__name__) == wanted:
            return snake, cls
    raise ValueError(f"unknown optimizer {name!r}; the installed DSPy has {', '.join(available)}")


def _parameters(func: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    params = dict(inspect.signature(func).parameters)
    params.pop("self", None)
    return params


def _takes_any(params: dict[str, inspect.Parameter]) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in params.values())


def check_args(where: str, given: Any, func: Callable[..., Any]) -> dict[str, Any]:
    """``given`` (a map) checked against ``func``'s parameters; raises ``ValueError``."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise ValueError(f"{where} must be a map of argument name to value")
    params = _parameters(func)
    filled = sorted(set(given) & set(BRIDGE_FILLED))
    if filled:
        raise ValueError(
            f"{where}: {filled} are set by the bridge (the metric is 'metric'; the LM is the "
            "session's)"
        )
    if not _takes_any(params):
        unknown = sorted(set(given) - set(params))
        if unknown:
            accepted = sorted(n for n in params if n not in BRIDGE_FILLED)
            raise ValueError(f"{where}: unknown arguments {unknown}; accepted: {accepted}")
    return dict(given)


def construct(
    cls: type, given: dict[str, Any], metric: Any, num_threads: int, defaults: dict[str, Any]
) -> Any:
    """The optimizer: ``given`` plus the metric, the call's LM, threads and ``defaults``
    (each only where the constructor takes it and the request did not set it)."""
    import dspy

    params = _parameters(cls.__init__)
    kwargs = dict(given)
    if "metric" in params:
        kwargs["metric"] = metric
    if "reflection_lm" in params and "reflection_lm" not in kwargs:
        kwargs["reflection_lm"] = dspy.settings.lm
    if "num_threads" in params and "num_threads" not in kwargs:
        kwargs["num_threads"] = num_threads
    for name, value in defaults.items():
        if name in params and name not in kwargs:
            kwargs[name] = value
    return cls(**kwargs)


def compile_kwargs(optimizer: Any, given: dict[str, Any], valset: list[Any] | None) -> dict:
    """``compile_args`` plus ``valset`` where ``compile`` takes one."""
    kwargs = dict(given)
    params = _parameters(optimizer.compile)
    if valset is not None and "valset" in params and "valset" not in kwargs:
        kwargs["valset"] = valset
    return kwargs


# ----------------------------------------------------------------------------- progress

_CURRENT: contextvars.ContextVar[Progress | None] = contextvars.ContextVar(
    "mlbridge_dspy_progress", default=None
)
_INSTALLED = threading.Lock()
_handler: logging.Handler | None = None


class _ProgressLogHandler(logging.Handler):
    """Forwards ``dspy.teleprompt`` log records to the optimization running in this thread."""

    def emit(self, record: logging.LogRecord) -> None:
        progress = _CURRENT.get()
        if progress is not None and record.name.startswith(("dspy.teleprompt", "gepa")):
            try:
                progress.on_log(record.getMessage())
            except Exception:  # noqa: BLE001 - progress must never fail the optimizer
                pass


def _install_handler() -> None:
    global _handler
    with _INSTALLED:
        if _handler is None:
            _handler = _ProgressLogHandler(level=logging.INFO)
            logging.getLogger("dspy").addHandler(_handler)
            if logging.getLogger("dspy").getEffectiveLevel() > logging.INFO:
                logging.getLogger("dspy.teleprompt").setLevel(logging.INFO)


class Progress:
    """One optimization's progress, sent as stream chunks; also its cancel check."""

    def __init__(self, send: Callable[[Any], Any], optimizer: str, cancelled: Callable[[], bool]):
        self._send = send
        self._lock = threading.Lock()
        self.cancelled = cancelled
        self.optimizer = optimizer
        self.trial: int | None = None
        self.trials: int | None = None
        self.best_score: float | None = None
        self.metric_calls = 0
        self.chunks = 0

    def emit(self, event: str, message: str | None = None) -> None:
        with self._lock:  # ctx.stream counts seq; chunks come from several threads
            self.chunks += 1
            self._send(
                {
                    "event": event,
                    "optimizer": self.optimizer,
                    "trial": self.trial,
                    "trials": self.trials,
                    "best_score": self.best_score,
                    "metric_calls": self.metric_calls,
                    "message": message,
                }
            )

    def on_log(self, message: str) -> None:
        trial = _TRIAL.search(message)
        if trial:
            self.trial = int(trial.group(1))
            if trial.group(2):
                self.trials = int(trial.group(2))
        best = _BEST.search(message) or (_SCORE.search(message) if trial else None)
        if best:
            score = float(best.group(1))
            if self.best_score is None or score > self.best_score:
                self.best_score = score
        self.emit("progress", REDACTOR.redact(message.strip())[:500])

    def check(self) -> None:
        if self.cancelled():
            raise asyncio.CancelledError("the call was cancelled; the optimizer stopped")

    def metric(self, inner: Any) -> Callable[..., Any]:
        """``inner`` counted, and refusing to run once the call is cancelled."""

        def metric(
            example: Any,
            prediction: Any,
            trace: Any = None,
            pred_name: Any = None,
            pred_trace: Any = None,
        ) -> Any:
            self.check()
            result = inner(example, prediction, trace, pred_name, pred_trace)
            with self._lock:
                self.metric_calls += 1
                due = self.metric_calls % 10 == 0
            if due:
                self.emit("progress")
            return result

        metric.__name__ = getattr(inner, "__name__", "metric")
        return metric

    def __enter__(self) -> Progress:
        _install_handler()
        self._token = _CURRENT.set(self)
        self.emit("started")
        return self

    def __exit__(self, *exc: object) -> None:
        _CURRENT.reset(self._token)
