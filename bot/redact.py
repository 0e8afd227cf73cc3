"""One redaction mechanism for everything that leaves the process.

Secrets reach us three ways: values we were told about (the JWT signing secret, the
GitHub token, every JWT we mint), values that merely *look* like credentials (a deploy
script printing a token, a server echoing an ``Authorization`` header), and values
inside exception messages. The first kind is matched literally — with the encoded forms a
script or a tool prints it in (base64, hex, percent-encoded, JSON-escaped); the second by
pattern. Every writer (issue body, comments, job summary, annotations, outputs, results.json,
junit.xml, console) calls :func:`redact` on its way out.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable

MASK = "***"

# Shortest value worth masking literally: shorter ones would shred ordinary text.
_MIN_SECRET_LEN = 6
# Shortest encoded form worth masking: a base64 fragment shorter than this could turn up in
# any other blob (or a word); eight characters carry six bytes of the secret.
_MIN_ENCODED_LEN = 8
# base64 inside a longer blob: where the secret starts (offset mod 3) decides which
# characters it becomes. Per offset: leading characters shared with the bytes before it,
# and per count of the secret's bytes in the last 3-byte group, trailing characters shared
# with the bytes after it. Dropping those leaves the part that is the same in any blob.
_B64_LEAD = (0, 2, 3)
_B64_TRAIL = (0, 1, 1)

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


def _percent_lower(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def encoded_forms(secret: str) -> set[str]:
    """The forms ``secret`` takes when a tool encodes it, including the part of its base64
    that survives inside a longer blob (``auth: base64("user:" + secret)`` in a Docker
    config) at each of the three offsets; never shorter than eight characters."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {raw.hex(), raw.hex().upper()}
    for quoted in (
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret, safe="/"),
        urllib.parse.quote_plus(secret),
    ):
        forms |= {quoted, _percent_lower(quoted)}
    for escaped in (json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
        forms |= {escaped, escaped.replace("/", "\\/")}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        forms |= {whole, whole.rstrip("=")}
        for offset in range(3):
            blob = encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
            tail = _B64_TRAIL[(offset + len(raw)) % 3]
            forms.add(blob[_B64_LEAD[offset] : len(blob) - tail])
    forms.discard(secret)
    return {form for form in forms if len(form) >= _MIN_ENCODED_LEN}


class _Literals:
    """Every literal to mask, found in one pass: a regex over their first few characters
    finds where one may start, a dict of those prefixes says which literals to try there.

    One alternation of whole literals costs the regex engine a branch per literal at every
    position; each secret brings a dozen encoded forms, so the alternation is a trie of
    short prefixes, and whole literals are compared only where a prefix matched.
    """

    def __init__(self, literals: Iterable[str]) -> None:
        self.by_prefix: dict[str, list[str]] = {}
        for literal in sorted(literals, key=len, reverse=True):
            self.by_prefix.setdefault(literal[:_MIN_SECRET_LEN], []).append(literal)
        self.quick = _any_of(self.by_prefix)

    def spans(self, text: str) -> list[tuple[int, int]]:
        found = []
        m = self.quick.search(text)
        while m is not None:
            start = m.start()
            for literal in self.by_prefix[m.group()]:
                if text.startswith(literal, start):
                    found.append((start, start + len(literal)))
            m = self.quick.search(text, start + 1)
        return found


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Mask every span, overlapping ones as one.

    A regex alternation masks the first of two overlapping secrets and leaves the rest of
    the second in clear text ("***XYZ"); merging the spans leaves nothing of either.
    """
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


def _any_of(literals: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of ``literals``, shaped as a trie: the regex engine tries the
    branches of an alternation one by one at every position, so shared prefixes (every
    encoded form of a secret shares some) are tested once instead of once per literal."""
    trie: dict[str, dict] = {}
    for literal in literals:
        node = trie
        for ch in literal:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        chain = []
        while len(node) == 1 and "" not in node:  # a run without branches: no recursion
            ch, node = next(iter(node.items()))
            chain.append(re.escape(ch))
        if "" in node:  # a literal ends here: enough for a quick test, longer ones add nothing
            return "".join(chain)
        branches = [re.escape(ch) + emit(child) for ch, child in node.items()]
        return "".join(chain) + "(?:" + "|".join(branches) + ")"

    return re.compile(emit(trie))


class Redactor:
    """Literal secrets plus credential patterns; thread-safe, cheap when nothing matches."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._literals: set[str] = set()  # the secrets and their encoded forms
        # swapped as one object, so readers never mix two sets
        self._literal: _Literals | None = None
        self._lock = threading.Lock()
        self._on_register: list[Callable[[str], None]] = []
        #: changes whenever the set of secrets does, so a cache of results can tell it is stale
        self.generation = 0

    def register(self, *values: str | None) -> None:
        """Mask these values from now on (and tell listeners, e.g. ``::add-mask::``)."""
        added = []
        with self._lock:
            for value in values:
                if not value or len(value) < _MIN_SECRET_LEN or value in self._secrets:
                    continue
                self._secrets.add(value)
                self._literals |= {value, *encoded_forms(value)}
                added.append(value)
            if added:
                self._literal = _Literals(self._literals)
                self.generation += 1
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
        if literal is not None and (spans := literal.spans(text)):
            text = _mask_spans(text, spans)
        if _MAYBE.search(text) is None:  # none of the patterns can match: most text
            return text
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text

    def clear(self) -> None:
        """Forget registered secrets (tests run many pipelines in one process)."""
        with self._lock:
            self._secrets.clear()
            self._literals.clear()
            self._literal = None
            self._on_register.clear()
            self.generation += 1


#: The process-wide redactor. One instance, because a secret registered anywhere must be
#: masked everywhere.
REDACTOR = Redactor()


def redact(text: str) -> str:
    return REDACTOR(text)


def register(*values: str | None) -> None:
    REDACTOR.register(*values)


def redact_obj(value: object) -> object:
    """Redact every string inside JSON-like data (dicts, lists, tuples).

    Each distinct string is redacted once per call: results of many failed sessions
    repeat the same few reasons thousands of times.
    """
    seen: dict[str, str] = {}

    def walk(value: object) -> object:
        if isinstance(value, str):
            out = seen.get(value)
            if out is None:
                out = seen[value] = REDACTOR(value)
            return out
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return walk(value)
