"""Model references → local directories. Nothing is ever downloaded.

A reference is, in this order:

1. a path to a directory that ``save_pretrained`` wrote (it holds ``config.json``), absolute
   or relative to the worker's working directory;
2. a name under one of ``options.model_dirs`` (``<dir>/<name>``);
3. a Hub repository id (``org/name``) already in the Hugging Face cache (``options.cache_dir``,
   else ``HF_HUB_CACHE``/``HF_HOME``), found with ``local_files_only``.

Anything else is ``not_found``, with the reference and every place looked at in the message.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlbridge import BridgeError

CONFIG_FILE = "config.json"


class Locator:
    """Finds a model's directory from a reference (see the module docstring)."""

    def __init__(self, model_dirs: list[Path], cache_dir: Path | None):
        self.model_dirs = model_dirs
        self.cache_dir = cache_dir

    def describe(self) -> dict[str, object]:
        return {
            "model_dirs": [str(d) for d in self.model_dirs],
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
        }

    def find(self, reference: object) -> Path:
        """The directory of ``reference``; ``BridgeError`` (not_found) when there is none."""
        if not isinstance(reference, str) or not reference.strip():
            raise BridgeError(
                "model must be a local path or a model name (a non-empty string)",
                category="invalid_argument",
            )
        path = Path(reference).expanduser()
        if path.is_dir():
            return self._checked(path.resolve(), reference)
        looked = [str(path.absolute())]
        if _explicit_path(reference):
            raise BridgeError(
                f"model path {str(path.absolute())!r} is not a local folder "
                "(it does not exist; nothing is downloaded: HF_HUB_OFFLINE=1)",
                category="not_found",
                type="ModelNotFound",
            )
        for base in self.model_dirs:
            candidate = base / reference
            if candidate.is_dir():
                return self._checked(candidate.resolve(), reference)
            looked.append(str(candidate))
        cached = self._from_hub_cache(reference)
        if cached is not None:
            return self._checked(cached, reference)
        looked.append(f"the Hugging Face cache {self._cache_label()}")
        raise BridgeError(
            f"model {reference!r} not found: not a local folder and not in the model "
            f"directories or the cache (looked at {'; '.join(looked)}); nothing is "
            "downloaded (HF_HUB_OFFLINE=1): save the model with save_pretrained and pass its "
            "path, or put it under options.model_dirs",
            category="not_found",
            type="ModelNotFound",
        )

    @staticmethod
    def _checked(path: Path, reference: str) -> Path:
        if not (path / CONFIG_FILE).is_file():
            raise BridgeError(
                f"{str(path)!r} (model {reference!r}) is a folder but not a saved model: it has "
                f"no {CONFIG_FILE} (save_pretrained writes one)",
                category="not_found",
                type="ModelNotFound",
            )
        return path

    def _cache_label(self) -> str:
        if self.cache_dir is not None:
            return str(self.cache_dir)
        return os.environ.get("HF_HUB_CACHE") or "(default)"

    def _from_hub_cache(self, repo_id: str) -> Path | None:
        if repo_id.count("/") > 1 or repo_id.startswith("/"):
            return None
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

        try:
            found = snapshot_download(
                repo_id,
                cache_dir=str(self.cache_dir) if self.cache_dir else None,
                local_files_only=True,
            )
        except (LocalEntryNotFoundError, HFValidationError, OSError, ValueError):
            return None
        return Path(found)


def _explicit_path(reference: str) -> bool:
    """Written as a path (``/x``, ``./x``, ``../x``, ``~/x``), never a name."""
    return reference.startswith(("/", "./", "../", "~")) or reference in (".", "..")
