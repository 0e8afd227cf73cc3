"""The bot's section of the tracking issue: the template context, rendered within its budget.

The context is a public API: teams override templates (``tracking.templates``), so its names
are documented in the README ("Overriding the templates") and kept stable. Everything in it
is read from the one :class:`~bot.verdict.Verdict`, the iteration it judged and the session
state — nothing here decides what a result means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import render
from bot.config import Config
from bot.issue_format import BEGIN, END, GITHUB_BODY_LIMIT, env_marker
from bot.results import Iteration
from bot.session import BlockerRecord, IterationRecord, SessionState, now_iso
from bot.verdict import Verdict, with_answers

#: History rows shown in the table (all kept rows feed the chart).
ROWS_SHOWN = 10
#: Failure-table rows shown before "… more in results.json".
FINDINGS_SHOWN = 20

#: The documented template context: name → what it holds (README table generated from it).
CONTEXT_DOCS: Mapping[str, str] = {
    "title": "the issue title (`tracking.title` with the environment filled in)",
    "environment": "the environment's name",
    "mission": "`mission` with `{environment}` and `{target_tests}` filled in",
    "at_risk": "`impact.at_risk`",
    "justification": "business justification lines: (label, text) pairs",
    "issue": "`{number, url}` of the tracking issue, or nothing for a local file",
    "verdict": "the verdict: `status`, `headline`, `golden_path_status`, `counts` and "
    "`golden` (`passed`, `failed`, `flaky`, `total`), `outcomes`, `blocker`, `events`, "
    "`events_affected`, `findings`, `next_steps`, `next_action`",
    "whys": "the Five Whys (`n`, `question`, `answer`, `source`: evidence/team/hint, "
    "`author`, `at`, `hints`), with the team's `/why` answers",
    "passed": "outcomes that passed (the ✅ COMPLETED SUCCESSFULLY list)",
    "failing": "outcomes that failed or could not run",
    "iteration": "the facts judged: `deploy`, `health`, `endpoints`, `flow`, `suites`, "
    "`duration_s`, `trigger`, `sha`, `run_url`",
    "session": "`started_at`, `runs` (iterations so far)",
    "blocker": "the current blocker's story, or nothing: `id`, `kind`, `root`, `first_seen`, "
    "`first_sha`, `runs`, `blocked_for` (e.g. '2h 10m'), `window` (the regression window: "
    "`base`, `head`, `total`, `commits` with `sha`, `author`, `title`, `url`, `pr`, `pr_url`, "
    "`files`, `highlighted`; `files_of_interest`; `note`), `logs` (`command`, `lines`, "
    "`note`), `notes`, `suspect` (the first highlighted commit)",
    "resolved_blockers": "blockers that cleared, newest first: `id`, `kind`, `root`, "
    "`first_seen`, `resolved_at`, `first_sha`, `resolved_sha`, `runs`, `took` (time to resolve), "
    "`answers` (how many WHYs the team answered)",
    "just_resolved": "the blocker that cleared in the last iteration, or nothing",
    "metrics": "`flaky_rate` (% of the last iteration's passing tests that passed only on "
    "retry), `events` (per agent event: `name`, `p50`, `p95` seconds after connect)",
    "progress": "`passing`, `run`, `target`, `share` (passing / run, %)",
    "rows": "history rows, newest last: `n`, `iterations` (e.g. '5–7'), `repeats`, `at`, "
    "`last_at`, `status`, `golden_passing`, `golden_run`, `failed`, `flaky`, `duration_s`, "
    "`sha`, `trigger`, `run_url`, `answer_p50`/`answer_p95` (seconds to the agent's final "
    "event)",
    "older_rows": "how many older rows are not in `rows`",
    "trend": "chart points, oldest first: `iteration`, `share` (%), `passing`, `run`",
    "log": "session log entries, newest first: `at`, `level`, `text`",
    "log_limit": "how many log entries fit in the body",
    "archives": "comments (or files) holding older log entries: `ref`, `count`, `first_at`, "
    "`last_at`",
    "archived_count": "log entries in archives",
    "flaky": "names of tests and sessions that passed only on retry",
    "findings_limit": "how many failure-table rows fit in the body",
    "updated_at": "when the newest run finished",
    "docs_url": "the README section that explains this issue, when known (or nothing)",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One history row as the templates show it."""

    n: int
    iterations: str
    repeats: int
    at: str
    last_at: str
    status: str
    golden_passing: int
    golden_run: int
    failed: int
    flaky: int
    duration_s: float
    sha: str
    trigger: str
    run_url: str
    answer_p50: float | None
    answer_p95: float | None


def _rows(state: SessionState) -> list[Row]:
    """Rows with the iteration numbers they cover (runs folded into a row count too)."""
    out = []
    first = state.earlier.get("runs", 0) + 1
    for r in state.iterations:
        last = first + r.repeats - 1
        out.append(
            Row(
                n=r.n,
                iterations=str(first) if first == last else f"{first}–{last}",
                repeats=r.repeats,
                at=r.at,
                last_at=r.updated_at,
                status=r.status,
                golden_passing=r.golden_passing,
                golden_run=r.golden_run,
                failed=r.failed,
                flaky=r.flaky,
                duration_s=r.duration_s,
                sha=r.last_sha or r.sha,
                trigger=r.last_trigger or r.trigger,
                run_url=r.last_run_url or r.run_url,
                answer_p50=r.answer_p50,
                answer_p95=r.answer_p95,
            )
        )
        first = last + 1
    return out


def _share(passing: int, run: int) -> int:
    return round(100 * passing / run) if run else 0


def _last_record(state: SessionState) -> IterationRecord | None:
    return state.iterations[-1] if state.iterations else None


def _when(iso: str) -> datetime | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None


def duration(start: str, end: str) -> str:
    """'2h 10m' between two ISO times ('' when either is unknown)."""
    a, b = _when(start), _when(end)
    if a is None or b is None:
        return ""
    seconds = max(0, int((b - a).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def _blocker_view(b: BlockerRecord, now: str) -> dict[str, Any]:
    window = b.evidence.get("window") or {}
    suspect = next((c for c in window.get("commits", []) if c.get("highlighted")), None)
    return {
        "id": b.id,
        "kind": b.kind,
        "root": b.root,
        "first_seen": b.first_seen,
        "first_sha": b.first_sha,
        "runs": b.runs,
        "blocked_for": duration(b.first_seen, now),
        "window": window,
        "logs": b.evidence.get("logs") or {},
        "notes": b.evidence.get("notes") or [],
        "suspect": suspect,
    }


def _resolved_view(b: BlockerRecord) -> dict[str, Any]:
    return {
        "id": b.id,
        "kind": b.kind,
        "root": b.root,
        "first_seen": b.first_seen,
        "resolved_at": b.resolved_at,
        "first_sha": b.first_sha,
        "resolved_sha": b.resolved_sha,
        "runs": b.runs,
        "took": duration(b.first_seen, b.resolved_at),
        "answers": len(b.whys),
    }


def _metrics(it: Iteration) -> dict[str, Any]:
    flow = it.flow
    passed = (flow.passed + flow.flaky) if flow else 0
    passed += sum(s.passed + s.flaky for s in it.suites)
    flaky = (flow.flaky if flow else 0) + sum(s.flaky for s in it.suites)
    timings = flow.event_latency if flow else {}
    return {
        "flaky_rate": round(100 * flaky / passed, 1) if passed else 0.0,
        "events": [
            {"name": name, "p50": t.get("p50"), "p95": t.get("p95")} for name, t in timings.items()
        ],
    }


def context(
    cfg: Config,
    state: SessionState,
    it: Iteration,
    verdict: Verdict,
    *,
    issue: Mapping[str, Any] | None = None,
    docs_url: str = "",
) -> dict[str, Any]:
    """The template context (see :data:`CONTEXT_DOCS`)."""
    rows = _rows(state)
    golden = verdict.golden
    flaky = [f"session {i}" for i in (it.flow.flaky_sessions if it.flow else [])]
    flaky += [c.nodeid for s in it.suites for c in s.cases if c.flaky]
    last = _last_record(state)
    runs = state.earlier.get("runs", 0) + sum(r.repeats for r in state.iterations)
    updated_at = (last.updated_at if last else "") or it.finished_at or now_iso()
    current = state.current_blocker if verdict.blocker is not None else None
    resolved = [b for b in reversed(state.blockers) if b.resolved]
    just = resolved[0] if resolved and current is None and verdict.blocker is None else None
    proposals = {int(k): v for k, v in current.proposals.items()} if current else {}
    return {
        "title": cfg.title(),
        "environment": cfg.environment,
        "mission": cfg.mission_text(),
        "at_risk": cfg.impact.at_risk,
        "justification": cfg.impact.justification_items(),
        "issue": issue,
        "verdict": verdict,
        "whys": with_answers(verdict.whys, current.answers() if current else {}, proposals),
        "passed": [o for o in verdict.outcomes if o.state == "passed"],
        "failing": [o for o in verdict.outcomes if not o.ok],
        "iteration": it,
        "session": {"started_at": state.started_at, "runs": runs},
        "blocker": _blocker_view(current, updated_at) if current else None,
        "resolved_blockers": [_resolved_view(b) for b in resolved],
        "just_resolved": _resolved_view(just) if just else None,
        "metrics": _metrics(it),
        "progress": {
            "passing": golden.passed,
            "run": golden.total,
            "target": cfg.target_tests,
            "share": _share(golden.passed, golden.total),
        },
        "rows": rows[-ROWS_SHOWN:],
        "older_rows": max(0, len(rows) - ROWS_SHOWN) + state.earlier.get("records", 0),
        "trend": [
            {
                "iteration": row.iterations.split("–")[-1],
                "share": _share(row.golden_passing, row.golden_run),
                "passing": row.golden_passing,
                "run": row.golden_run,
            }
            for row in rows
        ],
        "log": sorted(state.log, key=lambda e: e.at, reverse=True),
        "log_limit": cfg.tracking.log_limit,
        "archives": state.archives,
        "archived_count": sum(a.count for a in state.archives),
        "flaky": flaky,
        "findings_limit": FINDINGS_SHOWN,
        "updated_at": updated_at,
        "docs_url": docs_url,
    }


def owned_section(
    cfg: Config,
    state: SessionState,
    it: Iteration,
    verdict: Verdict,
    *,
    issue: Mapping[str, Any] | None = None,
    budget: int = GITHUB_BODY_LIMIT,
    key: bytes | None = None,
    state_json: str | None = None,
    docs_url: str = "",
) -> str:
    """The bot-owned part of the issue body: markers, rendered report, state block.

    ``state_json`` is ``state.to_json()`` when the caller has it already.
    """
    block = state.to_block(key, state_json)
    marker = env_marker(cfg.environment)
    shell = f"{BEGIN}\n{marker}\n\n\n{block}\n{END}"
    rendered = render.render(
        "issue.md.j2",
        context(cfg, state, it, verdict, issue=issue, docs_url=docs_url),
        override_dir=cfg.tracking.templates,
        budget=max(budget - len(shell), 1000),
    )
    return f"{BEGIN}\n{marker}\n{rendered.body.rstrip()}\n\n{block}\n{END}"
