"""Programs: a DSPy module built from a JSON-able spec, run, described and saved.

A spec (what ``create_program`` accepts, and what ``save_program`` stores beside DSPy's
state so that ``load_program`` can rebuild the same module)::

    {"signature": {...canonical, see signatures.normalize_spec...},
     "module": "chain_of_thought",  # predict | chain_of_thought | react | best_of_n | refine
     "tools": ["calculator", "lookup"],     # react
     "max_iters": 5,                        # react
     "lookup": {"key": "value"},            # react: extra entries for the lookup tool
     "base_module": "predict", "n": 3, "threshold": 1.0,
     "reward": {"name": "non_empty"}}       # best_of_n / refine

The user's own module, by import path (user_refs.py)::

    {"module": "myteam.programs:RAG",       # a dspy.Module subclass or a factory
     "init": {"k": 2},                      # its constructor's keyword arguments
     "signature": {...}}                    # optional: the program's inputs and outputs

Without ``signature`` a user module's interface is derived: its inputs are the named
parameters of ``forward``, its outputs those of its last predictor (``named_predictors``).
A signature may also be a ``dspy.Signature`` class by import path (``{"ref": "m:Sig"}``).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from . import signatures
from .metrics import Reward
from .tools import build_tools, check_tool_names
from .user_refs import build_user_module, is_ref

MODULES = ("predict", "chain_of_thought", "react", "best_of_n", "refine")
BASE_MODULES = ("predict", "chain_of_thought")
SAVE_FORMAT = "mlbridge.dspy.program/1"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")
#: The ``create_program`` arguments that make up a spec.
SPEC_ARGS = {
    "signature",
    "instructions",
    "inputs",
    "outputs",
    "module",
    "tools",
    "max_iters",
    "lookup",
    "base_module",
    "n",
    "threshold",
    "reward",
    "init",
}

#: The arguments ``execute_program`` accepts.
EXECUTE_ARGS = {"program_id", "inputs", "async", "stream"}


def check_execute_args(args: dict[str, Any]) -> None:
    """Refuse ``execute_program`` arguments it does not know (a misspelt ``input`` would
    otherwise be ignored) and a non-boolean ``async``; raises ``ValueError``."""
    unknown = sorted(set(args) - EXECUTE_ARGS)
    if unknown:
        raise ValueError(
            f"execute_program: unknown arguments {unknown}; accepted: {sorted(EXECUTE_ARGS)}"
        )
    for flag in ("async", "stream"):
        if not isinstance(args.get(flag, False), bool):
            raise ValueError(f"execute_program: {flag} must be true or false (got {args[flag]!r})")


def check_id(program_id: Any) -> str:
    if not isinstance(program_id, str) or not _ID.fullmatch(program_id):
        raise ValueError(
            "program_id must be 1-128 characters: letters, digits and _ . : @ -, "
            f"starting with a letter or digit (got {program_id!r})"
        )
    return program_id


def normalize_spec(args: dict[str, Any]) -> dict[str, Any]:
    """Validate ``create_program`` arguments into a spec; raises ``ValueError``."""
    module = args.get("module", "predict")
    custom = is_ref(module)
    signature = args.get("signature")
    if signature is None and ("inputs" in args or "outputs" in args):
        signature = {"inputs": args.get("inputs"), "outputs": args.get("outputs")}
    if signature is None and not custom:
        raise ValueError("create_program needs 'signature' (e.g. 'question -> answer')")
    spec: dict[str, Any] = {"module": module}
    if signature is not None:
        spec["signature"] = signatures.normalize_spec(signature, args.get("instructions"))
    if custom:
        init = args.get("init", {})
        if not isinstance(init, dict):
            raise ValueError(f"init must be a map of {module}'s keyword arguments")
        ignored = {"tools", "n", "reward", "base_module", "max_iters", "threshold"} & set(args)
        if ignored:
            raise ValueError(
                f"{sorted(ignored)} do not apply to your own module {module!r}; "
                "pass its constructor's arguments in 'init'"
            )
        spec["init"] = init
    elif module not in MODULES:
        raise ValueError(
            f"unknown module {module!r}; use one of {', '.join(MODULES)}, or your own "
            "dspy.Module by import path ('package.module:Class')"
        )
    elif "init" in args:
        raise ValueError(f"init applies to your own module, not to {module!r}")
    if module == "react":
        spec["tools"] = check_tool_names(args.get("tools", ["calculator", "lookup"]))
        spec["max_iters"] = _int(args.get("max_iters", 5), "max_iters", 1, 50)
        lookup = args.get("lookup") or {}
        if not isinstance(lookup, dict):
            raise ValueError("lookup must be a map of key to text")
        spec["lookup"] = {str(k): str(v) for k, v in lookup.items()}
    elif module in ("best_of_n", "refine"):
        spec["base_module"] = args.get("base_module", "predict")
        if spec["base_module"] not in BASE_MODULES:
            raise ValueError(f"base_module must be one of {', '.join(BASE_MODULES)}")
        spec["n"] = _int(args.get("n", 3), "n", 1, 20)
        threshold = args.get("threshold", 1.0)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ValueError("threshold must be a number")
        spec["threshold"] = float(threshold)
        reward = args.get("reward", {"name": "non_empty"})
        if isinstance(reward, str):
            reward = {"name": reward}
        if not isinstance(reward, dict):
            raise ValueError(
                "reward must be a name or a map such as {'name': 'max_words', 'max_words': 3}"
            )
        spec["reward"] = dict(reward)
    elif not custom:
        ignored = {"tools", "n", "reward", "base_module"} & set(args)
        if ignored:
            raise ValueError(f"{sorted(ignored)} do not apply to module {module!r}")
    build_module(spec, None)  # validates the whole spec (signature, reward, tools)
    return spec


def spec_to_args(spec: dict[str, Any]) -> dict[str, Any]:
    """A stored spec as ``create_program`` arguments (to validate it again on load)."""
    if "signature" not in spec:
        return dict(spec)
    signature = dict(spec["signature"])
    instructions = signature.pop("instructions", None)
    text = signature.get("string", signature.get("ref", signature))
    return {**spec, "signature": text, "instructions": instructions}


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high} (got {value!r})")
    return value


def build_module(spec: dict[str, Any], bridge_lookup: dict[str, Any] | None) -> tuple[Any, Any]:
    """``(dspy module, signature)`` for a spec."""
    import dspy

    module = spec["module"]
    if is_ref(module):
        instance = build_user_module(module, spec.get("init") or {})
        if "signature" in spec:
            return instance, signatures.build_signature(spec["signature"])
        return instance, signatures.derived_signature(instance, module)
    signature = signatures.build_signature(spec["signature"])
    if module == "chain_of_thought" and "reasoning" in signature.output_fields:
        raise ValueError("chain_of_thought adds the output 'reasoning'; rename that field")
    if module == "react":
        reserved = {"trajectory", "next_thought", "next_tool_name", "next_tool_args"}
        clash = reserved & (set(signature.input_fields) | set(signature.output_fields))
        if clash:
            raise ValueError(f"react reserves the field names {sorted(clash)}")
        tools = build_tools(spec["tools"], spec.get("lookup"), bridge_lookup)
        return dspy.ReAct(signature, tools=tools, max_iters=spec["max_iters"]), signature
    if module in ("best_of_n", "refine"):
        base = (
            dspy.ChainOfThought(signature)
            if spec["base_module"] == "chain_of_thought"
            else (dspy.Predict(signature))
        )
        reward = Reward(spec["reward"], list(signature.output_fields))
        cls = dspy.BestOfN if module == "best_of_n" else dspy.Refine
        return cls(
            module=base, N=spec["n"], reward_fn=reward, threshold=spec["threshold"]
        ), signature
    if module == "chain_of_thought":
        return dspy.ChainOfThought(signature), signature
    return dspy.Predict(signature), signature


@dataclass
class Program:
    """One session's program: its spec, the DSPy module, and counters."""

    program_id: str
    spec: dict[str, Any]
    module: Any
    signature: Any
    created_at: float = field(default_factory=time.time)
    calls: int = 0
    optimized_with: str | None = None

    @classmethod
    def create(cls, program_id: str, spec: dict[str, Any], bridge_lookup: dict | None) -> Program:
        module, signature = build_module(spec, bridge_lookup)
        return cls(program_id, spec, module, signature)

    async def acall(self, inputs: dict[str, Any], module: Any = None) -> Any:
        """Run ``module`` (default: the program's) on ``inputs`` from a call's task.

        DSPy's own async path (``Module.acall`` → ``aforward`` → ``LM.acall``, LiteLLM's
        ``acompletion``) when the module has one: ``predict``, ``chain_of_thought`` and
        ``react``. ``best_of_n`` and ``refine`` have no ``aforward`` in DSPy 3.4: they run in
        a thread (``asyncio.to_thread`` copies the call's context, ``dspy.context``
        included), off the loop.
        """
        module = self.module if module is None else module
        if callable(getattr(module, "aforward", None)):
            return await module.acall(**inputs)
        return await asyncio.to_thread(module, **inputs)

    @property
    def demos(self) -> int:
        return sum(len(p.demos) for p in self.module.predictors())

    def summary(self) -> dict[str, Any]:
        return {
            "program_id": self.program_id,
            "module": self.spec["module"],
            "signature": signatures.signature_string(self.signature),
            "demos": self.demos,
            "calls": self.calls,
        }

    def info(self) -> dict[str, Any]:
        described = signatures.describe(self.signature)
        info = {
            **self.summary(),
            "inputs": described["inputs"],
            "outputs": described["outputs"],
            "instructions": described["instructions"],
            "predictors": [
                {"name": n, "demos": len(p.demos)} for n, p in self.module.named_predictors()
            ],
            "created_at": self.created_at,
            "optimized_with": self.optimized_with,
        }
        for key in ("tools", "max_iters", "base_module", "n", "threshold", "reward", "init"):
            if key in self.spec:
                info[key] = self.spec[key]
        return info

    def check_inputs(self, inputs: Any) -> dict[str, Any]:
        if not isinstance(inputs, dict):
            raise ValueError(
                f"inputs must be a map of the input fields {list(self.signature.input_fields)}"
            )
        expected = list(self.signature.input_fields)
        missing = [n for n in expected if n not in inputs]
        unknown = [n for n in inputs if n not in expected]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if unknown:
                parts.append(f"unknown {unknown}")
            raise ValueError(
                f"program {self.program_id!r} takes inputs {expected}: {', '.join(parts)}"
            )
        return inputs

    def result(self, prediction: Any) -> dict[str, Any]:
        """Outputs (types kept), reasoning and trajectory of a prediction."""
        if prediction is None:
            raise RuntimeError(f"program {self.program_id!r} produced no prediction")
        outputs = {name: to_wire(prediction.get(name)) for name in self.signature.output_fields}
        result: dict[str, Any] = {"outputs": outputs}
        keys = set(prediction.keys())
        if "reasoning" in keys and "reasoning" not in outputs:
            result["reasoning"] = to_wire(prediction.get("reasoning"))
        if "trajectory" in keys:
            result["trajectory"] = to_wire(prediction.get("trajectory"))
        return result

    def save(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            "format": SAVE_FORMAT,
            "program_id": self.program_id,
            "spec": self.spec,
            "state": to_wire(self.module.dump_state()),
            "dspy_version": version("dspy"),
            "optimized_with": self.optimized_with,
        }

    @classmethod
    def load(cls, program_id: str, data: dict[str, Any], bridge_lookup: dict | None) -> Program:
        if data.get("format") != SAVE_FORMAT:
            raise ValueError(
                f"data is not a saved program (format {data.get('format')!r}, "
                f"expected {SAVE_FORMAT!r}); pass what save_program returned"
            )
        spec = data.get("spec")
        if not isinstance(spec, dict) or not (
            isinstance(spec.get("signature"), dict) or is_ref(spec.get("module"))
        ):
            raise ValueError("saved program has no valid 'spec'")
        spec = normalize_spec(spec_to_args(spec))
        program = cls.create(program_id, spec, bridge_lookup)
        program.apply_state(data.get("state"))
        program.optimized_with = data.get("optimized_with")
        return program

    def apply_state(self, state: Any) -> None:
        if state is None:
            return
        if not isinstance(state, dict):
            raise ValueError("state must be DSPy's JSON state of the program (a map)")
        state = {k: v for k, v in state.items() if k != "metadata"}
        try:
            self.module.load_state(state)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"the state does not fit a {self.spec['module']} program with signature "
                f"{signatures.signature_string(self.signature)!r}: {type(exc).__name__}: {exc}"
            ) from None


def to_wire(value: Any, depth: int = 0) -> Any:
    """A value the codecs carry, types kept: numbers stay numbers, lists stay lists."""
    if depth > 32:
        return str(value)
    if value is None or isinstance(value, bool | int | str | bytes):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): to_wire(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_wire(v, depth + 1) for v in value]
    to_dict = getattr(value, "toDict", None)  # dspy.Example / Prediction
    if callable(to_dict):
        return to_wire(to_dict(), depth + 1)
    dump = getattr(value, "model_dump", None)  # pydantic models, dspy types
    if callable(dump):
        try:
            return to_wire(dump(mode="json"), depth + 1)
        except Exception:  # noqa: BLE001 - fall back to text
            pass
    return str(value)
