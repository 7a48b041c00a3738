"""A bridge of named objects, for the tests of resources created without a session.

Each worker keeps its own objects (like a framework bridge's programs): ``create`` builds one,
``delete`` removes it, ``lookup`` answers it with the id of the worker that answered. The tests
declare the replay rules ``create`` -> ``thing:{name}`` and ``delete`` -> ``thing:{name}``, so
that the host journals anonymous calls of both and replays them on every worker.

Commands:

- ``create`` ``{"name", "value", "only_on"?}``: stores ``value`` under ``name``; with
  ``only_on``, fails on every worker but that one (a replay that cannot succeed elsewhere).
  Answers ``{"name", "worker_id"}``.
- ``delete`` ``{"name"}``: removes it (absent is fine). Answers ``{"name", "deleted"}``.
- ``lookup`` ``{"name", "hold"?, "missing_ok"?}``: with ``hold``, first waits until that file
  exists (so that a test can keep every worker busy at once); answers
  ``{"name", "found", "value", "worker_id"}``, or fails with not_found when this worker has no
  such object (``missing_ok``: answers ``found: false``).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

# The SDK of this checkout first, as the echo bridge does.
_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
sys.path.insert(0, os.path.join(_ROOT, "python_bridges"))

from mlbridge import BaseBridge, BridgeError, CallContext, command  # noqa: E402


class ResourceBridge(BaseBridge):
    framework = "resources"
    bridge_version = "0.1.0"

    def framework_version(self) -> str:
        return "1.0.0"

    def initialize(self, options: dict[str, Any]) -> None:
        self.options = options

    @command("create", description="Store args.value under args.name (only_on: one worker).")
    def create(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        only_on = args.get("only_on")
        if only_on and only_on != ctx.worker_id:
            raise RuntimeError(f"'{args['name']}' can be built on worker {only_on} only")
        ctx.resources[args["name"]] = args.get("value")
        return {"name": args["name"], "worker_id": ctx.worker_id}

    @command("delete", description="Remove the object args.name.")
    def delete(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        ctx.resources.pop(args["name"], None)
        return {"name": args["name"], "deleted": True}

    @command("lookup", description="Answer the object args.name (after args.hold exists).")
    def lookup(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        hold = args.get("hold")
        while hold and not os.path.exists(hold):
            if ctx.cancelled:
                raise BridgeError("lookup stopped: cancelled", category="cancelled")
            time.sleep(0.01)
        name = args["name"]
        if name not in ctx.resources and args.get("missing_ok"):
            return {"name": name, "found": False, "worker_id": ctx.worker_id}
        if name not in ctx.resources:
            raise BridgeError(f"'{name}' not found on worker {ctx.worker_id}", category="not_found")
        return {
            "name": name,
            "found": True,
            "value": ctx.resources[name],
            "worker_id": ctx.worker_id,
        }


if __name__ == "__main__":
    ResourceBridge.main()
