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

# One character of an opaque credential (base64url, base64, hex, dotted tokens).
_CRED = r"[A-Za-z0-9._~+/=-]"
# A plain word, maybe capitalised or shouted, maybe ending a sentence: prose, not a secret.
_PROSE_WORD = re.compile(r"(?:[A-Z]?[a-z]{1,23}|[A-Z]{1,23})[.!?:)]*")
# Names that hold something *about* a secret: where it comes from, how it travels.
_ABOUT_SECRET = re.compile(
    r"(?i)[_-](?:env|in|type|url|uri|path|file|name|prefix|param|header|id|len|length|ttl)$"
)
_PASSWORD = re.compile(r"(?i)pass(?:wd|word)")
# JSON / YAML / Python literals: "token_sent": true is a flag, not a credential
_LITERALS = frozenset({"true", "false", "null", "none", "True", "False", "None", "Null"})


def _assignment(m: re.Match[str]) -> str:
    """``NAME=value`` and quoted values mask; ``name: word`` in prose and names that only
    describe a secret (``token_in``, ``secret_env``) stay."""
    name, sep, value = m.group(1), m.group(2), m.group(3)
    if _ABOUT_SECRET.search(name) or value in _LITERALS:
        return m.group(0)
    if value[0] in "\"'":
        return f"{name}{sep}{value[0]}{MASK}{value[0]}"
    if (
        ":" in sep
        and sep[-1] in " \t"
        and not _PASSWORD.search(name)
        and _PROSE_WORD.fullmatch(value)
    ):
        return m.group(0)  # "Invalid token: expired" is a reason worth keeping
    return f"{name}{sep}{MASK}"


_SECRET_WORD = r"(?i:secret|token|password|passwd|api_?key|private_?key|credentials?|auth_?key)"
_Repl = str | Callable[[re.Match[str]], str]

_PATTERNS: tuple[tuple[re.Pattern[str], _Repl], ...] = (
    # JSON Web Tokens: header.payload[.signature], base64url, header starts with {"
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*)?"), MASK),
    # GitHub tokens (classic, fine-grained, app, OAuth, refresh)
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b"), MASK),
    # Authorization / cookie-style headers, whatever the scheme (to the end of the value)
    (
        re.compile(
            r"(?i)\b(authorization|proxy-authorization|x-api-key|cookie|set-cookie)"
            r"([\"']?[ \t]*[:=][ \t]*[\"']?)([^\r\n\"']+)"
        ),
        rf"\1\2{MASK}",
    ),
    # a scheme word followed by something credential-shaped ("Bearer of bad news" survives)
    (
        re.compile(
            rf"\b((?i:bearer|token|basic))([ \t]+)"
            rf"(?:(?=(?:{_CRED})*(?:\d|[a-z][A-Z]|[+/=])){_CRED}{{8,}}|{_CRED}{{24,}})"
        ),
        rf"\1\2{MASK}",
    ),
    # credentials in URLs: ?token=…, &access_token=…, &id_token=…, user:pass@host
    (
        re.compile(
            r"(?i)([?&;](?:[a-z0-9]+[_-])*(?:token|jwt|key|secret|password|api_?key|auth|sig|"
            r"signature)=)[^&#\s\"']+"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), rf"\1{MASK}@"),
    # KEY=value / "key": "value" assignments of secret-looking names; the name is a whole
    # word (JWT_SECRET_KEY, db-password, MYTOKEN), so max_tokens= or tokenizer= survive
    (
        re.compile(
            rf"(?<![A-Za-z0-9_-])((?:[A-Za-z0-9]+[_-])*{_SECRET_WORD}(?:[_-][A-Za-z0-9]+)*|"
            r"[A-Z0-9_]*(?:SECRET|TOKEN|PASSWORD|PASSWD|APIKEY|API_KEY|PRIVATE_KEY|CREDENTIAL)"
            r"[A-Z0-9_]*)"
            r"([\"']?[ \t]*[:=][ \t]*)(?!\*\*\*)"
            # a quoted value whole, or a bare one (not its closing JSON bracket)
            r"(\"[^\"\r\n]+\"|'[^'\r\n]+'|[^\s\"',;&]{4,}(?<![}\]]))"
        ),
        _assignment,
    ),
)


#: A word every pattern above needs; text without any of them is left alone at once (the
#: state block alone is thousands of short strings, redacted on every write).
_MAYBE = re.compile(
    r"(?i:eyj|gh[pousr]_|github_pat_|authoriz|x-api-key|cookie|bearer|token|basic|secret|"
    r"passw|key|credential|auth|jwt|sig|://)"
)


def _mask_spans(text: str, secrets: Iterable[str]) -> str:
    """Mask every occurrence of every secret, overlapping ones as one span.

    A regex alternation masks the first of two overlapping secrets and leaves the rest of
    the second in clear text ("***XYZ"); merging the spans leaves nothing of either.
    """
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        start = text.find(secret)
        while start != -1:
            spans.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    spans.sort()
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out: list[str] = []
    pos = 0
    for a, b in merged:
        out += (text[pos:a], MASK)
        pos = b
    out.append(text[pos:])
    return "".join(out)


class Redactor:
    """Literal secrets plus credential patterns; thread-safe, cheap when nothing matches."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        # (quick test, secrets longest first), swapped as one so readers never mix two sets
        self._literal: tuple[re.Pattern[str], tuple[str, ...]] | None = None
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
                ordered = tuple(sorted(self._secrets, key=len, reverse=True))
                quick = re.compile("|".join(re.escape(s) for s in ordered))
                self._literal = (quick, ordered)
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
        if literal is not None and literal[0].search(text) is not None:
            text = _mask_spans(text, literal[1])
        if _MAYBE.search(text) is None:  # none of the patterns can match: most text
            return text
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
