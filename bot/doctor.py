"""``golden-path doctor``: first contact with an unknown backend.

A config for a real backend is mostly facts about its frames: where the event name sits,
which field ties a frame to its run, how sub-agents are marked, which ids pair a tool call
with its result, what an error looks like. Guessing them from documentation fails quietly
(a wrong ``run_key`` ignores every frame), so the doctor asks the backend instead: it
connects ONCE with the configured token transport (the session's own connect arguments,
not a second client), sends the configured message, records every frame until the
top-level agent's final event, a close or the timeout (bounded), and reads the facts off
the recording. The proposed ``checks.agent_flow`` block is then replayed through the bot's
own checker on the same frames, so "it would pass" is checked, not hoped.

Everything the server said is untrusted: it is kept in memory, and every line printed goes
through :class:`~bot.runtime.Console` (redacted, inert for the Actions runner).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.runtime import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Console

if TYPE_CHECKING:
    from bot.checks.agent_flow import FlowSpec
    from bot.config import AgentFlow, Config
    from bot.results import FlowSession
    from bot.settings import Settings

MAX_FRAMES = 500
MAX_BYTES = 200_000
SHOWN = 240  # characters of one frame shown as an example
_DEPTH = 4  # levels of nesting searched for key paths
_AUTH_WORDS = re.compile(r"(?i)auth|token|jwt|credential|unauthori[sz]ed|forbidden|expired")
_ERROR_WORDS = re.compile(r"(?i)error|fail|exception")
#: Run-id field names by how specific they are to one run: a field that is constant on the
#: whole connection (user, thread) would make other runs' frames look like ours.
_RUN_WORDS = ("run",)
_TURN_WORDS = ("turn", "request", "message", "response", "task", "execution", "correlation")
_WIDE_WORDS = ("user", "thread", "conversation", "session", "connection", "client", "tenant")


# ------------------------------------------------------------------------------ recording


@dataclass(slots=True)
class Recording:
    """What one connection showed: the handshake, every frame (bounded) and how it ended."""

    frames: list[str | bytes] = field(default_factory=list)
    parsed: list[Any] = field(default_factory=list)  # dict per JSON object frame, else None
    size: int = 0
    stop: str = ""  # final | closed | timeout | frames | bytes
    close_code: int | None = None
    close_reason: str = ""
    subprotocol: str | None = None
    subprotocol_problem: tuple[Any, str] | None = None
    connect_error: FlowSession | None = None
    connect_s: float = 0.0
    elapsed_s: float = 0.0

    def add(self, raw: str | bytes) -> None:
        self.frames.append(raw)
        self.size += len(raw)
        msg: Any = None
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                msg = json.loads(raw)
        self.parsed.append(msg if isinstance(msg, dict) else None)


async def record(spec: FlowSpec, flow: AgentFlow, wait_s: float) -> Recording:
    """Connect once, send the message, keep every frame until the run is complete (or
    ``wait_s`` passes without it)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from bot.checks.agent_flow import classify_connect_error, connect_args, subprotocol_problem
    from bot.results import FlowSession

    rec = Recording()
    url, kwargs = connect_args(spec)
    t0 = time.perf_counter()
    try:
        ws = await connect(url, **kwargs)
    except Exception as exc:  # the handshake failed: classified as a session would be
        session = FlowSession(index=0, ok=False)
        classify_connect_error(exc, session, spec.error_frames)
        rec.connect_error = session
        rec.elapsed_s = time.perf_counter() - t0
        return rec
    rec.connect_s = time.perf_counter() - t0
    final = flow.events[-1]
    try:
        rec.subprotocol = ws.subprotocol
        if spec.resolved.subprotocols:
            rec.subprotocol_problem = subprotocol_problem(ws.subprotocol, spec.resolved)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(spec.message)
        try:
            async with asyncio.timeout(wait_s):
                async for raw in ws:
                    rec.add(raw)
                    if len(rec.frames) >= MAX_FRAMES:
                        rec.stop = "frames"
                        break
                    if rec.size >= MAX_BYTES:
                        rec.stop = "bytes"
                        break
                    # cheap test first: only a frame naming the final event can end the run
                    if isinstance(raw, str) and final in raw and learn(rec, flow).complete:
                        rec.stop = "final"
                        break
                else:
                    rec.stop = "closed"
        except TimeoutError:
            rec.stop = "timeout"
        except ConnectionClosed:
            rec.stop = "closed"
        if rec.stop == "closed":
            rec.close_code, rec.close_reason = ws.close_code, ws.close_reason or ""
    finally:
        with contextlib.suppress(Exception):
            await ws.close()
        rec.elapsed_s = time.perf_counter() - t0
    return rec


# ------------------------------------------------------------------------------ learning


def _leaves(msg: Mapping[str, Any], prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) in a frame; keys with dots cannot be addressed, so skipped."""
    for key, value in msg.items():
        if not isinstance(key, str) or "." in key or not key:
            continue
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and depth < _DEPTH:
            yield from _leaves(value, path + ".", depth + 1)
        else:
            yield path, value


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _last(path: str) -> str:
    return path.rpartition(".")[2].lower()


@dataclass(slots=True)
class Pair:
    opener: str
    closer: str
    by: str
    calls: int


@dataclass(slots=True)
class Learned:
    """The facts read off a recording (see :func:`learn`)."""

    event_key: str | None = None
    type_values: Counter[str] = field(default_factory=Counter)  # every value at the event key
    run_key: str | None = None
    run_id: Any = None
    run_frames: int = 0
    foreign: int = 0  # event frames of other runs
    agent_key: str | None = None
    agents: list[str] = field(default_factory=list)
    parent_key: str | None = None
    sub_frames: int = 0  # sub-agents' first/final events: not counted, do not end the run
    counts: dict[str, int] = field(default_factory=dict)  # as the bot counts them
    order: list[str] = field(default_factory=list)  # first arrivals, in order
    pairs: list[Pair] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    unknown_error_types: list[str] = field(default_factory=list)
    complete: bool = False
    malformed: int = 0
    binary: int = 0

    @property
    def missing(self) -> list[str]:
        return [e for e, n in self.counts.items() if n == 0]


def _event_key(flats: Sequence[dict[str, Any] | None], events: set[str], configured: str) -> Any:
    score: Counter[str] = Counter()
    for flat in flats:
        for path, value in (flat or {}).items():
            if isinstance(value, str) and value in events:
                score[path] += 1
    if not score:
        return None
    best = max(score.values())
    if score.get(configured) == best:
        return configured
    return min((p for p, n in score.items() if n == best), key=lambda p: (p.count("."), p))


def _run_key(group: Sequence[dict[str, Any]], configured: str | None, skip: set[str]) -> Any:
    """The field that names the run: on (nearly) every event frame, mostly one value."""
    need = 0.9 * len(group)
    if configured and sum(1 for f in group if _scalar(f.get(configured))) >= need:
        return configured
    ranked = []
    for path in {p for f in group for p in f} - skip:
        name = _last(path)
        if "run" not in name and not name.endswith("id"):
            continue
        values = [f[path] for f in group if _scalar(f.get(path))]
        if len(values) < need:
            continue
        top = Counter(values).most_common(1)[0][1]
        if top < 0.5 * len(group):
            continue
        tier = (
            3
            if any(w in name for w in _RUN_WORDS)
            else 2
            if any(w in name for w in _TURN_WORDS)
            else 0
            if any(w in name for w in _WIDE_WORDS)
            else 1
        )
        ranked.append(((tier, top, -path.count(".")), path))
    return max(ranked)[1] if ranked else None


def _parent_key(run: Sequence[dict[str, Any]], configured: str | None, skip: set[str]) -> Any:
    """A parent-like field set on some frames of the run and absent (or null) on others.

    A configured one is kept when this run had no sub-agent to contradict it, and dropped
    when it is set on every frame (then every start and end would look like a sub-agent's).
    """

    def on(path: str) -> int:
        return sum(1 for f in run if f.get(path) not in (None, ""))

    if configured and 0 < on(configured) < len(run):
        return configured
    found = sorted(
        {p for f in run for p in f if "parent" in _last(p)} - skip,
        key=lambda p: (p.count("."), p),
    )
    hit = next((p for p in found if 0 < on(p) < len(run)), None)
    if hit is not None:
        return hit
    return configured if configured and on(configured) == 0 else None


def _agent_key(
    run: Sequence[dict[str, Any]], configured: str | None, parent: str | None, skip: set[str]
) -> Any:
    """The field naming the agent: differs within the run; the parent's values are among its."""
    need = 0.9 * len(run)
    if configured and sum(1 for f in run if _scalar(f.get(configured))) >= need:
        return configured
    parents = {f[parent] for f in run if parent and _scalar(f.get(parent))}
    ranked = []
    for path in {p for f in run for p in f} - skip:
        values = [f[path] for f in run if isinstance(f.get(path), str)]
        if len(values) < need or len(set(values)) < 2:
            continue
        holds_parents = bool(parents) and parents <= set(values)
        named = "agent" in path.lower()
        if not (holds_parents or (named and not parent)):
            continue
        ranked.append(((holds_parents, named, "name" in _last(path), -path.count(".")), path))
    return max(ranked)[1] if ranked else None


def _pairs(
    counted: Sequence[tuple[str, dict[str, Any]]],
    candidates: Iterable[tuple[str, str]],
    skip: set[str],
) -> list[Pair]:
    """Event pairs whose arrivals match one to one by an id-like field (a call id)."""
    by_event: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for pos, (event, flat) in enumerate(counted):
        by_event.setdefault(event, []).append((pos, flat))
    out: list[Pair] = []
    used: set[str] = set()
    for opener, closer in candidates:
        opens, closes = by_event.get(opener, []), by_event.get(closer, [])
        if opener in used or not opens or len(opens) != len(closes):
            continue
        ranked = []
        for path in set(opens[0][1]) - skip:
            ids = [f.get(path) for _, f in opens]
            done = [f.get(path) for _, f in closes]
            if not all(_scalar(v) for v in ids + done) or len(set(ids)) != len(ids):
                continue
            if sorted(map(str, ids)) != sorted(map(str, done)):
                continue
            opened_at = {v: pos for (pos, _), v in zip(opens, ids, strict=True)}
            if any(opened_at[v] > pos for (pos, _), v in zip(closes, done, strict=True)):
                continue
            name = _last(path)
            if "id" not in name:  # a tool's name pairs its calls only while each tool runs once
                continue
            ranked.append(((name.endswith("id"), -path.count(".")), path))
        if ranked:
            out.append(Pair(opener, closer, max(ranked)[1], len(opens)))
            used.update((opener, closer))
    return out


def _error_shape(errors: Any, msg: dict[str, Any]) -> dict[str, str] | None:
    """The frame's error fields and the paths they were found at (None: not an error)."""
    read = errors.read(msg)
    if read is None:
        return None
    shape = {"type": read["type"], "code": read["error_code"], "message": read["message"]}
    flat = dict(_leaves(msg))
    for key, paths in (("code_at", errors.code_paths), ("message_at", errors.message_paths)):
        for path in paths:
            value = flat.get(".".join(path))
            if value not in (None, "") and not isinstance(value, dict):
                shape[key] = ".".join(path)
                break
    return shape


def learn(rec: Recording, flow: AgentFlow) -> Learned:
    """Read the event key, run id, agents, counts, pairs and error shapes off ``rec``."""
    from bot.checks.agent_flow import FlowSpec

    events = list(flow.events)
    first, final = events[0], events[-1]
    errors = FlowSpec.from_config(flow, "ws://doctor.invalid/", None).error_frames
    out = Learned()
    out.binary = sum(1 for raw in rec.frames if isinstance(raw, bytes))
    out.malformed = sum(
        1
        for raw, msg in zip(rec.frames, rec.parsed, strict=True)
        if isinstance(raw, str) and not msg
    )
    flats = [dict(_leaves(msg)) if msg is not None else None for msg in rec.parsed]
    for msg in rec.parsed:
        if msg is None:
            continue
        shape = _error_shape(errors, msg)
        if shape is not None and shape not in out.errors:
            out.errors.append(shape)
    out.event_key = _event_key(flats, set(events), flow.event_key)
    type_key = out.event_key or flow.event_key
    for flat in flats:
        value = (flat or {}).get(type_key)
        if isinstance(value, str):
            out.type_values[value] += 1
    known_errors = set(flow.error_frames.types)
    out.unknown_error_types = sorted(
        t for t in out.type_values if _ERROR_WORDS.search(t) and t not in known_errors
    )
    out.counts = dict.fromkeys(events, 0)
    if out.event_key is None:
        return out
    group = [f for f in flats if f is not None and f.get(out.event_key) in out.counts]
    skip = {out.event_key}
    out.run_key = _run_key(group, flow.run_key, skip)
    run = group
    if out.run_key is not None:
        starts = [f for f in group if f.get(out.event_key) == first]
        out.run_id = (starts or group)[0].get(out.run_key)
        run = [f for f in group if f.get(out.run_key) == out.run_id]
        skip.add(out.run_key)
    out.foreign = len(group) - len(run)
    out.parent_key = _parent_key(run, flow.parent_key, skip)
    out.agent_key = _agent_key(run, flow.agent_key, out.parent_key, skip | {out.parent_key or ""})
    tracking = out.agent_key is not None or out.parent_key is not None
    if out.agent_key is not None:
        out.agents = list(dict.fromkeys(str(f[out.agent_key]) for f in run if out.agent_key in f))
    counted: list[tuple[str, dict[str, Any]]] = []
    top_agent: Any = None
    for flat in run:
        event = flat[out.event_key]
        if tracking and event in (first, final):
            if out.parent_key is not None:
                sub = flat.get(out.parent_key) not in (None, "")
            else:
                agent = flat.get(out.agent_key or "")
                sub = top_agent is not None and agent != top_agent
            if sub:
                out.sub_frames += 1
                continue
            if top_agent is None and event == first and out.agent_key is not None:
                top_agent = flat.get(out.agent_key)
        counted.append((event, flat))
        out.counts[event] += 1
        if event not in out.order:
            out.order.append(event)
        if event == final:
            out.complete = True
            break
    lifecycle = {first, final}
    named = [
        (a, b)
        for a in events
        for b in events
        if a != b and not {a, b} & lifecycle and a.rpartition("_")[0] == b.rpartition("_")[0]
    ]
    candidates = [(a, b) for a, b in flow.order if not {a, b} & lifecycle] + named
    out.pairs = _pairs(counted, dict.fromkeys(candidates), skip | {out.agent_key or ""})
    return out


# ------------------------------------------------------------------------------ the proposal


@dataclass(slots=True)
class Proposal:
    """The proposed ``checks.agent_flow`` block and why it differs from the configured one."""

    block: dict[str, Any]
    learned: list[str]  # facts of the backend the config did not say (or said wrong)
    relaxed: list[str]  # configured promises this run broke: healthy backend, or a fault?


def _rule_dict(least: int, most: int | None, pair: str | None, by: str | None) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if (least, most) == (1, 1):
        rule["exactly_once"] = True
    else:
        if least != 1:
            rule["min"] = least
        if most is not None:
            rule["max"] = most
    if pair is not None:
        rule["pair"] = pair
        if by is not None:
            rule["by"] = by
    return rule


def _word(value: Any) -> str:
    return "unset" if value is None else str(value)


def propose(flow: AgentFlow, seen: Learned, rec: Recording, url: str | None) -> Proposal:
    """The configured block, changed only where what was seen says it cannot pass."""
    from bot.config import AgentFlow

    learned: list[str] = []
    relaxed: list[str] = []
    block = flow.model_dump(mode="json", exclude_defaults=True, by_alias=True)
    if url is not None:
        block["url"] = url
    events = [e for e in flow.events if seen.counts.get(e)]
    dropped = [e for e in flow.events if not seen.counts.get(e)]
    if dropped:
        relaxed.append(f"events: {', '.join(dropped)} never arrived, so they are left out")
    agent = seen.agent_key
    if agent != flow.agent_key and seen.parent_key is None and not seen.sub_frames:
        agent = None  # nothing here shows sub-agents: a new agent key would only add risk
    for key, value in (
        ("event_key", seen.event_key),
        ("run_key", seen.run_key),
        ("agent_key", agent),
        ("parent_key", seen.parent_key),
    ):
        if value != getattr(flow, key):
            block[key] = value
            why = ""
            if key in ("agent_key", "parent_key") and seen.sub_frames and value is not None:
                why = f"; without it a sub-agent's {flow.events[-1]} ends the run early"
            learned.append(f"{key}: {_word(value)} (configured: {_word(getattr(flow, key))}{why})")
    rules: dict[str, dict[str, Any]] = {}
    pairs = {p.opener: p for p in seen.pairs}
    for event in events:
        configured = flow.rules.get(event)
        least, most = configured.bounds() if configured else (1, None)
        pair = configured.pair if configured else None
        by = configured.by if configured else None
        n = seen.counts[event]
        if most is not None and n > most:
            relaxed.append(f"rules.{event}: arrived {n} times, more than max {most}: no limit")
            most = None
        if n < least:
            relaxed.append(f"rules.{event}: arrived {n} times, fewer than min {least}: min {n}")
            least = n
        found = pairs.get(event)
        if found is not None and (pair, by) != (found.closer, found.by):
            note = f"rules.{event}: pairs with {found.closer} by {found.by}"
            if pair is not None and by is not None:
                relaxed.append(f"{note}, not {pair} by {by}")
            else:
                learned.append(note)
            pair, by = found.closer, found.by
        elif found is None and pair is not None and (by is not None or pair not in events):
            relaxed.append(f"rules.{event}: no {pair} matched each arrival by {by}: pair dropped")
            pair, by = None, None
        rule = _rule_dict(least, most, pair, by)
        if rule:
            rules[event] = rule
    block["events"] = events
    block["rules"] = rules
    position = {e: i for i, e in enumerate(seen.order)}
    order = [[a, b] for a, b in flow.order if a in events and b in events]
    kept = [[a, b] for a, b in order if position[a] <= position[b]]
    for a, b in order:
        if [a, b] not in kept:
            relaxed.append(f"order: [{a}, {b}] dropped ({b} arrived first)")
    derived = [list(p) for p in AgentFlow.model_validate({"events": events}).order]
    block.pop("order", None)
    if kept != derived:
        block["order"] = kept
    if flow.strict_order and seen.order != [e for e in events if e in position]:
        block["strict_order"] = False
        relaxed.append("strict_order: false (events arrived in another order than listed)")
    if seen.unknown_error_types:
        frames = block.setdefault("error_frames", {})
        frames["types"] = [*flow.error_frames.types, *seen.unknown_error_types]
        learned.append(f"error_frames.types: + {', '.join(seen.unknown_error_types)}")
    transport = flow.token_transport
    if rec.subprotocol in transport.extra_subprotocols and transport.expect_selected is None:
        block.setdefault("token_transport", {})["expect_selected"] = rec.subprotocol
        learned.append(f"token_transport.expect_selected: {rec.subprotocol} (the server's choice)")
    # in the order of the reference, so the block reads like the README's
    ordered = {k: block[k] for k in AgentFlow.model_fields if k in block}
    return Proposal(ordered, learned, relaxed)


class _Replay:
    """The recorded frames played back as the socket the bot's checker reads."""

    def __init__(self, rec: Recording) -> None:
        self._frames = rec.frames
        self.close_code = rec.close_code
        self.close_reason = rec.close_reason

    async def send(self, message: str) -> None:
        return None

    def __aiter__(self) -> Any:
        return self._play()

    async def _play(self) -> Any:
        for frame in self._frames:
            yield frame


def replay(rec: Recording, spec: FlowSpec) -> FlowSession:
    """The bot's own verdict on the recorded frames, under ``spec``."""
    from bot.checks.agent_flow import exchange

    return asyncio.run(exchange(_Replay(rec), spec))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ the command


def _transport(spec: FlowSpec, flow: AgentFlow) -> str:
    r = spec.resolved
    if spec.token is None:
        return "no token"
    if r.headers is not None:
        # said without a colon: "Authorization: Bearer …" reads as a credential to the redactor
        scheme = f" (scheme {spec.scheme})" if spec.scheme else ""
        return f"token in the {next(iter(r.headers))} header{scheme}"
    if r.query:
        return f"token in the query parameter {spec.query_param}"
    extra = (
        f", offered after {', '.join(spec.extra_subprotocols)}" if spec.extra_subprotocols else ""
    )
    encoding = " (base64url)" if spec.encoding == "base64url" else ""
    return f"token in the subprotocol {flow.token_subprotocol()}{encoding}{extra}"


def _shown(raw: str | bytes) -> str:
    from bot import redact

    if isinstance(raw, bytes):
        return f"<binary frame, {len(raw)} bytes>"
    text = redact.redact(" ".join(raw.split()))
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _counts_line(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{e} ×{n}" for e, n in counts.items()) or "none"


def _auth_refusal(rec: Recording, seen: Learned) -> str | None:
    """The server's words when it refused our token, else None."""
    said = [f"{e['code']}: {e['message']}" if e["code"] else e["message"] for e in seen.errors]
    authish = [s for s in said if _AUTH_WORDS.search(s)]
    if rec.close_code == 1008 or authish:
        parts = authish or said
        close = f"closed {rec.close_code} {rec.close_reason!r}" if rec.close_code else ""
        return "; ".join([*parts[:2], close] if close else parts[:2]) or "no reason given"
    return None


def _connect_failure(session: FlowSession) -> str:
    frame = session.error_frame or {}
    said = frame.get("message", "")
    status = f"HTTP {session.handshake_status}" if session.handshake_status else ""
    words = "; ".join(w for w in (status, said or session.error) if w)
    if str(session.kind) == "auth_rejected":
        return f"the backend refused our token at the handshake: {words}"
    return f"the WebSocket handshake failed ({session.kind}): {words}"


def doctor(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """Connect once, learn the backend's frames, print them and a block that passes on them."""
    from bot import redact
    from bot.checks.agent_flow import FlowSpec
    from bot.config import AgentFlow, ConfigError, load_config
    from bot.pipeline import mint

    out = console.line
    cfg: Config = load_config(args.config)
    flow = cfg.checks.agent_flow
    if flow is None:
        out("checks.agent_flow is null in the config: probing with its defaults")
        flow = AgentFlow()
    url_override: str | None = None
    try:
        if args.url and args.url.split(":", 1)[0] in ("ws", "wss"):
            url = url_override = args.url
        else:
            url = cfg.resolve_url(flow.url, args.url or cfg.base_url(None), websocket=True)
    except ConfigError as exc:
        out(f"golden-path doctor: {exc} — or pass --url ws://host/path")
        return EXIT_USAGE
    token = mint(cfg, settings.env) if flow.token_in != "none" else None
    if token is None and flow.token_in != "none":
        out("⚠️  no auth: section (auth.jwt or auth.token_env): connecting without a token")
    redact.register(token)
    spec = FlowSpec.from_config(flow, url, token)
    timeout = args.timeout if args.timeout is not None else flow.timeout

    out(f"golden-path doctor: {redact.redact(url)} ({_transport(spec, flow)})")
    from bot.runtime import run_async

    rec = run_async(record(spec, flow, timeout))
    if rec.connect_error is not None:
        out(f"❌ {_connect_failure(rec.connect_error)}")
        return EXIT_FAILED
    r = spec.resolved
    offered = ", ".join(r.shown(p) or "" for p in r.subprotocols or ())
    out(
        f"connected in {rec.connect_s:.2f}s; subprotocol selected: "
        f"{r.shown(rec.subprotocol) or 'none'}" + (f" (offered: {offered})" if offered else "")
    )
    out(f"sent: {_shown(spec.message)}")
    seen = learn(rec, flow)
    stopped = {
        "final": f"the top-level agent's {flow.events[-1]} arrived",
        "closed": f"the server closed the connection ({rec.close_code} {rec.close_reason!r})",
        "timeout": f"no more frames within {timeout:g}s",
        "frames": f"the {MAX_FRAMES}-frame limit",
        "bytes": f"the {MAX_BYTES // 1000} KB limit",
    }[rec.stop]
    out(
        f"recorded {len(rec.frames)} frames ({rec.size / 1000:.1f} KB) in {rec.elapsed_s:.2f}s; "
        f"stopped at {stopped}"
    )
    _print_learned(out, rec, seen, flow, args.frames or args.debug)

    reason = _verdict(rec, seen, flow, spec)
    if reason is not None:
        out(f"❌ {reason}")
        return EXIT_FAILED
    from bot.config import parse_config

    current = replay(rec, spec)
    if current.ok:
        said = "✅ passes"
    elif str(current.kind) == "closed_early" and rec.stop != "closed":
        # the recording ended, not the connection: live, the session would wait for it
        said = f"❌ timeout: no {flow.events[-1]} it recognises ends the run"
    else:
        said = f"❌ {current.kind}: {current.error}"
    out(f"your checks.agent_flow on this run: {said}")
    proposal = propose(flow, seen, rec, url_override)
    try:
        proposed = parse_config({"checks": {"agent_flow": proposal.block}}, source="<doctor>")
    except ConfigError as exc:  # a doctor bug, said as such rather than printed as advice
        out(f"❌ the proposed block does not load: {exc}")
        return EXIT_FAILED
    assert proposed.checks.agent_flow is not None
    check = replay(rec, FlowSpec.from_config(proposed.checks.agent_flow, url, token))
    _print_proposal(console, proposal)
    if not check.ok:
        out(f"❌ replayed through the bot's checker, the proposal fails: {check.error}")
        return EXIT_FAILED
    missing = [e for e in flow.events if not seen.counts.get(e)]
    if missing:
        out(
            f"❌ the run completed without {', '.join(missing)}: if this backend never sends "
            "them, take the proposal (it leaves them out); otherwise they are broken"
        )
        return EXIT_FAILED
    if proposal.relaxed:
        out(
            "⚠️  the proposal relaxes what your config promises (marked ⚠️ above): take it only "
            "if this run was healthy"
        )
    out(
        "✅ a complete run; replayed through the bot's checker, the proposal passes. Put it "
        f"in {args.config} and run `golden-path run`."
    )
    return EXIT_OK


def _verdict(rec: Recording, seen: Learned, flow: AgentFlow, spec: FlowSpec) -> str | None:
    """Why no block can be proposed, or None when a complete run was seen."""
    final = flow.events[-1]
    if rec.subprotocol_problem is not None:
        kind, why = rec.subprotocol_problem
        return f"{why} ({kind}: a browser would fail this socket)"
    if seen.complete:
        return None
    refusal = _auth_refusal(rec, seen)
    if refusal is not None:
        return f"the backend refused our token ({_transport(spec, flow)}): {refusal}"
    arrived = _counts_line({e: n for e, n in seen.counts.items() if n})
    subs = (
        f"; sub-agents started or ended {seen.sub_frames} time(s), but only the top-level "
        f"agent's {final} ends the run"
        if seen.sub_frames
        else ""
    )
    if rec.stop == "closed":
        said = "; ".join(
            f"{e['code']}: {e['message']}" if e["code"] else e["message"] for e in seen.errors[:2]
        )
        return (
            f"the server closed the connection ({rec.close_code} {rec.close_reason!r}) before "
            f"the top-level agent's {final}"
            + (f"; it said: {said}" if said else "")
            + f" (events that arrived: {arrived}{subs})"
        )
    if seen.event_key is None:
        others = _counts_line(dict(seen.type_values.most_common(8)))
        return (
            f"none of the configured events ({', '.join(flow.events)}) arrived in any frame; "
            f"values at {flow.event_key}: {others} — check checks.agent_flow.events and message"
        )
    limit = {"timeout": "within the timeout", "frames": "within the frame limit"}
    return (
        f"no complete run: the top-level agent's {final} did not arrive "
        f"{limit.get(rec.stop, 'within the size limit')} (events that arrived: {arrived}{subs})"
    )


def _print_learned(
    out: Any, rec: Recording, seen: Learned, flow: AgentFlow, all_frames: bool
) -> None:
    out("")
    out("What it learned")
    if seen.event_key is not None:
        with_key = sum(seen.type_values.values())
        out(f"  event key      {seen.event_key} (on {with_key} of {len(rec.frames)} frames)")
    if seen.run_key is not None:
        other = f"; {seen.foreign} frame(s) of other runs ignored" if seen.foreign else ""
        events = sum(seen.counts.values())
        out(f"  run id         {seen.run_key} ({events} events of our run{other})")
    elif seen.event_key is not None:
        out("  run id         none found: every matching frame counts (run_key: null)")
    if seen.agent_key is not None:
        out(f"  agent          {seen.agent_key} ({', '.join(seen.agents[:6])})")
    if seen.parent_key is not None:
        out(
            f"  parent         {seen.parent_key} (set on sub-agents' frames; the top-level "
            f"agent's have none; {seen.sub_frames} sub-agent start/end frame(s) not counted)"
        )
    if seen.event_key is not None:
        repeats = [e for e, n in seen.counts.items() if n > 1]
        out(
            f"  events         {_counts_line(seen.counts)}"
            + (f" — repeats: {', '.join(repeats)}" if repeats else "")
        )
        others = {t: n for t, n in seen.type_values.items() if t not in seen.counts}
        if others:
            out(f"  other frames   {_counts_line(others)} (not checked)")
    for pair in seen.pairs:
        calls = f"{pair.calls} call{'s' if pair.calls != 1 else ''}"
        out(f"  pairs          {pair.opener} → {pair.closer} by {pair.by} ({calls})")
    for shape in seen.errors:
        where = ", ".join(f"{k[:-3]} at {v}" for k, v in shape.items() if k.endswith("_at"))
        code = f"{shape['code']}: " if shape["code"] else ""
        out(
            f"  error frame    type {shape['type'] or '(none)'}; "
            f"{where or 'text: the whole frame'}: {code}{shape['message']}"
        )
    if seen.unknown_error_types:
        out(
            f"  error types    {', '.join(seen.unknown_error_types)} look like errors but are "
            "not in error_frames.types"
        )
    if seen.binary or seen.malformed:
        out(f"  bad frames     {seen.binary} binary, {seen.malformed} not a JSON object")
    if rec.stop == "closed":
        out(f"  close          {rec.close_code} {rec.close_reason!r}")
    else:
        out("  close          the server did not close (we did, after recording)")
    out("")
    shown: set[Any] = set()
    out("Frames (redacted; --frames shows all)" if not all_frames else "Frames (redacted)")
    for raw, msg in zip(rec.frames, rec.parsed, strict=True):
        kind = (msg or {}).get(seen.event_key or flow.event_key) if msg else None
        key = kind if isinstance(kind, str) else repr(type(raw))
        if all_frames or key not in shown:
            shown.add(key)
            out(f"  {_shown(raw)}")


def _print_proposal(console: Console, proposal: Proposal) -> None:
    import yaml

    console.line("")
    console.line(
        "Proposed checks.agent_flow (only what differs from the defaults, plus events and rules):"
    )
    for note in proposal.learned:
        console.line(f"  learned: {note}")
    for note in proposal.relaxed:
        console.line(f"  ⚠️ relaxed: {note}")
    console.line("")
    text = yaml.safe_dump(
        {"checks": {"agent_flow": proposal.block}},
        sort_keys=False,
        default_flow_style=None,
        width=100,
        allow_unicode=True,
    )
    console.block(text.rstrip("\n"))
    console.line("")
