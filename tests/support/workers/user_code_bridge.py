"""An echo-like bridge whose commands call the user's declared code by import path.

Started as the host starts any worker, plus the declared code::

    python user_code_bridge.py --code-path /abs/examples/user_code --code-module myteam

``call`` resolves ``args.function`` ("pkg.mod:attr") with
:func:`mlbridge.user_code.resolve_object` and calls it with ``args.args``;
``declared`` returns the declared modules.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# The SDK of this checkout first, as the framework bridges do.
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "python_bridges")
)

from mlbridge import BaseBridge, command  # noqa: E402
from mlbridge.user_code import declared_modules, resolve_object  # noqa: E402


class UserCodeBridge(BaseBridge):
    """Calls functions of the user's declared modules."""

    framework = "usercode"
    bridge_version = "0.1.0"

    def framework_version(self) -> str:
        return "1.0.0"

    @command("call", description="Call a function of a declared module: {function, args}.")
    def call(self, args: dict[str, Any], ctx: Any) -> Any:
        function = resolve_object(args.get("function"), what="a function", check=callable)
        return function(*args.get("args", []))  # type: ignore[operator]

    @command("declared", description="The modules this worker declared.")
    def declared(self, args: Any, ctx: Any) -> list[str]:
        return list(declared_modules())


if __name__ == "__main__":
    UserCodeBridge.main()
