"""Turn what LangChain raises into errors the host can translate, with no secret in them.

The host's rules for the LangChain plugin are written for the provider's exception types,
so the type reported is what the caller would have caught:

- an OpenAI error keeps OpenAI's public type. ``langchain-openai`` re-raises them as its own
  subclasses (``langchain_openai.OpenAIRateLimitError(openai.RateLimitError, ...)``); the
  type reported is the first class of the ``openai`` package in the exception's MRO, so
  ``openai.RateLimitError``, ``openai.AuthenticationError``, ``openai.BadRequestError``
  (a context-length overflow too), ``openai.APITimeoutError``,
  ``openai.APIConnectionError``, ``openai.InternalServerError``;
- ``langchain_core.OutputParserException`` stays itself (the model's answer did not parse);
- a missing prompt variable is reported as ``KeyError`` (what LangChain raises);
- ``langgraph.GraphRecursionError``: an agent used up its steps.

Each also carries a category hint (:data:`CATEGORIES`), so the host can translate it even
without a rule. Messages are redacted; when the original exception's text holds a secret,
its traceback is not sent: a redacted copy goes to stderr instead.
"""

from __future__ import annotations

from typing import Any

from mlbridge import BridgeError
from mlbridge.errors import type_name
from mlbridge.translation import (
    category_by_mro,
    cause_chain,
    holds_secret,
    redacted_bridge_error,
    short,
)
from mlbridge.translation import raise_translated as _raise

#: Provider and LangChain exception class names → category hint.
CATEGORIES: dict[str, str] = {
    "RateLimitError": "rate_limit",
    "ModelRateLimitError": "rate_limit",
    "AuthenticationError": "authentication",
    "PermissionDeniedError": "authentication",
    "ModelAuthenticationError": "authentication",
    "ModelPermissionDeniedError": "authentication",
    "ContextOverflowError": "invalid_argument",
    "BadRequestError": "invalid_argument",
    "NotFoundError": "invalid_argument",
    "UnprocessableEntityError": "invalid_argument",
    "ConflictError": "invalid_argument",
    "ModelInvalidRequestError": "invalid_argument",
    "ModelNotFoundError": "invalid_argument",
    "APITimeoutError": "model_error",
    "APIConnectionError": "model_error",
    "InternalServerError": "model_error",
    "APIStatusError": "model_error",
    "APIResponseValidationError": "model_error",
    "APIError": "model_error",
    "ModelTimeoutError": "model_error",
    "ModelConnectionError": "model_error",
    "ModelAPIError": "model_error",
    "ModelError": "model_error",
    "OutputParserException": "model_error",
    "GraphRecursionError": "model_error",
}

#: Categories where the same request may succeed later.
RETRYABLE = {"rate_limit", "model_error", "timeout", "overloaded"}


def _openai_class(cls: type) -> type | None:
    """The first class of the ``openai`` package in ``cls``'s MRO."""
    return next((c for c in cls.__mro__ if c.__module__.partition(".")[0] == "openai"), None)


def _is_context_overflow(exc: BaseException) -> bool:
    return any(c.__name__ == "ContextOverflowError" for c in type(exc).__mro__) or (
        "context_length_exceeded" in str(exc)
    )


def translate(exc: Exception, where: str) -> Exception:
    """The exception to raise in place of ``exc`` (``exc`` itself when it is fine as is)."""
    if isinstance(exc, BridgeError):
        return redacted_bridge_error(exc)
    chain = cause_chain(exc)
    provider = next((e for e in chain if _openai_class(type(e)) is not None), None)
    if provider is not None:
        origin = _openai_class(type(provider))
        assert origin is not None
        overflow = _is_context_overflow(provider)
        about = " (the prompt exceeds the model's context length)" if overflow else ""
        return BridgeError(
            f"{where}: the model call failed{about}: {short(str(provider) or origin.__name__)}",
            category="invalid_argument"
            if overflow
            else category_by_mro(type(provider), CATEGORIES),
            type=type_name(origin),
        )
    for error in chain:
        names = {c.__name__ for c in type(error).__mro__}
        if "OutputParserException" in names:
            return BridgeError(
                f"{where}: the model's answer could not be parsed: {short(str(error))}",
                category="model_error",
                type="langchain_core.OutputParserException",
            )
        if isinstance(error, KeyError) and "missing variables" in str(error):
            message = str(error.args[0]) if error.args else str(error)
            return BridgeError(
                f"{where}: {short(message.split(chr(10))[0])}",
                category="invalid_argument",
                type="KeyError",
            )
        if "GraphRecursionError" in names:
            return BridgeError(
                f"{where}: the agent did not finish within its step limit: {short(str(error))}",
                category="model_error",
                type=type_name(type(error)),
            )
        if "ModelError" in names:  # a LangChain-classified provider error without openai
            return BridgeError(
                f"{where}: the model call failed: {short(str(error))}",
                category=category_by_mro(type(error), CATEGORIES),
                type=type_name(type(error)),
            )
    if holds_secret(exc):
        return BridgeError(short(f"{where}: {exc}"), type=type_name(type(exc)))
    return exc


def raise_translated(exc: Exception, where: str) -> None:
    """Raise ``translate(exc)``, keeping the original chain unless it holds a secret."""
    _raise(exc, translate(exc, where), where, "langchain")


def error_info(exc: BaseException) -> dict[str, Any]:
    """A short ``{type, message, category, retryable}`` for per-item failures in a batch."""
    translated = translate(exc, "item") if isinstance(exc, Exception) else exc
    if isinstance(translated, BridgeError):
        info: dict[str, Any] = {
            "type": translated.type or "BridgeError",
            "message": translated.message,
        }
        if translated.category:
            info["category"] = translated.category
            info["retryable"] = translated.category in RETRYABLE
        return info
    return {"type": type_name(type(exc)), "message": short(str(exc) or type(exc).__name__)}
