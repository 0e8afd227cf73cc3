"""Session state: what the loop remembers between runs, stored in the tracking issue itself.

The state travels inside the issue body as a hidden, versioned JSON block, so the bot
needs no other storage and any run — on any runner — can pick it up. Runs may overlap,
so state is reconciled by entry id rather than overwritten: two runs that read the same
body and both append an iteration must both survive.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.issue_format import (
    STATE_BLOCK,
    STATE_CLOSE,
    STATE_OPEN,
    STATE_START,
    damaged_region,
    owned_region,
)
from bot.redact import redact_obj

STATE_VERSION = 1


class StateError(ValueError):
    """The state block exists but cannot be read."""


class StateForged(StateError):
    """The state block's signature does not match: written by someone other than the bot.

    Nothing of it may be used (salvaging would import what a forger wrote).
    """


def state_key(material: str | None) -> bytes | None:
    """The signing key, derived from a secret the bot already holds (None: no secret)."""
    if not material:
        return None
    return hmac.new(material.encode("utf-8"), b"golden-path state block v1", "sha256").digest()


def mac(key: bytes, text: str) -> str:
    """The state block's signature: HMAC-SHA256 over its exact text, 32 hex digits."""
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def now_iso(precise: bool = False) -> str:
    """UTC, ISO 8601 with Z; ``precise`` keeps milliseconds (log order within a second)."""
    moment = datetime.now(UTC)
    if precise:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(slots=True)
class LogEntry:
    id: str
    at: str
    text: str
    level: str = "info"  # info | warning | error | success


#: Runs remembered by id in one folded row (enough to reconcile concurrent runs).
RUN_IDS_KEPT = 20
#: Rows kept in the state; older ones are folded into ``SessionState.earlier``.
RECORDS_KEPT = 50


@dataclass(slots=True)
class IterationRecord:
    """One row of the history: a result, and every consecutive run that repeated it."""

    id: str
    at: str  # the first run with this result
    status: str
    passed: int
    failed: int
    flaky: int = 0
    golden_passing: int = 0
    golden_run: int = 0
    duration_s: float = 0.0
    trigger: str = ""
    sha: str = ""
    run_url: str = ""
    blocker: str = ""
    n: int = 0  # position in the history; recomputed when states are reconciled
    repeats: int = 1  # consecutive runs with this same result
    last_at: str = ""  # the newest of them (== at when repeats == 1)
    last_sha: str = ""
    last_run_url: str = ""
    last_trigger: str = ""
    runs: list[str] = field(default_factory=list)  # ids of the newest runs folded in
    answer_p50: float | None = None  # seconds to the agent's final event (passing sessions)
    answer_p95: float | None = None

    @property
    def updated_at(self) -> str:
        return self.last_at or self.at


#: Resolved blockers kept in the state; older ones leave a line in the (archived) log.
BLOCKERS_KEPT = 10


@dataclass(slots=True)
class BlockerRecord:
    """One blocker's story: when it appeared and went, its Five Whys, its evidence.

    A new blocker starts a fresh Five Whys; answers stay with the blocker they were given
    for, so the next blocker never shows them.
    """

    id: str  # B1, B2, … in order of appearance
    kind: str
    root: str
    first_seen: str
    first_sha: str = ""
    last_seen: str = ""
    resolved_at: str = ""
    resolved_sha: str = ""
    runs: int = 1  # iterations it blocked
    whys: dict[str, dict[str, str]] = field(default_factory=dict)  # "2" → answer/author/at
    proposals: dict[str, dict[str, str]] = field(default_factory=dict)  # "2" → answer/by/basis
    evidence: dict[str, Any] = field(default_factory=dict)  # window, logs, notes

    @property
    def resolved(self) -> bool:
        return bool(self.resolved_at)

    def answers(self) -> dict[int, dict[str, str]]:
        return {int(k): v for k, v in self.whys.items() if k.isdigit()}


@dataclass(slots=True)
class Archive:
    """Older log entries moved out of the body (a comment, or a file for the local tracker)."""

    ref: str  # comment URL or file path
    first_at: str
    last_at: str
    count: int
    ids: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, ref: str, entries: Sequence[LogEntry]) -> Archive:
        return cls(ref, entries[0].at, entries[-1].at, len(entries), [e.id for e in entries])


@dataclass(slots=True)
class SessionState:
    environment: str = "staging"
    session_id: str = field(default_factory=new_id)
    started_at: str = field(default_factory=now_iso)
    status: str = "new"
    closed_at: str = ""
    sessions: int = 1
    iterations: list[IterationRecord] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    archives: list[Archive] = field(default_factory=list)
    blockers: list[BlockerRecord] = field(default_factory=list)  # oldest first
    last_failed: dict[str, Any] = field(default_factory=dict)  # what /retest reruns
    last_iteration: dict[str, Any] = field(default_factory=dict)  # for /status re-renders
    earlier: dict[str, int] = field(default_factory=dict)  # rows folded out: records, runs
    version: int = STATE_VERSION
    #: Read from a block whose signature the bot checked (never stored, never read from JSON).
    verified: bool = field(default=False, compare=False, repr=False)

    # -- changes -----------------------------------------------------------------------
    def add_log(self, text: str, level: str = "info", at: str | None = None) -> LogEntry:
        entry = LogEntry(new_id(), at or now_iso(precise=True), text, level)
        self.log.append(entry)
        return entry

    def add_iteration(self, record: IterationRecord) -> None:
        self.iterations.append(record)
        self._renumber()
        self.trim_records()

    def trim_records(self, keep: int = RECORDS_KEPT) -> None:
        """Fold the oldest rows into counts, so the state stays bounded however long it runs."""
        self._renumber()
        if len(self.iterations) <= keep:
            return
        dropped, self.iterations = self.iterations[:-keep], self.iterations[-keep:]
        self.earlier["records"] = self.earlier.get("records", 0) + len(dropped)
        self.earlier["runs"] = self.earlier.get("runs", 0) + sum(r.repeats for r in dropped)
        self._renumber()

    @property
    def run_ids(self) -> set[str]:
        """Every run this state remembers by id (rows and the runs folded into them)."""
        return {run for r in self.iterations for run in (r.runs or [r.id])}

    @property
    def current_blocker(self) -> BlockerRecord | None:
        """The blocker still open (the newest one, unless it was resolved)."""
        last = self.blockers[-1] if self.blockers else None
        return last if last is not None and not last.resolved else None

    def blocker(self, ident: str) -> BlockerRecord | None:
        return next((b for b in self.blockers if b.id.casefold() == ident.casefold()), None)

    def next_blocker_id(self) -> str:
        return f"B{self.earlier.get('blockers', 0) + len(self.blockers) + 1}"

    def set_why(
        self,
        n: int,
        answer: str,
        author: str,
        at: str | None = None,
        blocker: BlockerRecord | None = None,
    ) -> BlockerRecord | None:
        """Record a team answer on ``blocker`` (default: the current one); None if none."""
        target = blocker or self.current_blocker
        if target is not None:
            target.whys[str(n)] = {"answer": answer, "author": author, "at": at or now_iso()}
        return target

    def why_answers(self) -> dict[int, dict[str, str]]:
        current = self.current_blocker
        return current.answers() if current else {}

    def trim_blockers(self, keep: int = BLOCKERS_KEPT) -> None:
        """Keep the current blocker and the newest resolved ones; older ones leave a log line."""
        resolved = [b for b in self.blockers if b.resolved]
        if len(resolved) <= keep:
            return
        for b in resolved[:-keep]:
            self.blockers.remove(b)
            self.earlier["blockers"] = self.earlier.get("blockers", 0) + 1
            self.add_log(
                f"blocker {b.id} ({b.kind}) {b.root[:200]} — from {b.first_seen} to "
                f"{b.resolved_at}, {b.runs} iteration(s); details left the issue",
                "info",
                at=b.resolved_at or None,
            )

    def archive_oldest(self, keep: int) -> list[LogEntry]:
        """Remove and return the entries beyond the newest ``keep``."""
        self.log.sort(key=lambda e: e.at)
        if len(self.log) <= keep:
            return []
        cut = len(self.log) - keep
        moved, self.log = self.log[:cut], self.log[cut:]
        return moved

    def forget_old_archive_ids(self, keep: int = 3) -> None:
        """Keep entry ids only for the newest archives.

        The ids let concurrent runs tell "archived" from "lost" for recent entries; kept
        for every archive they would grow the state without bound (2,000 entries are
        ~34 KB of ids) until it no longer fits in the issue.
        """
        for archive in self.archives[:-keep] if keep else self.archives:
            archive.ids = []

    def _renumber(self) -> None:
        self.iterations.sort(key=lambda r: (r.at, r.id))
        first = self.earlier.get("records", 0) + 1
        for n, record in enumerate(self.iterations, start=first):
            record.n = n

    @property
    def last(self) -> IterationRecord | None:
        return self.iterations[-1] if self.iterations else None

    # -- (de)serialisation -------------------------------------------------------------
    def to_json(self) -> str:
        """The state as stored in the issue: redacted like every other output."""
        fields = dataclasses.asdict(self)
        fields.pop("verified")  # a property of how it was read, never of what is stored
        data = redact_obj(fields)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=True)

    def to_block(self, key: bytes | None = None, json_text: str | None = None) -> str:
        """The hidden block, signed when the bot holds a key (see :func:`mac`)."""
        # <, > and & never appear raw, so nothing inside can close the comment early
        text = (json_text or self.to_json()).replace("<", "\\u003c").replace(">", "\\u003e")
        # no mention or cross-reference either, even inside a comment GitHub does not render
        text = text.replace("&", "\\u0026").replace("@", "\\u0040").replace("#", "\\u0023")
        signed = f" mac={mac(key, text)}" if key else ""
        return f"{STATE_OPEN.format(version=STATE_VERSION, mac=signed)}{text}{STATE_CLOSE}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        if not isinstance(data, dict):
            raise StateError("state is not a JSON object")
        known = {f.name for f in dataclasses.fields(cls)} - {"verified"}
        kwargs = {k: v for k, v in data.items() if k in known}
        try:
            kwargs["iterations"] = [_build(IterationRecord, r) for r in data.get("iterations", [])]
            kwargs["log"] = [_build(LogEntry, e) for e in data.get("log", [])]
            kwargs["archives"] = [_build(Archive, a) for a in data.get("archives", [])]
            kwargs["blockers"] = [_build(BlockerRecord, b) for b in data.get("blockers", [])]
            if not kwargs["blockers"] and data.get("blocker_root"):  # state from before blockers
                kwargs["blockers"] = [_migrated_blocker(data)]
            state = cls(**kwargs)
        except (TypeError, AttributeError) as exc:
            raise StateError(f"state has an unexpected shape: {exc}") from exc
        state._renumber()
        return state


def _migrated_blocker(data: dict[str, Any]) -> BlockerRecord:
    """The single blocker an older state kept, with its WHY answers."""
    why = data.get("why")
    return BlockerRecord(
        id="B1",
        kind=str(data.get("blocker_kind", "")),
        root=str(data.get("blocker_root", "")),
        first_seen=str(data.get("blocker_since", "")),
        last_seen=str(data.get("blocker_since", "")),
        resolved_at=str(data.get("resolved_at", "")),
        whys=why if isinstance(why, dict) else {},
    )


def _build(cls: Any, data: Any) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} entry is not an object")
    return cls(**{k: v for k, v in data.items() if k in known})


def read_state(body: str, key: bytes | None = None) -> SessionState | None:
    """The state stored in ``body``; None when there is none; StateError when damaged.

    Only the bot-owned region is searched (also when a person deleted one of its markers),
    and the *last* block in it wins: rendered untrusted text is escaped so it cannot contain
    a block, and people's text outside the markers is never read. With a ``key``, a block
    whose signature does not match raises :class:`StateForged`; a valid one is ``verified``.
    """
    region = owned_region(body or "") or damaged_region(body or "")
    if region is None:
        return None
    text = body[region[0] : region[1]]
    matches = list(STATE_BLOCK.finditer(text))
    if not matches:
        raise StateError("the bot's section has no state block")
    m = matches[-1]
    if int(m["v"]) > STATE_VERSION:
        raise StateError(f"state block version {m['v']} is newer than this bot ({STATE_VERSION})")
    verified = False
    if key is not None and m["mac"] is not None:
        if not hmac.compare_digest(m["mac"], mac(key, m["json"])):
            raise StateForged(
                "the state block's signature does not match: it was edited outside the bot "
                "(or the signing key changed)"
            )
        verified = True
    try:
        data = json.loads(m["json"])
    except ValueError as exc:
        raise StateError(f"state block is not valid JSON: {exc}") from exc
    state = SessionState.from_dict(data)
    state.verified = verified
    return state


def reconcile(ours: SessionState, theirs: SessionState) -> SessionState:
    """Union by id: iterations, log entries and archives from both; newest WHY answer wins.

    ``ours`` is the state this run built; ``theirs`` what another run wrote meanwhile.
    Scalar fields follow whichever side has the later iteration.
    """
    newest = ours
    if theirs.last and (
        not ours.last or (theirs.last.at, theirs.last.id) > (ours.last.at, ours.last.id)
    ):
        newest = theirs
    merged = dataclasses.replace(newest)
    its = {r.id: r for r in theirs.iterations}
    for r in ours.iterations:
        other = its.get(r.id)
        its[r.id] = _fold_rows(r, other) if other is not None else r
    merged.iterations = [dataclasses.replace(r) for r in its.values()]
    merged.earlier = {
        k: max(ours.earlier.get(k, 0), theirs.earlier.get(k, 0))
        for k in {*ours.earlier, *theirs.earlier}
    }
    logs = {e.id: e for e in theirs.log} | {e.id: e for e in ours.log}
    archived = {i for a in [*ours.archives, *theirs.archives] for i in a.ids}
    merged.log = sorted((e for i, e in logs.items() if i not in archived), key=lambda e: e.at)
    archives = {a.ref: a for a in theirs.archives} | {a.ref: a for a in ours.archives}
    merged.archives = sorted(archives.values(), key=lambda a: a.first_at)
    blockers = {b.id: b for b in theirs.blockers}
    for b in ours.blockers:
        twin = blockers.get(b.id)
        blockers[b.id] = _fold_blockers(b, twin) if twin is not None else b
    merged.blockers = sorted(blockers.values(), key=lambda b: (b.first_seen, b.id))
    merged.started_at = (
        min(ours.started_at, theirs.started_at)
        if ours.session_id == theirs.session_id
        else merged.started_at
    )
    if not merged.session_id:
        # built while the issue could not be read (GitHub down): the session's identity
        # is the other side's
        known = theirs if newest is ours else ours
        merged.session_id = known.session_id
        merged.started_at = known.started_at or merged.started_at
        merged.sessions = max(known.sessions, merged.sessions)
    merged.trim_records()
    return merged


def _fold_blockers(a: BlockerRecord, b: BlockerRecord) -> BlockerRecord:
    """One blocker two concurrent runs each updated: newest facts, every answer (newest wins)."""
    newest = a if (a.last_seen, a.resolved_at) >= (b.last_seen, b.resolved_at) else b
    whys = dict(b.whys)
    for k, v in a.whys.items():
        if k not in whys or v.get("at", "") >= whys[k].get("at", ""):
            whys[k] = v
    return dataclasses.replace(
        newest,
        whys=whys,
        proposals={**b.proposals, **a.proposals},
        evidence=newest.evidence or a.evidence or b.evidence,
    )


def _fold_rows(a: IterationRecord, b: IterationRecord) -> IterationRecord:
    """One history row that two concurrent runs each extended: both runs count."""
    newest = a if a.updated_at >= b.updated_at else b
    runs = list(dict.fromkeys([*b.runs, *a.runs]))
    extra = len(set(a.runs) - set(b.runs))
    return dataclasses.replace(
        newest, repeats=max(a.repeats, b.repeats + extra), runs=runs[-RUN_IDS_KEPT:]
    )


_SCALAR = re.compile(r'"(?P<key>\w+)":(?P<value>"(?:[^"\\]|\\.)*"|-?\d+)')


def salvage_state(body: str, environment: str) -> SessionState | None:
    """What can still be read from a damaged state block (e.g. a careless hand edit).

    Every iteration, log entry and archive that still parses as a JSON object on its own
    is kept, and so are the session's scalars, WHY answers and last results when they
    parse; only the damaged pieces are lost. None when nothing at all could be read.
    """
    region = owned_region(body or "") or damaged_region(body or "")
    if region is None:
        return None
    text = body[region[0] : region[1]]
    starts = list(STATE_START.finditer(text))
    if not starts:
        return None
    text = text[starts[-1].end() :]
    decoder = json.JSONDecoder()
    found: dict[str, list[dict[str, Any]]] = {
        "iterations": [],
        "log": [],
        "archives": [],
        "blockers": [],
    }
    i = text.find("{")
    while i >= 0:
        try:
            obj, end = decoder.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        kind = _record_kind(obj)
        if kind is None and isinstance(obj, dict) and "iterations" in obj:
            try:  # the whole state parses after all (the damage was around it)
                return SessionState.from_dict(obj)
            except StateError:
                kind = None
        if kind is not None:
            found[kind].append(obj)
            i = text.find("{", end)
        else:  # a container (last_iteration, why, ...) or the broken whole: look inside
            i = text.find("{", i + 1)
    head = text.split('"iterations"', 1)[0]
    data: dict[str, Any] = {"environment": environment}
    for m in _SCALAR.finditer(head):
        with contextlib.suppress(ValueError):
            data[m["key"]] = json.loads(m["value"])
    for key in ("why", "last_failed", "last_iteration", "earlier"):
        at = text.find(f'"{key}":{{')
        if at >= 0:
            with contextlib.suppress(ValueError):
                value = decoder.raw_decode(text, at + len(key) + 3)[0]
                if isinstance(value, dict):
                    data[key] = value
    if not any(found.values()) and len(data) == 1:
        return None
    data.update(found)
    data.pop("version", None)
    try:
        return SessionState.from_dict(data)
    except StateError:
        return SessionState.from_dict({**found, "environment": environment})


def _record_kind(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return None
    keys = set(obj)
    if {"id", "at", "status", "passed", "failed"} <= keys:
        return "iterations"
    if {"id", "at", "text"} <= keys and all(isinstance(obj[k], str) for k in ("id", "at", "text")):
        return "log"
    if {"ref", "first_at", "last_at", "count"} <= keys:
        return "archives"
    if {"id", "kind", "root", "first_seen"} <= keys:
        return "blockers"
    return None
