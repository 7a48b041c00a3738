"""Security checks of `mlbridge serve` (issue 10, part 5; docs/security.md):

- a worker's environment is exactly what its bridge's config allows (read from /proc/PID/environ);
- secrets planted in the config, in a request and in a traceback never appear in any output:
  the server's log, error bodies, /metrics, /v1/bridges;
- a non-loopback address without a token is refused unless explicitly allowed;
- a plugin named by a path is refused when a bridge is registered over HTTP.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import BINARY, REGISTRATION, ROOT, TOKEN, Server

CONFIG_SECRET = "sk-planted-config-5f3a9c1e"  # the bridge's OPENAI_API_KEY (env.set)
PASSED_SECRET = "hf-planted-passed-77d1b2c4"  # the host's HF_TOKEN, passed with env.pass
REQUEST_SECRET = "sk-planted-request-0b8e6a2d"  # a caller's api_key argument
SECRETS = (CONFIG_SECRET, PASSED_SECRET, REQUEST_SECRET, TOKEN)


def secure_deployment(extra_host: str = "") -> str:
    return f"""
host:
  root: {ROOT}
  python: {ROOT / ".venv" / "bin" / "python"}
  auth_token_env: MLBRIDGE_TEST_TOKEN
{extra_host}
bridges:
  echo:
    script: python_bridges/examples/echo_bridge.py
    pool: {{size: 1}}
    env:
      pass: [HF_TOKEN, MLBRIDGE_TEST_PASSED]
      set: {{OPENAI_API_KEY: {CONFIG_SECRET}, MLBRIDGE_TEST_SET: set-value}}
"""


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory):
    config = tmp_path_factory.mktemp("secure") / "mlbridge.yaml"
    config.write_text(secure_deployment())
    env = dict(
        os.environ,
        MLBRIDGE_TEST_TOKEN=TOKEN,
        HF_TOKEN=PASSED_SECRET,
        MLBRIDGE_TEST_PASSED="passed-value",
        MLBRIDGE_TEST_NOT_PASSED="must-not-reach-the-worker",
    )
    server = Server(config, env, extra_args=("--log-level", "debug"))
    yield server
    if server.process.poll() is None:
        server.stop()


def worker_pid(server: Server) -> int:
    status, body, _ = server.request("GET", "/v1/bridges/echo")
    assert status == 200, body
    return body["workers"][0]["pid"]


def test_a_worker_gets_only_the_environment_its_config_allows(secure: Server) -> None:
    raw = Path(f"/proc/{worker_pid(secure)}/environ").read_bytes()
    environ = dict(item.split("=", 1) for item in raw.decode().split("\0") if item)
    expected = {
        name: os.environ[name]
        for name in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
        if name in os.environ
    }
    expected.update(
        HF_TOKEN=PASSED_SECRET,
        MLBRIDGE_TEST_PASSED="passed-value",
        OPENAI_API_KEY=CONFIG_SECRET,
        MLBRIDGE_TEST_SET="set-value",
    )
    assert environ == expected


def test_planted_secrets_never_reach_any_output(secure: Server) -> None:
    outputs: list[str] = []

    def call(command: str, args: dict) -> None:
        status, body, _ = secure.request(
            "POST", f"/v1/bridges/echo/commands/{command}", {"args": args}
        )
        outputs.append(f"{status} {body}")

    # A traceback holding the config's and the passed keys, and one holding a request's key.
    call("fail", {"type": "ValueError", "message": f"bad {CONFIG_SECRET} / {PASSED_SECRET}"})
    call("fail", {"type": "KeyError", "api_key": REQUEST_SECRET, "message": REQUEST_SECRET})
    call("fail", {"category": "authentication", "message": f"key {CONFIG_SECRET} rejected"})
    # Printed by Python and written straight to fd 1 (no Python filter): the host's log.
    call("print", {"text": f"debug: key={CONFIG_SECRET} token={PASSED_SECRET}"})
    # A failure the host sees first: the worker dies with a secret in its last stderr lines.
    call("print", {"text": f"about to die holding {CONFIG_SECRET}"})
    call("crash", {"exit_code": 3})
    for path in ("/metrics", "/v1/bridges", "/v1/bridges/echo", "/readyz", "/v1/sessions"):
        status, body, _ = secure.request("GET", path)
        outputs.append(f"{status} {body}")
    code, log = secure.stop()
    outputs.append(log)
    assert code == 0, log
    everything = "\n".join(outputs)
    assert "[REDACTED]" in everything  # the secrets were there, and blanked out
    for secret in SECRETS:
        assert secret not in everything, f"{secret} leaked"


def test_a_remote_address_without_a_token_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(secure_deployment().replace("  auth_token_env: MLBRIDGE_TEST_TOKEN\n", ""))
    done = subprocess.run(
        [BINARY, "serve", "--config", str(config), "--listen", "0.0.0.0:0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "refusing to listen on 0.0.0.0:0 without a bearer token" in done.stderr
    for remedy in ("host.auth_token_env", "127.0.0.1", "allow_unauthenticated_remote: true"):
        assert remedy in done.stderr


@pytest.mark.parametrize(
    ("extra_host", "args"),
    [
        ("  allow_unauthenticated_remote: true", ()),
        ("", ("--allow-unauthenticated-remote",)),
    ],
    ids=["yaml", "flag"],
)
def test_the_explicit_opt_in_serves_a_remote_address(
    tmp_path: Path, extra_host: str, args: tuple[str, ...]
) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(
        secure_deployment(extra_host).replace("  auth_token_env: MLBRIDGE_TEST_TOKEN\n", "")
    )
    server = Server(config, dict(os.environ), listen="0.0.0.0:0", extra_args=args)
    status, body, _ = server.request("GET", "/healthz", token=None)  # over loopback
    code, err = server.stop()
    assert (status, body) == (200, {"status": "ok"})
    assert code == 0, err


def test_a_remote_address_with_a_token_serves_and_asks_for_it(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(secure_deployment())
    server = Server(config, dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN), listen="0.0.0.0:0")
    without, _, _ = server.request("GET", "/v1/bridges", token=None)
    with_token, _, _ = server.request("GET", "/v1/bridges")
    code, err = server.stop()
    assert (without, with_token) == (401, 200)
    assert code == 0, err


@pytest.mark.parametrize("plugin", ["../../tmp/evil", "/tmp/libmlbridge_evil.so", "a/b"])
def test_a_plugin_named_by_a_path_is_refused_at_runtime_registration(
    plain_server: Server, plugin: str
) -> None:
    status, body, _ = plain_server.request(
        "POST", "/v1/bridges", {"name": "evil", "config": {"plugin": plugin}}
    )
    assert status == 400, body
    assert "must be a plugin name of letters" in body["error"]["message"]


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory):
    """A server with the default limits (an 8 MiB body) and runtime registration on, not stopped
    by any test."""
    config = tmp_path_factory.mktemp("plain") / "mlbridge.yaml"
    config.write_text(secure_deployment(REGISTRATION))
    server = Server(config, dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN))
    yield server
    server.stop()
