"""mlbridge.settings: checked integer options and settings a session may override."""

from __future__ import annotations

import pytest

from mlbridge import BridgeError, CallContext
from mlbridge.resources import SessionStore
from mlbridge.settings import ScopedSetting, option_int


def _ctx(store: SessionStore, session_id: str | None) -> CallContext:
    return CallContext(1, store.get(session_id), None, "w-1", lambda message: None)


def test_option_int_takes_the_default_and_checks_the_range() -> None:
    assert option_int({}, "n", 4, 1, 64) == 4
    assert option_int({"n": 64}, "n", 4, 1, 64) == 64
    for bad in (0, 65, "8", 2.0, True):
        with pytest.raises(BridgeError) as raised:
            option_int({"n": bad}, "n", 4, 1, 64)
        assert raised.value.category == "invalid_configuration"
        assert "options.n must be an integer from 1 to 64" in str(raised.value)


def test_a_session_runs_under_its_own_setting_and_others_under_the_default() -> None:
    store = SessionStore()
    setting: ScopedSetting[str] = ScopedSetting("lm")
    setting.default = "default-lm"
    alice, bob, anonymous = _ctx(store, "alice"), _ctx(store, "bob"), _ctx(store, None)

    setting.configure({"model": "alice-lm"}, alice, lambda s: s["model"], lambda: "initial")
    assert setting.current(alice) == "alice-lm"
    assert setting.current(bob) == "default-lm"
    assert setting.describe(alice, {"label": "x"}) == {
        "scope": "session",
        "session_id": "alice",
        "label": "x",
    }
    assert setting.describe(bob, {})["scope"] == "default"

    # Without a session the worker's default changes, for every session without its own.
    setting.configure({"model": "new-default"}, anonymous, lambda s: s["model"], lambda: "initial")
    assert setting.current(bob) == "new-default"
    assert setting.current(alice) == "alice-lm"


def test_reset_drops_the_sessions_own_or_restores_the_initial_default() -> None:
    store = SessionStore()
    setting: ScopedSetting[str] = ScopedSetting("lm")
    setting.default = "changed"
    alice, anonymous = _ctx(store, "alice"), _ctx(store, None)
    setting.configure({"model": "alice-lm"}, alice, lambda s: s["model"], lambda: "initial")

    setting.configure({"reset": True}, alice, lambda s: s["model"], lambda: "initial")
    assert setting.current(alice) == "changed"
    setting.configure({"reset": True}, anonymous, lambda s: s["model"], lambda: "initial")
    assert setting.current(alice) == "initial"

    with pytest.raises(BridgeError) as raised:
        setting.configure({"reset": True, "model": "x"}, alice, lambda s: s, lambda: "initial")
    assert raised.value.category == "invalid_argument"
