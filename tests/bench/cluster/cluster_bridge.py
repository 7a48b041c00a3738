"""The cluster benchmark's bridge: one stateful, journaled command per session turn.

A turn ``n`` adds 1 to the session state's ``count`` and appends ``"<session>:<n>"`` to the list
``items`` kept in the session's resources (journaled as a ``put`` of the whole list, so a new
worker on any host rebuilds it). A turn is applied only on top of turn ``n - 1``: a turn whose
answer was lost with its host and is sent again answers ``applied: false`` instead of applying
twice, and a session that comes back different (state and list disagree, or behind) shows in
``count`` and ``items`` of the answer, which the driver checks. Every answer names the host
(``MLBRIDGE_CLUSTER_HOST``, set per host in its YAML) and the worker's pid.
"""

from __future__ import annotations

import os
from typing import Any

from mlbridge import BaseBridge, CallContext, command

HOST = os.environ.get("MLBRIDGE_CLUSTER_HOST", "?")


class ClusterBridge(BaseBridge):
    framework = "cluster-bench"
    bridge_version = "0.1.0"

    def framework_version(self) -> str:
        return "1.0.0"

    def initialize(self, options: dict[str, Any]) -> None:
        pass

    @command("turn", description="Apply session turn args.n once (count + journaled list).")
    def turn(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        n = int(args["n"])
        state = ctx.session.state
        items = ctx.resources.setdefault("items", [])
        count = int(state.get("count", 0))
        answer = {"n": n, "count": count, "items": len(items), "host": HOST, "pid": os.getpid()}
        if count != n - 1 or len(items) != n - 1:
            return {**answer, "applied": False}
        state["count"] = n
        items.append(f"{ctx.session_id}:{n}")
        ctx.session.record("put", {"key": "items", "value": list(items)}, object="items")
        return {**answer, "applied": True}

    @command("put", description="Store args.value under args.key (what the journal replays).")
    def put(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        ctx.resources[args["key"]] = args.get("value")
        return {"key": args["key"]}

    @command("read", description="The session's count and list, and where it is served.")
    def read(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return {
            "count": int(ctx.session.state.get("count", 0)),
            "items": list(ctx.resources.get("items", [])),
            "host": HOST,
            "pid": os.getpid(),
        }

    @command("where", description="Which host and worker serve this call (no session needed).")
    def where(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return {"host": HOST, "pid": os.getpid()}


if __name__ == "__main__":
    ClusterBridge.main()
