"""The Transformers bridge with the team's own model architecture: the example module
``myteam.architectures`` (examples/user_code) registers a model type with transformers' Auto
classes when the worker imports it at start (``--code-path`` / ``--code-module``, as the host
passes a bridge's ``code:``), and ``load_model`` then loads a checkpoint of that type; a worker
without the module refuses it. The checkpoint is the tiny GPT-2 of build/models saved as the
team's class (random weights: the test checks plumbing, not text).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from worker_client import ROOT

from .conftest import SLOW_TIMEOUT, BridgeClient, start_bridge
from .test_transformers_bridge import CALL, TRANSFORMERS_BRIDGE, _build_script

if not all(importlib.util.find_spec(name) for name in ("torch", "transformers", "tokenizers")):
    pytest.skip("the Transformers bridge needs torch and transformers", allow_module_level=True)

USER_CODE = ROOT / "examples" / "user_code"
SAVE = """
import sys
sys.path.insert(0, sys.argv[1])
from myteam.architectures import save_checkpoint
save_checkpoint(sys.argv[2], sys.argv[3])
"""


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ``team-gpt``, a ``myteam-gpt`` checkpoint (saved in a child process:
    this one never imports torch)."""
    models = ROOT / "build" / "models"
    _build_script().build(models, quiet=True)
    root = tmp_path_factory.mktemp("team-models")
    subprocess.run(
        [
            sys.executable,
            "-c",
            SAVE,
            str(USER_CODE),
            str(models / "tiny-gpt2"),
            str(root / "team-gpt"),
        ],
        check=True,
        timeout=SLOW_TIMEOUT * 3,
    )
    return root


def _worker(tmp: Path, checkpoints: Path, modules: list[str]) -> BridgeClient:
    args = ["--code-path", str(USER_CODE)]
    for module in modules:
        args += ["--code-module", module]
    return start_bridge(
        TRANSFORMERS_BRIDGE,
        "msgpack",
        tmp,
        options={"model_dirs": [str(checkpoints)]},
        worker_id="tf-team",
        extra_args=args,
    )


@pytest.fixture
def team_worker(tmp_path: Path, checkpoints: Path) -> Iterator[BridgeClient]:
    client = _worker(tmp_path, checkpoints, ["myteam.architectures"])
    yield client
    client.worker.kill()


@pytest.fixture
def plain_worker(tmp_path: Path, checkpoints: Path) -> Iterator[BridgeClient]:
    client = _worker(tmp_path, checkpoints, [])
    yield client
    client.worker.kill()


def test_a_declared_architecture_loads_and_generates(team_worker: BridgeClient) -> None:
    loaded = team_worker.ok("load_model", {"model": "team-gpt"}, timeout=CALL)
    assert (loaded["model_id"], loaded["task"]) == ("team-gpt", "text-generation"), loaded
    assert loaded["parameters"] > 0
    info = team_worker.ok("get_model_info", {"model_id": "team-gpt"})
    assert "myteam-gpt" in str(info), info
    settings = {"max_new_tokens": 4, "min_new_tokens": 4, "do_sample": False}
    result = team_worker.ok(
        "run_pipeline",
        {"model_id": "team-gpt", "inputs": "the worker pool", "kwargs": settings},
        timeout=CALL,
    )
    generated = result["outputs"][0]["generated_text"]
    assert generated.startswith("the worker pool") and len(generated) > len("the worker pool")


def test_without_the_declared_module_the_checkpoint_is_refused(plain_worker: BridgeClient) -> None:
    error = plain_worker.error("load_model", {"model": "team-gpt"}, timeout=CALL)
    assert error["category"] == "invalid_argument", error
    assert "myteam-gpt" in error["message"], error
