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

import atexit
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

    def split_for_stream(self, text: str) -> tuple[str, str]:
        """Split streamed ``text`` into what may be written now (redacted) and what to hold.

        The held part is the longest tail of ``text`` that is the start of a registered secret
        (the rest of the secret may come with the next write); a secret the cut would split is
        let go whole. Writing the redacted part now and the held part with what follows blanks
        every secret that writing the whole text at once would.
        """
        pattern = self._pattern
        if pattern is None or not text:
            return text, ""
        with self._lock:
            secrets = tuple(self._secrets)
        longest = max((len(s) for s in secrets), default=0)
        cut = len(text)
        for start in range(max(0, len(text) - longest + 1), len(text)):
            tail = text[start:]
            if any(secret.startswith(tail) for secret in secrets):
                cut = start
                break
        for match in pattern.finditer(text):
            if match.start() < cut < match.end():
                cut = match.end()
        return self.redact(text[:cut]), text[cut:]

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


#: A partial line longer than this is written without waiting for its newline (all but a tail
#: that could be the start of a secret).
MAX_PENDING = 8192


class RedactingStream(io.TextIOBase):
    """A text stream that redacts secrets before writing to ``target``.

    Whole lines are redacted at once, so a secret split across two ``write`` calls of one line
    is still caught. ``flush``, and a partial line longer than :data:`MAX_PENDING`, write the
    pending text except a tail that could be the start of a secret
    (:meth:`Redactor.split_for_stream`): that tail waits for the next write, or for
    :meth:`release` (at interpreter exit), so a key split across two flushed writes never
    reaches the target in pieces that escape redaction.
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
            if "\n" in text:
                complete, _, self._pending = self._pending.rpartition("\n")
                self._target.write(self._redactor.redact(complete + "\n"))
                self._target.flush()
            if len(self._pending) > MAX_PENDING:
                self._write_safe_part()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._write_safe_part()
            self._flush_target()

    def release(self) -> None:
        """Write everything pending, a possible start of a secret included (the stream ends)."""
        with self._lock:
            if self._pending:
                self._target.write(self._redactor.redact(self._pending))
                self._pending = ""
            self._flush_target()

    def _write_safe_part(self) -> None:
        if not self._pending:
            return
        ready, self._pending = self._redactor.split_for_stream(self._pending)
        if ready:
            self._target.write(ready)

    def _flush_target(self) -> None:
        try:
            self._target.flush()
        except (OSError, ValueError):
            pass


def install_redacting_stdio() -> None:
    """Redact ``sys.stdout`` and ``sys.stderr`` (once; both end up in the host's log)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, RedactingStream):
            redacting = RedactingStream(stream)
            setattr(sys, name, redacting)
            # Before the interpreter's final flush: a held tail is written, redacted, not lost.
            atexit.register(redacting.release)


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
