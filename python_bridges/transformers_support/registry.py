"""Models shared by every session of a worker, kept alive by session references.

A model is loaded once per worker: loading the same directory with the same task, device and
dtype again (from any session) returns the loaded one and adds a reference. A session holds
references, never the model; the bridge keeps a ``ModelRef`` in the session's resource store
so a session only uses what it loaded. A ``model_id`` the caller gives always names the model
it loaded: when the model is already loaded under another id, the caller's id becomes an alias
of it (every alias resolves to the one loaded model; ids are unique across models and
aliases). When the last reference goes (``unload_model``, ``cleanup_session``, ``cleanup``)
the model is dropped (with its aliases) and its memory given back. Models preloaded from
``options.preload`` are pinned: every session may use them and they stay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlbridge import BridgeError

REF_PREFIX = "model:"
WORKER = "(worker)"  #: the holder of pinned models
ANONYMOUS = "(anonymous)"  #: the holder name of calls without a session


def holder_of(session_id: str | None) -> str:
    return session_id or ANONYMOUS


@dataclass(frozen=True)
class ModelRef:
    """What a session's resource store holds for a model it loaded."""

    model_id: str


@dataclass
class LoadedModel:
    model_id: str
    reference: str  #: what the first caller asked for (path or name)
    path: Path
    task: str
    device: str
    dtype: str
    pipeline: Any
    parameters: int
    weight_bytes: int
    rss_delta_bytes: int
    load_ms: int
    requested_dtype: str = ""  #: the dtype asked for ("auto" on a GPU), part of the key
    aliases: set[str] = field(default_factory=set)  #: other ids callers gave this model
    pinned: bool = False
    holders: set[str] = field(default_factory=set)
    calls: int = 0
    loaded_at: float = field(default_factory=time.time)

    @property
    def model(self) -> Any:
        return self.pipeline.model

    @property
    def tokenizer(self) -> Any:
        return self.pipeline.tokenizer

    def key(self) -> tuple[str, str, str, str]:
        return (str(self.path), self.task, self.device, self.requested_dtype or self.dtype)

    def ids(self) -> set[str]:
        """Every id that names this model: the first one and the aliases."""
        return {self.model_id, *self.aliases}

    def summary(self, called: str | None = None) -> dict[str, Any]:
        """The model as data, named by ``called`` (the id a caller used) or its first id;
        ``aliases`` are the other ids that name it."""
        name = called or self.model_id
        return {
            "model_id": name,
            "aliases": sorted(self.ids() - {name}),
            "model": self.reference,
            "path": str(self.path),
            "task": self.task,
            "device": self.device,
            "dtype": self.dtype,
            "parameters": self.parameters,
            "memory_bytes": self.weight_bytes,
            "references": len(self.holders),
            "pinned": self.pinned,
            "calls": self.calls,
        }


class ModelRegistry:
    """Every model of this worker, by id."""

    def __init__(self) -> None:
        self.models: dict[str, LoadedModel] = {}  #: by each model's first id
        self.aliases: dict[str, str] = {}  #: alias → the first id of the model it names

    def resolve(self, model_id: str) -> LoadedModel | None:
        """The model ``model_id`` names (its first id or an alias), if any."""
        return self.models.get(self.aliases.get(model_id, model_id))

    def find(self, key: tuple[str, str, str, str]) -> LoadedModel | None:
        return next((m for m in self.models.values() if m.key() == key), None)

    @staticmethod
    def _check_id(wanted: Any) -> str:
        if not isinstance(wanted, str) or not wanted or len(wanted) > 200 or ":" in wanted:
            raise BridgeError(
                "model_id must be a non-empty string without ':' (at most 200 characters)",
                category="invalid_argument",
            )
        return wanted

    def _refuse_taken(self, wanted: str, model: LoadedModel | None = None) -> None:
        """invalid_argument when ``wanted`` names a model other than ``model``."""
        other = self.resolve(wanted)
        if other is not None and other is not model:
            raise BridgeError(
                f"model_id {wanted!r} is already taken by {other.reference!r} "
                f"({other.task}, {other.device}, {other.dtype}); choose another model_id",
                category="invalid_argument",
            )

    def new_id(self, wanted: Any, path: Path, task: str) -> str:
        """``wanted`` if free, else a name from the directory (and the task when needed)."""
        if wanted is not None:
            self._refuse_taken(self._check_id(wanted))
            return wanted
        base = path.name or "model"
        for candidate in (base, f"{base}-{task}"):
            if self.resolve(candidate) is None:
                return candidate
        n = 2
        while self.resolve(f"{base}-{task}-{n}") is not None:
            n += 1
        return f"{base}-{task}-{n}"

    def name(self, model: LoadedModel, wanted: Any) -> str:
        """The id a caller who asked for ``wanted`` (or nothing) uses for the loaded ``model``:
        ``wanted`` becomes an alias of it when free, so the caller's id always resolves."""
        if wanted is None:
            return model.model_id
        wanted = self._check_id(wanted)
        self._refuse_taken(wanted, model)
        if wanted != model.model_id:
            model.aliases.add(wanted)
            self.aliases[wanted] = model.model_id
        return wanted

    def add(self, model: LoadedModel) -> None:
        self.models[model.model_id] = model

    def get(self, model_id: Any, holder: str) -> LoadedModel:
        """The model ``model_id`` if ``holder`` holds it (or it is pinned), else not_found."""
        if not isinstance(model_id, str) or not model_id:
            raise BridgeError("model_id (a string) is required", category="invalid_argument")
        model = self.resolve(model_id)
        if model is None or not (model.pinned or holder in model.holders):
            where = "this session" if holder != ANONYMOUS else "the anonymous session"
            raise BridgeError(
                f"model {model_id!r} is not loaded in {where}; load_model loads it "
                "(a model another session loaded is shared, not loaded twice); list_models "
                "shows what this session holds",
                category="not_found",
            )
        return model

    def held_by(self, holder: str) -> list[LoadedModel]:
        return [m for m in self.models.values() if m.pinned or holder in m.holders]

    def release(self, holder: str, model_ids: list[str] | None = None) -> list[LoadedModel]:
        """Drop ``holder``'s references (to ``model_ids`` or all); return the models unheld."""
        freed = []
        for model in list(self.models.values()):
            if model_ids is not None and model.model_id not in model_ids:
                continue
            model.holders.discard(holder)
            if not model.holders and not model.pinned:
                freed.append(self.drop(model.model_id))
        return freed

    def drop(self, model_id: str) -> LoadedModel:
        """Forget a model whatever holds it; the caller releases the memory."""
        model = self.models.pop(model_id)
        for alias in model.aliases:
            self.aliases.pop(alias, None)
        model.pipeline = None
        model.holders.clear()
        return model

    def total_weight_bytes(self) -> int:
        return sum(m.weight_bytes for m in self.models.values())
