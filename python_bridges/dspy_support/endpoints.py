"""Which API key may be sent where: the endpoints the operator paired with a key variable.

A key named by ``api_key_env`` is only ever sent to an endpoint the operator paired it with
in the bridge's YAML, never to one a request names. The pairs are ``options.endpoints``::

    options:
      lm: {model: openai/gpt-4o-mini, api_key_env: OPENAI_API_KEY}    # a pair by itself
      endpoints:
        - {api_base: "https://gateway.internal/v1", api_key_env: GATEWAY_KEY}
        - {provider: anthropic, api_key_env: ANTHROPIC_API_KEY}

plus the default LM's own pair (``options.lm``'s ``api_base``, or its provider's default
endpoint, with its key variable). An entry names ``api_base`` (a server) or ``provider``
(the provider's own endpoint, where a model such as ``anthropic/...`` goes without an
``api_base``), never both.

A request (``configure_lm``) may pick one of those endpoints, and then gets its key (naming
``api_key_env`` is optional), or go anywhere without a key (a local server: the placeholder
key is sent). Naming ``api_key_env`` with any other destination is refused with
``invalid_argument``, before anything is sent. The destination of a model without an
``api_base`` is the provider LiteLLM routes it to (``claude-3-haiku`` goes to Anthropic, not
to OpenAI, even without a prefix), so a key paired with one provider never reaches another.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Any

from mlbridge import BridgeError
from mlbridge.endpoints import (
    entry_key_variable,
    invalid_configuration,
    is_http_url,
    normalize_url,
)

from .lm import LMConfig

_PROVIDER = re.compile(r"[a-z0-9_][a-z0-9_.-]*")
_ENTRY_KEYS = {"api_base", "provider", "api_key_env"}
EXAMPLE = "options.endpoints: [{api_base: <url>, api_key_env: <VARIABLE>}]"


def normalize_base(api_base: str) -> str:
    """``api_base`` as compared: scheme and host lower case, no trailing ``/``."""
    return normalize_url(api_base)


def provider_of(model: str) -> str | None:
    """The provider LiteLLM sends ``model`` to when there is no ``api_base``; ``None`` if unknown.

    LiteLLM decides this from the prefix (``openai/...``) or, without one, from its model
    list (``gpt-4o`` → openai, ``claude-3-haiku-...`` → anthropic).
    """
    try:
        from litellm import get_llm_provider

        return str(get_llm_provider(model=model)[1]).lower()
    except Exception:  # noqa: BLE001 - LiteLLM raises several types for a model it cannot place
        prefix, slash, _ = model.partition("/")
        return prefix.lower() if slash else None


@dataclass(frozen=True)
class Endpoint:
    """A destination and the variable whose key may be sent to it."""

    api_key_env: str
    api_base: str | None = None  # normalized; None: the provider's own endpoint
    provider: str | None = None

    def describe(self) -> str:
        where = f"api_base {self.api_base}" if self.api_base else f"provider {self.provider}"
        return f"{where} with {self.api_key_env}"


def _parse_entry(raw: Any, where: str) -> Endpoint:
    name = entry_key_variable(raw, where, _ENTRY_KEYS, "{api_base|provider, api_key_env}")
    api_base, provider = raw.get("api_base"), raw.get("provider")
    if (api_base is None) == (provider is None):
        raise invalid_configuration(
            f"{where} needs exactly one of api_base (a server) and provider (the provider's "
            "own endpoint, e.g. openai)"
        )
    if api_base is not None:
        if not is_http_url(api_base):
            raise invalid_configuration(f"{where}.api_base must be an http:// or https:// URL")
        return Endpoint(name, api_base=normalize_base(api_base))
    if not isinstance(provider, str) or not _PROVIDER.fullmatch(provider):
        raise invalid_configuration(
            f"{where}.provider must be a LiteLLM provider name such as openai or anthropic"
        )
    return Endpoint(name, provider=provider)


class EndpointPolicy:
    """The operator's endpoint/key pairs, and the check every requested LM passes."""

    def __init__(self, endpoints: list[Endpoint]):
        self.endpoints = endpoints

    @classmethod
    def from_options(cls, raw: Any, default_lm: LMConfig) -> EndpointPolicy:
        """``options.endpoints`` plus ``default_lm``'s own pair; ``invalid_configuration``."""
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise invalid_configuration(f"options.endpoints must be a list, e.g. {EXAMPLE}")
        endpoints = [_parse_entry(item, f"options.endpoints[{i}]") for i, item in enumerate(raw)]
        own = default_pair(default_lm)
        if own is not None and own not in endpoints:
            endpoints.append(own)
        return cls(endpoints)

    def _match(self, api_base: str | None, model: str) -> list[Endpoint]:
        if api_base:
            base = normalize_base(api_base)
            return [e for e in self.endpoints if e.api_base == base]
        provider = provider_of(model)
        return [e for e in self.endpoints if e.provider is not None and e.provider == provider]

    def bind(self, config: LMConfig, where: str = "configure_lm") -> LMConfig:
        """``config`` with the key variable its endpoint is paired with, or refused.

        No key is involved for the offline LM or without a model. A request that names no
        ``api_key_env`` gets the key of the configured endpoint it goes to, or none.
        """
        if config.offline or not config.model:
            return config
        matches = self._match(config.api_base, config.model)
        if config.api_key_env is None:
            return replace(config, api_key_env=matches[0].api_key_env) if matches else config
        if any(e.api_key_env == config.api_key_env for e in matches):
            return config
        destination = (
            normalize_base(config.api_base)
            if config.api_base
            else f"the default endpoint of {config.model!r} (provider "
            f"{provider_of(config.model) or 'unknown'})"
        )
        configured = "; ".join(e.describe() for e in self.endpoints) or "none"
        raise BridgeError(
            f"{where}: the key in {config.api_key_env} is not sent to {destination}: the "
            f"operator did not pair that endpoint with that variable (configured endpoints: "
            f"{configured}). Pick a configured endpoint, leave out api_key_env to call this one "
            f"without a key, or ask the operator to add it to the bridge's YAML: "
            + (
                f"options.endpoints: [{{api_base: {destination}, api_key_env: "
                f"{config.api_key_env}}}]"
                if config.api_base
                else f"options.endpoints: [{{provider: <provider>, api_key_env: "
                f"{config.api_key_env}}}]"
            ),
            category="invalid_argument",
        )


def default_pair(lm: LMConfig) -> Endpoint | None:
    """The pair the operator's default LM makes: its destination and its key variable."""
    if lm.offline or not lm.model or not lm.api_key_env:
        return None
    if lm.api_base:
        return Endpoint(lm.api_key_env, api_base=normalize_base(lm.api_base))
    provider = provider_of(lm.model)
    return Endpoint(lm.api_key_env, provider=provider) if provider else None


def with_provider_key(lm: LMConfig) -> LMConfig:
    """The operator's default LM with the provider's usual variable made explicit.

    ``options.lm: {model: openai/gpt-4o-mini}`` with OPENAI_API_KEY in the worker's
    environment has always meant "OpenAI, with that key"; saying so makes it a pair like any
    other, and LiteLLM is never left to pick a key from the environment by itself.
    """
    if lm.offline or not lm.model or lm.api_key_env or lm.api_base:
        return lm
    provider, slash, _ = lm.model.partition("/")
    variable = f"{provider.upper()}_API_KEY" if slash else "OPENAI_API_KEY"
    return replace(lm, api_key_env=variable) if os.environ.get(variable) else lm
