"""Pooled feature vectors: one float32 vector per input text.

The model's last hidden layer is pooled over the real (not padding) tokens: ``mean``
(default), ``cls`` (the first token, BERT's convention), ``last`` (the last real token, the
usual choice for a causal LM) or ``max``; ``normalize`` scales each vector to unit length.
Vectors travel as one little-endian float32 byte string (``format: "bytes"``: MessagePack
bin, base64 in JSON; row-major, ``shape`` = [count, dim]) or as lists of floats.
"""

from __future__ import annotations

import inspect
from typing import Any

from mlbridge import BridgeError

POOLINGS = ("mean", "cls", "last", "max")
FORMATS = ("bytes", "list")


def check(pooling: Any, fmt: Any) -> tuple[str, str]:
    if pooling not in POOLINGS:
        raise BridgeError(
            f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}",
            category="invalid_argument",
        )
    if fmt not in FORMATS:
        raise BridgeError(
            f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", category="invalid_argument"
        )
    return pooling, fmt


def _accepts(model: Any, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return True


def embed(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    pooling: str,
    normalize: bool,
    max_length: int | None,
    batch_size: int,
) -> Any:
    """A float32 numpy array of shape ``[len(texts), hidden size]``."""
    import numpy as np
    import torch

    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2-style tokenizers have no pad token
    rows = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        encoded = tokenizer(
            batch,
            padding=True,
            padding_side="right",  # real tokens keep their positions (left padding shifts them)
            truncation=max_length is not None or tokenizer.model_max_length < 10**9,
            max_length=max_length,
            return_tensors="pt",
        )
        if "token_type_ids" in encoded and not _accepts(model, "token_type_ids"):
            del encoded["token_type_ids"]
        encoded = encoded.to(model.device)
        with torch.inference_mode():
            output = model(**encoded, output_hidden_states=True)
        hidden = getattr(output, "hidden_states", None)
        states = hidden[-1] if hidden else output.last_hidden_state
        rows.append(_pool(states.float(), encoded["attention_mask"], pooling))
    vectors = torch.cat(rows)
    if normalize:
        vectors = torch.nn.functional.normalize(vectors, dim=-1)
    return vectors.cpu().numpy().astype(np.float32, copy=False)


def _pool(states: Any, mask: Any, pooling: str) -> Any:
    import torch

    weights = mask.unsqueeze(-1).to(states.dtype)
    if pooling == "cls":
        return states[:, 0]
    if pooling == "last":
        # The last real token of each row, whichever side the tokenizer pads on.
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = (positions * mask).argmax(dim=1)
        return states[torch.arange(states.shape[0], device=states.device), last]
    if pooling == "max":
        return states.masked_fill(weights == 0, float("-inf")).max(dim=1).values
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def pack(vectors: Any, fmt: str) -> dict[str, Any]:
    """The wire form: ``{embeddings, shape, dtype, format}``."""
    count, dim = (int(n) for n in vectors.shape)
    payload: Any = vectors.astype("<f4").tobytes() if fmt == "bytes" else vectors.tolist()
    return {
        "embeddings": payload,
        "shape": [count, dim],
        "dim": dim,
        "count": count,
        "dtype": "float32",
        "format": fmt,
    }
