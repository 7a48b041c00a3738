"""A real worker started with --code-path/--code-module: the user's code at start and by name."""

from __future__ import annotations

from pathlib import Path

from conftest import Spawn
from worker_client import ROOT

USER_CODE_BRIDGE = ROOT / "tests" / "support" / "workers" / "user_code_bridge.py"
EXAMPLE_CODE = ROOT / "examples" / "user_code"


def code_args(path: Path, *modules: str) -> list[str]:
    args = ["--code-path", str(path)]
    for module in modules:
        args += ["--code-module", module]
    return args


def test_worker_serves_the_example_package(spawn: Spawn, codec: str) -> None:
    worker = spawn(USER_CODE_BRIDGE, codec, extra_args=code_args(EXAMPLE_CODE, "myteam"))
    worker.hello()
    assert worker.result("usercode:declared") == ["myteam"]
    answer = worker.result("usercode:call", {"function": "myteam:greet", "args": ["ada"]})
    assert answer == "hello, ada"


def test_worker_refuses_undeclared_code_as_invalid_argument(spawn: Spawn) -> None:
    worker = spawn(USER_CODE_BRIDGE, extra_args=code_args(EXAMPLE_CODE, "myteam"))
    worker.hello()
    for ref in ("os:system", "subprocess:run", "myteam:__class__", "myteam:missing"):
        error = worker.error("usercode:call", {"function": ref, "args": ["true"]})
        assert error["category"] == "invalid_argument", (ref, error)
        assert ref in error["message"]
    error = worker.error("usercode:call", {"function": "myteam:__version__", "args": []})
    assert error["message"] == (
        "'myteam:__version__': dunder and name-mangled attributes are refused"
    )


def test_import_error_fails_the_start_with_one_line_and_a_traceback(
    spawn: Spawn, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    (code / "brokenteam").mkdir(parents=True)
    (code / "brokenteam" / "__init__.py").write_text("raise KeyError('settings.toml')\n")
    worker = spawn(USER_CODE_BRIDGE, extra_args=code_args(code, "brokenteam"))
    assert worker.recv(timeout=10.0) is None  # no hello: the start failed
    assert worker.wait() == 1
    stderr = worker.stderr()
    assert "Traceback (most recent call last):" in stderr
    assert "raise KeyError('settings.toml')" in stderr
    one_line = (
        "mlbridge.user_code.UserCodeError: code module 'brokenteam' failed to import: "
        "KeyError: 'settings.toml'"
    )
    assert one_line in stderr


def test_worker_without_code_declares_nothing(spawn: Spawn) -> None:
    worker = spawn(USER_CODE_BRIDGE)
    worker.hello()
    assert worker.result("usercode:declared") == []
    error = worker.error("usercode:call", {"function": "myteam:greet", "args": ["x"]})
    assert "declared: none" in error["message"]
