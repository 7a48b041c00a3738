"""The user's own code: declared in the bridge's YAML, named by import path.

A bridge's config may declare ``code: {paths: [dir, ...], modules: [pkg.mod, ...]}``.
The host passes each as ``--code-path ABS_DIR`` / ``--code-module NAME`` and the
worker calls :func:`load_user_code` at start: the paths go to the front of
``sys.path`` and every module is imported. An import error fails the start
(:class:`UserCodeError`, one line naming the module and the exception; the
traceback goes to stderr, the host's log).

Requests then name objects of those modules as ``"pkg.mod:attr"`` (``attr`` may be
dotted) and bridges turn the name into the object with :func:`resolve_object`.
Only modules imported at start are looked up (``sys.modules``): a declared
module or one of its submodules that the declared modules imported themselves.
Nothing is imported on request, so a request can never make a worker import or
run code the operator did not declare.

Thread safety: :func:`load_user_code` runs once, at start, before serving;
:func:`resolve_object` and :func:`declared_modules` only read, from any thread.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import types
from collections.abc import Callable, Iterable

from .errors import InvalidArgument, InvalidConfiguration

__all__ = [
    "UserCodeError",
    "declared_modules",
    "load_user_code",
    "resolve_object",
]

_declared: tuple[str, ...] = ()


class UserCodeError(InvalidConfiguration):
    """A declared code path or module cannot be used (category ``invalid_configuration``)."""


def declared_modules() -> tuple[str, ...]:
    """The modules this worker declared (``--code-module``), in declaration order."""
    return _declared


def is_module_name(name: object) -> bool:
    """True for a dotted name of identifiers (``pkg.mod``), not relative (``.mod``)."""
    return (
        isinstance(name, str)
        and bool(name)
        and all(part.isidentifier() for part in name.split("."))
    )


def load_user_code(paths: Iterable[str], modules: Iterable[str]) -> None:
    """Put ``paths`` at the front of ``sys.path`` and import every module of ``modules``.

    Declares exactly ``modules`` (replacing an earlier declaration). Raises
    :class:`UserCodeError` when a path is not an existing directory, a name is not a
    dotted module name, or a module raises while it is imported (the original
    exception is the ``__cause__``, so ``traceback.print_exc()`` shows it).
    """
    global _declared
    paths = list(paths)
    modules = list(modules)
    for path in paths:
        if not os.path.isabs(path) or not os.path.isdir(path):
            raise UserCodeError(
                f"code path {path!r} is not an existing directory given as an absolute path; "
                "fix the bridge's code.paths"
            )
    for name in modules:
        if not is_module_name(name):
            raise UserCodeError(
                f"code module {name!r} is not a dotted module name (like 'myteam.programs'); "
                "fix the bridge's code.modules"
            )
    # Front of sys.path, in the order given, so the user's package wins over an
    # installed one of the same name.
    for path in reversed(paths):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    importlib.invalidate_caches()
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # SystemExit/KeyboardInterrupt at import too
            if isinstance(exc, KeyboardInterrupt):
                raise
            detail = str(exc).splitlines()[0] if str(exc) else ""
            kind = type(exc).__name__
            # Where it was looked for helps only when it was not found.
            missing = isinstance(exc, ModuleNotFoundError) and paths
            where = f" (code.paths: {', '.join(paths)})" if missing else ""
            raise UserCodeError(
                f"code module {name!r} failed to import: {kind}: {detail}{where}"
                if detail
                else f"code module {name!r} failed to import: {kind}{where}"
            ) from exc
    _declared = tuple(dict.fromkeys(modules))


def _declaring(module: str) -> str | None:
    """The declared module that ``module`` is, or is a submodule of; else None."""
    for declared in _declared:
        if module == declared or module.startswith(declared + "."):
            return declared
    return None


def _declared_list() -> str:
    return ", ".join(_declared) if _declared else "none"


def _kind(obj: object) -> str:
    """A short description of what ``obj`` is, for error messages."""
    if inspect.isclass(obj):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, types.ModuleType):
        return "a module"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.ismethod(obj):
        return "a function"
    return f"an instance of {type(obj).__module__}.{type(obj).__qualname__}"


def resolve_object(ref: str, *, what: str, check: Callable[[object], bool] | None = None) -> object:
    """Return the object ``ref`` (``"pkg.mod:attr"``, ``attr`` may be dotted) names.

    ``what`` says what the caller expects ("a dspy.Module subclass"), for messages.
    Raises :class:`~mlbridge.errors.InvalidArgument`, before any import, when ``ref``
    is malformed or relative, names a module that is not declared (or a submodule of
    one), or a private dunder attribute (``x:__class__``); and when the module was
    not imported at start, the attribute is missing, leads through an undeclared
    module, is a function or class defined outside the declared modules, or
    ``check(obj)`` is false.
    """
    if not isinstance(ref, str):
        raise InvalidArgument(
            f"expected {what} named as 'package.module:attribute', got {type(ref).__name__}"
        )
    module_name, colon, attr = ref.partition(":")
    if not colon or not attr:
        raise InvalidArgument(
            f"{ref!r} is not an import path; name {what} as 'package.module:attribute' "
            f"from a declared module ({_declared_list()})"
        )
    if not is_module_name(module_name):
        raise InvalidArgument(
            f"{ref!r}: {module_name!r} is not an absolute module name (relative names "
            f"are refused); use a declared module ({_declared_list()})"
        )
    parts = attr.split(".")
    if not all(part.isidentifier() for part in parts):
        raise InvalidArgument(f"{ref!r}: {attr!r} is not a dotted attribute name")
    if any(part.startswith("__") for part in parts):
        raise InvalidArgument(f"{ref!r}: dunder and name-mangled attributes are refused")
    if _declaring(module_name) is None:
        raise InvalidArgument(
            f"{ref!r}: module {module_name!r} is not declared in this bridge's code.modules "
            f"(declared: {_declared_list()}); add it to the bridge's YAML to use it"
        )
    module = sys.modules.get(module_name)
    if module is None:
        raise InvalidArgument(
            f"{ref!r}: module {module_name!r} was not imported at start (submodules are "
            "not imported on request); list it in the bridge's code.modules"
        )
    obj: object = module
    for depth, part in enumerate(parts):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            owner = ".".join([module_name, *parts[:depth]]) if depth else module_name
            raise InvalidArgument(
                f"{ref!r} not found: {owner!r} has no attribute {part!r}"
            ) from None
        if isinstance(obj, types.ModuleType) and _declaring(obj.__name__) is None:
            raise InvalidArgument(
                f"{ref!r}: {'.'.join(parts[: depth + 1])!r} is the module {obj.__name__!r}, "
                f"which is not declared (declared: {_declared_list()})"
            )
    if inspect.isclass(obj) or inspect.isroutine(obj):
        defined_in = getattr(obj, "__module__", None)
        if not isinstance(defined_in, str) or _declaring(defined_in) is None:
            raise InvalidArgument(
                f"{ref!r} is {_kind(obj)} defined in {defined_in!r}, not in a declared "
                f"module ({_declared_list()}); define or wrap it in your own code"
            )
    if check is not None and not check(obj):
        raise InvalidArgument(f"{ref!r} is {_kind(obj)}; expected {what}")
    return obj
