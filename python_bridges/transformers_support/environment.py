"""The worker's environment: offline for good, quiet, and imports paid for once.

``force_offline()`` runs before anything imports ``huggingface_hub`` (which reads these
variables at import): no model, tokenizer or file is ever fetched at run time, whatever the
host's environment says. ``import_frameworks()`` imports torch and transformers (seconds on a
cold machine) and turns off their progress bars.
"""

from __future__ import annotations

import os
from typing import Any

#: Set (not defaulted) before huggingface_hub is imported.
OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "TOKENIZERS_PARALLELISM": "false",  # no fork warnings; the worker runs one call at a time
}


def force_offline() -> None:
    """Put the offline variables into ``os.environ``, overriding what the host passed."""
    os.environ.update(OFFLINE_ENV)


def set_cache_dir(path: str) -> None:
    """Point the Hugging Face cache at ``path`` (before huggingface_hub is imported)."""
    os.environ["HF_HUB_CACHE"] = path


def import_frameworks(num_threads: int | None = None) -> tuple[Any, Any]:
    """Import torch and transformers once; return ``(torch, transformers)``."""
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if num_threads:
        torch.set_num_threads(num_threads)
    return torch, transformers
