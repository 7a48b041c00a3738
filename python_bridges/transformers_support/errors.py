"""What torch and transformers raise → bridge errors with a category.

The type reported stays the original one (``torch.OutOfMemoryError``, ``RuntimeError``,
``OSError``), so the host's rules (plugins/transformers) see it too; the category is given
here wherever the message says what happened:

- out of memory (``torch.OutOfMemoryError``, ``MemoryError``, torch's CPU allocator's "can't
  allocate memory", CUDA's "out of memory") → ``resource_exhausted``;
- a checkpoint that cannot be read (``OSError`` "not a local folder", "can't load",
  "does not appear to have a file named") → ``not_found``, naming the model;
- CUDA missing (torch "not compiled with CUDA", "no NVIDIA driver") →
  ``invalid_configuration``;
- arguments a pipeline or ``generate`` refuses (transformers' ``ValueError``s, unexpected
  keyword arguments, a fill-mask input without the mask token, an input longer than the
  model's positions) → ``invalid_argument``.
"""

from __future__ import annotations

import re

from mlbridge import BridgeError
from mlbridge.errors import type_name
from mlbridge.translation import raise_translated as _raise
from mlbridge.translation import short

_OOM = re.compile(
    r"out of memory|can't allocate memory|not enough memory|cannot allocate memory", re.I
)
_NOT_FOUND = re.compile(
    r"is not a local folder|can't load|couldn't find them in the cached files|"
    r"does not appear to have a file named|no such file or directory|"
    r"is not a valid model identifier",
    re.I,
)
_NO_CUDA = re.compile(
    r"not compiled with cuda|no nvidia driver|cuda driver|cuda is not available|"
    r"no cuda gpus are available",
    re.I,
)
_BAD_ARGUMENT = re.compile(r"unexpected keyword argument|are not used by the model", re.I)
_TOO_LONG = "index out of range in self"  # an input past the model's position embeddings


def category_of(exc: BaseException) -> str | None:
    """The category this bridge gives ``exc``, or None to leave it to the host's rules."""
    name = type(exc).__name__
    message = str(exc)
    if isinstance(exc, MemoryError) or name == "OutOfMemoryError" or _OOM.search(message):
        return "resource_exhausted"
    if isinstance(exc, RuntimeError | AssertionError) and _NO_CUDA.search(message):
        return "invalid_configuration"
    if isinstance(exc, OSError) and _NOT_FOUND.search(message):
        return "not_found"
    if name == "PipelineException":
        return "invalid_argument"
    if isinstance(exc, ValueError | KeyError):
        return "invalid_argument"
    if isinstance(exc, TypeError) and _BAD_ARGUMENT.search(message):
        return "invalid_argument"
    if isinstance(exc, IndexError) and _TOO_LONG in message:
        return "invalid_argument"
    return None


def translate(exc: Exception, where: str, model: str | None = None) -> Exception:
    """The exception to raise in place of ``exc`` (``exc`` itself when nothing is known)."""
    if isinstance(exc, BridgeError):
        return exc
    category = category_of(exc)
    if category is None:
        return exc
    message = short(str(exc) or type(exc).__name__)
    about = f" (model {model})" if model else ""
    if category == "resource_exhausted":
        text = f"{where}{about}: out of memory: {message}"
    elif category == "not_found":
        text = f"{where}: cannot load the model{about}: {message}"
    elif _TOO_LONG in message:
        text = f"{where}{about}: the input is longer than the model's positions ({message})"
    else:
        text = f"{where}{about}: {message}"
    return BridgeError(text, category=category, type=type_name(type(exc)))


def raise_translated(exc: Exception, where: str, model: str | None = None) -> None:
    """Raise ``translate(exc)``, keeping the original chain unless it holds a secret."""
    _raise(exc, translate(exc, where, model), where, "transformers")
