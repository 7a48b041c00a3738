#!/usr/bin/env python3
"""The main job's client: talks to a running `mlbridge serve` over its HTTP API only.

    python examples/demo_client.py --url http://127.0.0.1:8787 [--token TOKEN]

Shows, with readable output: a DSPy program created and answered; a LangChain chain invoked
and streamed; the team's own code (examples/user_code/myteam) served by import path: a custom
RAG module with its search tool and metric, and a custom LangChain runnable; a Transformers
model generating text and classifying; a session used across calls; then the bridges' figures
and a few Prometheus metrics. Standard library only, so any
Python 3 can run it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any


class DemoError(RuntimeError):
    """A call the demo needs failed; the message says which and why."""


class Client:
    def __init__(self, url: str, token: str | None):
        self.url = url.rstrip("/")
        self.token = token

    def _request(self, method: str, path: str, body: Any = None) -> urllib.request.Request:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        return request

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            with urllib.request.urlopen(self._request(method, path, body), timeout=300) as reply:
                text = reply.read().decode()
                kind = reply.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            detail = e.read().decode()
            raise DemoError(f"{method} {path} answered {e.code}: {detail}") from None
        return json.loads(text) if "json" in kind else text

    def command(self, bridge: str, name: str, args: dict, session: str | None = None) -> Any:
        body: dict[str, Any] = {"args": args}
        if session:
            body["session"] = session
        return self.call("POST", f"/v1/bridges/{bridge}/commands/{name}", body)["result"]

    def stream(self, bridge: str, name: str, args: dict) -> Iterator[tuple[str, Any]]:
        """Yields (event, data) as the Server-Sent Events arrive."""
        body = {"args": args, "stream": True}
        request = self._request("POST", f"/v1/bridges/{bridge}/commands/{name}", body)
        with urllib.request.urlopen(request, timeout=300) as reply:
            event = None
            for raw in reply:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: ") and event:
                    yield event, json.loads(line[len("data: ") :])
                    event = None


def title(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}")


def timed(label: str, fn: Any) -> Any:
    started = time.perf_counter()
    result = fn()
    print(f"   ({label}: {(time.perf_counter() - started) * 1000:.1f} ms)")
    return result


def show_bridges(client: Client) -> None:
    title("Bridges (GET /v1/bridges)")
    for bridge in client.call("GET", "/v1/bridges")["bridges"]:
        workers = len(bridge["workers"])
        print(
            f"   {bridge['name']:<13} plugin {bridge['plugin']:<11} state {bridge['state']:<8}"
            f" workers {workers}"
        )


def dspy_demo(client: Client) -> None:
    title("DSPy: a chain-of-thought program, created and answered")
    program = client.command(
        "dspy",
        "create_program",
        {
            "program_id": "demo-qa",
            "module": "chain_of_thought",
            "signature": "question -> answer",
            "replace": True,
        },
    )
    print(f"   created {program['program_id']!r}: {program['signature']}")
    run = timed(
        "execute_program",
        lambda: client.command(
            "dspy",
            "execute_program",
            {"program_id": "demo-qa", "inputs": {"question": "What does mlbridge run?"}},
        ),
    )
    print(f"   LM: {run.get('lm')}")
    print(f"   answer: {run['outputs'].get('answer')!r}")
    if run.get("reasoning"):
        print(f"   reasoning: {run['reasoning']!r}")


def langchain_demo(client: Client) -> None:
    title("LangChain: a prompt | model | parser chain, invoked and streamed")
    chain = client.command(
        "langchain",
        "create_chain",
        {
            "chain_id": "demo-explain",
            "prompt": [
                {"role": "system", "template": "You explain things in one sentence."},
                {"role": "user", "template": "Explain {topic}."},
            ],
            "replace": True,
        },
    )
    print(f"   created {chain['chain_id']!r}; input variables: {chain.get('input_variables')}")
    reply = timed(
        "invoke",
        lambda: client.command(
            "langchain", "invoke", {"chain_id": "demo-explain", "input": {"topic": "worker pools"}}
        ),
    )
    print(f"   model: {reply.get('model')}")
    print(f"   invoke: {reply['output']!r}")
    print("   stream: ", end="", flush=True)
    started = time.perf_counter()
    chunks = 0
    for event, data in client.stream(
        "langchain", "stream", {"chain_id": "demo-explain", "input": {"topic": "streaming"}}
    ):
        if event == "chunk" and "token" in data:
            chunks += 1
            print(data["token"], end="", flush=True)
        elif event == "error":
            raise DemoError(f"stream failed: {data}")
    elapsed = (time.perf_counter() - started) * 1000
    print(f"\n   ({chunks} chunks as Server-Sent Events in {elapsed:.1f} ms)")


def user_code_demo(client: Client) -> None:
    title("Your own code by import path (examples/user_code/myteam, declared in the YAML)")
    rag = client.command(
        "dspy",
        "create_program",
        {
            "program_id": "demo-rag",
            "module": "myteam.programs:RAG",  # a dspy.Module subclass of the team's
            "init": {"k": 2},  # its constructor's arguments
            "replace": True,
        },
    )
    print(f"   DSPy: created {rag['program_id']!r} from {rag['module']}: {rag['signature']}")
    question = "What is 17+25?"
    run = timed(
        "execute_program",
        lambda: client.command(
            "dspy", "execute_program", {"program_id": "demo-rag", "inputs": {"question": question}}
        ),
    )
    print(f"   {question} -> {run['outputs'].get('answer')!r}")
    print("   (RAG retrieved its context with the team's tool myteam.tools:search)")
    devset = [
        {"question": "What is 2+2?", "answer": "4"},
        {"question": "What is the capital of France?", "answer": "Paris"},
    ]
    scored = client.command(
        "dspy",
        "evaluate_program",
        {"program_id": "demo-rag", "devset": devset, "metric": "myteam.metrics:exact"},
    )
    print(
        f"   evaluate_program with metric myteam.metrics:exact: {scored['score']:.0f}%"
        f" of {scored['count']} examples"
    )
    chain = client.command(
        "langchain",
        "create_chain",
        {"chain_id": "demo-summary", "runnable": "myteam.chains:summarize", "replace": True},
    )
    fields = sorted(chain["input_schema"].get("properties", {}))
    print(f"   LangChain: created {chain['chain_id']!r} from {chain['runnable']}; input {fields}")
    text = "mlbridge serves your own Python. It names objects by import path."
    summary = timed(
        "invoke",
        lambda: client.command(
            "langchain",
            "invoke",
            {"chain_id": "demo-summary", "input": {"text": text, "max_words": 4}},
        ),
    )
    print(f"   summary: {json.dumps(summary['output'])}")


def transformers_demo(client: Client, models: str) -> None:
    title("Transformers: tiny local models (built at setup, loaded from disk)")
    gpt = client.command(
        "transformers",
        "load_model",
        {"model_id": "demo-gpt", "model": f"{models}/tiny-gpt2", "task": "text-generation"},
    )
    print(
        f"   loaded {gpt['model_id']!r}: {gpt['task']}, {gpt['parameters']:,} parameters,"
        f" {gpt['memory_bytes'] / 2**20:.1f} MiB"
    )
    generated = timed(
        "run_pipeline",
        lambda: client.command(
            "transformers",
            "run_pipeline",
            {
                "model_id": "demo-gpt",
                "inputs": "the worker pool",
                "kwargs": {"max_new_tokens": 12, "do_sample": True},
                "seed": 7,
            },
        ),
    )
    print(f"   generated: {json.dumps(generated['outputs'])[:160]}")
    bert = client.command(
        "transformers",
        "load_model",
        {
            "model_id": "demo-sentiment",
            "model": f"{models}/tiny-bert-sentiment",
            "task": "text-classification",
        },
    )
    print(f"   loaded {bert['model_id']!r}: {bert['task']}")
    labels = client.command(
        "transformers",
        "run_pipeline",
        {"model_id": "demo-sentiment", "inputs": ["a fine day", "a dreadful day"]},
    )
    print(f"   classified: {json.dumps(labels['outputs'])[:160]}")
    print("   (random weights: the words and labels are real model output, not meaningful)")


def session_demo(client: Client) -> None:
    title("A session across calls: a conversation remembered on its home worker")
    session = client.call("POST", "/v1/sessions", {})["id"]
    print(f"   session {session}")
    client.command(
        "langchain",
        "create_conversation",
        {"conversation_id": "demo-chat", "system_prompt": "You are terse."},
        session,
    )
    for message in ["Hello, I am Ada.", "What is my name?"]:
        turn = client.command(
            "langchain", "chat", {"conversation_id": "demo-chat", "message": message}, session
        )
        print(f"   user: {message}\n   bot:  {turn['reply']}")
    history = client.command("langchain", "get_history", {"conversation_id": "demo-chat"}, session)
    print(f"   history kept in the session: {history['count']} messages")
    client.call("DELETE", f"/v1/sessions/{session}")
    print("   session ended: its conversation is gone from the worker")


def metrics_demo(client: Client) -> None:
    title("Figures: GET /v1/bridges/{name} and GET /metrics")
    for name in ["dspy", "langchain", "transformers"]:
        bridge = client.call("GET", f"/v1/bridges/{name}")
        print(
            f"   {name:<13} calls {bridge['calls']:<4} errors {bridge['errors']:<3}"
            f" restarts {bridge['restarts']} sessions {bridge['sessions']}"
        )
    metrics = client.call("GET", "/metrics")
    wanted = ("mlbridge_calls_total{", "mlbridge_workers{", "mlbridge_uptime_seconds")
    shown = [line for line in metrics.splitlines() if line.startswith(wanted)]
    for line in shown[:12]:
        print(f"   {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8787")
    parser.add_argument("--token", default=None, help="bearer token, when the server wants one")
    parser.add_argument("--models", default="build/models", help="the tiny models' directory")
    args = parser.parse_args()
    client = Client(args.url, args.token)
    try:
        show_bridges(client)
        dspy_demo(client)
        langchain_demo(client)
        user_code_demo(client)
        transformers_demo(client, args.models)
        session_demo(client)
        metrics_demo(client)
    except (DemoError, urllib.error.URLError, KeyError) as e:
        print(f"\ndemo failed: {e}", file=sys.stderr)
        return 1
    print("\nDone.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
