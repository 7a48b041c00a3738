"""Building blocks of a bridge's exception translation.

A framework bridge turns what its framework raises into a :class:`BridgeError` with
the type the host's rules are written for, a category hint, and no secret in it.
What differs between frameworks is which exception in the chain matters; what is the
same lives here: walking the cause chain, short redacted messages, the category of a
class by its MRO, and raising the translation without leaking a secret through the
original chain.
"""

from __future__ import annotations

import sys
import traceback

from .errors import BridgeError
from .secrets import REDACTOR

__all__ = [
    "MAX_MESSAGE",
    "category_by_mro",
    "cause_chain",
    "holds_secret",
    "raise_translated",
    "redacted_bridge_error",
    "short",
]

#: The longest message a translated error carries (longer ones end in "...").
MAX_MESSAGE = 2000


def cause_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, outermost first (``__cause__``, else ``__context__``)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return seen


def short(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` stripped, redacted and cut to ``limit`` characters."""
    text = REDACTOR.redact(text.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def holds_secret(exc: BaseException) -> bool:
    """Whether the text of ``exc`` (its chain and traceback included) holds a known secret."""
    text = "".join(traceback.format_exception(exc))
    return REDACTOR.redact(text) != text


def category_by_mro(cls: type, table: dict[str, str], default: str = "model_error") -> str:
    """The category of the first class in ``cls``'s MRO named in ``table``."""
    return next((table[c.__name__] for c in cls.__mro__ if c.__name__ in table), default)


def redacted_bridge_error(exc: BridgeError) -> BridgeError:
    """``exc`` itself, or a copy with its message redacted when it held a secret."""
    redacted = REDACTOR.redact(exc.message)
    if redacted == exc.message:
        return exc
    return BridgeError(redacted, category=exc.category, type=exc.type)


def raise_translated(exc: Exception, translated: Exception, where: str, bridge: str) -> None:
    """Raise ``translated`` in place of ``exc``, chained to it unless the chain holds a secret.

    With a secret, the original is not chained (its traceback would travel to the host);
    a redacted copy of it goes to stderr, prefixed with ``bridge`` and ``where``.
    """
    if translated is exc:
        raise exc
    if holds_secret(exc):
        print(f"{bridge} bridge: {where} failed; the original error (redacted):", file=sys.stderr)
        print(
            REDACTOR.redact("".join(traceback.format_exception(exc))), file=sys.stderr, flush=True
        )
        raise translated from None
    raise translated from exc
