"""A LangChain ``VectorStore`` kept on disk by LanceDB: what persistent retrievers use.

Why LanceDB (``lancedb`` on PyPI): it runs embedded (a library writing files, no server),
and its tables are versioned files that several processes may read and write at once — each
write commits a new version, and a connection made with ``read_consistency_interval=0``
reads the latest version on every query. A bridge has several workers, each a process, and
a worker started later must see what the others wrote; Chroma's embedded client says it is
not process-safe, and FAISS's ``save_local`` is a snapshot each process would overwrite.

One table per retriever (``<directory>/<retriever_id>.lance``): ``id`` (the document id,
the upsert key), ``text``, ``metadata`` (JSON) and ``vector``. Scores are cosine
similarities (1 - LanceDB's cosine distance), like ``InMemoryVectorStore``'s. LanceDB's
calls block, so the async API runs them in a thread; embeddings keep their own async API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore


def connect(directory: Path) -> Any:
    """A LanceDB connection to ``directory`` that reads the latest version on every query."""
    import lancedb

    directory.mkdir(parents=True, exist_ok=True)
    return lancedb.connect(str(directory), read_consistency_interval=timedelta(0))


def table_names(db: Any) -> list[str]:
    listed = db.list_tables()
    names = getattr(listed, "tables", listed)
    return sorted(str(name) for name in names)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LanceVectorStore(VectorStore):
    """Documents of one LanceDB table, embedded with ``embeddings``."""

    def __init__(self, db: Any, name: str, embeddings: Embeddings):
        self._db = db
        self._name = name
        self._embeddings = embeddings
        self._table: Any = None

    @property
    def embeddings(self) -> Embeddings:
        return self._embeddings

    # ------------------------------------------------------------------ the table

    def _open(self) -> Any | None:
        if self._table is None and self._name in table_names(self._db):
            self._table = self._db.open_table(self._name)
        return self._table

    def _write(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        table = self._open()
        if table is None:
            schema = pa.schema(
                [
                    pa.field("id", pa.string()),
                    pa.field("text", pa.string()),
                    pa.field("metadata", pa.string()),
                    pa.field("vector", pa.list_(pa.float32(), len(rows[0]["vector"]))),
                ]
            )
            table = self._table = self._db.create_table(self._name, schema=schema, exist_ok=True)
        (
            table.merge_insert("id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(rows)
        )

    def count(self) -> int:
        table = self._open()
        return 0 if table is None else int(table.count_rows())

    def existing_ids(self, ids: list[str]) -> list[str]:
        table = self._open()
        if table is None or not ids:
            return []
        where = f"id IN ({', '.join(_quoted(i) for i in ids)})"
        rows = table.search().where(where).select(["id"]).limit(len(ids)).to_list()
        return [row["id"] for row in rows]

    def drop(self) -> None:
        if self._name in table_names(self._db):
            self._db.drop_table(self._name)
        self._table = None

    @staticmethod
    def _rows(
        texts: list[str], vectors: list[list[float]], metadatas: list[dict], ids: list[str]
    ) -> list[dict[str, Any]]:
        return [
            {"id": i, "text": t, "metadata": json.dumps(m), "vector": v}
            for t, v, m, i in zip(texts, vectors, metadatas, ids, strict=True)
        ]

    def _search(self, vector: list[float], k: int) -> list[tuple[Document, float]]:
        table = self._open()
        if table is None:
            return []
        rows = table.search(vector).distance_type("cosine").limit(k).to_list()
        return [
            (
                Document(
                    id=row["id"], page_content=row["text"], metadata=json.loads(row["metadata"])
                ),
                1.0 - float(row["_distance"]),
            )
            for row in rows
        ]

    # ------------------------------------------------------------ VectorStore API

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts = list(texts)
        ids = list(ids) if ids else [str(i) for i in range(len(texts))]
        metadatas = metadatas or [{} for _ in texts]
        vectors = self._embeddings.embed_documents(texts)
        self._write(self._rows(texts, vectors, metadatas, ids))
        return ids

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts = list(texts)
        ids = list(ids) if ids else [str(i) for i in range(len(texts))]
        metadatas = metadatas or [{} for _ in texts]
        vectors = await self._embeddings.aembed_documents(texts)
        await asyncio.to_thread(self._write, self._rows(texts, vectors, metadatas, ids))
        return ids

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        return self.add_texts(
            [d.page_content for d in documents],
            [d.metadata for d in documents],
            ids=[str(d.id) for d in documents],
        )

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        return await self.aadd_texts(
            [d.page_content for d in documents],
            [d.metadata for d in documents],
            ids=[str(d.id) for d in documents],
        )

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        table = self._open()
        if table is None or not ids:
            return False
        table.delete(f"id IN ({', '.join(_quoted(i) for i in ids)})")
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        return await asyncio.to_thread(self.delete, ids)

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return self._search(self._embeddings.embed_query(query), k)

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        vector = await self._embeddings.aembed_query(query)
        return await asyncio.to_thread(self._search, vector, k)

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k)]

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in await self.asimilarity_search_with_score(query, k)]

    def _select_relevance_score_fn(self) -> Any:
        return lambda score: score  # already a cosine similarity

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        directory: str | Path = "",
        name: str = "documents",
        **kwargs: Any,
    ) -> LanceVectorStore:
        """A store in table ``name`` of ``directory`` holding ``texts``."""
        if not directory:
            raise ValueError("from_texts needs directory=: where the table is kept")
        store = cls(connect(Path(directory)), name, embedding)
        store.add_texts(texts, metadatas, ids=ids)
        return store
