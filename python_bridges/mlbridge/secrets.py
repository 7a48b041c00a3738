"""Keep API keys out of everything the worker says: responses, errors and its stderr.

One :data:`REDACTOR` per worker process. :class:`~mlbridge.BaseBridge` sets it up for every
bridge: at start it registers the secret-looking environment variables and installs the
redacting stdio; every error response (message and traceback) is redacted, after the values of
the failed request's secret-named arguments (``api_key``, ``token``, ...) were registered too.

Keys never travel in requests: a caller names the environment variable that holds one
(``api_key_env``) and the bridge reads it. Every value the bridge reads that way, and every
environment variable whose name says it is a secret (``*_API_KEY``, ``*_TOKEN``, ...), is
registered with :data:`REDACTOR`; the bridge passes each response through
:meth:`Redactor.redact_value`, builds its error messages with :meth:`Redactor.redact`, and
:func:`install_redacting_stdio` puts a redacting filter in front of ``sys.stdout`` and
``sys.stderr`` so that a library that logs a request or an error cannot print one either.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

REDACTED = "[REDACTED]"

#: Environment variable names whose values are treated as secrets from the start.
SECRET_NAME = re.compile(r"(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD)$", re.IGNORECASE)

#: Request argument names whose (string) values are secrets: ``api_key``, ``openai_token``,
#: ``password``... (not a bare ``key``, which commands use for ordinary names).
SECRET_ARG_NAME = re.compile(
    r"(?:^|[_-])(?:API_?KEY|APIKEY|TOKEN|SECRET|PASSWORD|PASSWD|AUTHORIZATION)$", re.IGNORECASE
)

#: Shorter values are not redacted: they would match ordinary text.
MIN_SECRET_LENGTH = 8


class Redactor:
    """A thread-safe set of secret strings and the means to blank them out of text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        """Treat ``secret`` as a secret from now on (short or empty values are ignored)."""
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret in self._secrets:
                return
            self._secrets.add(secret)
            # Longest first, so that a secret containing another is blanked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def add_from_env(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Register the values of secret-looking variables; return their names."""
        environ = os.environ if environ is None else environ
        names = [name for name, value in environ.items() if SECRET_NAME.search(name) and value]
        for name in names:
            self.add(environ[name])
        return names

    def add_from_args(self, args: Any, depth: int = 0) -> None:
        """Register the string values of secret-named keys anywhere in request ``args``."""
        if depth > 32:
            return
        if isinstance(args, dict):
            for name, value in args.items():
                if isinstance(value, str):
                    if isinstance(name, str) and SECRET_ARG_NAME.search(name):
                        self.add(value)
                else:
                    self.add_from_args(value, depth + 1)
        elif isinstance(args, list | tuple):
            for value in args:
                self.add_from_args(value, depth + 1)

    def __len__(self) -> int:
        return len(self._secrets)

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``[REDACTED]``."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(REDACTED, text)

    def redact_value(self, value: Any) -> Any:
        """A copy of a response value (maps, lists, strings) with secrets redacted."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact_value(k): self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        return value


#: The process-wide redactor the bridge and its helpers share.
REDACTOR = Redactor()


class RedactingStream(io.TextIOBase):
    """A text stream that redacts secrets line by line before writing to ``target``.

    Whole lines are written (a secret split across two ``write`` calls of one line is
    still caught); ``flush`` writes a pending partial line.
    """

    def __init__(self, target: TextIO, redactor: Redactor = REDACTOR):
        super().__init__()
        self._target = target
        self._redactor = redactor
        self._pending = ""
        self._lock = threading.RLock()

    @property
    def target(self) -> TextIO:
        return self._target

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._target.fileno()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                complete, _, self._pending = self._pending.rpartition("\n")
                self._target.write(self._redactor.redact(complete + "\n"))
                self._target.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._target.write(self._redactor.redact(self._pending))
                self._pending = ""
            try:
                self._target.flush()
            except (OSError, ValueError):
                pass


def install_redacting_stdio() -> None:
    """Redact ``sys.stdout`` and ``sys.stderr`` (once; both end up in the host's log)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))


#: Argument names that would carry a key itself; requests name a variable instead.
KEY_ARGUMENTS = ("api_key", "key", "openai_api_key")


def refuse_keys(raw: Mapping[str, Any], where: str) -> None:
    """Raise ``invalid_argument`` when ``raw`` carries a key: keys never travel in requests."""
    if any(name in raw for name in KEY_ARGUMENTS):
        from .errors import BridgeError

        raise BridgeError(
            f"{where}: API keys never travel in requests; set 'api_key_env' to the name of "
            "the environment variable that holds the key (the bridge's env.pass must let it "
            "through)",
            category="invalid_argument",
        )


def unset_key_variable(name: str) -> str:
    """Why a key named by ``api_key_env`` is missing, and what to do about it."""
    return (
        f"environment variable {name} (api_key_env) is not set in the worker's environment; "
        "set it in the host's environment and list it under the bridge's env.pass "
        "(a worker sees only the variables env.pass and env.set give it)"
    )
