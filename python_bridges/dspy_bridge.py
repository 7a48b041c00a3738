"""The DSPy bridge: DSPy programs as session-scoped resources of an mlbridge worker.

Run it the way the host does::

    python python_bridges/dspy_bridge.py --worker-id dspy-1 --codec json --protocol 1

Commands (see docs/bridges/dspy.md): ``configure_lm``, ``get_lm``, ``create_program``,
``execute_program``, ``execute_batch``, ``list_programs``, ``get_program_info``,
``delete_program``, ``save_program``, ``load_program``, ``inspect_history``,
``optimize_program``, ``list_optimizers``, ``evaluate_program``, ``list_tools``.

The user's own modules, signatures, tools and metrics are named by import path
(``"myteam.programs:RAG"``; ``dspy_support.user_refs``, ``mlbridge.user_code``); programs
declared in ``options.programs`` are built at init and seen by every session.

A program and an LM configured with a session belong to that session (``ctx.resources``);
every call runs under ``dspy.context(lm=...)`` with the session's LM or the bridge default
(``options.lm``; DSPy's offline DummyLM when no key and no ``api_base`` are configured).

Many calls at once (``concurrency = 256`` per worker; ``pool.max_concurrency`` in the YAML
overrides it): ``execute_program`` and ``execute_batch`` are ``async def`` commands that
``await program.acall(...)`` on the worker's event loop (DSPy's native async path, LiteLLM's
``acompletion``), each under its own ``dspy.context``, a context variable, so concurrent
calls never see each other's LM. The long, synchronous work (``optimize_program``,
``evaluate_program``) and the quick bookkeeping commands are plain ``def`` commands: the SDK
runs them in its thread pool, off the loop (``sync_overlap``: sessions' sync commands may
overlap; one session's calls still run one at a time, in order).
API keys are named by environment variable, never sent, and redacted from every answer,
error and line of stderr (``mlbridge.secrets``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

# dspy_support lives beside this file (and mlbridge too, in a checkout without an install).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dspy_support import lm as lm_support  # noqa: E402
from dspy_support import optimizers, programs  # noqa: E402
from dspy_support.batch import run_bounded  # noqa: E402
from dspy_support.endpoints import EndpointPolicy, with_provider_key  # noqa: E402
from dspy_support.errors import error_info, raise_translated  # noqa: E402
from dspy_support.metrics import METRICS, Metric, UserMetric  # noqa: E402
from dspy_support.streaming import run_streamed  # noqa: E402
from dspy_support.tools import TOOL_DESCRIPTIONS  # noqa: E402
from dspy_support.user_refs import is_ref  # noqa: E402

from mlbridge import BaseBridge, BridgeError, CallContext  # noqa: E402
from mlbridge.framework_command import translated_command  # noqa: E402
from mlbridge.secrets import REDACTOR, install_redacting_stdio  # noqa: E402
from mlbridge.settings import ScopedSetting, option_int  # noqa: E402

LM_KEY = "lm"
HISTORY_KEY = "history"
PROGRAM_PREFIX = "program:"
_LEGACY_LIMITS = ("max_bootstrapped_demos", "max_labeled_demos", "max_rounds", "k")
_OPTION_KEYS = {"lm", "endpoints", "cache", "num_threads", "max_history", "lookup", "programs"}
_CREATE_KEYS = programs.SPEC_ARGS | {"program_id", "replace"}
_CANCELLED = "Execution cancelled due to errors or interruption"
MAX_BATCH = 1000


def dspy_command(name: str, description: str) -> Callable[[Callable[..., Any]], Any]:
    """``@command`` plus what every DSPy command needs, for ``async def`` and ``def`` alike.

    The bridge is made ready, ``args`` must be a map, errors are translated (provider
    types, categories, no secrets: ``dspy_support.errors``) and the result is redacted
    (``mlbridge.framework_command``). Cancellation passes through untouched.
    """

    def enter(self: DSPyBridge, args: Any) -> str:
        if not isinstance(args, dict):
            raise BridgeError(f"{name}: args must be a map", category="invalid_argument")
        self._ready()
        if isinstance(args.get("program_id"), str):
            return f"{name} {args['program_id']!r}"
        return name

    def translate_sync(exc: Exception, where: str) -> None:
        if str(exc).startswith(_CANCELLED):
            raise KeyboardInterrupt from None  # DSPy's parallel runner saw the SIGINT
        raise_translated(exc, where)

    return translated_command(name, description, enter, raise_translated, translate_sync)


def _invalid(exc: Exception) -> BridgeError:
    return BridgeError(REDACTOR.redact(str(exc)), category="invalid_argument")


class DSPyBridge(BaseBridge):
    """DSPy programs, LMs and optimizers behind the mlbridge protocol."""

    framework = "dspy"
    bridge_version = "0.1.0"
    concurrency = 256
    """Calls one worker holds at once: DSPy calls wait on a remote LM almost all the time."""
    sync_overlap = True
    """The ``def`` commands of different sessions may overlap in the SDK's thread pool: they
    share nothing but the bridge default, which only ``initialize`` sets."""

    def __init__(self) -> None:
        self.options: dict[str, Any] | None = None
        self.lm: ScopedSetting[lm_support.LMHandle] = ScopedSetting(LM_KEY)
        self.endpoints = EndpointPolicy([])
        self.max_retries = lm_support.LMConfig().num_retries
        self.num_threads = 4
        self.max_history = 100
        self.lookup: dict[str, Any] = {}
        self.declared: dict[str, programs.Program] = {}
        """Programs of ``options.programs``: built at init, visible to every session."""

    # ------------------------------------------------------------------ set-up

    def initialize(self, options: dict[str, Any]) -> None:
        """Redact stdio, import DSPy, and build the default LM from ``options.lm``."""
        install_redacting_stdio()
        REDACTOR.add_from_env()
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch at import
        unknown = sorted(set(options) - _OPTION_KEYS)
        if unknown:
            raise BridgeError(
                f"options: unknown keys {unknown}; known: {sorted(_OPTION_KEYS)}",
                category="invalid_configuration",
            )
        cache = options.get("cache") or {}
        if not isinstance(cache, dict):
            raise BridgeError("options.cache must be a map", category="invalid_configuration")
        if cache.get("dir"):
            os.environ["DSPY_CACHEDIR"] = str(cache["dir"])
        self.num_threads = option_int(options, "num_threads", 4, 1, 64)
        self.max_history = option_int(options, "max_history", 100, 1, 10_000)
        lookup = options.get("lookup") or {}
        if not isinstance(lookup, dict):
            raise BridgeError("options.lookup must be a map", category="invalid_configuration")
        self.lookup = lookup

        import dspy

        if cache.get("disk") is False or cache.get("memory") is False:
            dspy.configure_cache(
                enable_disk_cache=cache.get("disk", True) is not False,
                enable_memory_cache=cache.get("memory", True) is not False,
            )
        try:
            config = lm_support.LMConfig.parse(options.get("lm"), where="options.lm")
        except BridgeError as exc:
            raise BridgeError(exc.message, category="invalid_configuration") from None
        config = with_provider_key(config)
        self.endpoints = EndpointPolicy.from_options(options.get("endpoints"), config)
        self.max_retries = config.num_retries
        default = self.lm.default = lm_support.build(config, strict=False)
        self.declared = self._declared_programs(options.get("programs"))
        self.options = options
        note = f" ({default.reason})" if default.reason else ""
        print(f"dspy bridge: ready; default LM: {default.label}{note}", file=sys.stderr)

    def _declared_programs(self, raw: Any) -> dict[str, programs.Program]:
        """``options.programs``: a list of ``create_program`` arguments, each with its
        ``program_id``, built now, so that every worker of the bridge has them."""
        if raw is None:
            return {}
        if not isinstance(raw, list):
            raise BridgeError(
                "options.programs must be a list of create_program arguments",
                category="invalid_configuration",
            )
        built: dict[str, programs.Program] = {}
        for index, item in enumerate(raw):
            where = f"options.programs[{index}]"
            try:
                if not isinstance(item, dict) or not isinstance(item.get("program_id"), str):
                    raise ValueError("needs 'program_id' and the arguments of create_program")
                program_id = programs.check_id(item["program_id"])
                if program_id in built:
                    raise ValueError(f"program_id {program_id!r} is declared twice")
                unknown = sorted(set(item) - programs.SPEC_ARGS - {"program_id"})
                if unknown:
                    raise ValueError(f"unknown keys {unknown}; known: {sorted(_CREATE_KEYS)}")
                spec_args = {k: v for k, v in item.items() if k != "program_id"}
                spec = programs.normalize_spec(spec_args)
                built[program_id] = programs.Program.create(program_id, spec, self.lookup)
            except (ValueError, BridgeError) as exc:
                message = exc.message if isinstance(exc, BridgeError) else str(exc)
                raise BridgeError(
                    f"{where}: {REDACTOR.redact(message)}", category="invalid_configuration"
                ) from None
        return built

    def _ready(self) -> None:
        if self.options is None:  # a host that skipped init: defaults
            self.initialize({})

    def capabilities(self) -> dict[str, Any]:
        return {
            "streaming": True,
            "sessions": True,
            "cancellation": True,
            "modules": list(programs.MODULES),
            "optimizers": list(optimizers.installed()),
            "metrics": list(METRICS),
            "tools": sorted(TOOL_DESCRIPTIONS),
        }

    # ---------------------------------------------------------------- session state

    def _lm(self, ctx: CallContext) -> lm_support.LMHandle:
        return self.lm.current(ctx)

    def _history(self, ctx: CallContext) -> deque[dict[str, Any]]:
        history = ctx.resources.get(HISTORY_KEY)
        if history is None:
            history = ctx.resources[HISTORY_KEY] = deque(maxlen=self.max_history)
        return history

    def _running(self, ctx: CallContext) -> Any:
        """The call's LM applied (``dspy.context``) and its cost counted.

        Synchronous DSPy code in a thread (the SDK's pool, or a module without ``aforward``)
        cannot be interrupted by a cancel: it stops at the first LM call that ends after the
        cancel instead (``ctx.cancelled``; a cancelled task has stopped already).
        """

        def cancelled() -> bool:
            return bool(getattr(ctx, "cancelled", False))

        return lm_support.running(
            self._lm(ctx), self._history(ctx), ctx.deadline_ms, stop_when=cancelled
        )

    def _program(self, args: dict[str, Any], ctx: CallContext) -> programs.Program:
        program_id = args.get("program_id")
        if not isinstance(program_id, str) or not program_id:
            raise BridgeError("program_id (a string) is required", category="invalid_argument")
        program = ctx.resources.get(PROGRAM_PREFIX + program_id) or self.declared.get(program_id)
        if program is None:
            where = f"session {ctx.session_id!r}" if ctx.session_id else "the anonymous session"
            raise BridgeError(
                f"program {program_id!r} not found in {where}; list_programs shows its programs",
                category="not_found",
            )
        return program

    def _store(self, program: programs.Program, ctx: CallContext, replace: Any) -> None:
        key = PROGRAM_PREFIX + program.program_id
        if key in ctx.resources and replace is not True:
            raise BridgeError(
                f"program {program.program_id!r} already exists; "
                "pass replace: true to overwrite it",
                category="invalid_argument",
            )
        ctx.resources[key] = program

    def _new_id(self, args: dict[str, Any]) -> str:
        program_id = args.get("program_id") or f"program-{uuid.uuid4().hex[:12]}"
        try:
            return programs.check_id(program_id)
        except ValueError as exc:
            raise _invalid(exc) from None

    # -------------------------------------------------------------------- LM

    @dspy_command("configure_lm", "Set the LM of the session.")
    def configure_lm(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """The session's own LM; ``{"reset": true}`` goes back to the default (``options.lm``).

        The default LM is the operator's: without a session this is refused, so that no
        caller changes the LM of every other caller of the worker. A key goes only to an
        endpoint the operator paired it with (``options.endpoints``, see endpoints.py).
        """
        if not ctx.session_id:
            raise BridgeError(
                "configure_lm changes the LM of one session; pass a session, or set "
                "options.lm in the bridge's YAML",
                category="invalid_argument",
            )

        def build(settings: dict[str, Any]) -> lm_support.LMHandle:
            # One retry layer, sized by the operator: a session's LM retries as the default LM
            # does unless it asks for fewer (options.lm.num_retries: 0 when the host's retry:
            # is that layer).
            base = lm_support.LMConfig(num_retries=self.max_retries)
            config = self.endpoints.bind(lm_support.LMConfig.parse(settings, base=base))
            if config.num_retries > self.max_retries:
                raise BridgeError(
                    f"configure_lm: num_retries {config.num_retries} is more than this bridge "
                    f"allows ({self.max_retries}, options.lm.num_retries in its YAML)",
                    category="invalid_argument",
                )
            return lm_support.build(config, strict=True)

        def default() -> lm_support.LMHandle:  # never called: a session resets its own
            return self._lm(ctx)

        self.lm.configure(args, ctx, build, default)
        return self._describe_lm(ctx)

    @dspy_command("get_lm", "The LM that the session's calls run under.")
    def get_lm(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return self._describe_lm(ctx)

    def _describe_lm(self, ctx: CallContext) -> dict[str, Any]:
        return self.lm.describe(ctx, self._lm(ctx).describe())

    # -------------------------------------------------------------- programs

    @dspy_command("create_program", "Create a program from a signature and a module.")
    def create_program(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        unknown = sorted(set(args) - _CREATE_KEYS)
        if unknown:
            raise BridgeError(
                f"unknown arguments {unknown}; known: {sorted(_CREATE_KEYS)}",
                category="invalid_argument",
            )
        program_id = self._new_id(args)
        try:
            spec = programs.normalize_spec(args)
            program = programs.Program.create(program_id, spec, self.lookup)
        except ValueError as exc:
            raise _invalid(exc) from None
        self._store(program, ctx, args.get("replace"))
        return {**program.info(), "created": True}

    @dspy_command("execute_program", "Run a program on one set of inputs.")
    async def execute_program(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """``{"program_id", "inputs"}`` → outputs, reasoning, usage, LM calls.

        Always ``await program.acall(...)`` on the worker's loop; ``"async"`` is still accepted
        (a boolean) for callers written before every call ran this way, and changes nothing.
        ``"stream": true`` sends the output text as chunks while the LM writes it
        (``dspy_support.streaming``); the result is the same.
        """
        try:
            programs.check_execute_args(args)
        except ValueError as exc:
            raise _invalid(exc) from None
        program = self._program(args, ctx)
        try:
            inputs = program.check_inputs(args.get("inputs"))
        except ValueError as exc:
            raise _invalid(exc) from None
        handle = self._lm(ctx)
        with self._running(ctx) as stats:
            if args.get("stream"):
                prediction = await run_streamed(
                    program.module, inputs, program.signature, ctx.stream
                )
            else:
                prediction = await program.acall(inputs)
        program.calls += 1
        return {
            "program_id": program.program_id,
            **program.result(prediction),
            "lm": handle.label,
            **stats.public(),
        }

    @dspy_command("execute_batch", "Run a program on many inputs, a bounded number at once.")
    async def execute_batch(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """``{"program_id", "inputs": [...], "num_threads"}``; a failed item has ``error``.

        ``num_threads`` (the name DSPy's ``batch`` gave it) bounds how many inputs are in
        flight at once; they run as ``acall`` tasks on the loop, not as threads.
        """
        program = self._program(args, ctx)
        items = args.get("inputs")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            raise BridgeError(
                f"inputs must be a list of 1 to {MAX_BATCH} input maps", category="invalid_argument"
            )
        try:
            checked = [program.check_inputs(item) for item in items]
        except ValueError as exc:
            raise _invalid(exc) from None
        limit = self._threads(args)
        handle = self._lm(ctx)
        module = program.module

        async def run(inputs: dict[str, Any]) -> Any:
            return await program.acall(inputs, module)

        with self._running(ctx) as stats:
            outcomes = await run_bounded(checked, run, limit)
        results = []
        for prediction, exc in outcomes:
            if exc is not None:
                results.append({"error": error_info(exc)})
            elif prediction is None:
                results.append({"error": {"type": "RuntimeError", "message": "no prediction"}})
            else:
                results.append(program.result(prediction))
        program.calls += len(checked)
        failures = sum(1 for r in results if "error" in r)
        return {
            "program_id": program.program_id,
            "results": results,
            "succeeded": len(results) - failures,
            "failed": failures,
            "lm": handle.label,
            **stats.public(),
        }

    def _threads(self, args: dict[str, Any], default: int | None = None) -> int:
        threads = args.get("num_threads", default or self.num_threads)
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 64:
            raise BridgeError(
                "num_threads must be an integer from 1 to 64", category="invalid_argument"
            )
        return threads

    @dspy_command("list_programs", "The session's programs.")
    def list_programs(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        found = [v.summary() for k, v in ctx.resources.items() if k.startswith(PROGRAM_PREFIX)]
        shadowed = {p["program_id"] for p in found}
        found += [
            {**p.summary(), "declared": True}
            for p in self.declared.values()
            if p.program_id not in shadowed
        ]
        return {"programs": found, "count": len(found), "session_id": ctx.session_id}

    @dspy_command("get_program_info", "Signature, module, demos and calls of a program.")
    def get_program_info(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return {**self._program(args, ctx).info(), "lm": self._lm(ctx).label}

    @dspy_command("delete_program", "Delete a program of the session.")
    def delete_program(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        program = self._program(args, ctx)
        if PROGRAM_PREFIX + program.program_id not in ctx.resources:
            raise BridgeError(
                f"program {program.program_id!r} is declared in the bridge's options.programs "
                "and cannot be deleted by a call; remove it from the YAML",
                category="invalid_argument",
            )
        del ctx.resources[PROGRAM_PREFIX + program.program_id]
        return {"program_id": program.program_id, "deleted": True}

    @dspy_command("save_program", "A program as data: its spec and DSPy's JSON state.")
    def save_program(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return self._program(args, ctx).save()

    @dspy_command("load_program", "Create a program from save_program's data (or a DSPy state).")
    def load_program(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """``{"data": <save_program result>, "program_id"?, "replace"?}``, or the arguments of
        ``create_program`` plus ``"state"``: DSPy's own JSON state (``program.save("x.json")``)."""
        data = args.get("data")
        try:
            if data is not None:
                if not isinstance(data, dict):
                    raise ValueError("data must be the map that save_program returned")
                program_id = self._new_id(
                    {"program_id": args.get("program_id") or data.get("program_id")}
                )
                program = programs.Program.load(program_id, data, self.lookup)
            elif "state" in args:
                spec_args = {
                    k: v for k, v in args.items() if k not in ("state", "replace", "program_id")
                }
                program_id = self._new_id(args)
                program = programs.Program.create(
                    program_id, programs.normalize_spec(spec_args), self.lookup
                )
                program.apply_state(args["state"])
            else:
                raise ValueError(
                    "load_program needs 'data' (from save_program) or 'state' with a signature"
                )
        except ValueError as exc:
            raise _invalid(exc) from None
        self._store(program, ctx, args.get("replace"))
        return {**program.info(), "loaded": True}

    @dspy_command("inspect_history", "The session's last LM calls (keys redacted).")
    def inspect_history(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        n = args.get("n", 1)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise BridgeError("n must be a positive integer", category="invalid_argument")
        history = self._history(ctx)
        entries = list(history)[-n:]
        return {
            "entries": entries,
            "count": len(entries),
            "total": len(history),
            "session_id": ctx.session_id,
        }

    @dspy_command("list_tools", "The tools a react program may use.")
    def list_tools(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return {
            "tools": [{"name": n, "description": d} for n, d in sorted(TOOL_DESCRIPTIONS.items())]
        }

    # ------------------------------------------------------- evaluation, optimization

    def _examples(self, raw: Any, program: programs.Program, name: str) -> list[Any]:
        """``[{"inputs": {...}, "outputs": {...}}]`` or flat maps → ``dspy.Example`` list."""
        import dspy

        if not isinstance(raw, list) or not raw:
            raise BridgeError(
                f"{name} must be a non-empty list of examples", category="invalid_argument"
            )
        inputs = list(program.signature.input_fields)
        outputs = list(program.signature.output_fields)
        examples = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise BridgeError(f"{name}[{index}] must be a map", category="invalid_argument")
            if "inputs" in item and isinstance(item["inputs"], dict):
                values = {**item["inputs"], **(item.get("outputs") or {})}
            else:
                values = dict(item)
            missing = [f for f in inputs if f not in values]
            labels = [f for f in outputs if f in values]
            unknown = [f for f in values if f not in inputs and f not in outputs]
            if missing or not labels or unknown:
                raise BridgeError(
                    f"{name}[{index}] needs the inputs {inputs} and at least one of the outputs "
                    f"{outputs}" + (f" (unknown fields {unknown})" if unknown else ""),
                    category="invalid_argument",
                )
            examples.append(dspy.Example(**values).with_inputs(*inputs))
        return examples

    def _metric(self, args: dict[str, Any], program: programs.Program) -> Metric | UserMetric:
        threshold = args.get("metric_threshold", 1.0)
        try:
            if is_ref(args.get("metric")):
                return UserMetric(args["metric"], float(threshold))
            return Metric(
                str(args.get("metric", "exact_match")),
                list(program.signature.output_fields),
                float(threshold),
            )
        except (TypeError, ValueError) as exc:
            raise _invalid(exc) from None

    @staticmethod
    def _evaluate(
        module: Any, devset: list[Any], metric: Any, threads: int, ctx: CallContext
    ) -> Any:
        """``dspy.Evaluate`` in this thread; once the call is cancelled, no example starts."""
        import dspy

        def program(**inputs: Any) -> Any:
            if getattr(ctx, "cancelled", False):
                raise asyncio.CancelledError("the call was cancelled; evaluation stopped")
            return module(**inputs)

        evaluate = dspy.Evaluate(
            devset=devset,
            metric=metric,
            num_threads=threads,
            display_progress=False,
            display_table=False,
            max_errors=len(devset) + 1,
            provide_traceback=False,
        )
        return evaluate(program)

    @dspy_command("evaluate_program", "Score a program on a devset with a named metric.")
    def evaluate_program(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """``{"program_id", "devset", "metric": "exact_match|contains|f1", "num_threads"}``;
        the score is a percentage, as ``dspy.Evaluate`` reports it."""
        program = self._program(args, ctx)
        devset = self._examples(args.get("devset"), program, "devset")
        metric = self._metric(args, program)
        threads = self._threads(args)
        handle = self._lm(ctx)
        with self._running(ctx) as stats:
            evaluation = self._evaluate(program.module, devset, metric, threads, ctx)
        results = []
        for example, prediction, score in evaluation.results:
            item = {
                "inputs": programs.to_wire(dict(example.inputs())),
                "expected": programs.to_wire(dict(example.labels())),
                "score": programs.to_wire(score),
            }
            if prediction is not None and hasattr(prediction, "keys"):
                item["outputs"] = {
                    f: programs.to_wire(prediction.get(f)) for f in program.signature.output_fields
                }
            results.append(item)
        return {
            "program_id": program.program_id,
            "metric": metric.name,
            "score": evaluation.score,
            "count": len(devset),
            "results": results if args.get("return_results", True) else [],
            "lm": handle.label,
            **stats.public(),
        }

    @dspy_command("optimize_program", "Compile a program with any optimizer of the installed DSPy.")
    def optimize_program(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """``{"program_id", "optimizer", "trainset", "devset"?, "valset"?, "metric",
        "optimizer_args"?, "compile_args"?, "target_program_id"?}``.

        Any optimizer of ``dspy.teleprompt`` (``dspy_support.optimizers``), run here, in the
        SDK's thread pool, off the event loop. With ``"progress": true`` its progress goes
        out as stream chunks (the result's ``progress`` sums it up either way); a cancel
        stops it within one metric or LM call. Scores the devset (default: the trainset)
        before and after; the compiled module replaces the program's (a program declared in
        ``options.programs`` is shadowed in the caller's session), or becomes
        ``target_program_id``.
        """
        program = self._program(args, ctx)
        try:
            name, cls = optimizers.find(args.get("optimizer", "bootstrap_few_shot"))
            optimizer_args = optimizers.check_args(
                "optimizer_args", args.get("optimizer_args"), cls.__init__
            )
            compile_args = optimizers.check_args(
                "compile_args", args.get("compile_args"), cls.compile
            )
        except ValueError as exc:
            raise _invalid(exc) from None
        trainset = self._examples(args.get("trainset"), program, "trainset")
        devset = (
            self._examples(args["devset"], program, "devset") if args.get("devset") else trainset
        )
        valset = self._examples(args["valset"], program, "valset") if args.get("valset") else None
        metric = self._metric(args, program)
        threads = self._threads(args, default=1)
        target_id = (
            self._new_id({"program_id": args["target_program_id"]})
            if args.get("target_program_id")
            else program.program_id
        )
        defaults: dict[str, Any] = {"max_errors": len(trainset) + 1}
        for legacy in _LEGACY_LIMITS:  # top-level limits of the first two optimizers
            if legacy in args:
                value = args[legacy]
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                    raise BridgeError(
                        f"{legacy} must be an integer from 0 to 100", category="invalid_argument"
                    )
                defaults[legacy] = max(value, 1) if legacy == "max_rounds" else value
        handle = self._lm(ctx)
        streaming = args.get("progress", False)
        if not isinstance(streaming, bool):
            raise BridgeError("progress must be true or false", category="invalid_argument")
        send = ctx.stream if streaming else (lambda data: None)
        progress = optimizers.Progress(send, name, lambda: bool(ctx.cancelled))
        with self._running(ctx) as stats, progress:
            before = self._evaluate(program.module, devset, metric, threads, ctx).score
            student = program.module.deepcopy()
            student._compiled = False
            try:
                optimizer = optimizers.construct(
                    cls, optimizer_args, progress.metric(metric), threads, defaults
                )
                kwargs = optimizers.compile_kwargs(optimizer, compile_args, valset)
            except (TypeError, ValueError) as exc:
                raise _invalid(ValueError(f"{name}: {exc}")) from None
            compiled = optimizer.compile(student, trainset=trainset, **kwargs)
            progress.check()
            after = self._evaluate(compiled, devset, metric, threads, ctx).score
        declared = PROGRAM_PREFIX + program.program_id not in ctx.resources
        if target_id == program.program_id and not declared:
            program.module = compiled
            program.optimized_with = name
            result_program = program
        else:
            result_program = programs.Program(
                target_id, program.spec, compiled, program.signature, optimized_with=name
            )
            self._store(result_program, ctx, args.get("replace") or declared)
        if ctx.session_id:
            # Journal the compiled program as data: a replay on another worker loads it instead
            # of optimising again (LM calls, and not the same demos). See docs/sessions.md.
            ctx.session.record(
                "load_program",
                {
                    "data": result_program.save(),
                    "program_id": result_program.program_id,
                    "replace": True,
                },
                object=f"program:{result_program.program_id}",
            )
        return {
            "program_id": result_program.program_id,
            "source_program_id": program.program_id,
            "optimizer": name,
            "metric": metric.name,
            "score_before": before,
            "score_after": after,
            "improved": after > before,
            "demos": result_program.demos,
            "trainset_size": len(trainset),
            "devset_size": len(devset),
            "progress": {
                "chunks": progress.chunks if streaming else 0,
                "metric_calls": progress.metric_calls,
                "trials": progress.trial,
                "best_score": progress.best_score,
            },
            "lm": handle.label,
            **stats.public(),
        }

    @dspy_command("list_optimizers", "The optimizers of the installed DSPy and their arguments.")
    def list_optimizers(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        found = []
        for name, cls in optimizers.installed().items():
            params = [
                p for p in optimizers._parameters(cls.__init__) if p not in optimizers.BRIDGE_FILLED
            ]
            found.append({"name": name, "class": cls.__name__, "optimizer_args": params})
        return {"optimizers": found, "count": len(found)}


if __name__ == "__main__":
    DSPyBridge.main()
