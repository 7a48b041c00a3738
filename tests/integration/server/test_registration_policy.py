"""Runtime registration is code execution (issue 20, items 1, 2 and 4; docs/http-api.md):

- it is off unless the operator switches it on, and then always needs the bearer token;
- a registration names only the interpreters, script directories and host variables the
  operator listed, and no env.set variable that changes how a program starts; nothing a refused
  request names is ever run (the marker file of the BASH_ENV exploit never appears);
- init, shutdown, cleanup and cleanup_session belong to the host: every client spelling of them
  is a command the bridge does not have (404), and the worker keeps running.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TOKEN, Server, deployment

PASSABLE = "passable-value-3c1f"  # MLBRIDGE_TEST_PASSABLE: listed in env_pass
HOST_SECRET = "host-secret-value-9a7e"  # MLBRIDGE_TEST_HOST_SECRET: not listed


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = tmp_path_factory.mktemp("guarded") / "mlbridge.yaml"
    config.write_text(
        deployment(
            "  auth_token_env: MLBRIDGE_TEST_TOKEN\n"
            "  runtime_registration:\n"
            "    enabled: true\n"
            "    script_dirs: [python_bridges]\n"
            "    env_pass: [MLBRIDGE_TEST_PASSABLE]\n"
        )
    )
    env = dict(
        os.environ,
        MLBRIDGE_TEST_TOKEN=TOKEN,
        MLBRIDGE_TEST_PASSABLE=PASSABLE,
        MLBRIDGE_TEST_HOST_SECRET=HOST_SECRET,
    )
    server = Server(config, env)
    yield server
    code, err = server.stop()
    assert code == 0, err


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if item)


def refused(answer: tuple[int, Any, dict[str, str]], status: int, part: str) -> None:
    code, body, _ = answer
    assert code == status, body
    assert part in body["error"]["message"], body


def test_the_bash_env_exploit_is_refused_at_every_step_and_runs_nothing(
    guarded: Server, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    exploit = {
        "name": "x",
        "config": {
            "python": "/bin/bash",
            "script": "/etc/hostname",
            "env": {"set": {"BASH_ENV": f"$(id>{marker})"}},
        },
    }
    as_text = {"Content-Type": "text/plain"}
    # The request of the issue: curl -d '...' -H 'Content-Type: text/plain', no token.
    raw = json.dumps(exploit).encode()
    refused(
        guarded.request("POST", "/v1/bridges", raw=raw, token=None, headers=as_text),
        415,
        "needs 'Content-Type: application/json'",
    )
    # JSON, but no token (loopback included).
    refused(guarded.request("POST", "/v1/bridges", exploit, token=None), 401, "Bearer")
    # The token, but an interpreter the operator did not list.
    refused(
        guarded.request("POST", "/v1/bridges", exploit),
        403,
        "python '/bin/bash' is not an interpreter",
    )
    # An allowed interpreter, but a script outside the script directories.
    outside = {"name": "x", "config": {"script": "/etc/hostname"}}
    refused(
        guarded.request("POST", "/v1/bridges", outside), 403, "is outside the script directories"
    )
    # An allowed interpreter and script, but BASH_ENV (or PYTHONSTARTUP) in env.set.
    echo = "python_bridges/examples/echo_bridge.py"
    for name, value in (("BASH_ENV", f"$(id>{marker})"), ("PYTHONSTARTUP", str(marker))):
        sneaky = {"name": "x", "config": {"script": echo, "env": {"set": {name: value}}}}
        refused(guarded.request("POST", "/v1/bridges", sneaky), 403, f"env.set may not set {name}")
    assert not marker.exists(), "a refused registration ran a program"
    status, _, _ = guarded.request("GET", "/v1/bridges/x")
    assert status == 404


def test_env_pass_names_only_the_variables_the_operator_listed(guarded: Server) -> None:
    echo = "python_bridges/examples/echo_bridge.py"
    stealing = {
        "name": "thief",
        "config": {"script": echo, "env": {"pass": ["MLBRIDGE_TEST_HOST_SECRET"]}},
    }
    refused(
        guarded.request("POST", "/v1/bridges", stealing),
        403,
        "env.pass names MLBRIDGE_TEST_HOST_SECRET",
    )
    for token_variable in ("MLBRIDGE_TEST_TOKEN",):  # the host's own token, never
        stealing["config"]["env"]["pass"] = [token_variable]
        refused(
            guarded.request("POST", "/v1/bridges", stealing),
            403,
            f"env.pass names {token_variable}",
        )
    allowed = {
        "name": "passer",
        "config": {
            "script": echo,
            "pool": {"size": 1},
            "env": {"pass": ["MLBRIDGE_TEST_PASSABLE"]},
        },
    }
    status, body, _ = guarded.request("POST", "/v1/bridges", allowed)
    assert status == 201, body
    environ = environ_of(body["workers"][0]["pid"])
    assert environ["MLBRIDGE_TEST_PASSABLE"] == PASSABLE
    assert "MLBRIDGE_TEST_HOST_SECRET" not in environ and "MLBRIDGE_TEST_TOKEN" not in environ
    status, _, _ = guarded.request("DELETE", "/v1/bridges/passer")
    assert status == 200


def test_a_patch_cannot_widen_what_a_bridge_runs_with(guarded: Server) -> None:
    refused(
        guarded.request("PATCH", "/v1/bridges/echo", {"env": {"set": {"LD_PRELOAD": "/x.so"}}}),
        400,
        "env.set may not set LD_PRELOAD",
    )
    refused(
        guarded.request("PATCH", "/v1/bridges/echo", {"python": "/bin/sh"}),
        400,
        "python '/bin/sh' is not an interpreter",
    )
    status, body, _ = guarded.request(
        "PATCH", "/v1/bridges/echo", {"timeouts": {"request_ms": 50000}}
    )
    assert status == 200, body


@pytest.mark.parametrize(
    "command", ["init", "shutdown", "cleanup", "cleanup_session", "common:init", "echo:shutdown"]
)
def test_host_only_builtins_are_commands_no_client_can_call(guarded: Server, command: str) -> None:
    def pid() -> int:
        return guarded.request("GET", "/v1/bridges/echo")[1]["workers"][0]["pid"]

    before = pid()
    attacker = {"options": {"api_base": "http://attacker.example"}, "session_id": "s"}
    path = f"/v1/bridges/echo/commands/{command}"
    for extra in ({}, {"reply": False}, {"stream": True}):
        status, body, _ = guarded.request("POST", path, {"args": attacker, **extra})
        assert status == 404, (extra, body)
        assert body["error"]["category"] == "not_found", body
        assert body["error"]["message"] == f"bridge 'echo' has no command '{command}'", body
    assert pid() == before, "the worker was stopped or restarted by a client"
    status, body, _ = guarded.request("POST", "/v1/bridges/echo/commands/echo", {"args": {"n": 1}})
    assert (status, body) == (200, {"result": {"n": 1}})


def test_the_registration_routes_need_the_token_even_on_loopback(guarded: Server) -> None:
    for method, path in (
        ("POST", "/v1/bridges"),
        ("PATCH", "/v1/bridges/echo"),
        ("DELETE", "/v1/bridges/echo"),
        ("POST", "/v1/bridges/echo/restart"),
    ):
        status, body, _ = guarded.request(method, path, {}, token=None)
        assert status == 401, (method, path, body)
    status, body, _ = guarded.request("GET", "/v1/bridges/echo")
    assert status == 200 and body["state"] == "running", body


def test_a_registration_declares_code_only_inside_the_script_directories(guarded: Server) -> None:
    """Declared modules become callable by name: only the registration's own code may be."""
    script = "python_bridges/examples/echo_bridge.py"
    outside = {
        "name": "team",
        "config": {"script": script, "code": {"paths": ["examples/user_code"]}},
    }
    refused(
        guarded.request("POST", "/v1/bridges", outside),
        403,
        "code.paths entry 'examples/user_code'",
    )
    escaping = {
        "name": "team",
        "config": {"script": script, "code": {"paths": ["python_bridges/.."]}},
    }
    refused(guarded.request("POST", "/v1/bridges", escaping), 403, "host.runtime_registration")
    stdlib = {
        "name": "team",
        "config": {
            "script": script,
            "code": {"paths": ["python_bridges"], "modules": ["subprocess"]},
        },
    }
    refused(
        guarded.request("POST", "/v1/bridges", stdlib),
        403,
        "code.modules entry 'subprocess' is not a package or module in the registration's",
    )
    assert guarded.request("GET", "/v1/bridges/team")[0] == 404
