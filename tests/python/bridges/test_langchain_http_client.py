"""The LangChain bridge's async HTTP client: httpx's contract on aiohttp's pool.

The OpenAI client decides retries and error types from httpx's exceptions, so the transport
must raise the ones httpx's own would: these tests send real requests to the mock server (and
to a closed port) through it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from .gated_server import GatedServer, running_gated_server
from .in_process import run

http_client = pytest.importorskip("langchain_support.http_client")
pytest.importorskip("aiohttp")


@pytest.fixture(scope="module")
def server() -> Iterator[GatedServer]:
    with running_gated_server() as server:
        yield server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=http_client.AiohttpTransport())
    yield client
    run(client.aclose())


def completion(model: str = "gpt-test", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "What is 2+3?"}], **extra}


def test_the_bridges_models_and_embeddings_use_it() -> None:
    from langchain_support import models

    shared = http_client.async_client()
    assert isinstance(shared, httpx.AsyncClient)
    config = models.ModelConfig.parse({"model": "m", "base_url": "http://127.0.0.1:9/v1"})
    handle = models.build(config)
    assert handle.model.http_async_client is shared
    from langchain_support import retrieval

    settings = {"provider": "openai", "model": "e", "base_url": "http://127.0.0.1:9/v1"}
    embeddings = retrieval.build_embeddings(retrieval.EmbeddingsConfig.parse(settings))
    assert embeddings.embeddings.http_async_client is shared


def test_a_request_and_its_headers_go_through(
    client: httpx.AsyncClient, server: GatedServer
) -> None:
    server.reset()
    response = run(
        client.post(
            f"{server.url}/chat/completions",
            json=completion(),
            headers={"Authorization": "Bearer sk-x", "X-Extra": "1"},
        )
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "5"
    logged = server.chat_requests()[-1]
    assert (
        logged["headers"]["authorization"] == "Bearer sk-x" and logged["headers"]["x-extra"] == "1"
    )
    assert logged["json"] == completion()


def test_a_stream_arrives_in_pieces(client: httpx.AsyncClient, server: GatedServer) -> None:
    async def stream() -> list[str]:
        events = []
        body = completion(stream=True)
        async with client.stream("POST", f"{server.url}/chat/completions", json=body) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    events.append(json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
        return events

    assert "".join(run(stream())) == "5"


def test_an_error_status_is_a_response(client: httpx.AsyncClient, server: GatedServer) -> None:
    response = run(client.post(f"{server.url}/chat/completions", json=completion("fail-429")))
    assert response.status_code == 429 and response.headers["retry-after"] == "0"


def test_a_read_timeout_is_httpx_read_timeout(
    client: httpx.AsyncClient, server: GatedServer
) -> None:
    with pytest.raises(httpx.ReadTimeout):
        run(
            client.post(
                f"{server.url}/chat/completions",
                json=completion("slow-3000"),
                timeout=httpx.Timeout(5.0, read=0.2),
            )
        )


def test_a_refused_connection_is_httpx_connect_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        run(client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=completion()))
