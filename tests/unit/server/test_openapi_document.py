"""The OpenAPI document of a real echo host validates as OpenAPI 3.1 (openapi-spec-validator)
and holds every route and the echo bridge's commands with their schemas.

Run by CTest (Server.OpenApiDocument), which sets MLBRIDGE_OPENAPI_DOCUMENT to the
openapi_document tool built beside this file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

ROOT = Path(__file__).resolve().parents[3]
TOOL = os.environ.get("MLBRIDGE_OPENAPI_DOCUMENT", "")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict:
    assert TOOL and Path(TOOL).exists(), (
        "set MLBRIDGE_OPENAPI_DOCUMENT to the built openapi_document tool (CTest does)"
    )
    config = tmp_path_factory.mktemp("openapi") / "mlbridge.yaml"
    config.write_text(
        f"host:\n  root: {ROOT}\n  python: {sys.executable}\n"
        "bridges:\n  echo:\n    script: python_bridges/examples/echo_bridge.py\n"
        "    pool: {size: 1}\n"
    )
    run = subprocess.run(
        [TOOL, str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    # The host's log lines share stdout; the document starts on a line of its own ("{").
    start = run.stdout.find("{\n")
    assert start >= 0, run.stdout
    document, _ = json.JSONDecoder().raw_decode(run.stdout, start)
    return document


def test_document_is_valid_openapi_3_1(document: dict) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema


def test_routes_and_echo_commands_are_there(document: dict) -> None:
    paths = document["paths"]
    for path, method in [
        ("/healthz", "get"),
        ("/openapi.json", "get"),
        ("/v1/bridges/{name}/commands/{command}", "post"),
        ("/v1/calls/{id}", "get"),
        ("/v1/calls/{id}", "delete"),
        ("/v1/sessions/{id}/state", "patch"),
    ]:
        assert method in paths[path], (method, path)
    sleep = paths["/v1/bridges/echo/commands/sleep"]["post"]
    body = sleep["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["args"]["properties"]["seconds"]["type"] == "number"
    assert sleep["summary"] == "Sleep for args.seconds, then answer {slept}."
    assert "/v1/bridges/echo/commands/init" not in paths  # host-only built-ins stay hidden


def test_a_broken_document_is_refused(document: dict) -> None:
    """The validator does catch a violation (so the test above can fail)."""
    broken = json.loads(json.dumps(document))
    del broken["paths"]["/v1/calls/{id}"]["get"]["parameters"]  # {id} left undeclared
    with pytest.raises(OpenAPIValidationError):
        validate(broken)
