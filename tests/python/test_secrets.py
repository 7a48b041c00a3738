"""Every bridge keeps secrets out of its errors and its stderr (mlbridge.secrets via BaseBridge)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import Spawn
from worker_client import ECHO_BRIDGE, ROOT

from mlbridge.secrets import MAX_PENDING, REDACTED, RedactingStream, Redactor

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


SPLIT_SECRET = "sk-FAKEHOSTKEY-1234"


def redacting(target: io.StringIO) -> RedactingStream:
    redactor = Redactor()
    redactor.add(SPLIT_SECRET)
    return RedactingStream(target, redactor)


def assert_no_piece_of_the_secret(text: str) -> None:
    assert SPLIT_SECRET not in text
    # Neither half of a split secret may get out on its own.
    assert "sk-FAKEHOS" not in text and "TKEY-1234" not in text, text


def test_a_secret_split_across_two_flushed_writes_is_redacted() -> None:
    target = io.StringIO()
    stream = redacting(target)
    stream.write("calling with sk-FAKEHOS")
    stream.flush()
    assert target.getvalue() == "calling with "  # the start of the secret waits
    stream.write("TKEY-1234 now\n")
    assert target.getvalue() == f"calling with {REDACTED} now\n"


def test_a_secret_across_the_flushes_of_a_long_line_is_redacted() -> None:
    target = io.StringIO()
    stream = redacting(target)
    line = "x" * 8190 + SPLIT_SECRET + "y" * 12000 + "\n"
    for start in range(0, len(line), 8192):  # a library writing and flushing 8 KiB at a time
        stream.write(line[start : start + 8192])
        stream.flush()
    assert_no_piece_of_the_secret(target.getvalue())
    assert target.getvalue() == line.replace(SPLIT_SECRET, REDACTED)


def test_a_long_partial_line_is_written_without_waiting_for_its_newline() -> None:
    target = io.StringIO()
    stream = redacting(target)
    stream.write("z" * (MAX_PENDING + 100) + "sk-FAKE")
    assert target.getvalue() == "z" * (MAX_PENDING + 100)
    stream.write("HOSTKEY-1234")
    stream.release()
    assert target.getvalue() == "z" * (MAX_PENDING + 100) + REDACTED


def test_split_for_stream_holds_only_a_possible_start_of_a_secret() -> None:
    redactor = Redactor()
    redactor.add(SPLIT_SECRET)
    assert redactor.split_for_stream("plain text") == ("plain text", "")
    assert redactor.split_for_stream("a sk-FAKE") == ("a ", "sk-FAKE")
    assert redactor.split_for_stream(f"a {SPLIT_SECRET} b s") == (f"a {REDACTED} b ", "s")


def test_a_worker_that_exits_after_half_a_secret_writes_it_redacted(tmp_path: Path) -> None:
    script = tmp_path / "split_writer.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from mlbridge.secrets import REDACTOR, install_redacting_stdio
            REDACTOR.add({SPLIT_SECRET!r})
            install_redacting_stdio()
            sys.stderr.write("key sk-FAKEHOS")
            sys.stderr.flush()
            sys.stderr.write("TKEY-1234")
            sys.stderr.flush()
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python_bridges")}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"key {REDACTED}"
