"""A bridge in front of an HTTP backend, for circuit-breaker tests.

``ask`` sends one chat completion to the OpenAI-compatible server at ``options.url``
(``tests/support/openai_server.py`` in the tests) and answers ``{"answer": ...}``; an HTTP
error from the backend is a ``model_error`` naming the status, as a real framework bridge
reports a provider that is down.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "python_bridges")
)

from mlbridge import BaseBridge, BridgeError, CallContext, command  # noqa: E402


class UpstreamBridge(BaseBridge):
    framework = "upstream"
    bridge_version = "0.1.0"

    def framework_version(self) -> str:
        return "1.0.0"

    def initialize(self, options: dict[str, Any]) -> None:
        self.url = str(options["url"]).rstrip("/")

    @command("ask", description="Ask the backend args.question; answer {answer}.")
    def ask(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        body = {
            "model": "gpt-test",
            "messages": [{"role": "user", "content": str(args.get("question", "hello"))}],
        }
        request = urllib.request.Request(
            self.url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            raise BridgeError(
                f"the backend at {self.url} answered HTTP {error.code}", category="model_error"
            ) from None
        return {"answer": answer["choices"][0]["message"]["content"]}


if __name__ == "__main__":
    UpstreamBridge.main()
