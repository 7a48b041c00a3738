"""A small OpenAI-compatible HTTP server for tests: deterministic, offline, stdlib only.

As a module::

    from openai_server import start_server

    with start_server() as (url, server):      # url is "http://127.0.0.1:PORT/v1"
        ...                                     # point a client at url
        server.script(["[[ ## answer ## ]]\\nParis\\n\\n[[ ## completed ## ]]"])
        assert server.requests[-1]["json"]["model"] == "gpt-test"

As a script (prints the base URL on its first stdout line, serves until killed)::

    python tests/support/openai_server.py --port 0

Endpoints:

- ``POST /v1/chat/completions``: a chat completion with ``usage``. The reply is, in order of
  precedence: the next scripted reply (``POST /_script``); the answer of a few-shot demo whose
  inputs equal the final request's (so a program that learned demos answers them); otherwise
  a deterministic answer for every output field the prompt asks for, in DSPy's ChatAdapter
  format (``[[ ## field ## ]]``) or, with ``response_format`` or a JSON-adapter prompt, as a
  JSON object. A question with ``2+2`` in it gets ``4``; any other text field gets
  ``mock answer``; numbers, booleans, lists and literals get a value of their type. A ReAct
  prompt calls the ``calculator`` tool once for an arithmetic question, then ``finish``.
  ``"stream": true`` answers with Server-Sent Events, one token per chunk.
  A request that offers ``tools`` gets tool calls, as an OpenAI model would: the tool that
  ``tool_choice`` forces, with arguments of its schema's types; else ``calculator`` with
  the arithmetic expression of the last user message, or a tool whose only argument is
  ``query`` with that message; after a ``tool`` message, ``The answer is <result>.``.
- ``POST /v1/embeddings``: hash-based vectors of dimension 32, the same text always giving
  the same vector. A model whose name contains ``lexical`` gets bag-of-words vectors
  instead (dimension 64), so that texts sharing words are close and retrieval is
  meaningful.
- ``POST /_script``: ``{"replies": [...]}`` (or a bare list) queued and used in order. A reply
  is a string (the message content as is), a map of output fields (formatted like the
  default replies), ``{"status": 429}`` (that error), or ``{"tool_calls": [{"name": ...,
  "arguments": {...}}], "content": ""}`` (an assistant message calling those tools).
  ``POST /_reset`` empties the script and the request log; ``GET /_requests`` returns the
  log.

Failure modes, by model name or by header: model ``fail-429`` / ``fail-401`` / ``fail-500``
/ ``fail-400`` (or header ``X-Mock-Fail: 429``) answers that HTTP error in OpenAI's error
format (400 is a ``context_length_exceeded`` error); model ``ctx-<n>`` answers that 400 when
the prompt has more than ``n`` words; model ``slow-<ms>`` (or header ``X-Mock-Delay-Ms``)
sleeps that long, then answers. The 401 error echoes the bearer token it received, as a
careless provider might, so that tests can check that a bridge never repeats a key it was
sent.

Streams can be held: ``server.hold_streams(after=1)`` makes every stream stop after that
many tokens until ``server.release_streams()`` (or 30 s), so that a test can see the first
chunks arrive before the rest exist.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

EMBEDDING_DIM = 32
LEXICAL_DIM = 64
STREAM_HOLD_S = 30.0
DEFAULT_TEXT = "mock answer"
DEFAULT_STREAM_DELAY_S = 0.02

_HEADER = re.compile(r"\[\[ ## (\w+) ## \]\]")
_OUTPUT_FIELD = re.compile(r"^\d+\. `(\w+)` \((.*?)\):?")
_ARITHMETIC = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/x×])\s*(-?\d+(?:\.\d+)?)")

_ERRORS = {
    400: (
        "invalid_request_error",
        "context_length_exceeded",
        "This model's maximum context length is 16 tokens. However, your messages resulted "
        "in more tokens. Please reduce the length of the messages.",
    ),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: {key}."),
    429: ("rate_limit_error", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
}


# ----------------------------------------------------------------------- prompt parsing


def sections(text: str) -> dict[str, str]:
    """The ``[[ ## name ## ]]`` sections of a ChatAdapter message, by name."""
    found: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        match = _HEADER.match(line.strip())
        if match:
            if current is not None:
                found.setdefault(current, "\n".join(lines).strip())
            current, lines = match.group(1), [line.strip()[match.end() :]]
        elif current is not None:
            lines.append(line)
    if current is not None:
        found.setdefault(current, "\n".join(lines).strip())
    found.pop("completed", None)
    return found


def output_fields(system: str, last_user: str) -> list[tuple[str, str]]:
    """``[(name, type)]`` of the output fields a DSPy prompt asks for."""
    fields: list[tuple[str, str]] = []
    _, marker, rest = system.partition("Your output fields are:")
    if marker:
        for line in rest.splitlines()[1:]:
            match = _OUTPUT_FIELD.match(line.strip())
            if match:
                fields.append((match.group(1), match.group(2)))
            elif line and not line.startswith((" ", "\t")) and fields:
                break
    if not fields:  # no system prompt: the reminder at the end of the last user message
        for name, type_ in re.findall(
            r"`(?:\[\[ ## )?(\w+)(?: ## \]\])?`"
            r"(?: \(must be formatted as a valid Python ([^)]*\)?)\))?",
            last_user.partition("Respond with")[2],
        ):
            if name != "completed":
                fields.append((name, type_ or "str"))
    return fields


def _input_sections(user: str) -> dict[str, str]:
    """The input sections of a user message (the output reminder cut off)."""
    return sections(user.split("\n\nRespond with")[0])


def _literal_options(type_: str) -> list[str]:
    inner = type_[type_.index("[") + 1 : type_.rindex("]")] if "[" in type_ else ""
    return [option.strip().strip("'\"") for option in inner.split(",") if option.strip()]


def _arithmetic(text: str) -> float | int | None:
    match = _ARITHMETIC.search(text)
    if not match:
        return None
    left, op, right = float(match.group(1)), match.group(2), float(match.group(3))
    if op == "+":
        value = left + right
    elif op == "-":
        value = left - right
    elif op in "*x×":
        value = left * right
    else:
        value = left / right if right else math.nan
    return int(value) if value == int(value) else value


def _default_value(name: str, type_: str, inputs: dict[str, str]) -> Any:
    """A deterministic value of a field's type."""
    question = inputs.get("question") or " ".join(v for k, v in inputs.items() if k != "trajectory")
    result = _arithmetic(question)
    base = type_.replace(" ", "")
    if name == "reasoning":
        return "The mock server reasons step by step."
    if base.startswith("Literal["):
        options = _literal_options(type_)
        if "finish" in options:
            wants_tool = result is not None and "calculator" in options
            return (
                "calculator"
                if wants_tool and "observation_0" not in inputs.get("trajectory", "")
                else "finish"
            )
        return options[0] if options else ""
    if base in ("int",):
        return int(result) if result is not None else 42
    if base in ("float",):
        return float(result) if result is not None else 0.9
    if base == "bool":
        return True
    if base.startswith(("list[", "tuple[")) or base in ("list", "tuple"):
        inner = base[base.index("[") + 1 : -1] if "[" in base else "str"
        return [_default_value("item", inner, {})]
    if base.startswith("dict") or base in ("object",):
        return {}
    return str(result) if result is not None else DEFAULT_TEXT


def _react_args(fields: dict[str, Any], inputs: dict[str, str]) -> dict[str, Any]:
    if fields.get("next_tool_name") == "calculator":
        question = inputs.get("question") or " ".join(inputs.values())
        match = _ARITHMETIC.search(question)
        return {"expression": match.group(0) if match else "0"}
    return {}


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    return json.dumps(value)


def format_chat(fields: dict[str, Any]) -> str:
    """Fields as a ChatAdapter reply."""
    parts = [f"[[ ## {name} ## ]]\n{_format_value(value)}" for name, value in fields.items()]
    return "\n\n".join(parts + ["[[ ## completed ## ]]"])


def _json_schema_fields(response_format: dict[str, Any]) -> list[tuple[str, str]]:
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    mapping = {"integer": "int", "number": "float", "boolean": "bool", "array": "list[str]"}
    fields = []
    for name, prop in (schema.get("properties") or {}).items():
        if "enum" in prop:
            type_ = "Literal[" + ", ".join(repr(v) for v in prop["enum"]) + "]"
        else:
            type_ = mapping.get(
                prop.get("type", "string"), "dict" if "object" in str(prop) else "str"
            )
        fields.append((name, type_))
    return fields


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


NOT_SUPPLIED = "Not supplied for this particular example."


def _demo_fields(content: str) -> dict[str, Any]:
    """The output values of a few-shot demo's answer (sections or a JSON object)."""
    try:
        found = json.loads(content)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        found = {}
        for name, raw in sections(content).items():
            try:
                found[name] = json.loads(raw)
            except ValueError:
                found[name] = raw
    return {k: v for k, v in found.items() if not str(v).strip().startswith(NOT_SUPPLIED)}


def answer(body: dict[str, Any]) -> str:
    """The default (unscripted) reply content for a chat completion request."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    texts = [(m.get("role"), _text(m.get("content"))) for m in messages]
    system = next((t for r, t in texts if r in ("system", "developer")), "")
    users = [i for i, (r, _) in enumerate(texts) if r == "user"]
    last_user = texts[users[-1]][1] if users else ""
    inputs = _input_sections(last_user)
    response_format = body.get("response_format") or {}
    json_mode = bool(response_format) or "Respond with a JSON object" in last_user
    fields_spec = output_fields(system, last_user)
    if not fields_spec and response_format.get("type") == "json_schema":
        fields_spec = _json_schema_fields(response_format)
    if not fields_spec:
        result = _arithmetic(last_user)
        text = str(result) if result is not None else DEFAULT_TEXT
        return json.dumps({"answer": text}) if json_mode else text
    fields = {name: _default_value(name, type_, inputs) for name, type_ in fields_spec}
    # A few-shot demo with the same inputs: answer as the demo did.
    for index in users[:-1]:
        following = index + 1
        if (
            following < len(texts)
            and texts[following][0] == "assistant"
            and inputs
            and _input_sections(texts[index][1]) == inputs
        ):
            demo = _demo_fields(texts[following][1])
            fields.update({k: v for k, v in demo.items() if k in fields})
            break
    if "next_tool_args" in fields and not fields["next_tool_args"]:
        fields["next_tool_args"] = _react_args(fields, inputs)
    if json_mode:
        return json.dumps(fields)
    return format_chat(fields)


def embedding(text: str) -> list[float]:
    """A deterministic unit vector of dimension 32 for ``text``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    raw = [byte / 127.5 - 1.0 for byte in digest[:EMBEDDING_DIM]]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]


def lexical_embedding(text: str) -> list[float]:
    """A bag-of-words unit vector of dimension 64: texts that share words are close."""
    vector = [0.0] * LEXICAL_DIM
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if len(word) < 3:
            continue
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        vector[digest[0] % LEXICAL_DIM] += 1.0 if digest[1] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if not norm:
        vector[0], norm = 1.0, 1.0
    return [round(v / norm, 6) for v in vector]


def _tool_name(tool: Any) -> str:
    return str(((tool or {}).get("function") or {}).get("name") or "")


def _tool_args(tool: dict[str, Any], question: str) -> dict[str, Any]:
    """Arguments of the types a tool's JSON Schema asks for."""
    parameters = (tool.get("function") or {}).get("parameters") or {}
    fields = _json_schema_fields({"type": "json_schema", "json_schema": {"schema": parameters}})
    return {name: _default_value(name, type_, {"question": question}) for name, type_ in fields}


def tool_reply(body: dict[str, Any]) -> dict[str, Any] | str | None:
    """Tool calls, or the final answer after a tool result, for a request that offers tools.

    ``None`` when the request offers no tools or none applies (the usual answer follows).
    """
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and _tool_name(t)]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    question = users[-1] if users else ""
    forced = None
    if isinstance(choice, dict):
        forced = next(
            (t for t in tools if _tool_name(t) == (choice.get("function") or {}).get("name")),
            None,
        )
    elif choice == "required" and len(tools) == 1:
        forced = tools[0]
    if forced is not None:
        return {
            "tool_calls": [{"name": _tool_name(forced), "arguments": _tool_args(forced, question)}]
        }
    if messages and messages[-1].get("role") == "tool":
        return f"The answer is {_text(messages[-1].get('content'))}."
    names = {_tool_name(t): t for t in tools}
    match = _ARITHMETIC.search(question)
    if match and "calculator" in names:
        return {"tool_calls": [{"name": "calculator", "arguments": {"expression": match.group(0)}}]}
    for tool in tools:
        properties = ((tool.get("function") or {}).get("parameters") or {}).get("properties")
        if isinstance(properties, dict) and list(properties) == ["query"]:
            return {"tool_calls": [{"name": _tool_name(tool), "arguments": {"query": question}}]}
    return None


def _wire_tool_calls(calls: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:16]}",
            "type": "function",
            "function": {
                "name": str(call.get("name")),
                "arguments": json.dumps(call.get("arguments") or {}),
            },
        }
        for call in calls
        if isinstance(call, dict)
    ]


def _count_tokens(text: str) -> int:
    return len(text.split())


# ----------------------------------------------------------------------------- server


class MockServer(ThreadingHTTPServer):
    """The server: ``requests`` (the log), ``script(replies)``, ``reset()``, ``stop()``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int]):
        super().__init__(address, _Handler)
        self.requests: list[dict[str, Any]] = []
        self.stream_delay_s = DEFAULT_STREAM_DELAY_S
        self.stream_hold: threading.Event | None = None
        self.stream_hold_after = 1
        self._script: deque[Any] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, replies: list[Any]) -> None:
        """Queue replies, used in order by the next chat completions."""
        with self._lock:
            self._script.extend(replies)

    def next_scripted(self) -> Any:
        with self._lock:
            return self._script.popleft() if self._script else None

    def scripted_left(self) -> int:
        with self._lock:
            return len(self._script)

    def hold_streams(self, after: int = 1) -> None:
        """Make streams stop after ``after`` tokens until :meth:`release_streams`."""
        self.stream_hold_after = after
        self.stream_hold = threading.Event()

    def release_streams(self) -> None:
        hold, self.stream_hold = self.stream_hold, None
        if hold is not None:
            hold.set()

    def log(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    def chat_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def start(self) -> MockServer:
        self._thread = threading.Thread(target=self.serve_forever, name="mock-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server_close()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StartedServer(NamedTuple):
    """What :func:`start_server` returns: unpack it, or use it as a context manager."""

    url: str
    server: MockServer

    def __enter__(self) -> StartedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def start_server(host: str = "127.0.0.1", port: int = 0) -> StartedServer:
    """Start a server in a background thread; returns ``(url, server)``."""
    if not host.startswith("127.") and host not in ("localhost", "::1"):
        raise ValueError("the mock server only listens on the loopback interface")
    server = MockServer((host, port)).start()
    return StartedServer(server.url, server)


class _Handler(BaseHTTPRequestHandler):
    server: MockServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # quiet: tests read server.requests instead

    # ------------------------------------------------------------------ plumbing

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, model: str) -> None:
        kind, code, message = _ERRORS.get(status, ("server_error", None, "Mock failure."))
        auth = self.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip() or "(none)"
        headers = {"Retry-After": "0"} if status == 429 else {}
        self._send_json(
            status,
            {
                "error": {
                    "message": message.format(key=key),
                    "type": kind,
                    "param": None,
                    "code": code,
                }
            },
            headers,
        )

    # ------------------------------------------------------------------ routes

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") == "/_requests":
            with self.server._lock:
                self._send_json(200, list(self.server.requests))
        elif self.path.rstrip("/").endswith("/models"):
            self._send_json(
                200, {"object": "list", "data": [{"id": "gpt-test", "object": "model"}]}
            )
        else:
            self._send_json(
                404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
            )

    def do_POST(self) -> None:  # noqa: N802
        body = self._read_json()
        path = self.path.split("?")[0].rstrip("/")
        self.server.log(
            {
                "method": "POST",
                "path": path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "json": body,
                "time": time.time(),
            }
        )
        if path == "/_script":
            replies = body.get("replies", []) if isinstance(body, dict) else body
            if not isinstance(replies, list):
                self._send_json(400, {"error": {"message": "expected a list of replies"}})
                return
            self.server.script(replies)
            self._send_json(200, {"queued": self.server.scripted_left()})
        elif path == "/_reset":
            self.server.reset()
            self._send_json(200, {"status": "ok"})
        elif path.endswith("/chat/completions"):
            self._chat(body if isinstance(body, dict) else {})
        elif path.endswith("/embeddings"):
            self._embeddings(body if isinstance(body, dict) else {})
        else:
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

    def _failure_mode(self, model: str) -> tuple[int | None, float]:
        status: int | None = None
        delay = 0.0
        header = self.headers.get("X-Mock-Fail")
        if header and header.isdigit():
            status = int(header)
        match = re.fullmatch(r"(?:.*/)?fail-(\d{3})", model)
        if match:
            status = int(match.group(1))
        match = re.fullmatch(r"(?:.*/)?slow-(\d+)", model)
        if match:
            delay = int(match.group(1)) / 1000
        header = self.headers.get("X-Mock-Delay-Ms")
        if header and header.isdigit():
            delay = int(header) / 1000
        return status, delay

    def _chat(self, body: dict[str, Any]) -> None:
        model = str(body.get("model") or "gpt-test")
        status, delay = self._failure_mode(model)
        if delay:
            time.sleep(delay)
        limit = re.fullmatch(r"(?:.*/)?ctx-(\d+)", model)
        if limit and status is None:
            words = sum(
                _count_tokens(_text(m.get("content")))
                for m in body.get("messages") or []
                if isinstance(m, dict)
            )
            if words > int(limit.group(1)):
                status = 400
        if status is not None:
            self._send_error(status, model)
            return
        scripted = self.server.next_scripted()
        if isinstance(scripted, dict) and isinstance(scripted.get("status"), int):
            self._send_error(scripted["status"], model)
            return
        tool_calls: list[dict[str, Any]] = []
        if scripted is None:
            scripted = tool_reply(body)
        if (
            isinstance(scripted, dict)
            and isinstance(scripted.get("tool_calls"), list)
            and all(isinstance(c, dict) and "name" in c for c in scripted["tool_calls"])
        ):
            tool_calls = _wire_tool_calls(scripted["tool_calls"])
            scripted = str(scripted.get("content") or "")
        if isinstance(scripted, str):
            content = scripted
        elif isinstance(scripted, dict):
            json_mode = bool(body.get("response_format"))
            content = json.dumps(scripted) if json_mode else format_chat(scripted)
        else:
            content = answer(body)
        prompt_tokens = sum(
            _count_tokens(_text(m.get("content")))
            for m in body.get("messages") or []
            if isinstance(m, dict)
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _count_tokens(content),
            "total_tokens": prompt_tokens + _count_tokens(content),
        }
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if body.get("stream"):
            self._stream(completion_id, model, content, usage, body, tool_calls)
            return
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message = {"role": "assistant", "content": content or None, "tool_calls": tool_calls}
        self._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "tool_calls" if tool_calls else "stop",
                    }
                ],
                "usage": usage,
            },
        )

    def _stream(
        self,
        completion_id: str,
        model: str,
        content: str,
        usage: dict[str, int],
        body: dict,
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(delta: dict[str, Any], finish: str | None, extra: dict | None = None) -> None:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if extra:
                chunk.update(extra)
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        tokens = re.findall(r"\s*\S+", content) or [content]
        if tool_calls and not content:
            tokens = []
        hold = self.server.stream_hold
        try:
            event({"role": "assistant", "content": ""}, None)
            for index, token in enumerate(tokens):
                if hold is not None and index == self.server.stream_hold_after:
                    hold.wait(STREAM_HOLD_S)
                time.sleep(self.server.stream_delay_s)
                event({"content": token}, None)
            for index, call in enumerate(tool_calls or []):
                event({"tool_calls": [{"index": index, **call}]}, None)
            event({}, "tool_calls" if tool_calls else "stop")
            if (body.get("stream_options") or {}).get("include_usage"):
                chunk = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away mid-stream

    def _embeddings(self, body: dict[str, Any]) -> None:
        model = str(body.get("model") or "text-embedding-test")
        status, delay = self._failure_mode(model)
        if delay:
            time.sleep(delay)
        if status is not None:
            self._send_error(status, model)
            return
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(t) for t in inputs or []]
        vector = lexical_embedding if "lexical" in model else embedding
        tokens = sum(_count_tokens(t) for t in texts)
        self._send_json(
            200,
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": vector(t)}
                    for i, t in enumerate(texts)
                ],
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A mock OpenAI-compatible server for tests.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--stream-delay-ms",
        type=int,
        default=int(DEFAULT_STREAM_DELAY_S * 1000),
        help="delay before each streamed token",
    )
    options = parser.parse_args(argv)
    url, server = start_server(options.host, options.port)
    server.stream_delay_s = options.stream_delay_ms / 1000
    print(url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
