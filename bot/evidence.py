"""Root-cause evidence for a blocker: what changed since the last green run, what the backend
logged, and what analyzers propose for WHY 2–5.

Gathered once, when a blocker first appears, and kept with that blocker. Every source may
fail (GitHub's compare, the logs command, an analyzer): each failure becomes a note in the
evidence, never a lost iteration. Everything here is redacted and bounded before it is stored.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bot import analysis, redact, shell
from bot.config import Config
from bot.publish.github import CommitInfo
from bot.results import Iteration
from bot.session import BlockerRecord, SessionState
from bot.verdict import PASSING, Verdict

Log = Callable[[str, str], None]
#: Commits whose files are fetched one by one to say which touch the paths of interest.
ATTRIBUTE_COMMITS = 5
_PR_REF = re.compile(r"\(#(\d+)\)\s*$")


class Changes(Protocol):
    """Where the regression window comes from: GitHub's compare API, or a local git."""

    def compare(
        self, base: str, head: str, limit: int
    ) -> tuple[list[CommitInfo], int, list[str]]: ...

    def commit_files(self, sha: str) -> list[str]: ...


def in_git_repository(path: str | Path) -> bool:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "true"


class GitChanges:
    """The window from a local git repository (a run outside GitHub, the demo's story)."""

    def __init__(self, cwd: str | Path = ".") -> None:
        self.cwd = Path(cwd)

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.cwd, capture_output=True, text=True, check=True, timeout=20
        ).stdout

    def compare(self, base: str, head: str, limit: int) -> tuple[list[CommitInfo], int, list[str]]:
        shas = self._git("rev-list", f"{base}..{head}").split()
        out = []
        for sha in shas[:limit]:
            author, _, title = (
                self._git("log", "-1", "--format=%an%x1f%s", sha).strip().partition("\x1f")
            )
            out.append(CommitInfo(sha, author, title))
        files = self._git("diff", "--name-only", base, head).split()
        return out, len(shas), files

    def commit_files(self, sha: str) -> list[str]:
        return self._git("show", "--name-only", "--format=", sha).split()


@dataclass(slots=True)
class Change:
    sha: str
    author: str
    title: str
    url: str = ""
    pr: str = ""  # "#123", from the title's "(#123)"
    files: list[str] = field(default_factory=list)  # its files among the paths of interest
    highlighted: bool = False


def matches(path: str, patterns: Sequence[str]) -> bool:
    """``auth/**`` and ``**/websocket/**`` style globs (``**`` spans directories)."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(
            path, pattern.replace("**/", "")
        ):
            return True
    return False


def last_green_sha(state: SessionState, before: str) -> str:
    """The newest passing iteration's commit before ``before`` (ISO time), or ""."""
    for record in reversed(state.iterations):
        if record.updated_at < before and record.status == PASSING:
            sha = record.last_sha or record.sha
            if sha:
                return sha
    return ""


def regression_window(
    state: SessionState,
    it: Iteration,
    blocker: BlockerRecord,
    changes: Changes | None,
    cfg: Config,
    server_url: str = "",
) -> dict[str, Any]:
    """The commits between the last green iteration and the one that first failed this way."""
    head = blocker.first_sha or it.sha
    base = last_green_sha(state, blocker.first_seen)
    if not head:
        return {"note": "this run recorded no commit SHA, so there is no window to show"}
    if not base:
        return {"head": head, "note": "no green iteration yet: nothing to compare against"}
    if base == head:
        return {
            "base": base,
            "head": head,
            "note": "the code is the same as in the last green iteration: what changed is the "
            "environment (configuration, secrets, dependencies, data), not a commit",
        }
    if changes is None:
        return {"base": base, "head": head, "note": "no GitHub or git repository to ask"}
    try:
        commits, total, files = changes.compare(base, head, cfg.evidence.commits)
    except Exception as exc:  # a window is evidence, never a reason to lose the run
        return {"base": base, "head": head, "note": f"could not compare: {_short(exc)}"}
    paths = cfg.evidence.paths
    interesting = [f for f in files if matches(f, paths)] if paths else []
    out = [
        Change(
            c.sha, c.author, c.title, c.url, f"#{m[1]}" if (m := _PR_REF.search(c.title)) else ""
        )
        for c in commits
    ]
    calls = 0
    if interesting:
        if len(out) == 1:
            out[0].files, out[0].highlighted = interesting, True
        for change in out[:ATTRIBUTE_COMMITS] if len(out) > 1 else []:
            try:
                mine = [f for f in changes.commit_files(change.sha) if matches(f, paths)]
            except Exception:  # attribution is a nicety: the window still stands
                break
            calls += 1
            change.files, change.highlighted = mine, bool(mine)
    repo_url = server_url.rstrip("/")
    data = {
        "base": base,
        "head": head,
        "total": total,
        "commits": [
            redact.redact_obj(
                {
                    **dataclasses.asdict(c),
                    "title": c.title[:200],
                    "pr_url": f"{repo_url}/pull/{c.pr[1:]}" if c.pr and repo_url else "",
                }
            )
            for c in out
        ],
        "files_of_interest": interesting[:20],
    }
    if interesting and len(out) > ATTRIBUTE_COMMITS:
        data["note"] = f"files of interest changed; {ATTRIBUTE_COMMITS} newest commits checked"
    return data


def _short(exc: BaseException) -> str:
    return redact.redact(f"{type(exc).__name__}: {exc}")[:300]


def _fill(command: str, values: Mapping[str, str]) -> str:
    """The command with ``{name}`` placeholders replaced by shell-quoted values (plain text
    replacement: a revision parsed from deploy output must never become shell)."""
    for name, value in values.items():
        command = command.replace("{" + name + "}", shlex.quote(value))
    return command


def logs_excerpt(
    cfg: Config, it: Iteration, blocker: BlockerRecord, env: Mapping[str, str]
) -> dict[str, Any]:
    """Run ``evidence.logs.command`` and keep the lines around its first interesting one."""
    logs = cfg.evidence.logs
    if logs is None:
        return {}
    first = _parse(blocker.first_seen) or datetime.now().astimezone()
    start, end = first - timedelta(minutes=5), first + timedelta(minutes=5)
    command = _fill(
        logs.command,
        {
            "start": start.isoformat(timespec="seconds"),
            "end": end.isoformat(timespec="seconds"),
            "minutes": "15",
            "revision": (it.deploy.revision if it.deploy else "") or "",
            "sha": it.sha,
            "environment": cfg.environment,
        },
    )
    shown = redact.redact(command)[:300]
    try:
        text = shell.run(command, logs.timeout, env)
    except Exception as exc:
        return {"command": shown, "note": f"the logs command failed: {_short(exc)}", "lines": []}
    lines = text.splitlines()
    patterns = [re.compile(p) for p in logs.patterns]
    hit = next((i for i, line in enumerate(lines) if any(p.search(line) for p in patterns)), None)
    if hit is None:
        note = f"no line matched {', '.join(logs.patterns)}; showing the last lines"
        chosen = lines[-logs.lines :]
    else:
        note = ""
        begin = max(0, hit - logs.lines // 8)
        chosen = lines[begin : begin + logs.lines]
    return {
        "command": shown,
        "note": note,
        "lines": [redact.redact(line)[:500] for line in chosen],
    }


def _parse(iso: str) -> datetime | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None


class Gatherer:
    """Collects a new blocker's evidence once per run (trackers may render twice)."""

    def __init__(
        self,
        cfg: Config,
        *,
        changes: Changes | None,
        env: Mapping[str, str],
        server_url: str = "",
        log: Log | None = None,
    ) -> None:
        self.cfg = cfg
        self.changes = changes
        self.env = env
        self.server_url = server_url
        self.log = log
        self._done: dict[str, tuple[dict[str, Any], dict[str, dict[str, str]]]] = {}

    def __call__(self, state: SessionState, it: Iteration, verdict: Verdict) -> None:
        """Fill the current blocker's evidence and proposals, if it has none yet."""
        blocker = state.current_blocker
        if blocker is None or blocker.evidence:
            return
        if blocker.id not in self._done:
            evidence: dict[str, Any] = {
                "window": regression_window(
                    state, it, blocker, self.changes, self.cfg, self.server_url
                ),
            }
            logs = logs_excerpt(self.cfg, it, blocker, self.env)
            if logs:
                evidence["logs"] = logs
            proposals, notes = analysis.propose(self.cfg, verdict, it, blocker, evidence, self.env)
            evidence["notes"] = notes
            self._done[blocker.id] = (evidence, proposals)
            found = [evidence["window"].get("note"), logs.get("note") if logs else None, *notes]
            for note in filter(None, found):
                if self.log is not None:
                    self.log(f"evidence for {blocker.id}: {note}", "info")
        evidence, proposals = self._done[blocker.id]
        blocker.evidence = evidence
        for n, proposal in proposals.items():
            if n not in blocker.whys:  # a person's answer is never overwritten
                blocker.proposals[n] = proposal
