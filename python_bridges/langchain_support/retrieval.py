"""Retrievers: documents in an in-memory vector store, and the embeddings behind it.

``create_retriever`` takes texts (with metadata) or documents and embeddings settings::

    {"provider": "local", "dimensions": 256}                      # the default
    {"provider": "openai", "model": "text-embedding-3-small",
     "base_url": "http://127.0.0.1:8000/v1", "api_key_env": "OPENAI_API_KEY",
     "dimensions": null, "timeout": 30, "max_retries": 2}

``openai`` embeds through ``langchain_openai.OpenAIEmbeddings`` against any
OpenAI-compatible endpoint (with ``check_embedding_ctx_length`` off, so that no tokenizer
is downloaded). ``local`` is :class:`~.offline.LocalHashEmbeddings`, a deterministic local
embedding, named as such in every answer. An ``openai`` setting with no key and no
``base_url`` falls back to ``local`` and says why. A session's store is LangChain's
``InMemoryVectorStore`` (cosine similarity); a persistent one (``persist: true``) is kept on
disk by LanceDB (:mod:`.lance_store`, :mod:`.persistent`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from mlbridge import BridgeError
from mlbridge.secrets import REDACTOR, refuse_keys

from .models import NO_KEY_PLACEHOLDER, check_env_name, resolve_key

PROVIDERS = ("local", "openai")
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
MAX_DOCUMENTS = 10_000
MAX_K = 100
_KEYS = {"provider", "model", "base_url", "api_key_env", "dimensions", "timeout", "max_retries"}
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")


def invalid(message: str) -> BridgeError:
    return BridgeError(message, category="invalid_argument")


@dataclass(frozen=True)
class EmbeddingsConfig:
    """Validated embeddings settings (the key's *name* only)."""

    provider: str = "local"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    dimensions: int | None = None
    timeout: float | None = None
    max_retries: int = 2

    @classmethod
    def parse(cls, raw: Any, where: str = "embeddings") -> EmbeddingsConfig:
        if raw is None:
            return cls()
        if isinstance(raw, str):
            raw = {"provider": raw}
        if not isinstance(raw, dict):
            raise invalid(f"{where} must be a map or a provider name")
        refuse_keys(raw, where)
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise invalid(f"{where}: unknown settings {unknown}; known: {sorted(_KEYS)}")
        values = {**asdict(cls()), **raw}
        if values["provider"] not in PROVIDERS:
            raise invalid(f"{where}: provider must be one of {list(PROVIDERS)}")
        for name in ("model", "base_url"):
            if values[name] is not None and (not isinstance(values[name], str) or not values[name]):
                raise invalid(f"{where}: {name} must be a non-empty string")
        check_env_name(values["api_key_env"], where)
        dimensions = values["dimensions"]
        if dimensions is not None and (
            isinstance(dimensions, bool)
            or not isinstance(dimensions, int)
            or not 1 <= dimensions <= 8192
        ):
            raise invalid(f"{where}: dimensions must be an integer from 1 to 8192")
        timeout = values["timeout"]
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise invalid(f"{where}: timeout must be a positive number of seconds")
        retries = values["max_retries"]
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise invalid(f"{where}: max_retries must be an integer from 0 to 10")
        return cls(**values)

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class EmbeddingsHandle:
    config: EmbeddingsConfig
    embeddings: Any
    offline: bool
    reason: str = ""

    @property
    def label(self) -> str:
        from .offline import EMBEDDINGS_LABEL

        if self.offline:
            return EMBEDDINGS_LABEL
        return str(self.config.model or DEFAULT_EMBEDDING_MODEL)

    def describe(self) -> dict[str, Any]:
        described = {
            "embeddings": self.label,
            "offline": self.offline,
            "settings": self.config.public(),
        }
        if self.reason:
            described["note"] = self.reason
        return described


def build_embeddings(config: EmbeddingsConfig, *, strict: bool = True) -> EmbeddingsHandle:
    from .offline import LocalHashEmbeddings

    def local(reason: str = "") -> EmbeddingsHandle:
        return EmbeddingsHandle(config, LocalHashEmbeddings(config.dimensions or 256), True, reason)

    if config.provider == "local":
        return local()
    key, reason = resolve_key(config.api_key_env, config.base_url, strict)
    if key is None and not config.base_url:
        return local(reason + "; using the deterministic local embedding")
    from langchain_openai import OpenAIEmbeddings

    kwargs: dict[str, Any] = {
        "model": config.model or DEFAULT_EMBEDDING_MODEL,
        "api_key": key or NO_KEY_PLACEHOLDER,
        "max_retries": config.max_retries,
        "check_embedding_ctx_length": False,  # no tiktoken download; the server checks
    }
    for name in ("base_url", "dimensions", "timeout"):
        value = getattr(config, name)
        if value is not None:
            kwargs[name] = value
    from .http_client import async_client

    client = async_client()  # aiohttp's pool for the async calls, as the chat models have
    if client is not None:
        kwargs["http_async_client"] = client
    try:
        embeddings = OpenAIEmbeddings(**kwargs)
    except (ValueError, TypeError) as exc:
        raise BridgeError(
            f"cannot build the embeddings {kwargs['model']!r}: {REDACTOR.redact(str(exc))}",
            category="invalid_configuration",
        ) from None
    return EmbeddingsHandle(config, embeddings, offline=False)


def check_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise invalid(
            f"{name} must be 1-128 characters: letters, digits and _ . : @ -, starting with "
            f"a letter or digit (got {value!r})"
        )
    return value


def parse_documents(args: dict[str, Any], *, content_ids: bool = False) -> list[Any]:
    """``texts`` (+ ``metadatas``, ``ids``) or ``documents`` → LangChain documents.

    A document without an id gets ``doc-<index>``, or with ``content_ids`` (documents added
    to a retriever that already has some) ``doc-<hash of its text and metadata>``: adding the
    same document twice (a session's journal replayed on another worker) replaces it."""
    from langchain_core.documents import Document

    texts, documents = args.get("texts"), args.get("documents")
    if (texts is None) == (documents is None):
        raise invalid("give either 'texts' (with optional 'metadatas' and 'ids') or 'documents'")
    if texts is not None:
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise invalid("texts must be a list of strings")
        metadatas = args.get("metadatas")
        if metadatas is None:
            metadatas = [{} for _ in texts]
        if (
            not isinstance(metadatas, list)
            or len(metadatas) != len(texts)
            or not all(isinstance(m, dict) for m in metadatas)
        ):
            raise invalid("metadatas must be a list of maps, one per text")
        ids = args.get("ids")
        if ids is not None and (
            not isinstance(ids, list)
            or len(ids) != len(texts)
            or not all(isinstance(i, str) and i for i in ids)
        ):
            raise invalid("ids must be a list of non-empty strings, one per text")
        items = [
            {"text": t, "metadata": m, "id": ids[i] if ids else None}
            for i, (t, m) in enumerate(zip(texts, metadatas, strict=True))
        ]
    else:
        if not isinstance(documents, list):
            raise invalid("documents must be a list of maps with 'text' and 'metadata'")
        items = []
        for index, doc in enumerate(documents):
            if not isinstance(doc, dict):
                raise invalid(f"documents[{index}] must be a map")
            text = doc.get("text", doc.get("page_content"))
            metadata = doc.get("metadata") or {}
            doc_id = doc.get("id")
            if not isinstance(text, str) or not isinstance(metadata, dict):
                raise invalid(f"documents[{index}] needs 'text' (a string) and 'metadata' (a map)")
            if doc_id is not None and (not isinstance(doc_id, str) or not doc_id):
                raise invalid(f"documents[{index}]: id must be a non-empty string")
            items.append({"text": text, "metadata": metadata, "id": doc_id})
    if not 1 <= len(items) <= MAX_DOCUMENTS:
        raise invalid(f"a retriever holds 1 to {MAX_DOCUMENTS} documents (got {len(items)})")
    if any(not item["text"].strip() for item in items):
        raise invalid("every document needs non-empty text")
    ids = [item["id"] for item in items if item["id"] is not None]
    if len(ids) != len(set(ids)):
        raise invalid("document ids must be unique")
    return [
        Document(
            page_content=item["text"],
            metadata=item["metadata"],
            id=item["id"] or (_content_id(item) if content_ids else f"doc-{i}"),
        )
        for i, item in enumerate(items)
    ]


def _content_id(item: dict[str, Any]) -> str:
    content = json.dumps([item["text"], item["metadata"]], sort_keys=True, default=str)
    return "doc-" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]


def check_k(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_K:
        raise invalid(f"k must be an integer from 1 to {MAX_K}")
    return value


def document_to_wire(document: Any, score: float | None = None) -> dict[str, Any]:
    from .runs import to_wire

    item = {
        "id": document.id,
        "text": document.page_content,
        "metadata": to_wire(document.metadata),
    }
    if score is not None:
        item["score"] = round(float(score), 6)
    return item


@dataclass
class Retriever:
    """A vector store: documents, the embeddings behind them, and a default k.

    In memory (``InMemoryVectorStore``, a session's) or on disk (``persistent``:
    :class:`.lance_store.LanceVectorStore`, the bridge's, see :mod:`.persistent`).
    """

    retriever_id: str
    store: Any
    embeddings: EmbeddingsHandle
    k: int = 4
    documents: int = 0
    queries: int = field(default=0)
    persistent: bool = False

    @classmethod
    def create(
        cls, retriever_id: str, documents: list[Any], embeddings: EmbeddingsHandle, k: int
    ) -> Retriever:
        from langchain_core.vectorstores import InMemoryVectorStore

        store = InMemoryVectorStore(embeddings.embeddings)
        store.add_documents(documents)
        return cls(retriever_id, store, embeddings, k, len(documents))

    @classmethod
    async def acreate(
        cls, retriever_id: str, documents: list[Any], embeddings: EmbeddingsHandle, k: int
    ) -> Retriever:
        """:meth:`create` with the embeddings' async API (a remote endpoint's, on the loop)."""
        from langchain_core.vectorstores import InMemoryVectorStore

        store = InMemoryVectorStore(embeddings.embeddings)
        await store.aadd_documents(documents)
        return cls(retriever_id, store, embeddings, k, len(documents))

    def as_retriever(self, k: int | None = None) -> Any:
        return self.store.as_retriever(search_kwargs={"k": k or self.k})

    def search(self, query: str, k: int | None = None) -> list[dict[str, Any]]:
        self.queries += 1
        found = self.store.similarity_search_with_score(query, k=k or self.k)
        return [document_to_wire(doc, score) for doc, score in found]

    async def asearch(self, query: str, k: int | None = None) -> list[dict[str, Any]]:
        """:meth:`search` with the embeddings' async API."""
        self.queries += 1
        found = await self.store.asimilarity_search_with_score(query, k=k or self.k)
        return [document_to_wire(doc, score) for doc, score in found]

    async def count(self) -> int:
        """How many documents the store holds now (another worker may have changed it)."""
        if self.persistent:
            self.documents = await asyncio.to_thread(self.store.count)
        else:
            self.documents = len(self.store.store)
        return self.documents

    async def add(self, documents: list[Any]) -> dict[str, int]:
        """Add ``documents``; one whose id is already there replaces it."""
        ids = [str(d.id) for d in documents]
        if self.persistent:
            existing = set(await asyncio.to_thread(self.store.existing_ids, ids))
        else:
            existing = {i for i in ids if i in self.store.store}
        await self.store.aadd_documents(documents, ids=ids)
        await self.count()
        return {"added": len(ids) - len(existing), "replaced": len(existing)}

    async def delete(self, ids: list[str]) -> dict[str, Any]:
        """Delete the documents with ``ids``; ids that are not there are listed as missing."""
        if self.persistent:
            present = await asyncio.to_thread(self.store.existing_ids, ids)
        else:
            present = [i for i in ids if i in self.store.store]
        if present:
            await self.store.adelete(present)
        await self.count()
        return {"deleted": len(present), "missing": [i for i in ids if i not in set(present)]}

    def info(self) -> dict[str, Any]:
        return {
            "retriever_id": self.retriever_id,
            "documents": self.documents,
            "k": self.k,
            "queries": self.queries,
            "store": "LanceDB" if self.persistent else "InMemoryVectorStore",
            "persistent": self.persistent,
            **self.embeddings.describe(),
        }
