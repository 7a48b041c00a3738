"""/metrics stays bounded whatever command names clients send (issue 20, item 5).

Every call of a command the bridge does not have used to add its own series (calls_total plus
three 16-line histograms): 5,000 made-up names took /metrics from 5 KB to 26 MB. Now commands the
bridge's workers did not declare in their hello share `command="_unknown"`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from conftest import TOKEN, Server, deployment

UNKNOWN_CALLS = 2000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The log goes to a file: thousands of logged requests would fill a pipe nobody reads.
    where = tmp_path_factory.mktemp("metrics_series")
    config = where / "mlbridge.yaml"
    config.write_text(deployment("  auth_token_env: MLBRIDGE_TEST_TOKEN"))
    running = Server(config, dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN), log=where / "serve.log")
    yield running
    code, err = running.stop()
    assert code == 0, err


def echo_series(metrics: str) -> list[str]:
    return [line for line in metrics.splitlines() if 'bridge="echo",command=' in line]


def test_unknown_commands_share_one_series_and_known_ones_keep_theirs(server: Server) -> None:
    status, _, _ = server.request("POST", "/v1/bridges/echo/commands/echo", {"args": {"x": 1}})
    assert status == 200
    _, before, _ = server.request("GET", "/metrics")

    for i in range(UNKNOWN_CALLS):
        status, _, _ = server.request("POST", f"/v1/bridges/echo/commands/no_such_command_{i}", {})
        assert status == 404
    status, _, _ = server.request("POST", "/v1/bridges/echo/commands/echo:echo", {"args": {"x": 2}})
    assert status == 200

    _, after, _ = server.request("GET", "/metrics")
    series = echo_series(after)
    # echo, echo:echo and _unknown: each a calls_total line per outcome and three histograms.
    assert len(series) <= 3 * len(echo_series(before)) + 8, f"{len(series)} series for echo"
    assert "no_such_command_" not in after
    assert (
        'mlbridge_calls_total{bridge="echo",command="_unknown",outcome="error",'
        f'category="not_found"}} {UNKNOWN_CALLS}' in after
    )
    assert 'mlbridge_calls_total{bridge="echo",command="echo",outcome="ok",category=""} 1' in after
    assert (
        'mlbridge_calls_total{bridge="echo",command="echo:echo",outcome="ok",category=""} 1'
        in after
    )
