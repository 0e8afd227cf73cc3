"""The WebSocket agent flow: connect with a JWT, send a message, await the agent's events.

Golden-path sessions are latency-bound (an agent thinks, calls tools, answers), so
throughput comes from having many in flight; on a 2-core runner the client's own CPU per
session is the ceiling. Hence: a fixed pool of workers instead of one task per session,
pre-serialised messages, no compression or keepalive pings unless asked for, passing
sessions counted rather than kept, and uvloop when it is installed.

Real backends send more than the five events (welcome frames, heartbeats, progress,
other runs' events) and wrap them differently, so frames are matched by a configurable
key path, grouped by run id, and anything unrelated is ignored. A healthy agent thinks
more than once, calls several tools and may start sub-agents, so a run is held against
*rules* (how often each event may arrive, partial order, open/close pairs), and it ends at
the top-level agent's last event, not a sub-agent's. Everything configurable is resolved
once per iteration (:class:`_Resolved`); the per-frame path only reads it.

Two transports carry a session behind one interface — text frames in (:meth:`_Run.feed`),
the close code and reason, the selected subprotocol, the upgrade's status and body out —
so matching and judging (:func:`_judge`) are the same code and the evidence the same
either way: the lean one (:mod:`bot.checks.ws_lean`, websockets' Sans-I/O protocol driven
from loop callbacks) by default, websockets' asyncio client when a proxy is configured for
the URL or compression is on. The choice is made once per run (:class:`_Plan`) and said
once in the run log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import errno
import functools
import itertools
import json
import os
import socket
import ssl
import time
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from websockets.exceptions import (
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
)
from websockets.version import version as websockets_version

from bot import frame_shapes, redact
from bot.checks import ws_lean
from bot.checks.base import (
    FAILED,
    PASSED,
    SKIPPED,
    CheckContext,
    CheckType,
    Finding,
    JunitCase,
    Outcome,
)
from bot.kinds import info
from bot.latency import Latencies
from bot.results import FlowSession, FlowSummary, Kind

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from bot.config import Config

DEFAULT_EVENTS = frame_shapes.EVENTS
DEFAULT_ERROR_TYPES = frame_shapes.ERROR_TYPES
DEFAULT_ERROR_CODE_PATHS = frame_shapes.ERROR_CODE_PATHS
DEFAULT_ERROR_MESSAGE_PATHS = frame_shapes.ERROR_MESSAGE_PATHS

Progress = Callable[[int, int, int], None]
Path = tuple[str, ...]
_UNREACHABLE_ERRNOS = {
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ECONNREFUSED,
    errno.EADDRNOTAVAIL,
}
_UNSET: Any = object()
_MAX_UNPAIRED_SHOWN = 5
MAX_SIZE = 2**20  # one message; a bigger one closes the connection (1009)
USER_AGENT = "golden-path-bot"
_perf = time.perf_counter
#: websockets >= 15 takes ``proxy=`` (and reads the environment itself unless given one)
_PROXY_ARG = int(websockets_version.split(".")[0]) >= 15


def _json(raw: str | ws_lean.Data) -> Any:
    """The standard library's reading of a frame (bytes decoded as UTF-8 first: json.loads
    would otherwise guess their encoding)."""
    return json.loads(raw if raw.__class__ is str else raw.decode())  # type: ignore[union-attr]


try:  # orjson (the `fast` extra) reads a frame several times faster than json
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - the dev and fast installs have it
    _loads = _json  # type: ignore[assignment]


def _path(dotted: str | None) -> Path | None:
    return tuple(dotted.split(".")) if dotted else None


def _dig(msg: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(msg, dict):
            return None
        msg = msg.get(part)
    return msg


def _getter(path: Path | None) -> Callable[[dict[str, Any]], Any]:
    """``_dig`` for one path, made once: the per-frame path reads one or two levels."""
    if not path:
        return lambda msg: None
    if len(path) == 1:
        (a,) = path
        return lambda msg: msg.get(a)
    if len(path) == 2:
        a, b = path

        def two(msg: dict[str, Any]) -> Any:
            inner = msg.get(a)
            return inner.get(b) if inner.__class__ is dict else None

        return two
    return lambda msg: _dig(msg, path)


def _text_at(msg: dict[str, Any], paths: Sequence[Path]) -> str | None:
    """The first non-empty text at ``paths``; objects are skipped (their fields are paths too)."""
    for path in paths:
        value = _dig(msg, path)
        if value is None or value == "" or isinstance(value, dict):
            continue
        return value if isinstance(value, str) else json.dumps(value, default=str)
    return None


class _Memo:
    """Redaction of failure text, memoised: a blocked run repeats the same few reasons.

    Keyed by the redactor's generation, so a secret registered later is never served from
    a result computed before it was known.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.cache: dict[str, str] = {}
        self.generation = -1

    def __call__(self, text: str) -> str:
        generation = redact.REDACTOR.generation
        if generation != self.generation:
            self.cache.clear()
            self.generation = generation
        out = self.cache.get(text)
        if out is None:
            out = redact.redact(text)
            if len(self.cache) >= self.size:
                self.cache.clear()
            if len(text) <= 4000:
                self.cache[text] = out
        return out


_redacted = _Memo()


@dataclass(frozen=True, slots=True)
class ErrorFrames:
    """Which frames are the server's errors, and where their code and text are.

    The defaults cover ``{"type": "error", "message": …}``, ``{"type": "error_message",
    "error_code": …, "error_message": …}`` and FastAPI's untyped ``{"detail": …}``, bare or
    inside ``data``/``error``/``payload`` envelopes.
    """

    types: tuple[str, ...] = DEFAULT_ERROR_TYPES
    type_key: Path = ("type",)
    code_paths: tuple[Path, ...] = tuple(tuple(p.split(".")) for p in DEFAULT_ERROR_CODE_PATHS)
    message_paths: tuple[Path, ...] = tuple(
        tuple(p.split(".")) for p in DEFAULT_ERROR_MESSAGE_PATHS
    )

    def read(self, msg: Any) -> dict[str, str] | None:
        """The frame's type, code and text, redacted; None when it is no error frame."""
        if not isinstance(msg, dict):
            return None
        type_key = self.type_key  # one level deep, usually: read without a loop
        kind = msg.get(type_key[0]) if len(type_key) == 1 else _dig(msg, type_key)
        if kind is None:
            text = _text_at(msg, self.message_paths)
            if text is None:  # an untyped frame is an error only when it says something
                return None
        elif kind in self.types:
            text = _text_at(msg, self.message_paths)
            if text is None:
                text = json.dumps(msg, default=str)[:2000]
        else:
            return None
        code = _text_at(msg, self.code_paths)
        return {
            "type": _redacted(str(kind if kind is not None else "")[:100]),
            "error_code": _redacted((code or "")[:100]),
            "message": _redacted(text[:2000])[:500],
        }

    def read_body(self, status: int, body: bytes | bytearray) -> dict[str, str] | None:
        """An HTTP answer to the upgrade as an error frame: its JSON error, or its text."""
        text = bytes(body[:4000]).decode("utf-8", "replace").strip()
        if not text:
            return None
        with contextlib.suppress(ValueError):
            frame = self.read(json.loads(text))
            if frame is not None:
                return frame
        return {
            "type": "http",
            "error_code": str(status),
            "message": _redacted(" ".join(text.split())[:2000])[:500],
        }


@dataclass(frozen=True, slots=True)
class EventRule:
    """How often ``event`` may arrive in one run, and which event must close each arrival."""

    event: str
    min: int = 1
    max: int | None = None  # None: any number of repeats
    pair: str | None = None
    by: Path | None = None  # where the id matching event and pair is; None: arrival order


class _Resolved:
    """Everything derived from a :class:`FlowSpec`, computed once: the per-frame path reads it."""

    __slots__ = (
        "agent_at",
        "caps",
        "errors",
        "event_key",
        "expect",
        "final",
        "first",
        "headers",
        "id_paths",
        "key0",
        "lifecycle",
        "needs",
        "pairs",
        "parent_at",
        "plan",
        "query",
        "run_at",
        "subprotocols",
        "token_protocol",
        "token_shown",
        "wanted",
    )

    def __init__(self, spec: FlowSpec) -> None:
        events = spec.events
        rules = {rule.event: rule for rule in spec.rules}
        unknown = sorted(
            {n for r in spec.rules for n in (r.event, r.pair) if n is not None} - set(events)
        )
        if unknown:
            raise ValueError(f"rules name events that are not in events: {', '.join(unknown)}")
        self.wanted = frozenset(events)
        self.first, self.final = events[0], events[-1]
        self.key0 = spec.event_key[0] if len(spec.event_key) == 1 else None
        self.event_key = spec.event_key
        self.run_at = _getter(spec.run_key)
        self.plan: _Plan | None = None  # how to connect: decided at the first run
        self.needs = tuple((e, rules[e].min if e in rules else 1) for e in events)
        self.caps = tuple((e, r.max) for e, r in rules.items() if r.max is not None)
        self.pairs = tuple((r.event, r.pair, r.by is not None) for r in rules.values() if r.pair)
        self.id_paths: dict[str, Callable[[dict[str, Any]], Any]] = {}
        for r in spec.rules:
            if r.pair is not None and r.by is not None:
                self.id_paths[r.event] = self.id_paths[r.pair] = _getter(r.by)
        tracking = spec.parent_key is not None or spec.agent_key is not None
        self.lifecycle = frozenset((self.first, self.final)) if tracking else frozenset()
        self.agent_at = _getter(spec.agent_key)
        self.parent_at = _getter(spec.parent_key) if spec.parent_key is not None else None
        self.errors = spec.error_frames

        token, how = spec.token, spec.token_in
        self.headers: dict[str, str] | None = None
        self.query = ""
        self.token_protocol: str | None = None
        self.token_shown: str | None = None
        template = (
            spec.subprotocol
            if spec.subprotocol is not None
            else spec.subprotocol_prefix + "{token}"
        )
        if token and how == "header":
            self.headers = {spec.header: f"{spec.scheme} {token}" if spec.scheme else token}
        elif token and how == "query":
            self.query = f"{spec.query_param}={quote(token, safe='')}"
        elif token and how == "subprotocol":
            encoded = token
            if spec.encoding == "base64url":
                encoded = base64.urlsafe_b64encode(token.encode()).rstrip(b"=").decode("ascii")
                redact.register(encoded)  # an encoded token is the token
            self.token_protocol = template.replace("{token}", encoded)
            self.token_shown = template.replace("{token}", redact.MASK)
        offered = list(spec.extra_subprotocols)
        if self.token_protocol is not None:
            offered.append(self.token_protocol)
        self.subprotocols = offered or None
        expect = spec.expect_selected
        self.expect = self.token_protocol if expect == template else expect

    def shown(self, protocol: str | None) -> str | None:
        """A selected subprotocol as reports may show it: the token's one masked."""
        if protocol is None:
            return None
        if protocol == self.token_protocol:
            return self.token_shown
        return _redacted(protocol)[:100]


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """Everything a session needs, resolved once per iteration."""

    url: str
    token: str | None = field(default=None, repr=False)  # a secret: never in a repr
    token_in: str = "header"  # header | subprotocol | query | none
    message: str = '{"type": "user_message", "payload": {"content": "What is 2 + 2?"}}'
    events: tuple[str, ...] = DEFAULT_EVENTS
    event_key: Path = ("type",)
    run_key: Path | None = ("data", "run_id")
    order: tuple[tuple[str, str], ...] = (
        ("agent_started", "agent_completed"),
        ("agent_started", "tool_executing"),
        ("tool_executing", "tool_completed"),
        ("tool_completed", "agent_completed"),
    )
    timeout: float = 30.0
    connect_timeout: float = 10.0
    compression: bool = False
    max_latency: float | None = None
    runs_per_connection: int = 1
    subprotocol_prefix: str = "jwt."
    query_param: str = "token"
    ssl_context: ssl.SSLContext | None = None
    rules: tuple[EventRule, ...] = ()  # events without one: at least once, repeats allowed
    agent_key: Path | None = None
    parent_key: Path | None = None
    header: str = "Authorization"
    scheme: str = "Bearer"
    subprotocol: str | None = None  # template with {token}; None: subprotocol_prefix + {token}
    encoding: str = "raw"  # raw | base64url
    extra_subprotocols: tuple[str, ...] = ()
    expect_selected: str | None = None  # a protocol offered, or the template for the token's
    error_frames: ErrorFrames = ErrorFrames()
    #: auto: the lean transport unless a proxy or compression needs websockets' client;
    #: lean / websockets force one (tests, benchmarks)
    transport: str = "auto"
    resolved: _Resolved = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolved", _Resolved(self))

    @classmethod
    def from_config(cls, cfg: Any, url: str, token: str | None) -> FlowSpec:
        """Build from a ``bot.config.AgentFlow``; ``strict_order`` means list order."""
        events = tuple(cfg.events)
        order = (
            tuple(itertools.pairwise(events))
            if cfg.strict_order
            else tuple(tuple(p) for p in cfg.order)
        )
        transport, errors = cfg.token_transport, cfg.error_frames
        rules = []
        for name, rule in cfg.rules.items():
            least, most = rule.bounds()
            rules.append(EventRule(name, least, most, rule.pair, _path(rule.by)))
        return cls(
            url=url,
            token=token,
            token_in=cfg.token_in,
            message=json.dumps(cfg.message),
            events=events,
            event_key=tuple(cfg.event_key.split(".")),
            run_key=_path(cfg.run_key),
            order=order,
            timeout=cfg.timeout,
            connect_timeout=cfg.connect_timeout,
            compression=cfg.compression,
            max_latency=cfg.max_latency,
            runs_per_connection=cfg.runs_per_connection,
            subprotocol_prefix=cfg.subprotocol_prefix,
            query_param=transport.query_param or cfg.query_param,
            rules=tuple(rules),
            agent_key=_path(cfg.agent_key),
            parent_key=_path(cfg.parent_key),
            header=transport.header,
            scheme=transport.scheme,
            subprotocol=cfg.token_subprotocol(),
            encoding=transport.encoding,
            extra_subprotocols=tuple(transport.extra_subprotocols),
            expect_selected=transport.expect_selected,
            error_frames=ErrorFrames(
                types=tuple(errors.types),
                type_key=tuple(errors.type_key.split(".")),
                code_paths=tuple(tuple(p.split(".")) for p in errors.code_paths),
                message_paths=tuple(tuple(p.split(".")) for p in errors.message_paths),
            ),
        )


_PROXY_VARS = tuple(
    name
    for base in ("ws", "wss", "http", "https", "socks", "all", "no")
    for name in (f"{base}_proxy", f"{base.upper()}_PROXY")
)


@functools.lru_cache(maxsize=32)
def _resolve_proxy(url: str, _env: tuple[str | None, ...]) -> str | None:
    try:  # websockets >= 15 honours proxy variables, looked up on every connect unless given
        from websockets.proxy import get_proxy
        from websockets.uri import parse_uri
    except ImportError:  # older websockets: no proxy support, nothing to resolve
        return None
    return get_proxy(parse_uri(url))


def _proxy_env() -> tuple[str | None, ...]:
    return tuple(os.environ.get(name) for name in _PROXY_VARS)


def _proxy_for(url: str) -> str | None:
    """The proxy websockets would pick for ``url``, resolved once per URL and proxy env.

    Left to itself, websockets (>= 15) scans the whole environment on every connect
    (urllib's ``getproxies`` + ``proxy_bypass``, ~80 µs): a quarter of the client's CPU
    per session on loopback, and a ``KeyError`` when another thread changes
    ``os.environ`` meanwhile (pytest sets ``PYTEST_CURRENT_TEST`` around every test).
    """
    env = _proxy_env()
    if not any(env):  # the usual case: nothing to ask urllib (nor to import it for)
        return None
    return _resolve_proxy(url, env)


class _Plan:
    """How every connection of a run connects, decided once per run (and per proxy env).

    The lean transport (:mod:`bot.checks.ws_lean`) is the default; websockets' asyncio
    client remains for what the lean one leaves out: an HTTP/SOCKS proxy configured for
    the URL, and permessage-deflate (``compression: true``).
    """

    __slots__ = ("env", "kwargs", "lean", "message", "reason", "url")

    def __init__(self, spec: FlowSpec, env: tuple[str | None, ...]) -> None:
        r = spec.resolved
        self.env = env
        self.message = spec.message.encode()
        url = spec.url
        if r.query:
            url = f"{url}{'&' if '?' in url else '?'}{r.query}"
        self.url = url
        proxy = _proxy_for(spec.url)
        self.kwargs: dict[str, Any] = {
            "open_timeout": spec.connect_timeout,
            "close_timeout": 1.0,
            "ping_interval": None,
            "compression": "deflate" if spec.compression else None,
            "max_size": MAX_SIZE,
            "user_agent_header": USER_AGENT,
        }
        if _PROXY_ARG:
            self.kwargs["proxy"] = proxy
        wss = url.startswith("wss:")
        if spec.ssl_context is not None and wss:
            self.kwargs["ssl"] = spec.ssl_context
        if r.headers is not None:
            self.kwargs["additional_headers"] = r.headers
        if r.subprotocols is not None:
            self.kwargs["subprotocols"] = r.subprotocols
        self.lean: ws_lean.Plan | None = None
        if spec.transport == "websockets":
            self.reason = "asked for"
        elif spec.compression and spec.transport != "lean":
            self.reason = "compression configured"
        elif proxy is not None and spec.transport != "lean":
            self.reason = "proxy configured"
        else:
            try:
                self.lean = ws_lean.Plan(
                    url,
                    headers=r.headers,
                    subprotocols=r.subprotocols,
                    ssl_context=spec.ssl_context if wss else None,
                    max_size=MAX_SIZE,
                    user_agent=USER_AGENT,
                )
                self.reason = ""
            except Exception as exc:  # a URL websockets refuses: its connect classifies it
                self.reason = f"{type(exc).__name__}"

    @property
    def described(self) -> str:
        """What the run log says, once per run."""
        if self.lean is not None:
            return "lean transport"
        return f"websockets transport ({self.reason})"


def _plan(spec: FlowSpec) -> _Plan:
    r = spec.resolved
    env = _proxy_env()
    plan = r.plan
    if plan is None or plan.env != env:
        plan = r.plan = _Plan(spec, env)
    return plan


def transport_for(spec: FlowSpec) -> str:
    """The transport a run of ``spec`` uses now, as the run log names it."""
    return _plan(spec).described


def classify_connect_error(
    exc: BaseException, session: FlowSession, errors: ErrorFrames | None = None
) -> None:
    """Fill ``session`` from a failed opening handshake (and the server's answer, if any)."""
    session.error = _redacted(f"{type(exc).__name__}: {exc}")[:500]
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        session.handshake_status = status
        session.kind = (
            Kind.AUTH_REJECTED
            if status in (401, 403)
            else Kind.SERVER_ERROR
            if status >= 500
            else Kind.HTTP_STATUS
        )
        session.error_frame = (errors or ErrorFrames()).read_body(status, exc.response.body or b"")
    elif isinstance(exc, NegotiationError):
        session.kind = Kind.SUBPROTOCOL_REFUSED
    elif isinstance(exc, TimeoutError):
        session.kind = Kind.TIMEOUT
    elif isinstance(exc, ssl.SSLError | InvalidHandshake | InvalidURI):
        session.kind = Kind.HANDSHAKE_FAILED
    elif isinstance(exc, ConnectionRefusedError | socket.gaierror) or (
        isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS
    ):
        session.kind = Kind.UNREACHABLE
    elif isinstance(exc, OSError):  # reset or EOF after connecting: the handshake broke
        session.kind = Kind.HANDSHAKE_FAILED
    else:
        session.kind = Kind.HANDSHAKE_FAILED


_Seen = list[tuple[str, float, Any]]  # (event, seconds since start, pairing id)


class _Run:
    """One run's frames, matched as they arrive, whichever transport reads them.

    Fed one text frame at a time (:meth:`feed`), then judged once (:func:`_judge`). A run
    that passes leaves only its duration and event times behind (the aggregator's
    counters); only a failure becomes a :class:`FlowSession`.
    """

    __slots__ = (
        "counts",
        "duration",
        "error_frame",
        "index",
        "malformed",
        "ours",
        "position",
        "r",
        "runs",
        "seen",
        "subprotocol",
        "subs",
        "t0",
        "top_agent",
    )

    def __init__(self, r: _Resolved, index: int, position: int, t0: float) -> None:
        self.r = r
        self.index = index
        self.position = position
        self.t0 = t0
        self.ours: Any = _UNSET
        self.top_agent: Any = _UNSET
        self.runs: dict[Any, _Seen] = {}
        self.subs: list[tuple[Any, str, Any]] = []  # sub-agents' first/final frames
        self.malformed = 0
        self.error_frame: dict[str, str] | None = None
        self.subprotocol: str | None = None
        self.seen: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.duration = 0.0

    def feed(self, raw: str | ws_lean.Data) -> bool:
        """One text frame; True when it ends the run (our top-level agent's final event)."""
        r = self.r
        try:
            msg = _loads(raw)
        except ValueError:  # orjson is stricter (NaN, integers past 64 bits): json decides
            try:
                msg = _json(raw)
            except ValueError:  # not JSON, or not UTF-8
                self.malformed += 1
                return False
        if msg.__class__ is not dict:
            return False
        key0 = r.key0
        event: Any = msg.get(key0) if key0 is not None else _dig(msg, r.event_key)
        try:
            ours_too = event in r.wanted
        except TypeError:  # an object where the name should be: not an event
            ours_too = False
        if not ours_too:
            if self.error_frame is None:
                self.error_frame = r.errors.read(msg)
            return False
        rid = r.run_at(msg)
        if rid is not None and rid.__class__ is not str and not isinstance(rid, int):
            rid = None
        if event in r.lifecycle:  # only with agent_key/parent_key: whose start or end?
            agent = r.agent_at(msg)
            if r.parent_at is not None:
                parent = r.parent_at(msg)
                sub = parent is not None and parent != ""
            else:
                sub = self.top_agent is not _UNSET and agent != self.top_agent
            if sub:
                self.subs.append((rid, event, agent))
                return False
            if self.ours is _UNSET and event == r.first:
                self.top_agent = agent
        if self.ours is _UNSET and event == r.first:
            self.ours = rid  # our run is the one that started after our message
        id_at = r.id_paths.get(event)
        if id_at is not None:
            pid = id_at(msg)
            if pid is not None and not isinstance(pid, str | int):
                pid = json.dumps(pid, sort_keys=True, default=str)
        else:
            pid = None
        seen = self.runs.get(rid)
        if seen is None:
            seen = self.runs[rid] = []
        seen.append((event, _perf() - self.t0, pid))
        return event == r.final and (self.ours is _UNSET or rid == self.ours)

    def session(self) -> FlowSession:
        """A passing run as a whole record (for callers that want every session back)."""
        return FlowSession(
            index=self.index,
            ok=True,
            events_seen=self.seen,
            counts=self.counts,
            duration_s=self.duration,
            subprotocol=self.subprotocol,
            run=self.position,
        )


def _judge(
    spec: FlowSpec,
    run: _Run,
    closed: bool,
    timed_out: bool,
    close_code: int | None,
    close_reason: str | None,
) -> FlowSession | None:
    """Hold one run's events against the rules; the first broken rule names the failure.

    Returns None when the run passed (its times stay on ``run``), else the failure.
    """
    r = spec.resolved
    final = r.final
    ours = run.ours
    seen_list = run.runs.get(ours, []) if ours is not _UNSET else _pick_run(run.runs, final)
    counts: dict[str, int] = {}
    seen: dict[str, float] = {}
    position: dict[str, int] = {}  # arrival order: frames read together share a timestamp
    for pos, (event, at, _) in enumerate(seen_list):
        n = counts.get(event)
        if n is None:
            counts[event] = 1
            seen[event] = round(at, 4)
            position[event] = pos
        else:
            counts[event] = n + 1
    duration = _perf() - run.t0
    missing = [e for e, least in r.needs if counts.get(e, 0) < least]
    violations = [
        f"{after} before {before}"
        for before, after in spec.order
        if before in position and after in position and position[after] < position[before]
    ]
    unpaired = _unpaired(seen_list, r.pairs) if r.pairs else []
    over = [(e, counts[e], most) for e, most in r.caps if counts.get(e, 0) > most]
    malformed = run.malformed
    kind: Kind | None = None
    error = ""
    reason = ""
    if closed or timed_out:
        reason = _redacted(close_reason or "")[:300]
    if closed and final not in seen:
        kind = (
            Kind.AUTH_REJECTED
            if close_code == 1008
            else Kind.SERVER_ERROR
            if close_code == 1011
            else Kind.CLOSED_EARLY
        )
        said = (run.error_frame or {}).get("message")
        if reason or not said:
            error = f"closed {close_code} {reason!r} before {final}"
        else:  # no close reason: the error frame is the server's only word
            error = f"closed {close_code} before {final}; the server said: {said}"
    elif timed_out and (
        done_subs := [a for rid, e, a in run.subs if e == final and (ours is _UNSET or rid == ours)]
    ):
        names = ", ".join(sorted({_redacted(str(a))[:60] for a in done_subs if a}))
        kind = Kind.AGENT_INCOMPLETE
        error = (
            f"the top-level agent sent no {final} within {spec.timeout:g}s; "
            f"sub-agent{' ' + names if names else 's'} did"
        )
    elif timed_out:
        kind = Kind.TIMEOUT
        error = f"no {final} within {spec.timeout:g}s"
    elif missing:
        kind = Kind.MISSING_EVENT
        parts = [
            f"{e} ({counts[e]} of at least {least})" if counts.get(e) else e
            for e, least in r.needs
            if e in missing
        ]
        error = "missing " + ", ".join(parts)
    elif violations:
        kind = Kind.OUT_OF_ORDER
        error = "; ".join(violations)
    elif unpaired:
        kind = Kind.UNPAIRED_EVENT
        shown = unpaired[:_MAX_UNPAIRED_SHOWN]
        more = len(unpaired) - len(shown)
        error = "unpaired " + "; ".join(shown) + (f"; and {more} more" if more else "")
    elif over:
        duplicate = over[0][2] == 1
        kind = Kind.DUPLICATE_EVENT if duplicate else Kind.TOO_MANY_EVENTS
        error = ("duplicate " if duplicate else "too many ") + ", ".join(
            f"{e} ({n} arrived, at most {most})" for e, n, most in over
        )
    elif malformed:
        kind = Kind.PROTOCOL_ERROR
        error = f"{malformed} malformed or binary frame(s)"
    elif spec.max_latency is not None and duration > spec.max_latency:
        kind = Kind.SLOW
        error = f"{duration:.3f}s, over the {spec.max_latency:g}s limit"
    if kind is None:
        run.seen, run.counts, run.duration = seen, counts, duration
        return None
    if malformed and kind is not Kind.PROTOCOL_ERROR and kind is not Kind.SLOW:
        error += f"; {malformed} malformed or binary frame(s)"
    return FlowSession(
        index=run.index,
        ok=False,
        kind=kind,
        events_seen=seen,
        missing=missing,
        order_violations=violations,
        close_code=close_code if closed or timed_out else None,
        close_reason=reason,
        error_frame=run.error_frame,
        subprotocol=run.subprotocol,
        error=error,
        duration_s=duration,
        run=run.position,
        counts=counts,
        unpaired=unpaired,
    )


def _unpaired(seen_list: _Seen, pairs: tuple[tuple[str, str, bool], ...]) -> list[str]:
    """Arrivals of an opening event no closing event answered, and closers with no opener."""
    out: list[str] = []
    for opener, closer, by_id in pairs:
        still_open: dict[Any, int] = {}
        orphans: list[Any] = []
        for event, _, pid in seen_list:
            if event == opener:
                key = pid if by_id else None
                still_open[key] = still_open.get(key, 0) + 1
            elif event == closer:
                key = pid if by_id else None
                n = still_open.get(key, 0)
                if n:
                    still_open[key] = n - 1
                else:
                    orphans.append(key)
        for key, n in still_open.items():
            if n:  # most openers were answered: name only the ones left open
                out += [f"{_named(opener, key)} without {closer}"] * n
        out += [f"{_named(closer, key)} without {opener} before it" for key in orphans]
    return out


def _named(event: str, key: Any) -> str:
    return event if key is None else f"{event} {_redacted(str(key))[:60]}"


def _pick_run(runs: dict[Any, _Seen], final: str) -> _Seen:
    """The run that completed, else the one that got furthest; others are noise."""
    if not runs:
        return []
    if len(runs) == 1:
        return next(iter(runs.values()))
    complete = [r for r in runs.values() if any(e == final for e, _, _ in r)]
    return max(complete or runs.values(), key=len)


def _subprotocol_problem(selected: str | None, r: _Resolved) -> tuple[Kind, str] | None:
    """What is wrong with the server's choice among the subprotocols we offered, if anything."""
    if selected is None:
        if r.token_protocol is not None and len(r.subprotocols or ()) == 1:
            return Kind.SUBPROTOCOL_REFUSED, (
                "server accepted the socket without echoing the jwt subprotocol"
            )
        offered = ", ".join(r.shown(p) or "" for p in r.subprotocols or ())
        return Kind.SUBPROTOCOL_REFUSED, (
            f"server accepted the socket without selecting any offered subprotocol ({offered})"
        )
    if r.expect is not None and selected != r.expect:
        return Kind.SUBPROTOCOL_UNEXPECTED, (
            f"server selected the subprotocol {r.shown(selected)}, expected {r.shown(r.expect)}"
        )
    return None


class _Sink(typing.Protocol):
    """Where a connection's runs go: passes as bare runs, failures as whole records."""

    def passed(self, run: _Run) -> None: ...

    def failed(self, session: FlowSession) -> None: ...


def _refused(
    spec: FlowSpec, indices: Sequence[int], exc: BaseException, t0: float
) -> list[FlowSession]:
    """Every run of a connection that never opened: the same evidence, classified once."""
    first = FlowSession(index=indices[0], ok=False)
    classify_connect_error(exc, first, spec.resolved.errors)
    first.duration_s = _perf() - t0
    return [first] + [
        _same_evidence(first, i, n, first.duration_s) for n, i in enumerate(indices[1:], 1)
    ]


def _same_evidence(
    failed: FlowSession, index: int, position: int, duration: float = 0.0
) -> FlowSession:
    """A later run on a connection that is gone carries the failure that ended it."""
    return FlowSession(
        index=index,
        ok=False,
        kind=failed.kind,
        error=failed.error,
        close_code=failed.close_code,
        close_reason=failed.close_reason,
        error_frame=failed.error_frame,
        handshake_status=failed.handshake_status,
        subprotocol=failed.subprotocol,
        duration_s=duration,
        run=position,
    )


def _unusable(
    spec: FlowSpec, indices: Sequence[int], selected: str | None, t0: float
) -> list[FlowSession] | None:
    """A socket that ignored our credentials' subprotocol: nothing is sent on it."""
    r = spec.resolved
    problem = _subprotocol_problem(selected, r) if r.subprotocols else None
    if problem is None:
        return None
    shown = r.shown(selected)
    took = _perf() - t0
    return [
        FlowSession(
            index=i,
            ok=False,
            kind=problem[0],
            error=problem[1],
            subprotocol=shown,
            duration_s=took,
            run=n,
        )
        for n, i in enumerate(indices)
    ]


def _ends_connection(failure: FlowSession) -> bool:
    return not (failure.kind and info(failure.kind).keeps_connection)


class _FlowSocket(ws_lean.LeanSocket):
    """The lean transport's side of a connection: runs its sessions one after another."""

    __slots__ = ("indices", "message", "next", "run", "shown", "sink", "spec", "t0")

    def __init__(
        self,
        plan: _Plan,
        loop: asyncio.AbstractEventLoop,
        spec: FlowSpec,
        indices: Sequence[int],
        sink: _Sink,
    ) -> None:
        assert plan.lean is not None
        super().__init__(plan.lean, loop)
        self.spec = spec
        self.indices = indices
        self.sink = sink
        self.message = plan.message
        self.t0 = _perf()
        self.run: _Run | None = None
        self.next = 0
        self.shown: str | None = None

    def on_refused(self, exc: BaseException) -> None:
        for s in _refused(self.spec, self.indices, exc, self.t0):
            self.sink.failed(s)

    def on_open(self) -> None:
        selected = self.proto.subprotocol
        self.shown = self.spec.resolved.shown(selected)
        unusable = _unusable(self.spec, self.indices, selected, self.t0)
        if unusable is not None:
            for s in unusable:
                self.sink.failed(s)
            self.next = len(self.indices)
            self.close()
            return
        self._start(self.t0)

    def _start(self, t0: float) -> None:
        n = self.next
        self.next = n + 1
        run = self.run = _Run(self.spec.resolved, self.indices[n], n, t0)
        run.subprotocol = self.shown
        self.set_deadline(self.loop.time() + self.spec.timeout)
        # a server that authenticates after the upgrade may have closed already; its
        # error frame is still to be read, so the run goes on either way
        self.send_text(self.message)

    def on_message(self, data: ws_lean.Data, text: bool) -> None:
        run = self.run
        if run is None:
            return
        if not text:
            run.malformed += 1
        elif run.feed(data):
            self._end(closed=False, timed_out=False)

    def on_timeout(self) -> None:
        if self.run is not None:
            self._end(closed=False, timed_out=True)

    def on_lost(self) -> None:
        if self.run is not None:
            self._end(closed=True, timed_out=False)

    def _end(self, *, closed: bool, timed_out: bool) -> None:
        run, self.run = self.run, None
        assert run is not None
        proto = self.proto
        failure = _judge(self.spec, run, closed, timed_out, proto.close_code, proto.close_reason)
        sink = self.sink
        if failure is None:
            sink.passed(run)
        else:
            sink.failed(failure)
        rest = self.indices[self.next :]
        if rest:
            if (
                not closed
                and not self.closing
                and (failure is None or not _ends_connection(failure))
            ):
                self._start(_perf())
                return
            gone = (
                failure
                if failure is not None
                else _gone(proto.close_code, proto.close_reason, self.spec)
            )
            for n, i in enumerate(rest, self.next):
                sink.failed(_same_evidence(gone, i, n))
            self.next = len(self.indices)
        self.close()


def _gone(code: int | None, reason: str | None, spec: FlowSpec) -> FlowSession:
    """Evidence for runs left over when the server closed right after a passing run."""
    shown = _redacted(reason or "")[:300]
    return FlowSession(
        index=-1,
        ok=False,
        kind=Kind.CLOSED_EARLY,
        error=f"closed {code} {shown!r} before {spec.resolved.final}",
        close_code=code,
        close_reason=shown,
    )


async def _lean_connection(
    spec: FlowSpec, plan: _Plan, indices: Sequence[int], sink: _Sink
) -> None:
    sock = _FlowSocket(plan, asyncio.get_running_loop(), spec, indices, sink)
    await ws_lean.open_socket(sock, spec.connect_timeout)


async def _exchange(
    ws: ClientConnection, spec: FlowSpec, run: _Run, message: str
) -> FlowSession | None:
    """websockets' asyncio client: send one message and feed its events to ``run``."""
    from websockets.exceptions import ConnectionClosed

    timed_out = closed = False
    try:
        async with asyncio.timeout(spec.timeout):
            with contextlib.suppress(ConnectionClosed):
                # a server that authenticates after the upgrade may already have closed;
                # its error frame is still buffered, so read on instead of giving up
                await ws.send(message)
            async for raw in ws:
                if isinstance(raw, bytes):
                    run.malformed += 1
                elif run.feed(raw):
                    break
            else:
                closed = True
    except TimeoutError:
        timed_out = True
    except ConnectionClosed:
        closed = True
    return _judge(spec, run, closed, timed_out, ws.close_code, ws.close_reason)


async def _ws_connection(spec: FlowSpec, plan: _Plan, indices: Sequence[int], sink: _Sink) -> None:
    """One connection through websockets' asyncio client (proxies, compression)."""
    from websockets.asyncio.client import connect

    t0 = _perf()
    r = spec.resolved
    try:
        ws = await connect(plan.url, **plan.kwargs)
    except Exception as exc:  # a handshake failure is a finding, classified below
        for s in _refused(spec, indices, exc, t0):
            sink.failed(s)
        return
    try:
        unusable = _unusable(spec, indices, ws.subprotocol, t0)
        if unusable is not None:
            for s in unusable:
                sink.failed(s)
            return
        shown = r.shown(ws.subprotocol)
        for n, index in enumerate(indices):
            run = _Run(r, index, n, t0 if n == 0 else _perf())
            run.subprotocol = shown
            failure = await _exchange(ws, spec, run, spec.message)
            if failure is None:
                sink.passed(run)
                continue
            sink.failed(failure)
            if _ends_connection(failure):
                for m, rest in enumerate(indices[n + 1 :], n + 1):
                    sink.failed(_same_evidence(failure, rest, m))
                break
    finally:
        with contextlib.suppress(Exception):
            await ws.close()


def _connection(plan: _Plan) -> Callable[[FlowSpec, _Plan, Sequence[int], _Sink], Awaitable[None]]:
    return _lean_connection if plan.lean is not None else _ws_connection


class _Collect:
    """Every session back as a record (``run_connection``'s callers, retries)."""

    def __init__(self) -> None:
        self.sessions: list[FlowSession] = []

    def passed(self, run: _Run) -> None:
        self.sessions.append(run.session())

    def failed(self, session: FlowSession) -> None:
        self.sessions.append(session)


async def run_connection(spec: FlowSpec, indices: Sequence[int]) -> list[FlowSession]:
    """One connection, ``len(indices)`` runs on it (connection reuse when > 1)."""
    plan = _plan(spec)
    out = _Collect()
    await _connection(plan)(spec, plan, indices, out)
    return sorted(out.sessions, key=lambda s: s.run)


# ``golden-path doctor`` speaks to a backend exactly as a session does (one client, not two):
# the session's own connect arguments, judgement and subprotocol check.


def connect_args(spec: FlowSpec) -> tuple[str, dict[str, Any]]:
    """The URL and websockets ``connect`` arguments a session of ``spec`` would use."""
    plan = _plan(spec)
    return plan.url, dict(plan.kwargs)


async def exchange(ws: ClientConnection, spec: FlowSpec) -> FlowSession:
    """One run on an open connection, judged by the session's own rules, as a record."""
    run = _Run(spec.resolved, 0, 0, _perf())
    failure = await _exchange(ws, spec, run, spec.message)
    return run.session() if failure is None else failure


subprotocol_problem = _subprotocol_problem


class FlowAggregator:
    """Counts passes, keeps failures: memory stays flat however many sessions run."""

    def __init__(self, spec: FlowSpec, progress: Progress | None = None, total: int = 0) -> None:
        self.spec = spec
        self.summary = FlowSummary(url=redact.redact(spec.url))
        self.summary.event_seen = dict.fromkeys(spec.events, 0)
        self.durations = Latencies()
        #: event → seconds after connect, counted for each session that saw it
        self.event_times = {e: Latencies() for e in spec.events}
        self.progress = progress
        self.total = total
        self.done = 0

    def add(self, session: FlowSession) -> None:
        s = self.summary
        s.total += 1
        times = self.event_times
        for event, at in session.events_seen.items():
            s.event_seen[event] = s.event_seen.get(event, 0) + 1
            if event in times:
                times[event].add(at)
        if session.ok:
            s.passed += 1
            self.durations.add(session.duration_s)
        else:
            s.failed += 1
            s.failures.append(session)

    def passed(self, run: _Run) -> None:
        """A passing run: counters and latency samples, no record."""
        s = self.summary
        s.total += 1
        s.passed += 1
        self.durations.add(run.duration)
        event_seen, times = s.event_seen, self.event_times
        for event, at in run.seen.items():
            event_seen[event] = event_seen.get(event, 0) + 1
            samples = times.get(event)
            if samples is not None:
                samples.add(at)
        if self.progress is not None:
            self.done += 1
            self.progress(self.done, self.total, s.passed)

    def failed(self, session: FlowSession) -> None:
        self.add(session)
        if self.progress is not None:
            self.done += 1
            self.progress(self.done, self.total, self.summary.passed)

    def finish(self, wall_s: float, concurrency: int) -> FlowSummary:
        s = self.summary
        s.wall_s = wall_s
        s.concurrency = concurrency
        # sessions finish in whatever order the network allows; reports must not churn
        s.failures.sort(key=lambda f: f.index)
        s.flaky_sessions.sort()
        kinds: dict[str, int] = {}
        for f in s.failures:
            key = str(f.kind) if f.kind else "unknown"
            kinds[key] = kinds.get(key, 0) + 1
        s.kinds = kinds
        if self.durations:
            s.latency_p50_s, s.latency_p95_s = self.durations.percentiles()
        s.event_latency = {
            event: dict(zip(("p50", "p95"), times.percentiles(), strict=True))
            for event, times in self.event_times.items()
            if times
        }
        return s


def _chunks(indices: Iterable[int], size: int) -> Iterator[list[int]]:
    chunk: list[int] = []
    for i in indices:
        chunk.append(i)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


#: Workers start a little apart, RAMP_STEP_S each and RAMP_MAX_S in all (100 ms for 200):
#: a burst of simultaneous handshakes makes every one of them wait for all the others'
#: CPU, and the sessions that follow stay in lockstep, so each wave pays for it again.
RAMP_STEP_S = 0.0005
RAMP_MAX_S = 0.1


async def _run_pool(
    spec: FlowSpec, plan: _Plan, indices: Sequence[int], concurrency: int, sink: _Sink
) -> None:
    work = _chunks(indices, max(1, spec.runs_per_connection))
    n_conn = -(-len(indices) // max(1, spec.runs_per_connection))
    n_workers = max(1, min(concurrency, n_conn))
    step = min(RAMP_STEP_S, RAMP_MAX_S / n_workers)
    connection = _connection(plan)

    async def worker(k: int) -> None:
        if k:
            await asyncio.sleep(k * step)
        for chunk in work:  # a shared iterator: each worker takes the next connection's runs
            await connection(spec, plan, chunk, sink)

    await asyncio.gather(*(worker(k) for k in range(n_workers)))


async def run_agent_flow(
    spec: FlowSpec,
    sessions: int,
    *,
    concurrency: int = 200,
    retries: int = 0,
    progress: Progress | None = None,
    indices: Sequence[int] | None = None,
) -> FlowSummary:
    """Run ``sessions`` golden-path sessions, ``concurrency`` in flight.

    Failed sessions are rerun up to ``retries`` times; one that then passes is *flaky*:
    counted apart from plain passes, because a flaky golden path is a finding too.
    """
    todo: Sequence[int] = indices if indices is not None else range(sessions)
    plan = _plan(spec)  # once per run: the transport, the request, the proxy decision
    agg = FlowAggregator(spec, progress, len(todo))
    started = time.perf_counter()
    await _run_pool(spec, plan, todo, concurrency, agg)
    for attempt in range(2, retries + 2):
        failed = agg.summary.failures
        if not failed:
            break
        by_index = {f.index: f for f in failed}
        retried = _Collect()
        await _run_pool(spec, plan, sorted(by_index), concurrency, retried)
        fresh = {s.index: s for s in retried.sessions}
        still: list[FlowSession] = []
        for index, old in by_index.items():
            new = fresh[index]
            new.attempts = attempt
            if new.ok:
                agg.summary.flaky += 1
                agg.summary.flaky_sessions.append(index)
                for event in new.events_seen:
                    if event not in old.events_seen:
                        agg.summary.event_seen[event] = agg.summary.event_seen.get(event, 0) + 1
            else:
                still.append(new)
        agg.summary.failures = sorted(still, key=lambda s: s.index)
        agg.summary.failed = len(still)
    return agg.finish(time.perf_counter() - started, concurrency)


#: Failure records kept per check in the issue's state block (counts stay exact).
STATE_FAILURES = 10
#: Failure records results.json keeps per group of identical failures (same kind, close
#: code, reason and message): a blocked run of 10,000 sessions is one failure 10,000 times,
#: and serialising every copy cost more than running the sessions.
STORED_PER_GROUP = 25
#: Longest failed-session list kept for /retest; longer ones rerun the whole flow.
MAX_RANGES_TEXT = 2000


def encode_ranges(indices: Iterable[int]) -> str:
    """Sorted indices as "a-b,c" ranges."""
    out: list[str] = []
    start = prev = None
    for i in sorted(set(indices)):
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = i
    if start is not None:
        out.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(out)


def decode_ranges(text: str) -> list[int]:
    """Inverse of :func:`encode_ranges`; list input from older states is accepted too."""
    out: list[int] = []
    for part in text.split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def shard_indices(total: int, shard: tuple[int, int] | None) -> range:
    """Deterministic, balanced split: session i belongs to shard (i mod n) + 1.

    A range, not a list: a list of a million session numbers would be the run's biggest
    object.
    """
    if shard is None:
        return range(total)
    k, n = shard
    return range(k - 1, total, n)


def _load_session(d: dict[str, Any]) -> FlowSession:
    return FlowSession(**{**d, "kind": Kind(d["kind"]) if d.get("kind") else None})


class AgentFlowCheck(CheckType):
    """The WebSocket golden path: many sessions, each a golden-path test."""

    key = "flow"
    names = frozenset({"agent-flow", "agent_flow", "websocket", "ws", "flow"})
    every_shard = True

    def enabled(self, cfg: Config) -> bool:
        return cfg.checks.agent_flow is not None

    async def run(self, ctx: CheckContext, only: Any) -> FlowSummary:
        flow_cfg = ctx.cfg.checks.agent_flow
        assert flow_cfg is not None
        url = ctx.cfg.resolve_url(flow_cfg.url, ctx.base_url)
        token = ctx.token if flow_cfg.token_in != "none" else None
        spec = FlowSpec.from_config(flow_cfg, url, token)
        total = ctx.sessions if ctx.sessions is not None else flow_cfg.sessions
        indices: Sequence[int]
        if isinstance(only, str | list):  # a /retest of the failed sessions
            indices = decode_ranges(only) if isinstance(only, str) else [int(i) for i in only]
        else:
            indices = shard_indices(total, ctx.shard)
        ctx.log(
            f"agent flow: {len(indices)} sessions against {redact.redact(url)}, "
            f"{flow_cfg.concurrency} in flight",
            "info",
        )
        ctx.log(f"agent flow: {transport_for(spec)}", "info")
        summary = await run_agent_flow(
            spec,
            len(indices),
            concurrency=flow_cfg.concurrency,
            retries=ctx.cfg.retries.failed,
            progress=ctx.progress,
            indices=indices,
        )
        (outcome,) = self.outcomes(summary)
        ctx.log(f"agent flow: {outcome.detail}", "success" if outcome.ok else "error")
        return summary

    def not_run(self) -> FlowSummary:
        return FlowSummary(skipped=True)

    def outcomes(self, result: FlowSummary) -> list[Outcome]:
        if result.skipped:
            return [Outcome("agent flow", "agent_flow", SKIPPED, golden=True, detail="skipped")]
        kinds = ", ".join(f"{info(k).label} ×{n}" for k, n in result.kinds.items())
        passed = result.passed + result.flaky
        detail = (
            f"{passed}/{result.total} passed"
            + (f" ({result.flaky} flaky)" if result.flaky else "")
            + f" in {result.wall_s:.2f}s ({result.sessions_per_s:.0f}/s)"
            + (f" — {kinds}" if kinds else "")
        )
        sample = next((f.error for f in result.failures if f.error), "")
        return [
            Outcome(
                name="agent flow",
                component="agent_flow",
                state=FAILED if result.failed else PASSED,
                passed=passed,
                failed=result.failed,
                flaky=result.flaky,
                kinds=dict(result.kinds),
                sample=sample,
                golden=True,
                detail=detail,
            )
        ]

    def findings(self, result: FlowSummary) -> list[Finding]:
        """One per kind, counted from ``kinds`` (exact even when few failures are kept)."""
        samples: dict[str, str] = {}
        for f in result.failures:
            samples.setdefault(str(f.kind or Kind.TEST_FAILED), f.error)
        return [
            Finding("agent flow", kind, samples.get(kind, ""), n)
            for kind, n in sorted(result.kinds.items(), key=lambda kv: -kv[1])
        ]

    def failed_part(self, result: FlowSummary) -> str | bool:
        """The failed sessions as ranges ("0-999,1003"): all-failing runs stay tiny."""
        if not result.failed:
            return False
        if len(result.failures) < result.failed:  # records were capped: rerun everything
            return True
        text = encode_ranges(f.index for f in result.failures)
        return text if len(text) <= MAX_RANGES_TEXT else True

    def carry_over(self, prev: FlowSummary, new: FlowSummary, only: Any) -> FlowSummary:
        """Sessions that passed last time saw every event, so per-event counts stay exact."""
        if not isinstance(only, str | list):
            return new
        kept = prev.passed + prev.flaky
        flow = dataclasses.replace(new)
        flow.total = kept + new.total
        flow.passed = prev.passed + new.passed
        flow.flaky = prev.flaky + new.flaky
        flow.event_seen = {e: kept + n for e, n in new.event_seen.items()}
        return flow

    def merge(self, parts: Sequence[FlowSummary]) -> FlowSummary:
        flows = [f for f in parts if not f.skipped]
        if not flows:
            return parts[0]
        out = FlowSummary(url=flows[0].url)
        for f in flows:
            out.total += f.total
            out.passed += f.passed
            out.flaky += f.flaky
            out.failed += f.failed
            out.failures.extend(f.failures)
            out.flaky_sessions.extend(f.flaky_sessions)
            for k, v in f.event_seen.items():
                out.event_seen[k] = out.event_seen.get(k, 0) + v
            for k, v in f.kinds.items():
                out.kinds[k] = out.kinds.get(k, 0) + v
            out.wall_s = max(out.wall_s, f.wall_s)
            out.concurrency += f.concurrency
        out.failures.sort(key=lambda s: s.index)
        out.flaky_sessions.sort()
        p50s = [f.latency_p50_s for f in flows if f.latency_p50_s is not None]
        p95s = [f.latency_p95_s for f in flows if f.latency_p95_s is not None]
        out.latency_p50_s = sorted(p50s)[len(p50s) // 2] if p50s else None
        out.latency_p95_s = max(p95s) if p95s else None
        for event in {e for f in flows for e in f.event_latency}:  # shards keep no samples:
            stats = [f.event_latency[event] for f in flows if event in f.event_latency]
            medians = sorted(p["p50"] for p in stats)  # median of medians, worst p95
            out.event_latency[event] = {
                "p50": medians[len(medians) // 2],
                "p95": max(p["p95"] for p in stats),
            }
        return out

    def load(self, data: dict[str, Any]) -> FlowSummary:
        failures = [_load_session(f) for f in data.get("failures", [])]
        return FlowSummary(**{**data, "failures": failures})

    def stored(self, result: FlowSummary) -> FlowSummary:
        """Failures grouped by kind, close code, reason and message; a sample of each kept."""
        kept: list[FlowSession] = []
        groups: dict[tuple[Any, ...], int] = {}
        for f in result.failures:
            key = (f.kind, f.close_code, f.close_reason, f.error, f.handshake_status)
            n = groups.get(key, 0)
            groups[key] = n + 1
            if n < STORED_PER_GROUP:
                kept.append(f)
        if len(kept) == len(result.failures):
            return result
        return dataclasses.replace(result, failures=kept)

    def compact(self, result: FlowSummary) -> FlowSummary:
        return dataclasses.replace(
            result,
            failures=result.failures[:STATE_FAILURES],
            flaky_sessions=result.flaky_sessions[:STATE_FAILURES],
        )

    def cases(self, result: FlowSummary) -> Iterator[JunitCase]:
        """One case per session: failures with their evidence, passes by index (generated:
        10,000 sessions are 10,000 cases, written one by one). Results read back with a
        sample of their failures (see :meth:`stored`) name the rest in one case, and their
        passes by count: which indices passed is no longer known."""
        if result.skipped:
            return
        cls = "golden_path.agent_flow"
        for f in result.failures:
            yield JunitCase(f"session {f.index}", cls, f.duration_s, f"{f.kind}: {f.error}")
        passes = result.passed + result.flaky
        unkept = result.failed - len(result.failures)
        if unkept > 0:
            kinds = ", ".join(f"{k} ×{n}" for k, n in sorted(result.kinds.items()))
            yield JunitCase(
                f"{unkept} more failed sessions", cls, 0.0, f"like the ones above ({kinds})"
            )
            for k in range(passes):
                yield JunitCase(f"passed session {k + 1}", cls, result.latency_p50_s or 0.0)
            return
        failed = {f.index for f in result.failures}
        flaky = set(result.flaky_sessions)
        i = 0
        while passes:
            if i not in failed:
                name = f"session {i}" + (" (flaky)" if i in flaky else "")
                yield JunitCase(name, cls, result.latency_p50_s or 0.0)
                passes -= 1
            i += 1
