"""Every bridge keeps secrets out of its errors and its stderr (mlbridge.secrets via BaseBridge)."""

from __future__ import annotations

import os

from conftest import Spawn
from worker_client import ECHO_BRIDGE

from mlbridge.secrets import REDACTED, Redactor

ENV_SECRET = "sk-env-secret-4c1d9e0a"
ARG_SECRET = "sk-arg-secret-93b7f1e2"


def test_secret_named_arguments_are_registered_anywhere_in_the_args() -> None:
    redactor = Redactor()
    redactor.add_from_args(
        {
            "api_key": "first-secret-1",
            "nested": [{"openai-token": "second-secret-2"}, {"password": 12345678}],
            "key": "an-ordinary-key-name",
            "short_token": "abc",
        }
    )
    text = "first-secret-1 second-secret-2 an-ordinary-key-name abc 12345678"
    assert redactor.redact(text) == f"{REDACTED} {REDACTED} an-ordinary-key-name abc 12345678"


def test_the_echo_bridge_redacts_env_and_argument_secrets(spawn: Spawn, codec: str) -> None:
    worker = spawn(ECHO_BRIDGE, codec, env={**os.environ, "OPENAI_API_KEY": ENV_SECRET})
    worker.hello()
    error = worker.error("fail", {"type": "ValueError", "message": f"bad key {ENV_SECRET}"})
    assert ENV_SECRET not in error["message"] + error["traceback"]
    assert REDACTED in error["message"]
    error = worker.error("fail", {"api_key": ARG_SECRET, "message": f"rejected {ARG_SECRET}"})
    assert ARG_SECRET not in error["message"] + error["traceback"]
    assert worker.result("print", {"text": "(printed) " + ENV_SECRET}) == {"printed": True}
    worker.close_stdin()
    assert worker.wait() == 0
    stderr = worker.stderr()
    # print() goes through the redacting sys.stdout; the raw os.write(1) copy does not, which is
    # what the host's own redaction (telemetry::Redactor) is for.
    assert f"(printed) {REDACTED}" in stderr
