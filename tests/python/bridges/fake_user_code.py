"""``mlbridge.user_code`` for tests until the SDK's own lands, with its documented contract:
``resolve_object("pkg.mod:attr", what=..., check=...)`` refuses an undeclared module before
importing it and a missing or wrong attribute, all as ``invalid_argument``."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterable

from mlbridge import BridgeError


def install(paths: Iterable[str], modules: Iterable[str]) -> types.ModuleType:
    """Put ``paths`` on sys.path, import ``modules``, and serve them as mlbridge.user_code."""
    declared = tuple(modules)
    for path in paths:
        if path not in sys.path:
            sys.path.insert(0, path)
    for name in declared:
        importlib.import_module(name)

    def declared_modules() -> tuple[str, ...]:
        return declared

    def resolve_object(
        ref: str, *, what: str, check: Callable[[object], bool] | None = None
    ) -> object:
        module_name, _, attr = ref.partition(":")
        if not any(module_name == m or module_name.startswith(m + ".") for m in declared):
            raise BridgeError(
                f"{ref!r}: module {module_name!r} is not declared; declared: {list(declared)}",
                category="invalid_argument",
            )
        value: object = importlib.import_module(module_name)
        for part in attr.split("."):
            if not hasattr(value, part):
                raise BridgeError(f"{ref!r}: no attribute {attr!r}", category="invalid_argument")
            value = getattr(value, part)
        if check is not None and not check(value):
            raise BridgeError(
                f"{ref!r} is a {type(value).__name__}; expected {what}",
                category="invalid_argument",
            )
        return value

    module = types.ModuleType("mlbridge.user_code")
    module.resolve_object = resolve_object  # type: ignore[attr-defined]
    module.declared_modules = declared_modules  # type: ignore[attr-defined]
    return module
