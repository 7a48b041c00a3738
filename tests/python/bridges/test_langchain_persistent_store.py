"""Persistent retrievers (LanceDB under options.vector_store.directory) and documents added to
and deleted from retrievers, through real worker processes: what one worker writes, a worker
started after it was killed finds, and so does another worker of the same bridge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import LANGCHAIN_BRIDGE, BridgeClient, start_bridge

DOCUMENTS = [
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    "Mount Fuji is the highest mountain in Japan, at 3776 metres.",
    "The Amazon river carries more water than any other river on Earth.",
]


def start(tmp: Path, name: str, directory: Path | None) -> BridgeClient:
    options: dict[str, Any] = {}
    if directory is not None:
        options["vector_store"] = {"directory": str(directory)}
    (tmp / name).mkdir()
    return start_bridge(LANGCHAIN_BRIDGE, "json", tmp / name, options, worker_id=name)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[BridgeClient]]:
    started: list[BridgeClient] = []
    yield started
    for client in started:
        client.worker.kill()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeClient]:
    tmp = tmp_path_factory.mktemp("langchain-store")
    client = start(tmp, "lc-bad", tmp / "vectors")
    yield client
    client.worker.kill()


def top(client: BridgeClient, query: str, session: str = "s", k: int = 1) -> list[str]:
    found = client.ok("retrieve", {"retriever_id": "kb", "query": query, "k": k}, session)
    return [d["id"] for d in found["documents"]]


def test_a_persistent_retriever_survives_its_worker(
    tmp_path: Path, workers: list[BridgeClient]
) -> None:
    directory = tmp_path / "vectors"
    first = start(tmp_path, "lc-a", directory)
    workers.append(first)
    created = first.ok(
        "create_retriever",
        {
            "retriever_id": "kb",
            "texts": DOCUMENTS,
            "ids": ["paris", "fuji", "amazon"],
            "persist": True,
        },
        "s1",
    )
    assert created["persistent"] is True and created["store"] == "LanceDB"
    assert created["documents"] == 3
    # The same call again (a session's journal replayed elsewhere) finds what it made.
    again = first.ok(
        "create_retriever",
        {
            "retriever_id": "kb",
            "texts": DOCUMENTS,
            "ids": ["paris", "fuji", "amazon"],
            "persist": True,
        },
        "s2",
    )
    assert again["documents"] == 3 and again["persistent"] is True
    added = first.ok(
        "add_documents",
        {
            "retriever_id": "kb",
            "texts": ["The Nile flows north into the Mediterranean."],
            "ids": ["nile"],
        },
        "s1",
    )
    assert added["added"] == 1 and added["replaced"] == 0 and added["documents"] == 4
    deleted = first.ok("delete_documents", {"retriever_id": "kb", "ids": ["amazon", "gone"]}, "s1")
    assert deleted["deleted"] == 1 and deleted["missing"] == ["gone"] and deleted["documents"] == 3
    first.worker.kill()  # no shutdown: what was written must already be on disk

    second = start(tmp_path, "lc-b", directory)
    workers.append(second)
    assert second.ok("list_retrievers", {}, "other")["persistent"] == ["kb"]
    assert top(second, "Which way does the Nile flow?", "other") == ["nile"]
    assert top(second, "How high is Mount Fuji?", "other") == ["fuji"]
    assert "amazon" not in top(second, "Which river carries the most water?", "other", k=3)
    # A rag chain of another session uses it by id.
    second.ok(
        "create_chain", {"chain_id": "rag", "type": "rag", "retriever_id": "kb", "k": 1}, "other"
    )
    answer = second.ok(
        "invoke", {"chain_id": "rag", "input": "When was the Eiffel Tower completed?"}, "other"
    )
    assert answer["sources"][0]["id"] == "paris" and "1889" in answer["output"]

    # Two live workers: what one adds, the other finds.
    third = start(tmp_path, "lc-c", directory)
    workers.append(third)
    assert top(third, "How high is Mount Fuji?") == ["fuji"]
    second.ok(
        "add_documents",
        {"retriever_id": "kb", "texts": ["Lake Baikal is the deepest lake."], "ids": ["baikal"]},
        "x",
    )
    assert top(third, "Which lake is the deepest?") == ["baikal"]

    refused = second.error(
        "create_retriever", {"retriever_id": "kb", "texts": ["x"], "persist": True}, "x"
    )
    assert refused["category"] == "invalid_argument" and "already exists" in refused["message"]
    assert second.ok("delete_retriever", {"retriever_id": "kb"}, "x")["persistent"] is True
    assert not list(directory.glob("kb*"))
    assert (
        third.error("retrieve", {"retriever_id": "kb", "query": "lake"}, "x")["category"]
        == "not_found"
    )


def test_session_retrievers_take_added_and_deleted_documents(
    tmp_path: Path, workers: list[BridgeClient]
) -> None:
    client = start(tmp_path, "lc-m", None)
    workers.append(client)
    client.ok("create_retriever", {"retriever_id": "kb", "texts": DOCUMENTS[:1]}, "s")
    added = client.ok("add_documents", {"retriever_id": "kb", "texts": [DOCUMENTS[1]]}, "s")
    assert added["added"] == 1 and added["ids"][0].startswith("doc-") and added["documents"] == 2
    replaced = client.ok(
        "add_documents",
        {"retriever_id": "kb", "texts": ["Fuji is a volcano."], "ids": added["ids"]},
        "s",
    )
    assert replaced["replaced"] == 1 and replaced["documents"] == 2
    twice = client.ok("add_documents", {"retriever_id": "kb", "texts": ["Same text."]}, "s")
    assert twice["added"] == 1
    twice = client.ok("add_documents", {"retriever_id": "kb", "texts": ["Same text."]}, "s")
    assert twice["added"] == 0 and twice["replaced"] == 1 and twice["documents"] == 3
    client.ok("delete_documents", {"retriever_id": "kb", "ids": twice["ids"]}, "s")
    assert top(client, "Is Fuji a volcano?") == added["ids"]
    deleted = client.ok("delete_documents", {"retriever_id": "kb", "ids": added["ids"]}, "s")
    assert deleted["deleted"] == 1 and deleted["documents"] == 1 and deleted["persistent"] is False
    error = client.error(
        "create_retriever", {"retriever_id": "p", "texts": ["x"], "persist": True}, "s"
    )
    assert error["category"] == "invalid_configuration"
    assert "options.vector_store.directory" in error["message"]


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("add_documents", {"retriever_id": "kb"}),
        ("add_documents", {"retriever_id": "kb", "texts": [""]}),
        ("add_documents", {"retriever_id": "kb", "texts": ["x"], "extra": 1}),
        ("delete_documents", {"retriever_id": "kb", "ids": []}),
        ("delete_documents", {"retriever_id": "kb", "ids": [3]}),
        ("create_retriever", {"retriever_id": "a:b", "texts": ["x"], "persist": True}),
        ("create_retriever", {"texts": ["x"], "persist": "yes"}),
    ],
)
def test_bad_document_arguments_are_invalid(
    shared: BridgeClient, command: str, args: dict[str, Any]
) -> None:
    shared.ok("create_retriever", {"retriever_id": "kb", "texts": ["x"], "replace": True}, "s")
    assert shared.error(command, args, "s")["category"] == "invalid_argument"


@pytest.mark.parametrize(
    "raw", [[], "dir", {}, {"directory": ""}, {"directory": 3}, {"directory": "v", "x": 1}]
)
def test_bad_vector_store_options_are_invalid_configuration(raw: Any) -> None:
    from langchain_support.persistent import VectorStoreConfig

    from mlbridge import BridgeError

    with pytest.raises(BridgeError) as caught:
        VectorStoreConfig.parse(raw)
    assert caught.value.category == "invalid_configuration"
    assert "options.vector_store" in caught.value.message


def test_the_directory_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_support.persistent import VectorStoreConfig

    monkeypatch.chdir(tmp_path)  # a worker's working directory: host.root by default
    assert VectorStoreConfig.parse({"directory": "var/v"}).directory == tmp_path / "var" / "v"
