"""Memory: what the process holds (RSS), what a model's weights take, and giving it back.

RSS is read from ``/proc/self/statm``. After a model is dropped, ``release()`` collects
garbage, returns freed heap pages to the system with glibc's ``malloc_trim`` and empties the
CUDA cache, so the RSS that ``unload_model`` reports after is what the process really holds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache
from typing import Any

from mlbridge.bridge import rss_bytes

__all__ = ["rss_bytes", "available_bytes", "release", "weight_bytes", "estimate_weight_bytes"]

MIB = 1024 * 1024


def available_bytes() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo``: what the machine can still give, or None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@cache
def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release() -> None:
    """Collect garbage and hand freed memory back to the system (and the GPU)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def weight_bytes(model: Any) -> int:
    """Bytes of a model's parameters and buffers (tied weights counted once)."""
    seen: set[int] = set()
    total = 0
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        total += tensor.numel() * tensor.element_size()
    return total


def estimate_weight_bytes(auto_class: Any, config: Any, dtype: Any) -> tuple[int, int]:
    """``(parameters, bytes)`` of the model ``auto_class`` would build from ``config``.

    The model is built on torch's meta device: shapes only, no memory, no weights read.
    """
    import torch

    with torch.device("meta"):
        model = auto_class.from_config(config)
    params = sum(p.numel() for p in model.parameters())
    itemsize = torch.empty((), dtype=dtype).element_size() if dtype is not None else 4
    del model
    return params, params * itemsize
