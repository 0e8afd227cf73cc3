"""Session state: what the loop remembers between runs, stored in the tracking issue itself.

The state travels inside the issue body as a hidden, versioned JSON block, so the bot
needs no other storage and any run — on any runner — can pick it up. Runs may overlap,
so state is merged by entry id rather than overwritten: two runs that read the same
body and both append an iteration must both survive.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.redact import redact_obj

STATE_VERSION = 1

BEGIN = "<!-- golden-path:begin -->"
END = "<!-- golden-path:end -->"
_STATE_RE = re.compile(r"<!-- golden-path-state:v(?P<v>\d+)\n(?P<json>.*?)\n-->", re.S)


def env_marker(environment: str) -> str:
    """Hidden line that identifies an environment's tracking issue (titles get edited)."""
    return f"<!-- golden-path:environment={environment} -->"


class StateError(ValueError):
    """The state block exists but cannot be read."""


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


@dataclass(slots=True)
class IterationRecord:
    id: str
    at: str
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
    n: int = 0  # position in the history; recomputed on merge


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
    blocker_kind: str = ""
    blocker_root: str = ""
    blocker_since: str = ""
    resolved_at: str = ""
    sessions: int = 1
    iterations: list[IterationRecord] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    archives: list[Archive] = field(default_factory=list)
    why: dict[str, dict[str, str]] = field(default_factory=dict)  # "2" → answer/author/at
    last_failed: dict[str, Any] = field(default_factory=dict)  # what /retest reruns
    last_iteration: dict[str, Any] = field(default_factory=dict)  # for /status re-renders
    version: int = STATE_VERSION

    # -- changes -----------------------------------------------------------------------
    def add_log(self, text: str, level: str = "info", at: str | None = None) -> LogEntry:
        entry = LogEntry(new_id(), at or now_iso(precise=True), text, level)
        self.log.append(entry)
        return entry

    def add_iteration(self, record: IterationRecord) -> None:
        self.iterations.append(record)
        self._renumber()

    def set_why(self, n: int, answer: str, author: str, at: str | None = None) -> None:
        self.why[str(n)] = {"answer": answer, "author": author, "at": at or now_iso()}

    def why_answers(self) -> dict[int, dict[str, str]]:
        return {int(k): v for k, v in self.why.items() if k.isdigit()}

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
        for n, record in enumerate(self.iterations, start=1):
            record.n = n

    @property
    def last(self) -> IterationRecord | None:
        return self.iterations[-1] if self.iterations else None

    # -- (de)serialisation -------------------------------------------------------------
    def to_json(self) -> str:
        """The state as stored in the issue: redacted like every other output."""
        data = redact_obj(dataclasses.asdict(self))
        return json.dumps(data, separators=(",", ":"), ensure_ascii=True)

    def to_block(self) -> str:
        # <, > and & never appear raw, so nothing inside can close the comment early
        text = self.to_json().replace("<", "\\u003c").replace(">", "\\u003e")
        # no mention or cross-reference either, even inside a comment GitHub does not render
        text = text.replace("&", "\\u0026").replace("@", "\\u0040").replace("#", "\\u0023")
        return f"<!-- golden-path-state:v{STATE_VERSION}\n{text}\n-->"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        if not isinstance(data, dict):
            raise StateError("state is not a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        try:
            kwargs["iterations"] = [_build(IterationRecord, r) for r in data.get("iterations", [])]
            kwargs["log"] = [_build(LogEntry, e) for e in data.get("log", [])]
            kwargs["archives"] = [_build(Archive, a) for a in data.get("archives", [])]
            state = cls(**kwargs)
        except (TypeError, AttributeError) as exc:
            raise StateError(f"state has an unexpected shape: {exc}") from exc
        state._renumber()
        return state


def _build(cls: Any, data: Any) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} entry is not an object")
    return cls(**{k: v for k, v in data.items() if k in known})


def owned_region(body: str) -> tuple[int, int] | None:
    """(start, end) of the bot-owned text, markers included; None when absent."""
    start = body.find(BEGIN)
    if start < 0:
        return None
    end = body.find(END, start)
    if end < 0:
        return None
    return start, end + len(END)


def read_state(body: str) -> SessionState | None:
    """The state stored in ``body``; None when there is none; StateError when damaged.

    Only the bot-owned region is searched, and the *last* block in it wins: rendered
    untrusted text is escaped so it cannot contain a block, and people's text outside
    the markers is never read.
    """
    region = owned_region(body or "")
    if region is None:
        return None
    text = body[region[0] : region[1]]
    matches = list(_STATE_RE.finditer(text))
    if not matches:
        raise StateError("the bot's section has no state block")
    m = matches[-1]
    if int(m["v"]) > STATE_VERSION:
        raise StateError(f"state block version {m['v']} is newer than this bot ({STATE_VERSION})")
    try:
        data = json.loads(m["json"])
    except ValueError as exc:
        raise StateError(f"state block is not valid JSON: {exc}") from exc
    return SessionState.from_dict(data)


def replace_owned(body: str, owned: str) -> str:
    """``body`` with the bot-owned region replaced by ``owned``; people's text survives."""
    region = owned_region(body or "")
    if region is None:
        return f"{owned}\n\n{body}".rstrip() + "\n" if body and body.strip() else owned
    return body[: region[0]] + owned + body[region[1] :]


def merge(ours: SessionState, theirs: SessionState) -> SessionState:
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
    its = {r.id: r for r in theirs.iterations} | {r.id: r for r in ours.iterations}
    merged.iterations = [dataclasses.replace(r) for r in its.values()]
    logs = {e.id: e for e in theirs.log} | {e.id: e for e in ours.log}
    archived = {i for a in [*ours.archives, *theirs.archives] for i in a.ids}
    merged.log = sorted((e for i, e in logs.items() if i not in archived), key=lambda e: e.at)
    archives = {a.ref: a for a in theirs.archives} | {a.ref: a for a in ours.archives}
    merged.archives = sorted(archives.values(), key=lambda a: a.first_at)
    why = dict(theirs.why)
    for k, v in ours.why.items():
        if k not in why or v.get("at", "") >= why[k].get("at", ""):
            why[k] = v
    merged.why = why
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
    merged._renumber()
    return merged


_STATE_START = re.compile(r"<!-- golden-path-state:v\d+\n")
_SCALAR = re.compile(r'"(?P<key>\w+)":(?P<value>"(?:[^"\\]|\\.)*"|-?\d+)')


def salvage_state(body: str, environment: str) -> SessionState | None:
    """What can still be read from a damaged state block (e.g. a careless hand edit).

    Every iteration, log entry and archive that still parses as a JSON object on its own
    is kept, and so are the session's scalars, WHY answers and last results when they
    parse; only the damaged pieces are lost. None when nothing at all could be read.
    """
    region = owned_region(body or "")
    if region is None:
        return None
    text = body[region[0] : region[1]]
    starts = list(_STATE_START.finditer(text))
    if not starts:
        return None
    text = text[starts[-1].end() :]
    decoder = json.JSONDecoder()
    found: dict[str, list[dict[str, Any]]] = {"iterations": [], "log": [], "archives": []}
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
    for key in ("why", "last_failed", "last_iteration"):
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
    return None
