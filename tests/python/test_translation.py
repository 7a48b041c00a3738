"""mlbridge.translation: the shared parts of the framework bridges' error translation."""

from __future__ import annotations

import pytest

from mlbridge import BridgeError
from mlbridge.secrets import REDACTOR
from mlbridge.translation import (
    MAX_MESSAGE,
    category_by_mro,
    cause_chain,
    holds_secret,
    raise_translated,
    redacted_bridge_error,
    short,
)

SECRET = "sk-translation-test-0123456789"


@pytest.fixture(autouse=True)
def _known_secret() -> None:
    REDACTOR.add(SECRET)


class RateLimitError(Exception):
    pass


class ProviderRateLimit(RateLimitError):
    pass


def _raised_from(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as exc:
            raise outer from exc
    except Exception as exc:
        return exc


def test_cause_chain_follows_causes_and_contexts_outermost_first() -> None:
    inner = KeyError("k")
    outer = _raised_from(RuntimeError("outer"), inner)
    assert cause_chain(outer) == [outer, inner]
    assert cause_chain(ValueError("alone"))[0].args == ("alone",)


def test_short_redacts_and_cuts() -> None:
    assert short(f"  key {SECRET} refused ") == "key [REDACTED] refused"
    long = short("x" * (MAX_MESSAGE + 50))
    assert len(long) == MAX_MESSAGE and long.endswith("...")


def test_category_by_mro_finds_the_first_named_class() -> None:
    table = {"RateLimitError": "rate_limit"}
    assert category_by_mro(ProviderRateLimit, table) == "rate_limit"
    assert category_by_mro(ValueError, table) == "model_error"
    assert category_by_mro(ValueError, table, default="internal") == "internal"


def test_a_bridge_error_with_a_secret_is_copied_redacted() -> None:
    clean = BridgeError("fine", category="rate_limit")
    assert redacted_bridge_error(clean) is clean
    leaky = redacted_bridge_error(BridgeError(f"bad key {SECRET}", category="authentication"))
    assert SECRET not in leaky.message and leaky.category == "authentication"


def test_raise_translated_chains_the_original_unless_it_holds_a_secret(capsys) -> None:
    plain = ValueError("plain")
    translated = BridgeError("translated", category="invalid_argument")
    with pytest.raises(BridgeError) as raised:
        raise_translated(plain, translated, "predict", "test")
    assert raised.value.__cause__ is plain

    leaky = _raised_from(RuntimeError("outer"), ValueError(f"key {SECRET}"))
    assert holds_secret(leaky)
    with pytest.raises(BridgeError) as raised:
        raise_translated(leaky, BridgeError("translated"), "predict", "test")
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    logged = capsys.readouterr().err
    assert "test bridge: predict failed" in logged and SECRET not in logged

    with pytest.raises(ValueError):
        raise_translated(plain, plain, "predict", "test")  # nothing to translate
