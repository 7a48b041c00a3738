"""The pieces every bridge's endpoint policy shares: the operator's ``options.endpoints`` entries.

A bridge that sends an API key somewhere lets the operator pair each key variable with the
endpoints it may go to (``options.endpoints: [{<destination>, api_key_env: VARIABLE}]``). How
a destination is named differs by framework (``api_base`` or ``provider`` for LiteLLM,
``base_url`` for OpenAI's client), so each bridge keeps its own policy; what an entry is, how a
URL is compared and how a key variable is named are the same everywhere, and live here.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import BridgeError

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def normalize_url(url: str) -> str:
    """``url`` as compared: scheme and host lower case, no trailing ``/``, no fragment."""
    parts = urlsplit(url.strip())
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, "")
    )


def invalid_configuration(message: str) -> BridgeError:
    """An ``invalid_configuration`` error about the operator's YAML."""
    return BridgeError(message, category="invalid_configuration")


def entry_key_variable(raw: Any, where: str, known: set[str], shape: str) -> str:
    """Checks that entry ``raw`` (at ``where``) is a map of ``known`` keys with a valid
    ``api_key_env``, and returns that variable's name; ``invalid_configuration`` otherwise.

    ``shape`` is how the entry reads in a message, e.g. ``{base_url?, api_key_env}``.
    """
    if not isinstance(raw, dict):
        raise invalid_configuration(f"{where} must be a map {shape}")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise invalid_configuration(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    name = raw.get("api_key_env")
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        raise invalid_configuration(
            f"{where}.api_key_env must be the name of the environment variable that holds the key"
        )
    return name


def is_http_url(value: Any) -> bool:
    """Whether ``value`` is an ``http://`` or ``https://`` URL string."""
    return isinstance(value, str) and value.startswith(("http://", "https://"))
