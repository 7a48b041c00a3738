"""Which API key may be sent where: the endpoints the operator paired with a key variable.

Every chat model and embedding of this bridge speaks OpenAI's API (``ChatOpenAI``,
``OpenAIEmbeddings``), to ``base_url`` or, without one, to OpenAI itself. A key named by
``api_key_env`` is only ever sent to an endpoint the operator paired it with in the bridge's
YAML, never to one a request names. The pairs are ``options.endpoints``::

    options:
      model: {model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}        # a pair by itself
      endpoints:
        - {base_url: "https://gateway.internal/v1", api_key_env: GATEWAY_KEY}
        - {api_key_env: OPENAI_API_KEY}                                 # OpenAI itself

plus the pairs of ``options.model`` and ``options.embeddings`` themselves.

A request (``configure_model``, a chain's or agent's ``model``, ``create_retriever``'s
``embeddings``) may pick one of those endpoints, and then gets its key (naming
``api_key_env`` is optional), or go anywhere without a key (a local server: the placeholder
key is sent). Naming ``api_key_env`` with any other destination is refused with
``invalid_argument``, before anything is sent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from mlbridge import BridgeError
from mlbridge.endpoints import (
    entry_key_variable,
    invalid_configuration,
    is_http_url,
    normalize_url,
)

_ENTRY_KEYS = {"base_url", "api_key_env"}
OPENAI = "OpenAI's own API (no base_url)"
DEFAULT_KEY_VARIABLE = "OPENAI_API_KEY"

#: ModelConfig or EmbeddingsConfig: frozen dataclasses with base_url and api_key_env.
Settings = TypeVar("Settings")


def normalize_base(base_url: str | None) -> str | None:
    """``base_url`` as compared: scheme and host lower case, no trailing ``/``."""
    return normalize_url(base_url) if base_url else None


@dataclass(frozen=True)
class Endpoint:
    """A destination (``None``: OpenAI itself) and the variable whose key may go there."""

    api_key_env: str
    base_url: str | None = None

    def describe(self) -> str:
        return f"{self.base_url or OPENAI} with {self.api_key_env}"


def _parse_entry(raw: Any, where: str) -> Endpoint:
    name = entry_key_variable(raw, where, _ENTRY_KEYS, "{base_url?, api_key_env}")
    base_url = raw.get("base_url")
    if base_url is not None and not is_http_url(base_url):
        raise invalid_configuration(
            f"{where}.base_url must be an http:// or https:// URL (leave it out for OpenAI)"
        )
    return Endpoint(name, normalize_base(base_url))


def own_pair(settings: Any) -> Endpoint | None:
    """The pair an operator's model or embeddings settings make, if they use a key."""
    if getattr(settings, "offline", False) or getattr(settings, "provider", "openai") != "openai":
        return None
    if not settings.api_key_env:
        return None
    return Endpoint(settings.api_key_env, normalize_base(settings.base_url))


def with_default_key(settings: Settings) -> Settings:
    """The operator's settings with OpenAI's usual variable made explicit.

    ``options.model: {model: gpt-4o-mini}`` with OPENAI_API_KEY in the worker's environment
    has always meant "OpenAI, with that key"; saying so makes it a pair like any other.
    """
    if (
        getattr(settings, "offline", False)
        or getattr(settings, "provider", "openai") != "openai"
        or settings.api_key_env  # type: ignore[attr-defined]
        or settings.base_url  # type: ignore[attr-defined]
    ):
        return settings
    if os.environ.get(DEFAULT_KEY_VARIABLE):
        return replace(settings, api_key_env=DEFAULT_KEY_VARIABLE)  # type: ignore[type-var]
    return settings


class EndpointPolicy:
    """The operator's endpoint/key pairs, and the check every requested model passes."""

    def __init__(self, endpoints: list[Endpoint]):
        self.endpoints = endpoints

    @classmethod
    def from_options(cls, raw: Any, *operator_settings: Any) -> EndpointPolicy:
        """``options.endpoints`` plus the pairs of ``operator_settings``."""
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise invalid_configuration(
                "options.endpoints must be a list, e.g. "
                "[{base_url: <url>, api_key_env: <VARIABLE>}]"
            )
        endpoints = [_parse_entry(item, f"options.endpoints[{i}]") for i, item in enumerate(raw)]
        for settings in operator_settings:
            pair = own_pair(settings)
            if pair is not None and pair not in endpoints:
                endpoints.append(pair)
        return cls(endpoints)

    def bind(self, settings: Settings, where: str) -> Settings:
        """``settings`` with the key variable of the endpoint they go to, or refused.

        Settings that name no ``api_key_env`` get the key of the configured endpoint they go
        to, or none (the placeholder for a ``base_url``, the offline model without one).
        """
        if getattr(settings, "offline", False) or getattr(settings, "provider", "openai") != (
            "openai"
        ):
            return settings
        base = normalize_base(settings.base_url)  # type: ignore[attr-defined]
        requested = settings.api_key_env  # type: ignore[attr-defined]
        matches = [e for e in self.endpoints if e.base_url == base]
        if requested is None:
            if not matches:
                return settings
            return replace(settings, api_key_env=matches[0].api_key_env)  # type: ignore[type-var]
        if any(e.api_key_env == requested for e in matches):
            return settings
        configured = "; ".join(e.describe() for e in self.endpoints) or "none"
        entry = (
            f"{{base_url: {base}, api_key_env: {requested}}}"
            if base
            else f"{{api_key_env: {requested}}}"
        )
        raise BridgeError(
            f"{where}: the key in {requested} is not sent to {base or OPENAI}: the operator did "
            f"not pair that endpoint with that variable (configured endpoints: {configured}). "
            "Pick a configured endpoint, leave out api_key_env to call this one without a key, "
            f"or ask the operator to add it to the bridge's YAML: options.endpoints: [{entry}]",
            category="invalid_argument",
        )
