"""Turn what DSPy raises into errors the host can translate, with no secret in them.

DSPy 3.4 wraps a provider failure twice: LiteLLM's exception (``litellm.RateLimitError``)
becomes an lm15 error, which becomes a public DSPy error (``dspy.LMRateLimitError``), each
raised ``from`` the one before. The host's rules are written for the provider's type, so
the error reported is the first LiteLLM or OpenAI exception in that chain, with its
qualified name (``litellm.RateLimitError``), and a category hint taken from DSPy's
classification. An LM error without a LiteLLM cause (DSPy's native engine) keeps DSPy's
public type (``dspy.LMRateLimitError``).

Messages are redacted. When the original exception's text (its chain included) holds a
secret, its traceback is not sent: a redacted copy goes to stderr instead.
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

#: DSPy's public LM error class name → the category the host should use.
LM_ERROR_CATEGORIES: dict[str, str] = {
    "ContextWindowExceededError": "invalid_argument",
    "LMUnsupportedModelError": "invalid_argument",
    "LMInvalidRequestError": "invalid_argument",
    "LMAuthError": "authentication",
    "LMBillingError": "resource_exhausted",
    "LMRateLimitError": "rate_limit",
    "LMTimeoutError": "model_error",
    "LMServerError": "model_error",
    "LMTransportError": "model_error",
    "LMProviderError": "model_error",
    "LMStreamAssemblyError": "model_error",
    "LMUnexpectedError": "model_error",
    "LMNotConfiguredError": "invalid_configuration",
    "LMConfigurationError": "invalid_configuration",
    "LMUnsupportedFeatureError": "invalid_argument",
    "LMCollectionLimitError": "resource_exhausted",
    "LMLockTimeoutError": "model_error",
}

#: Provider exception names (LiteLLM's and OpenAI's) → category, for chains without DSPy.
PROVIDER_CATEGORIES: dict[str, str] = {
    "RateLimitError": "rate_limit",
    "AuthenticationError": "authentication",
    "PermissionDeniedError": "authentication",
    "ContextWindowExceededError": "invalid_argument",
    "BadRequestError": "invalid_argument",
    "NotFoundError": "invalid_argument",
    "UnprocessableEntityError": "invalid_argument",
    "ContentPolicyViolationError": "invalid_argument",
    "Timeout": "model_error",
    "APITimeoutError": "model_error",
    "APIConnectionError": "model_error",
    "InternalServerError": "model_error",
    "ServiceUnavailableError": "model_error",
    "BadGatewayError": "model_error",
    "APIError": "model_error",
}

_PROVIDER_PACKAGES = ("litellm", "openai", "httpx")


def translate(exc: Exception, where: str) -> Exception:
    """The exception to raise in place of ``exc`` (``exc`` itself when it is fine as is)."""
    from dspy.utils.exceptions import AdapterParseError, LMError

    if isinstance(exc, BridgeError):
        return redacted_bridge_error(exc)
    chain = cause_chain(exc)
    adapter_error = next((e for e in chain if isinstance(e, AdapterParseError)), None)
    if adapter_error is not None:
        response = str(getattr(adapter_error, "lm_response", "") or "")
        fields = (
            ", ".join(adapter_error.signature.output_fields)
            if getattr(adapter_error, "signature", None) is not None
            else "?"
        )
        return BridgeError(
            f"{where}: the LM's answer could not be parsed into the output fields [{fields}] "
            f"({adapter_error.adapter_name}): {short(response)[:500]!r}",
            category="model_error",
            type="dspy.AdapterParseError",
        )
    lm_error = next((e for e in chain if isinstance(e, LMError)), None)
    provider = next(
        (e for e in chain if type(e).__module__.partition(".")[0] in _PROVIDER_PACKAGES), None
    )
    if lm_error is not None or provider is not None:
        origin = provider or lm_error
        assert origin is not None
        name = type_name(type(origin))
        category = (
            category_by_mro(type(lm_error), LM_ERROR_CATEGORIES)
            if lm_error is not None
            else category_by_mro(type(origin), PROVIDER_CATEGORIES)
        )
        model = getattr(lm_error, "model", None) or getattr(origin, "model", None)
        about = f" (model {model})" if model else ""
        return BridgeError(
            f"{where}: the LM call failed{about}: {short(str(origin) or name)}",
            category=category,
            type=name,
        )
    if holds_secret(exc):
        return BridgeError(short(f"{where}: {exc}"), type=type_name(type(exc)))
    return exc


def raise_translated(exc: Exception, where: str) -> None:
    """Raise ``translate(exc)``, keeping the original chain unless it holds a secret."""
    _raise(exc, translate(exc, where), where, "dspy")


def error_info(exc: BaseException) -> dict[str, Any]:
    """A short ``{type, message, category}`` for per-item failures in batch results."""
    translated = translate(exc, "item") if isinstance(exc, Exception) else exc
    if isinstance(translated, BridgeError):
        return {
            "type": translated.type or "BridgeError",
            "message": translated.message,
            **({"category": translated.category} if translated.category else {}),
        }
    return {"type": type_name(type(exc)), "message": short(str(exc))}
