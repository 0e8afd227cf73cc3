"""One redaction mechanism for everything that leaves the process.

Secrets reach us three ways: values we were told about (the JWT signing secret, the
GitHub token, every JWT we mint), values that merely *look* like credentials (a deploy
script printing a token, a server echoing an ``Authorization`` header), and values
inside exception messages. The first kind is matched literally; the second by pattern.
Every writer (issue body, comments, job summary, annotations, outputs, results.json,
junit.xml, console) calls :func:`redact` on its way out.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable

MASK = "***"

# Shortest value worth masking literally: shorter ones would shred ordinary text.
_MIN_SECRET_LEN = 6

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JSON Web Tokens: header.payload[.signature], base64url, header starts with {"
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*)?"), MASK),
    # GitHub tokens (classic, fine-grained, app, OAuth, refresh)
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b"), MASK),
    # Authorization / cookie-style headers, whatever the scheme
    (
        re.compile(r"(?i)\b(authorization|proxy-authorization|x-api-key)(\s*[:=]\s*)([^\r\n]+)"),
        rf"\1\2{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer|token|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1\2{MASK}"),
    # credentials in URLs: ?token=…, &access_token=…, user:pass@host
    (
        re.compile(
            r"(?i)([?&;](?:access_)?(?:token|jwt|key|secret|password|api_key|auth)=)[^&#\s\"']+"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), rf"\1{MASK}@"),
    # KEY=value / "key": "value" assignments of secret-looking names
    (
        re.compile(
            r"(?i)\b([A-Z0-9_]*(?:SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIAL)"
            r"[A-Z0-9_]*)(\"?\s*[:=]\s*\"?)([^\s\"',;]{4,})"
        ),
        rf"\1\2{MASK}",
    ),
)


class Redactor:
    """Literal secrets plus credential patterns; thread-safe, cheap when nothing matches."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._literal: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self._on_register: list[Callable[[str], None]] = []

    def register(self, *values: str | None) -> None:
        """Mask these values from now on (and tell listeners, e.g. ``::add-mask::``)."""
        added = []
        with self._lock:
            for value in values:
                if not value or len(value) < _MIN_SECRET_LEN or value in self._secrets:
                    continue
                self._secrets.add(value)
                added.append(value)
            if added:
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._literal = re.compile("|".join(re.escape(s) for s in ordered))
            listeners = list(self._on_register)
        for value in added:
            for listener in listeners:
                listener(value)

    def on_register(self, listener: Callable[[str], None]) -> None:
        """Call ``listener`` for every secret registered now or later."""
        with self._lock:
            self._on_register.append(listener)
            current = list(self._secrets)
        for value in current:
            listener(value)

    def secrets(self) -> Iterable[str]:
        with self._lock:
            return tuple(self._secrets)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        literal = self._literal
        if literal is not None:
            text = literal.sub(MASK, text)
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text

    def clear(self) -> None:
        """Forget registered secrets (tests run many pipelines in one process)."""
        with self._lock:
            self._secrets.clear()
            self._literal = None
            self._on_register.clear()


#: The process-wide redactor. One instance, because a secret registered anywhere must be
#: masked everywhere.
REDACTOR = Redactor()


def redact(text: str) -> str:
    return REDACTOR(text)


def register(*values: str | None) -> None:
    REDACTOR.register(*values)


def redact_obj(value: object) -> object:
    """Redact every string inside JSON-like data (dicts, lists, tuples)."""
    if isinstance(value, str):
        return REDACTOR(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_obj(v) for v in value]
    return value
