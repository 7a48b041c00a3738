"""Persistent retrievers: the bridge's, on disk under ``options.vector_store.directory``.

``create_retriever {"persist": true, ...}`` makes one; it belongs to the bridge, not to a
session: every session of every worker finds it by id, also after a worker or the host
restarts. On disk, per retriever: a LanceDB table ``<retriever_id>.lance`` (the documents
and vectors, :mod:`.lance_store`) and ``<retriever_id>.retriever.json`` (the embeddings
settings it was made with, the names of keys only, and its default k), so that a worker that
opens it later embeds queries the same way.

A worker keeps the retrievers it has opened; what another worker adds or deletes shows in
its next query (LanceDB reads the latest version), and a retriever another worker deleted or
made anew is noticed by its settings file (see :meth:`PersistentRetrievers.find`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlbridge import BridgeError

from .lance_store import LanceVectorStore, connect, table_names
from .retrieval import EmbeddingsHandle, Retriever

#: Table names LanceDB accepts; a persistent retriever's id must be one.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SETTINGS = ".retriever.json"

#: Rebuilds the embeddings a retriever was made with from its saved settings.
EmbeddingsFor = Callable[[dict[str, Any]], EmbeddingsHandle]


def fingerprint(args: dict[str, Any]) -> str:
    """What a ``create_retriever`` call asked for, as a hash: the same call again (a session's
    journal replayed on another worker) finds the retriever it made instead of failing."""
    asked = {k: v for k, v in args.items() if k != "replace"}
    text = json.dumps(asked, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def invalid(message: str) -> BridgeError:
    return BridgeError(message, category="invalid_argument")


@dataclass(frozen=True)
class VectorStoreConfig:
    """``options.vector_store``: ``{"directory": "var/vectors"}`` (relative to the workers'
    working directory, which is host.root unless the bridge's ``working_dir`` moves it)."""

    directory: Path | None = None

    @classmethod
    def parse(cls, raw: Any, where: str = "options.vector_store") -> VectorStoreConfig:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise BridgeError(f"{where} must be a map", category="invalid_configuration")
        unknown = sorted(set(raw) - {"directory"})
        if unknown:
            raise BridgeError(
                f"{where}: unknown keys {unknown}; known: ['directory']",
                category="invalid_configuration",
            )
        directory = raw.get("directory")
        if not isinstance(directory, str) or not directory:
            raise BridgeError(
                f"{where}.directory must be a non-empty path", category="invalid_configuration"
            )
        return cls(Path(os.path.abspath(directory)))


@dataclass
class PersistentRetrievers:
    """The persistent retrievers of one worker's bridge (thread-safe opening)."""

    config: VectorStoreConfig
    _open: dict[str, Retriever] = field(default_factory=dict)
    _identity: dict[str, tuple[int, int]] = field(default_factory=dict)
    _db: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def enabled(self) -> bool:
        return self.config.directory is not None

    def _connection(self) -> Any:
        if self.config.directory is None:
            raise BridgeError(
                "persistent retrievers need a directory: set options.vector_store.directory "
                "in the bridge's YAML",
                category="invalid_configuration",
            )
        with self._lock:
            if self._db is None:
                self._db = connect(self.config.directory)
            return self._db

    def _settings_path(self, retriever_id: str) -> Path:
        assert self.config.directory is not None
        return self.config.directory / (retriever_id + _SETTINGS)

    @staticmethod
    def check_name(retriever_id: str) -> str:
        if not _NAME.fullmatch(retriever_id):
            raise invalid(
                "a persistent retriever's id must be 1-128 letters, digits and _ . -, starting "
                f"with a letter or digit (got {retriever_id!r})"
            )
        return retriever_id

    def _saved(self, retriever_id: str) -> dict[str, Any]:
        try:
            return json.loads(self._settings_path(retriever_id).read_text())
        except (OSError, ValueError):
            return {}

    def exists(self, retriever_id: str) -> bool:
        return self.enabled and self._settings_path(retriever_id).is_file()

    async def create(
        self,
        retriever_id: str,
        documents: list[Any],
        embeddings: EmbeddingsHandle,
        k: int,
        replace: bool,
        fingerprint: str = "",
    ) -> Retriever:
        """A new retriever on disk holding ``documents``; ``replace`` drops an old one. The
        same call again (same ``fingerprint``) answers with the retriever it made."""
        self.check_name(retriever_id)
        db = await asyncio.to_thread(self._connection)
        if self.exists(retriever_id) or retriever_id in await asyncio.to_thread(table_names, db):
            if (
                not replace
                and fingerprint
                and self._saved(retriever_id).get("fingerprint") == (fingerprint)
            ):
                found = self.find(retriever_id, lambda _saved: embeddings)
                if found is not None:
                    await found.count()
                    return found
            if not replace:
                raise invalid(
                    f"persistent retriever {retriever_id!r} already exists; add_documents adds "
                    "to it, replace: true makes it anew"
                )
            await asyncio.to_thread(self.drop, retriever_id)
        store = LanceVectorStore(db, retriever_id, embeddings.embeddings)
        retriever = Retriever(retriever_id, store, embeddings, k, persistent=True)
        await retriever.add(documents)
        saved = {"embeddings": embeddings.config.public(), "k": k, "fingerprint": fingerprint}
        path = self._settings_path(retriever_id)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(saved))
        os.replace(temporary, path)  # whole or absent, whoever reads it
        status = path.stat()
        with self._lock:
            self._open[retriever_id] = retriever
            self._identity[retriever_id] = (status.st_ino, status.st_mtime_ns)
        return retriever

    def find(self, retriever_id: str, embeddings_for: EmbeddingsFor) -> Retriever | None:
        """The persistent retriever ``retriever_id``, opened on first use; None if none.

        The settings file's identity (inode, mtime) tells whether another worker deleted or
        re-made the retriever since this one opened it: one ``stat`` per lookup."""
        if not self.enabled or not _NAME.fullmatch(retriever_id):
            return None
        path = self._settings_path(retriever_id)
        try:
            status = path.stat()
        except FileNotFoundError:
            with self._lock:
                self._open.pop(retriever_id, None)
            return None
        identity = (status.st_ino, status.st_mtime_ns)
        with self._lock:
            found = self._open.get(retriever_id)
            if found is not None and self._identity.get(retriever_id) == identity:
                return found
        saved = json.loads(path.read_text())
        embeddings = embeddings_for(saved.get("embeddings") or {})
        store = LanceVectorStore(self._connection(), retriever_id, embeddings.embeddings)
        # Its document count is read when documents are added or deleted: opening touches
        # no table, so a lookup on the event loop costs a stat and a small JSON read.
        retriever = Retriever(
            retriever_id, store, embeddings, int(saved.get("k", 4)), persistent=True
        )
        with self._lock:
            self._open[retriever_id] = retriever
            self._identity[retriever_id] = identity
        return retriever

    def drop(self, retriever_id: str) -> None:
        """Delete the retriever's table and settings from disk."""
        db = self._connection()
        with self._lock:
            self._open.pop(retriever_id, None)
        if retriever_id in table_names(db):
            db.drop_table(retriever_id)
        self._settings_path(retriever_id).unlink(missing_ok=True)

    def ids(self) -> list[str]:
        if not self.enabled or not self.config.directory.is_dir():  # type: ignore[union-attr]
            return []
        return sorted(
            p.name[: -len(_SETTINGS)]
            for p in self.config.directory.glob("*" + _SETTINGS)  # type: ignore[union-attr]
        )
