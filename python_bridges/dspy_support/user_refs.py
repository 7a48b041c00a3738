"""The user's own DSPy code, named by import path (``"myteam.programs:RAG"``).

Every lookup goes through :func:`mlbridge.user_code.resolve_object`, which refuses a module
that the bridge's YAML did not declare (``code.modules``) before importing anything, and an
attribute that is missing or of the wrong kind; both raise ``InvalidArgument``. This module
only says what each kind must be:

- a program module: a ``dspy.Module`` subclass, or a factory (a function) returning a
  ``dspy.Module`` instance, called with the request's ``init`` map as keyword arguments;
- a signature: a ``dspy.Signature`` subclass (its fields may have Pydantic types);
- a tool: a ``dspy.Tool`` or a plain function with type hints (it becomes a ``dspy.Tool``);
- a metric: a function ``metric(example, prediction, trace=None)`` (or with GEPA's
  ``pred_name, pred_trace`` too).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

#: ``package.module:attr`` (attr may be dotted); what a string must look like to be a ref.
_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*")


def is_ref(value: Any) -> bool:
    """True when ``value`` is an import path such as ``"myteam.tools:search"``."""
    return isinstance(value, str) and _REF.fullmatch(value) is not None


def _resolve(ref: str, what: str, check: Any) -> Any:
    from mlbridge.user_code import resolve_object

    return resolve_object(ref, what=what, check=check)


def _is_module_class(obj: Any) -> bool:
    import dspy

    return inspect.isclass(obj) and issubclass(obj, dspy.Module)


def _is_factory(obj: Any) -> bool:
    return inspect.isfunction(obj) or inspect.ismethod(obj)


def resolve_module_maker(ref: str) -> Any:
    """The ``dspy.Module`` class or factory function that ``ref`` names."""
    return _resolve(
        ref,
        what="a dspy.Module subclass or a function returning a dspy.Module",
        check=lambda obj: _is_module_class(obj) or _is_factory(obj),
    )


def build_user_module(ref: str, init: dict[str, Any]) -> Any:
    """An instance of the user's module: ``maker(**init)``; raises ``ValueError``."""
    import dspy

    maker = resolve_module_maker(ref)
    try:
        if inspect.isclass(maker):  # a Module's metaclass hides __init__'s parameters
            inspect.signature(maker.__init__).bind(None, **init)
        else:
            inspect.signature(maker).bind(**init)
    except TypeError as exc:
        kind = "a function" if _is_factory(maker) else "a class"
        raise ValueError(
            f"{ref} is {kind}; as a dspy.Module maker it must accept init {sorted(init)} "
            f"({exc}); a module is a dspy.Module subclass or a function returning one"
        ) from None
    except ValueError:  # a builtin without a signature: let the call say
        pass
    try:
        module = maker(**init)
    except Exception as exc:  # noqa: BLE001 - the user's constructor: say what it raised
        raise ValueError(f"{ref}(**init) raised {type(exc).__name__}: {exc}") from None
    if not isinstance(module, dspy.Module):
        raise ValueError(
            f"{ref} returned a {type(module).__name__}; expected a dspy.Module instance"
        )
    return module


def resolve_signature(ref: str) -> Any:
    """The ``dspy.Signature`` class that ``ref`` names."""
    import dspy

    return _resolve(
        ref,
        what="a dspy.Signature subclass",
        check=lambda obj: inspect.isclass(obj) and issubclass(obj, dspy.Signature),
    )


def resolve_tool(ref: str) -> Any:
    """A ``dspy.Tool`` for ``ref`` (a ``dspy.Tool`` or a plain typed function)."""
    import dspy

    obj = _resolve(
        ref,
        what="a function or a dspy.Tool",
        check=lambda obj: isinstance(obj, dspy.Tool) or _is_factory(obj),
    )
    return obj


def resolve_metric(ref: str) -> Any:
    """The metric function that ``ref`` names (two to five positional parameters)."""

    def fits(obj: Any) -> bool:
        if not callable(obj) or inspect.isclass(obj):
            return False
        try:
            inspect.signature(obj).bind(None, None)
        except (TypeError, ValueError):
            return False
        return True

    return _resolve(
        ref, what="a metric function metric(example, prediction, trace=None)", check=fits
    )
