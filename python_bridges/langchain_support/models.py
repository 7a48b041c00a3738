"""Chat model settings: validation, building the model, and describing it.

A :class:`ModelConfig` is what ``configure_model``, ``create_chain``'s ``model`` and the
bridge's ``options.model`` accept::

    {"model": "gpt-4o-mini", "base_url": "http://127.0.0.1:8000/v1",
     "api_key_env": "OPENAI_API_KEY", "temperature": 0.0, "max_tokens": 512,
     "timeout": 60, "max_retries": 2, "stream_usage": false,
     "offline": false, "replies": ["scripted", "offline replies"]}

Any OpenAI-compatible endpoint works through ``langchain_openai.ChatOpenAI`` (OpenAI,
vLLM, Ollama, a gateway). The key itself is never accepted: ``api_key_env`` names the
environment variable that holds it, and :mod:`.endpoints` decides beforehand whether that
key may go to the model's endpoint (and fills in the key of a configured endpoint). Without a
key, a ``base_url`` gets the placeholder key ``EMPTY``, as local servers expect; the client is
always given a key, so it never picks ``OPENAI_API_KEY`` from the environment by itself. With
no key and no ``base_url`` (or ``offline: true``) the model is the offline fake chat model
(:mod:`.offline`), and every answer says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

from mlbridge import BridgeError
from mlbridge.secrets import REDACTOR, refuse_keys, unset_key_variable

DEFAULT_MODEL = "gpt-4o-mini"
NO_KEY_PLACEHOLDER = "EMPTY"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYS = {
    "model",
    "base_url",
    "api_key_env",
    "temperature",
    "max_tokens",
    "timeout",
    "max_retries",
    "stream_usage",
    "offline",
    "replies",
}
MAX_REPLIES = 1000

#: ModelConfig or retrieval.EmbeddingsConfig (frozen dataclasses with ``max_retries``).
Settings = TypeVar("Settings")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_env_name(value: Any, where: str) -> None:
    if value is not None and (not isinstance(value, str) or not _ENV_NAME.fullmatch(value)):
        raise BridgeError(
            f"{where}: api_key_env must be an environment variable name (got {value!r})",
            category="invalid_argument",
        )


@dataclass(frozen=True)
class ModelConfig:
    """Validated chat model settings (the key's *name* only)."""

    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float | None = None
    max_retries: int = 2
    stream_usage: bool | None = None
    offline: bool = False
    replies: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Any, where: str = "configure_model") -> ModelConfig:
        """Validate a settings map; raise ``BridgeError`` invalid_argument."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise BridgeError(f"{where}: model settings must be a map", category="invalid_argument")
        refuse_keys(raw, where)
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise BridgeError(
                f"{where}: unknown model settings {unknown}; known: {sorted(_KEYS)}",
                category="invalid_argument",
            )
        values = {**asdict(cls()), **raw}
        problems: list[str] = []

        def check(name: str, ok: bool, wanted: str) -> None:
            if not ok:
                problems.append(f"{name} must be {wanted} (got {values[name]!r})")

        for name in ("model", "base_url"):
            check(
                name,
                values[name] is None or (isinstance(values[name], str) and bool(values[name])),
                "a non-empty string",
            )
        if isinstance(values["base_url"], str) and values["base_url"]:
            check(
                "base_url",
                values["base_url"].startswith(("http://", "https://")),
                "an http:// or https:// URL",
            )
        check(
            "api_key_env",
            values["api_key_env"] is None
            or (
                isinstance(values["api_key_env"], str)
                and bool(_ENV_NAME.fullmatch(values["api_key_env"]))
            ),
            "an environment variable name",
        )
        check(
            "temperature",
            values["temperature"] is None
            or (_number(values["temperature"]) and 0 <= values["temperature"] <= 2),
            "a number from 0 to 2",
        )
        check(
            "max_tokens",
            values["max_tokens"] is None
            or (
                isinstance(values["max_tokens"], int)
                and not isinstance(values["max_tokens"], bool)
                and values["max_tokens"] > 0
            ),
            "a positive integer",
        )
        check(
            "timeout",
            values["timeout"] is None or (_number(values["timeout"]) and values["timeout"] > 0),
            "a positive number of seconds",
        )
        check(
            "max_retries",
            isinstance(values["max_retries"], int)
            and not isinstance(values["max_retries"], bool)
            and 0 <= values["max_retries"] <= 10,
            "an integer from 0 to 10",
        )
        check(
            "stream_usage",
            values["stream_usage"] is None or isinstance(values["stream_usage"], bool),
            "true, false or null",
        )
        check("offline", isinstance(values["offline"], bool), "true or false")
        replies = values["replies"]
        check(
            "replies",
            isinstance(replies, list | tuple)
            and len(replies) <= MAX_REPLIES
            and all(isinstance(r, str) for r in replies),
            f"a list of at most {MAX_REPLIES} strings",
        )
        if problems:
            raise BridgeError(f"{where}: {'; '.join(problems)}", category="invalid_argument")
        values["replies"] = tuple(replies)
        return cls(**values)

    def public(self) -> dict[str, Any]:
        """The settings as data (there is no key in them to hide)."""
        settings = {k: v for k, v in asdict(self).items() if v is not None and k != "replies"}
        if self.replies:
            settings["replies"] = len(self.replies)
        return settings


@dataclass
class ModelHandle:
    """A built chat model with its settings: what a session, a chain or the bridge uses."""

    config: ModelConfig
    model: Any
    offline: bool
    reason: str = ""

    @property
    def label(self) -> str:
        """``"offline GenericFakeChatModel"`` or the model name; every answer carries it."""
        from .offline import LABEL

        return LABEL if self.offline else str(self.config.model or DEFAULT_MODEL)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "model": self.label,
            "offline": self.offline,
            "provider": "langchain_core GenericFakeChatModel"
            if self.offline
            else "langchain_openai ChatOpenAI",
            "settings": self.config.public(),
        }
        if self.config.api_key_env:
            described["api_key_set"] = bool(os.environ.get(self.config.api_key_env))
        if self.reason:
            described["note"] = self.reason
        return described


def resolve_key(
    api_key_env: str | None, base_url: str | None, strict: bool
) -> tuple[str | None, str]:
    """The key to use and, when there is none, why: ``(key, reason)``.

    ``strict``: an ``api_key_env`` naming an unset variable is an ``invalid_configuration``
    error (a request); otherwise (options at start) the caller falls back and says why. The
    key is the named variable's only (endpoints.py has checked that it may go to
    ``base_url``), never one picked from the environment.
    """
    if api_key_env:
        key = os.environ.get(api_key_env) or None
        if key is None:
            message = unset_key_variable(api_key_env)
            if strict:
                raise BridgeError(message, category="invalid_configuration")
            return None, message
        REDACTOR.add(key)
        return key, ""
    if base_url:  # a server that needs no key: the placeholder
        return None, ""
    return None, "no API key and no base_url are configured"


def build(config: ModelConfig, *, strict: bool = True) -> ModelHandle:
    """Build the chat model a config describes (see the module docstring)."""
    from .offline import OfflineChatModel

    def offline(reason: str) -> ModelHandle:
        return ModelHandle(config, OfflineChatModel(messages=iter(config.replies)), True, reason)

    if config.offline:
        return offline("offline was requested")
    if config.replies:
        raise BridgeError(
            "replies are scripted replies of the offline model; set offline: true",
            category="invalid_argument",
        )
    key, reason = resolve_key(config.api_key_env, config.base_url, strict)
    if key is None and not config.base_url:
        return offline(reason)
    from langchain_openai import ChatOpenAI

    kwargs: dict[str, Any] = {
        "model": config.model or DEFAULT_MODEL,
        "api_key": key or NO_KEY_PLACEHOLDER,
        "max_retries": config.max_retries,
    }
    for name in ("base_url", "temperature", "max_tokens", "timeout", "stream_usage"):
        value = getattr(config, name)
        if value is not None:
            kwargs[name] = value
    from .http_client import async_client
    from .openai_request_body import install as install_request_body_fast_path

    client = async_client()  # aiohttp's pool for the async calls (http_client.py says why)
    install_request_body_fast_path()  # no per-call type walk of the request (the module says why)
    if client is not None:
        kwargs["http_async_client"] = client
    try:
        model = ChatOpenAI(**kwargs)
    except (ValueError, TypeError) as exc:
        raise BridgeError(
            f"cannot build the chat model {kwargs['model']!r}: {REDACTOR.redact(str(exc))}",
            category="invalid_configuration",
        ) from None
    return ModelHandle(config, model, offline=False)


def within_retry_limit(settings: Settings, raw: Any, limit: int, where: str, key: str) -> Settings:
    """A request's model (or embeddings) settings under the operator's ``max_retries``.

    The client's retries are the bridge's one retry layer (the plugin turns the host's off), and
    the operator sizes it: settings that do not name ``max_retries`` take the operator's
    (``key``, e.g. ``options.model.max_retries``); naming more is ``invalid_argument``.
    """
    if not isinstance(raw, dict) or "max_retries" not in raw:
        return replace(settings, max_retries=limit)  # type: ignore[type-var]
    asked = settings.max_retries  # type: ignore[attr-defined]
    if asked > limit:
        raise BridgeError(
            f"{where}: max_retries {asked} is more than this bridge allows ({limit}, {key} in "
            "its YAML)",
            category="invalid_argument",
        )
    return settings
