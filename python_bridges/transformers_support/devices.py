"""Devices and dtypes: what a caller may ask for, and what it becomes on this worker.

Devices: ``cpu``, ``cuda``, ``cuda:N`` and ``auto`` (CUDA when torch sees a GPU, else the
CPU). Asking for CUDA on a worker without it is a configuration problem of the deployment
(``invalid_configuration``), not a bad argument. Dtypes: ``auto`` (float32 on the CPU, the
checkpoint's own dtype on a GPU), ``float32``, ``float16``, ``bfloat16`` and their usual
short names.
"""

from __future__ import annotations

import re
from typing import Any

from mlbridge import BridgeError

DEVICES = ("auto", "cpu", "cuda", "cuda:N")
DTYPES: dict[str, str] = {
    "auto": "auto",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
_CUDA = re.compile(r"^cuda(?::(\d+))?$")


def resolve_device(name: Any) -> str:
    """``"cpu"`` or ``"cuda:N"`` for a requested device (``None`` means ``auto``)."""
    import torch

    if name is None or name == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if not isinstance(name, str):
        raise BridgeError(
            f"device must be one of {', '.join(DEVICES)}, got {name!r}", category="invalid_argument"
        )
    if name == "cpu":
        return "cpu"
    match = _CUDA.match(name)
    if match is None:
        raise BridgeError(
            f"unknown device {name!r}; use one of {', '.join(DEVICES)}",
            category="invalid_argument",
        )
    if not torch.cuda.is_available():
        built = torch.version.cuda or "none"
        raise BridgeError(
            f"device {name!r} was asked for, but CUDA is not available on this worker "
            f"(torch {torch.__version__}, CUDA build {built}, no usable GPU found); "
            "use device 'cpu' or 'auto'",
            category="invalid_configuration",
            type="CudaUnavailable",
        )
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise BridgeError(
            f"device {name!r} does not exist: this worker sees {count} GPU(s)",
            category="invalid_configuration",
            type="CudaUnavailable",
        )
    return f"cuda:{index}"


def resolve_dtype(name: Any, device: str) -> Any:
    """The torch dtype for ``name`` on ``device``; ``"auto"`` on a GPU (the checkpoint's)."""
    import torch

    key = DTYPES.get(name if name is not None else "auto") if isinstance(name, str | None) else None
    if key is None:
        raise BridgeError(
            f"unknown dtype {name!r}; use one of {', '.join(sorted(set(DTYPES.values())))}",
            category="invalid_argument",
        )
    if key == "auto":
        return torch.float32 if device == "cpu" else "auto"
    return getattr(torch, key)


def dtype_name(dtype: Any) -> str:
    """``"float32"`` for ``torch.float32`` (and ``"auto"`` for ``"auto"``)."""
    return str(dtype).removeprefix("torch.")
