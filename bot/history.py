"""The session's memory of its iterations: every run recorded, its result folded when repeated.

Every run is recorded — a ``/retest`` that changes nothing still moves "Updated" and adds its
commit — but consecutive runs with the same result share one history row ("×3, last at …"),
so the table stays short and the state bounded. This module also keeps the blocker timeline,
what a plain ``/retest`` reruns, and a compact copy of the last iteration for re-renders.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.checks import check_types
from bot.results import Iteration
from bot.session import (
    RUN_IDS_KEPT,
    BlockerRecord,
    IterationRecord,
    SessionState,
    new_id,
    now_iso,
)
from bot.verdict import PASSING, Verdict

DEPLOY_LOG_KEPT = 10


def compact(it: Iteration) -> dict[str, Any]:
    """The iteration as kept in the state block: evidence capped, counts exact."""
    checks = {
        ct.key: ct.compact(it.checks[ct.key])
        for ct in check_types()
        if it.checks.get(ct.key) is not None
    }
    deploy = it.deploy
    if deploy is not None:
        deploy = dataclasses.replace(deploy, log=deploy.log[-DEPLOY_LOG_KEPT:])
    return dataclasses.replace(it, checks=checks, deploy=deploy).to_dict()


def fingerprint(verdict: Verdict) -> tuple[Any, ...]:
    """What makes two runs the same result (timings, commits and triggers aside)."""
    c, g = verdict.counts, verdict.golden
    blocker = verdict.blocker.root_issue[:200] if verdict.blocker else ""
    return (verdict.status, c.passed, c.failed, c.flaky, g.passed, g.total, blocker)


def _record_fingerprint(r: IterationRecord) -> tuple[Any, ...]:
    return (r.status, r.passed, r.failed, r.flaky, r.golden_passing, r.golden_run, r.blocker)


def record(
    state: SessionState, it: Iteration, verdict: Verdict, *, close_on_green: bool = True
) -> str:
    """Fold an iteration into the session; returns the run's id.

    A result equal to the last row's extends that row; anything else starts a new one.
    """
    run_id = new_id()
    at = it.finished_at or now_iso()
    last = state.last
    fp = fingerprint(verdict)
    flow = it.flow
    p50, p95 = (flow.latency_p50_s, flow.latency_p95_s) if flow else (None, None)
    if last is not None and _record_fingerprint(last) == fp:
        last.answer_p50, last.answer_p95 = p50, p95  # the newest run's timings
        last.repeats += 1
        last.last_at, last.last_sha = at, it.sha
        last.last_run_url, last.last_trigger = it.run_url, it.trigger
        last.runs = [*(last.runs or [last.id]), run_id][-RUN_IDS_KEPT:]
    else:
        status, passed, failed, flaky, golden_passing, golden_run, blocker = fp
        state.add_iteration(
            IterationRecord(
                id=run_id,
                at=at,
                status=status,
                passed=passed,
                failed=failed,
                flaky=flaky,
                golden_passing=golden_passing,
                golden_run=golden_run,
                duration_s=it.duration_s,
                trigger=it.trigger,
                sha=it.sha,
                run_url=it.run_url,
                blocker=blocker,
                runs=[run_id],
                answer_p50=p50,
                answer_p95=p95,
            )
        )
    state.environment = it.environment
    _blocker_timeline(state, it, verdict, close_on_green)
    failed = {
        ct.key: ct.failed_part(it.checks[ct.key])
        for ct in check_types()
        if it.checks.get(ct.key) is not None
    }
    state.last_failed = {
        "deploy": bool(it.deploy and it.deploy.ran and not it.deploy.ok),
        "checks": {key: part for key, part in failed.items() if part},
    }
    state.last_iteration = compact(it)
    return run_id


def _blocker_timeline(
    state: SessionState, it: Iteration, verdict: Verdict, close_on_green: bool
) -> None:
    """Open, extend or resolve blockers. A blocker is its kind and root issue: a different
    one resolves (supersedes) the last and starts its own Five Whys."""
    previous = state.status
    state.status = verdict.status
    at = it.finished_at or now_iso()
    current = state.current_blocker
    blocker = verdict.blocker
    if blocker is not None:
        root = blocker.root_issue[:300]
        if current is not None and (current.kind, current.root) == (str(blocker.kind), root):
            current.last_seen = at
            current.runs += 1
        else:
            if current is not None:
                current.resolved_at, current.resolved_sha = at, it.sha
            state.blockers.append(
                BlockerRecord(
                    id=state.next_blocker_id(),
                    kind=str(blocker.kind),
                    root=root,
                    first_seen=it.started_at or at,
                    first_sha=it.sha,
                    last_seen=at,
                )
            )
    elif current is not None:
        current.resolved_at, current.resolved_sha = at, it.sha
    state.trim_blockers()
    if previous == PASSING and verdict.status != PASSING and state.closed_at:
        state.sessions += 1
        state.session_id = new_id()
        state.started_at = it.started_at
        state.add_log(
            "regression: golden path failing again — new session, issue reopened",
            "warning",
            at=it.started_at or None,
        )
    if verdict.status == PASSING and close_on_green:
        state.closed_at = state.closed_at or at
    else:
        state.closed_at = ""


def last_failed(state: SessionState) -> tuple[bool, dict[str, Any]]:
    """(deploy failed, check key → failed part) from the state, old layouts included."""
    data = state.last_failed or {}
    if "checks" in data:
        return bool(data.get("deploy")), dict(data["checks"] or {})
    # state written before check types had keys: http (bool), sessions, suites
    old = {"http": data.get("http"), "flow": data.get("sessions"), "suites": data.get("suites")}
    return bool(data.get("deploy")), {k: v for k, v in old.items() if v}
