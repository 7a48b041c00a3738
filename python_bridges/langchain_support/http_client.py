"""The HTTP client of the bridge's async model calls: httpx on aiohttp's connection pool.

A worker holds up to 256 calls at once, each with a request to the model open. The OpenAI
client's default async transport (httpcore's pool) scans every pooled connection, with two
system calls each, whenever a request starts or ends; with a few hundred connections that
scan costs more CPU than the rest of a call (measured: 6 ms of CPU per call at 32 calls in
flight, 19 ms at 128). aiohttp's pool does not scan, so the bridge hands ``ChatOpenAI`` an
``httpx.AsyncClient`` whose transport is aiohttp (LiteLLM, under DSPy, does the same).

:func:`async_client` returns ``None`` when aiohttp is not installed: the model then uses the
OpenAI client's default. The transport keeps httpx's contract, so the OpenAI client sees
what it always sees: ``httpx.TimeoutException`` for a timeout (its ``APITimeoutError``),
``httpx.ConnectError``/``httpx.ReadError`` for a broken connection (``APIConnectionError``),
the body decoded by httpx (aiohttp passes it through untouched), proxies from the
environment as httpx reads them (``trust_env``).

One aiohttp session per event loop: a worker has one loop for its life (the SDK's runtime,
at any concurrency), and the session is made on the first request, in that loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

try:
    import aiohttp
except ImportError:  # the OpenAI client's default transport then
    aiohttp = None

__all__ = ["AiohttpTransport", "async_client", "close_sessions"]

_client: httpx.AsyncClient | None = None


def async_client() -> httpx.AsyncClient | None:
    """The worker's shared ``httpx.AsyncClient`` over aiohttp, or ``None`` without aiohttp."""
    global _client
    if aiohttp is None:
        return None
    if _client is None:
        _client = httpx.AsyncClient(transport=AiohttpTransport(), timeout=None)
    return _client


async def close_sessions() -> None:
    """Close the aiohttp sessions of the shared client (it stays usable: new ones are made)."""
    if _client is not None:
        await _client._transport.aclose()


def _httpx_error(exc: BaseException) -> httpx.TransportError:
    """The httpx exception that stands for an aiohttp (or asyncio) failure."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return httpx.ProxyError(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return httpx.ReadError(message)
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.NetworkError(message)
    return httpx.TransportError(message)


def _timeout(extensions: dict[str, Any]) -> Any:
    """httpx's per-request timeout (``extensions["timeout"]``) as aiohttp's."""
    timeout = extensions.get("timeout") or {}
    return aiohttp.ClientTimeout(
        total=None,
        sock_connect=timeout.get("connect"),
        sock_read=timeout.get("read"),
        connect=timeout.get("pool"),
    )


class _Body(httpx.AsyncByteStream):
    """A response body as httpx reads it: raw bytes as they arrive, errors as httpx's."""

    def __init__(self, response: Any) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _httpx_error(exc) from exc

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx's requests with aiohttp: one session (and pool) per event loop."""

    def __init__(self) -> None:
        self._sessions: dict[asyncio.AbstractEventLoop, Any] = {}

    def _session(self) -> Any:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            for old in [other for other in self._sessions if other.is_closed()]:
                del self._sessions[old]  # a finished loop's session: its sockets are gone
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),  # no queue: the worker bounds its calls
                trust_env=True,
                auto_decompress=False,  # httpx decodes, as it would from its own transport
            )
            self._sessions[loop] = session
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        try:
            response = await self._session().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                timeout=_timeout(request.extensions),
                allow_redirects=False,
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _httpx_error(exc) from exc
        return httpx.Response(
            status_code=response.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
            stream=_Body(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()
