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
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
)

from bot import redact
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
from bot.results import FlowSession, FlowSummary, Kind

if TYPE_CHECKING:
    from bot.config import Config

try:  # websockets >= 15 honours proxy variables, looked up on every connect unless given
    from websockets.proxy import get_proxy as _get_proxy
    from websockets.uri import parse_uri as _parse_uri
except ImportError:  # older websockets: no proxy support, nothing to resolve
    _get_proxy = None  # type: ignore[assignment]

DEFAULT_EVENTS = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
)
#: Mirrors ``bot.config.models.ErrorFrames``' defaults (a test pins the two together).
DEFAULT_ERROR_TYPES = ("error", "error_message")
DEFAULT_ERROR_CODE_PATHS = (
    "error_code",
    "code",
    "data.error_code",
    "data.code",
    "error.code",
    "error.error_code",
    "payload.error_code",
    "payload.code",
)
DEFAULT_ERROR_MESSAGE_PATHS = (
    "error_message",
    "message",
    "detail",
    "error",
    "reason",
    "data.error_message",
    "data.message",
    "data.detail",
    "data.error",
    "error.message",
    "error.detail",
    "payload.error_message",
    "payload.message",
    "payload.detail",
)

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


def _path(dotted: str | None) -> Path | None:
    return tuple(dotted.split(".")) if dotted else None


def _dig(msg: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(msg, dict):
            return None
        msg = msg.get(part)
    return msg


def _text_at(msg: dict[str, Any], paths: Sequence[Path]) -> str | None:
    """The first non-empty text at ``paths``; objects are skipped (their fields are paths too)."""
    for path in paths:
        value = _dig(msg, path)
        if value is None or value == "" or isinstance(value, dict):
            continue
        return value if isinstance(value, str) else json.dumps(value, default=str)
    return None


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
        kind = _dig(msg, self.type_key)
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
            "type": redact.redact(str(kind if kind is not None else "")[:100]),
            "error_code": redact.redact((code or "")[:100]),
            "message": redact.redact(text[:2000])[:500],
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
            "message": redact.redact(" ".join(text.split())[:2000])[:500],
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
        "agent_key",
        "caps",
        "errors",
        "expect",
        "final",
        "first",
        "headers",
        "id_paths",
        "key0",
        "lifecycle",
        "needs",
        "pairs",
        "parent_key",
        "query",
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
        self.needs = tuple((e, rules[e].min if e in rules else 1) for e in events)
        self.caps = tuple((e, r.max) for e, r in rules.items() if r.max is not None)
        self.pairs = tuple((r.event, r.pair, r.by is not None) for r in rules.values() if r.pair)
        self.id_paths: dict[str, Path] = {}
        for r in spec.rules:
            if r.pair is not None and r.by is not None:
                self.id_paths[r.event] = self.id_paths[r.pair] = r.by
        tracking = spec.parent_key is not None or spec.agent_key is not None
        self.lifecycle = frozenset((self.first, self.final)) if tracking else frozenset()
        self.parent_key, self.agent_key = spec.parent_key, spec.agent_key
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
        return redact.redact(protocol)[:100]


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
    assert _get_proxy is not None
    return _get_proxy(_parse_uri(url))


def _proxy_for(url: str) -> str | None:
    """The proxy websockets would pick for ``url``, resolved once per URL and proxy env.

    Left to itself, websockets (>= 15) scans the whole environment on every connect
    (urllib's ``getproxies`` + ``proxy_bypass``, ~80 µs): a quarter of the client's CPU
    per session on loopback, and a ``KeyError`` when another thread changes
    ``os.environ`` meanwhile (pytest sets ``PYTEST_CURRENT_TEST`` around every test).
    """
    return _resolve_proxy(url, tuple(os.environ.get(name) for name in _PROXY_VARS))


def _connect_args(spec: FlowSpec) -> tuple[str, dict[str, Any]]:
    r = spec.resolved
    url = spec.url
    kwargs: dict[str, Any] = {
        "open_timeout": spec.connect_timeout,
        "close_timeout": 1.0,
        "ping_interval": None,
        "compression": "deflate" if spec.compression else None,
        "max_size": 2**20,
        "user_agent_header": "golden-path-bot",
    }
    if _get_proxy is not None:
        kwargs["proxy"] = _proxy_for(url)
    if spec.ssl_context is not None and url.startswith("wss:"):
        kwargs["ssl"] = spec.ssl_context
    if r.headers is not None:
        kwargs["additional_headers"] = r.headers
    if r.subprotocols is not None:
        kwargs["subprotocols"] = r.subprotocols
    if r.query:
        url = f"{url}{'&' if '?' in url else '?'}{r.query}"
    return url, kwargs


def classify_connect_error(
    exc: BaseException, session: FlowSession, errors: ErrorFrames | None = None
) -> None:
    """Fill ``session`` from a failed opening handshake (and the server's answer, if any)."""
    session.error = redact.redact(f"{type(exc).__name__}: {exc}")[:500]
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


async def _exchange(ws: ClientConnection, spec: FlowSpec, session: FlowSession, t0: float) -> None:
    """Send one message and collect its events; fills ``session`` (ok stays False)."""
    r = spec.resolved
    wanted, first, final, key0 = r.wanted, r.first, r.final, r.key0
    event_key, run_key, lifecycle, id_paths = spec.event_key, spec.run_key, r.lifecycle, r.id_paths
    # the usual run key is two levels deep (data.run_id): read it without a call
    rk0, rk1 = run_key if run_key is not None and len(run_key) == 2 else (None, None)
    ours: Any = _UNSET
    top_agent: Any = _UNSET
    runs: dict[Any, _Seen] = {}
    subs: list[tuple[Any, str, Any]] = []  # sub-agents' first/final frames: (run, event, agent)
    malformed = 0
    timed_out = closed = False
    perf, loads = time.perf_counter, json.loads
    try:
        async with asyncio.timeout(spec.timeout):
            with contextlib.suppress(ConnectionClosed):
                # a server that authenticates after the upgrade may already have closed;
                # its error frame is still buffered, so read on instead of giving up
                await ws.send(spec.message)
            async for raw in ws:
                if isinstance(raw, bytes):
                    malformed += 1
                    continue
                try:
                    msg = loads(raw)
                except ValueError:
                    malformed += 1
                    continue
                if not isinstance(msg, dict):
                    continue
                event: Any = msg.get(key0) if key0 is not None else _dig(msg, event_key)
                try:
                    ours_too = event in wanted
                except TypeError:  # an object where the name should be: not an event
                    ours_too = False
                if not ours_too:
                    if session.error_frame is None:
                        session.error_frame = r.errors.read(msg)
                    continue
                if rk0 is not None:
                    rid = msg.get(rk0)
                    rid = rid.get(rk1) if rid.__class__ is dict else None
                else:
                    rid = _dig(msg, run_key) if run_key else None
                if rid is not None and rid.__class__ is not str and not isinstance(rid, int):
                    rid = None
                if event in lifecycle:  # only with agent_key/parent_key: whose start or end?
                    agent = _dig(msg, r.agent_key) if r.agent_key else None
                    if r.parent_key is not None:
                        parent = _dig(msg, r.parent_key)
                        sub = parent is not None and parent != ""
                    else:
                        sub = top_agent is not _UNSET and agent != top_agent
                    if sub:
                        subs.append((rid, event, agent))
                        continue
                    if ours is _UNSET and event == first:
                        top_agent = agent
                if ours is _UNSET and event == first:
                    ours = rid  # our run is the one that started after our message
                if event in id_paths:
                    pid = _dig(msg, id_paths[event])
                    if pid is not None and not isinstance(pid, str | int):
                        pid = json.dumps(pid, sort_keys=True, default=str)
                else:
                    pid = None
                runs.setdefault(rid, []).append((event, perf() - t0, pid))
                if event == final and (ours is _UNSET or rid == ours):
                    break
            else:
                closed = True
    except TimeoutError:
        timed_out = True
    except ConnectionClosed:
        closed = True

    seen_list = runs.get(ours, []) if ours is not _UNSET else _pick_run(runs, final)
    if timed_out:
        done_subs = [a for rid, e, a in subs if e == final and (ours is _UNSET or rid == ours)]
    else:
        done_subs = []
    _judge(spec, session, seen_list, done_subs, closed, timed_out, malformed, ws)
    session.duration_s = perf() - t0
    if session.ok and spec.max_latency is not None and session.duration_s > spec.max_latency:
        session.ok = False
        session.kind = Kind.SLOW
        session.error = f"{session.duration_s:.3f}s, over the {spec.max_latency:g}s limit"


def _judge(
    spec: FlowSpec,
    session: FlowSession,
    seen_list: _Seen,
    done_subs: list[Any],
    closed: bool,
    timed_out: bool,
    malformed: int,
    ws: ClientConnection,
) -> None:
    """Hold one run's events against the rules; the first broken rule names the failure."""
    r = spec.resolved
    final = r.final
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
    session.events_seen = seen
    session.counts = counts
    session.missing = missing = [e for e, least in r.needs if counts.get(e, 0) < least]
    session.order_violations = [
        f"{after} before {before}"
        for before, after in spec.order
        if before in position and after in position and position[after] < position[before]
    ]
    if r.pairs:
        session.unpaired = _unpaired(seen_list, r.pairs)
    over = [(e, counts[e], most) for e, most in r.caps if counts.get(e, 0) > most]
    if closed or timed_out:
        session.close_code = ws.close_code
        session.close_reason = redact.redact(ws.close_reason or "")[:300]
    if closed and final not in seen:
        code = ws.close_code
        session.kind = (
            Kind.AUTH_REJECTED
            if code == 1008
            else Kind.SERVER_ERROR
            if code == 1011
            else Kind.CLOSED_EARLY
        )
        said = (session.error_frame or {}).get("message")
        if session.close_reason or not said:
            session.error = f"closed {code} {session.close_reason!r} before {final}"
        else:  # no close reason: the error frame is the server's only word
            session.error = f"closed {code} before {final}; the server said: {said}"
    elif timed_out and done_subs:
        names = ", ".join(sorted({redact.redact(str(a))[:60] for a in done_subs if a}))
        session.kind = Kind.AGENT_INCOMPLETE
        session.error = (
            f"the top-level agent sent no {final} within {spec.timeout:g}s; "
            f"sub-agent{' ' + names if names else 's'} did"
        )
    elif timed_out:
        session.kind = Kind.TIMEOUT
        session.error = f"no {final} within {spec.timeout:g}s"
    elif missing:
        session.kind = Kind.MISSING_EVENT
        parts = [
            f"{e} ({counts[e]} of at least {least})" if counts.get(e) else e
            for e, least in r.needs
            if e in missing
        ]
        session.error = "missing " + ", ".join(parts)
    elif session.order_violations:
        session.kind = Kind.OUT_OF_ORDER
        session.error = "; ".join(session.order_violations)
    elif session.unpaired:
        session.kind = Kind.UNPAIRED_EVENT
        shown = session.unpaired[:_MAX_UNPAIRED_SHOWN]
        more = len(session.unpaired) - len(shown)
        session.error = "unpaired " + "; ".join(shown) + (f"; and {more} more" if more else "")
    elif over:
        duplicate = over[0][2] == 1
        session.kind = Kind.DUPLICATE_EVENT if duplicate else Kind.TOO_MANY_EVENTS
        session.error = ("duplicate " if duplicate else "too many ") + ", ".join(
            f"{e} ({n} arrived, at most {most})" for e, n, most in over
        )
    elif malformed:
        session.kind = Kind.PROTOCOL_ERROR
        session.error = f"{malformed} malformed or binary frame(s)"
    else:
        session.ok = True
    if malformed and not session.ok and session.kind is not Kind.PROTOCOL_ERROR:
        session.error += f"; {malformed} malformed or binary frame(s)"


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
            out += [f"{_named(opener, key)} without {closer}"] * n
        out += [f"{_named(closer, key)} without {opener} before it" for key in orphans]
    return out


def _named(event: str, key: Any) -> str:
    return event if key is None else f"{event} {redact.redact(str(key))[:60]}"


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


async def run_connection(spec: FlowSpec, indices: Sequence[int]) -> list[FlowSession]:
    """One connection, ``len(indices)`` runs on it (connection reuse when > 1)."""
    t0 = time.perf_counter()
    url, kwargs = _connect_args(spec)
    sessions = [FlowSession(index=i, ok=False, run=n) for n, i in enumerate(indices)]
    r = spec.resolved
    try:
        ws = await connect(url, **kwargs)
    except Exception as exc:  # a handshake failure is a finding, classified below
        for s in sessions:
            classify_connect_error(exc, s, r.errors)
            s.duration_s = time.perf_counter() - t0
        return sessions
    try:
        shown = r.shown(ws.subprotocol)
        problem = _subprotocol_problem(ws.subprotocol, r) if r.subprotocols else None
        if problem is not None:  # nothing is sent on a socket that ignored our credentials
            for s in sessions:
                s.kind, s.error = problem
                s.subprotocol = shown
                s.duration_s = time.perf_counter() - t0
            return sessions
        for n, session in enumerate(sessions):
            start = t0 if n == 0 else time.perf_counter()
            session.subprotocol = shown
            await _exchange(ws, spec, session, start)
            if not session.ok and not (session.kind and info(session.kind).keeps_connection):
                for rest in sessions[n + 1 :]:  # the connection is gone: same evidence
                    rest.kind, rest.error = session.kind, session.error
                    rest.close_code, rest.close_reason = session.close_code, session.close_reason
                    rest.error_frame = session.error_frame
                break
    finally:
        with contextlib.suppress(Exception):
            await ws.close()
    return sessions


# ``golden-path doctor`` speaks to a backend exactly as a session does (one client, not two):
# these are the session's own connect arguments, exchange and subprotocol check.
connect_args = _connect_args
exchange = _exchange
subprotocol_problem = _subprotocol_problem


class FlowAggregator:
    """Counts passes, keeps failures: memory stays flat however many sessions run."""

    def __init__(self, spec: FlowSpec) -> None:
        self.spec = spec
        self.summary = FlowSummary(url=redact.redact(spec.url))
        self.summary.event_seen = dict.fromkeys(spec.events, 0)
        self.durations = array("d")
        #: event → seconds after connect, one number per session that saw it (flat memory)
        self.event_times: dict[str, array[float]] = {e: array("d") for e in spec.events}

    def add(self, session: FlowSession) -> None:
        s = self.summary
        s.total += 1
        times = self.event_times
        for event, at in session.events_seen.items():
            s.event_seen[event] = s.event_seen.get(event, 0) + 1
            if event in times:
                times[event].append(at)
        if session.ok:
            s.passed += 1
            self.durations.append(session.duration_s)
        else:
            s.failed += 1
            s.failures.append(session)

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
            s.latency_p50_s, s.latency_p95_s = percentiles(self.durations)
        s.event_latency = {
            event: dict(zip(("p50", "p95"), percentiles(times), strict=True))
            for event, times in self.event_times.items()
            if times
        }
        return s


def percentiles(values: Iterable[float]) -> tuple[float, float]:
    """(p50, p95) of ``values`` (nearest rank), rounded to 0.1 ms."""
    ordered = sorted(values)
    p50 = ordered[len(ordered) // 2]
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return round(p50, 4), round(p95, 4)


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
    spec: FlowSpec,
    indices: Sequence[int],
    concurrency: int,
    on_session: Callable[[FlowSession], None],
) -> None:
    work = _chunks(indices, max(1, spec.runs_per_connection))
    n_conn = -(-len(indices) // max(1, spec.runs_per_connection))
    n_workers = max(1, min(concurrency, n_conn))
    step = min(RAMP_STEP_S, RAMP_MAX_S / n_workers)

    async def worker(k: int) -> None:
        if k:
            await asyncio.sleep(k * step)
        for chunk in work:  # a shared iterator: each worker takes the next connection's runs
            for session in await run_connection(spec, chunk):
                on_session(session)

    await asyncio.gather(*(worker(k) for k in range(n_workers)))


def _collect_into(target: dict[int, FlowSession]) -> Callable[[FlowSession], None]:
    def collect(session: FlowSession) -> None:
        target[session.index] = session

    return collect


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
    todo = list(indices) if indices is not None else list(range(sessions))
    agg = FlowAggregator(spec)
    done = 0
    total = len(todo)

    def on_session(session: FlowSession) -> None:
        nonlocal done
        agg.add(session)
        done += 1
        if progress is not None:
            progress(done, total, agg.summary.passed)

    started = time.perf_counter()
    await _run_pool(spec, todo, concurrency, on_session)
    for attempt in range(2, retries + 2):
        failed = agg.summary.failures
        if not failed:
            break
        by_index = {f.index: f for f in failed}
        retried: dict[int, FlowSession] = {}
        await _run_pool(spec, sorted(by_index), concurrency, _collect_into(retried))
        still: list[FlowSession] = []
        for index, old in by_index.items():
            new = retried[index]
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


def shard_indices(total: int, shard: tuple[int, int] | None) -> list[int]:
    """Deterministic, balanced split: session i belongs to shard (i mod n) + 1."""
    if shard is None:
        return list(range(total))
    k, n = shard
    return list(range(k - 1, total, n))


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
        if isinstance(only, str | list):  # a /retest of the failed sessions
            indices = decode_ranges(only) if isinstance(only, str) else [int(i) for i in only]
        else:
            indices = shard_indices(total, ctx.shard)
        ctx.log(
            f"agent flow: {len(indices)} sessions against {redact.redact(url)}, "
            f"{flow_cfg.concurrency} in flight",
            "info",
        )
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

    def compact(self, result: FlowSummary) -> FlowSummary:
        return dataclasses.replace(
            result,
            failures=result.failures[:STATE_FAILURES],
            flaky_sessions=result.flaky_sessions[:STATE_FAILURES],
        )

    def cases(self, result: FlowSummary) -> list[JunitCase]:
        """One case per session: failures with their evidence, passes by index."""
        if result.skipped:
            return []
        cls = "golden_path.agent_flow"
        out = [
            JunitCase(f"session {f.index}", cls, f.duration_s, f"{f.kind}: {f.error}")
            for f in result.failures
        ]
        failed = {f.index for f in result.failures}
        flaky = set(result.flaky_sessions)
        passes, i = result.passed + result.flaky, 0
        while passes:
            if i not in failed:
                name = f"session {i}" + (" (flaky)" if i in flaky else "")
                out.append(JunitCase(name, cls, result.latency_p50_s or 0.0))
                passes -= 1
            i += 1
        return out
