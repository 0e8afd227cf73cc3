"""Turn an iteration into what people read: session state, issue body, results.json, junit.xml.

All output leaves through :mod:`bot.redact`; the issue body through :mod:`bot.render`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot import redact, render
from bot.config import Config
from bot.diagnosis import PASSING, Diagnosis, diagnose
from bot.results import Iteration, iteration_from_dict
from bot.session import BEGIN, END, IterationRecord, SessionState, env_marker, new_id, now_iso

MAX_STATE_FAILURES = 10
MAX_STATE_CASES = 50


def diagnose_iteration(cfg: Config, it: Iteration, state: SessionState) -> Diagnosis:
    flow = cfg.checks.agent_flow
    return diagnose(
        it,
        environment=cfg.environment,
        events=list(flow.events) if flow else [],
        impact=dict(cfg.impact.events),
        target_tests=cfg.target_tests,
        why_answers=state.why_answers(),
    )


def compact(it: Iteration) -> dict[str, Any]:
    """The iteration as kept in the state block: evidence capped, counts exact."""
    data = it.to_dict()
    if data.get("flow"):
        data["flow"]["failures"] = data["flow"]["failures"][:MAX_STATE_FAILURES]
        data["flow"]["flaky_sessions"] = data["flow"]["flaky_sessions"][:MAX_STATE_FAILURES]
    for s in data.get("suites", []):
        failing = [c for c in s["cases"] if c["outcome"] != "passed" or c["flaky"]]
        s["cases"] = failing[:MAX_STATE_CASES]
    if data.get("deploy"):
        data["deploy"]["log"] = data["deploy"]["log"][-10:]
    data.pop("summary", None)
    return data


def fingerprint(status: str, it: Iteration, blocker: str) -> tuple[Any, ...]:
    """What makes two iterations the same result (timings aside)."""
    passing, run = it.golden_path_tests
    return (status, it.passed, it.failed, it.flaky, passing, run, blocker[:200])


def record_fingerprint(r: IterationRecord) -> tuple[Any, ...]:
    return (r.status, r.passed, r.failed, r.flaky, r.golden_passing, r.golden_run, r.blocker)


def record(
    state: SessionState, it: Iteration, dx: Diagnosis, *, close_on_green: bool = True
) -> None:
    """Fold an iteration into the session: history, blocker timeline, what /retest reruns."""
    passing, run = it.golden_path_tests
    state.environment = it.environment
    state.add_iteration(
        IterationRecord(
            id=new_id(),
            at=it.finished_at or now_iso(),
            status=dx.status,
            passed=it.passed,
            failed=it.failed,
            flaky=it.flaky,
            golden_passing=passing,
            golden_run=run,
            duration_s=it.duration_s,
            trigger=it.trigger,
            sha=it.sha[:12],
            run_url=it.run_url,
            blocker=dx.blocker.root_issue[:200] if dx.blocker else "",
        )
    )
    previous = state.status
    state.status = dx.status
    if dx.blocker:
        if state.blocker_root != dx.blocker.root_issue or not state.blocker_since:
            state.blocker_since = it.started_at
        state.blocker_kind = str(dx.blocker.kind)
        state.blocker_root = dx.blocker.root_issue[:300]
        state.resolved_at = ""
    elif state.blocker_root and not state.resolved_at:
        state.resolved_at = it.finished_at or now_iso()
    if previous == PASSING and dx.status != PASSING and state.closed_at:
        state.sessions += 1
        state.session_id = new_id()
        state.started_at = it.started_at
        state.add_log(
            "regression: golden path failing again — new session, issue reopened",
            "warning",
            at=it.started_at or None,
        )
    if dx.status == PASSING and close_on_green:
        state.closed_at = state.closed_at or (it.finished_at or now_iso())
    else:
        state.closed_at = ""
    failed_sessions = sorted(f.index for f in it.flow.failures) if it.flow else []
    state.last_failed = {
        "http": any(not c.ok for c in it.http),
        "sessions": failed_sessions[:5000],
        "suites": [s.name for s in it.suites if s.failed or s.errors or s.error],
        "deploy": bool(it.deploy and not it.deploy.ok),
    }
    state.last_iteration = compact(it)


def context(
    cfg: Config,
    state: SessionState,
    it: Iteration,
    dx: Diagnosis,
    *,
    issue: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    passing, run = it.golden_path_tests
    records = state.iterations
    resolved = None
    if dx.blocker is None and state.blocker_root and state.resolved_at:
        resolved = {
            "root": state.blocker_root,
            "since": state.blocker_since,
            "at": state.resolved_at,
        }
    flaky = [f"session {i}" for i in (it.flow.flaky_sessions if it.flow else [])]
    flaky += [c.nodeid for s in it.suites for c in s.cases if c.flaky]
    return {
        "title": cfg.title(),
        "environment": cfg.environment,
        "mission": cfg.mission_text(),
        "at_risk": cfg.impact.at_risk,
        "justification": [
            (label, text.replace("{at_risk}", cfg.impact.at_risk))
            for label, text in cfg.impact.justification
        ],
        "issue": issue,
        "state": state,
        "it": it,
        "dx": dx,
        "updated_at": it.finished_at or now_iso(),
        "progress": {"passing": passing, "run": run, "target": cfg.target_tests},
        "trend": [{"n": r.n, "passing": r.golden_passing} for r in records[-50:]],
        "iterations": records[-10:],
        "older_iterations": max(0, len(records) - 10),
        "log": sorted(state.log, key=lambda e: e.at, reverse=True),
        "archives": state.archives,
        "archived_count": sum(a.count for a in state.archives),
        "resolved": resolved,
        "flaky": flaky,
        "log_limit": cfg.tracking.log_limit,
        "findings_limit": 20,
    }


def owned_section(
    cfg: Config,
    state: SessionState,
    it: Iteration,
    dx: Diagnosis,
    *,
    issue: Mapping[str, Any] | None = None,
    budget: int = render.GITHUB_BODY_LIMIT,
) -> str:
    """The bot-owned part of the issue body: markers, rendered report, state block."""
    block = state.to_block()
    marker = env_marker(cfg.environment)
    room = budget - len(block) - len(BEGIN) - len(END) - len(marker) - 8
    rendered = render.render(
        "issue.md.j2",
        context(cfg, state, it, dx, issue=issue),
        override_dir=cfg.tracking.templates,
        budget=max(room, 1000),
    )
    return f"{BEGIN}\n{marker}\n{rendered.body.rstrip()}\n\n{block}\n{END}"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_results(path: Path, it: Iteration, dx: Diagnosis) -> None:
    """``results.json``: the iteration, the verdict, redacted (schema in the README)."""
    data = it.to_dict()
    data["diagnosis"] = {
        "status": dx.status,
        "headline": dx.headline,
        "golden_path_status": dx.golden_path_status,
        "blocker": dataclasses.asdict(dx.blocker) if dx.blocker else None,
        "events": [dataclasses.asdict(e) for e in dx.events],
        "whys": [dataclasses.asdict(w) for w in dx.whys],
        "findings": [dataclasses.asdict(f) for f in dx.findings],
    }
    _atomic_write(path, json.dumps(redact.redact_obj(data), indent=2, default=str) + "\n")


def read_results(path: Path) -> Iteration:
    return iteration_from_dict(json.loads(path.read_text(encoding="utf-8")))


def _case(
    suite: ET.Element,
    name: str,
    classname: str,
    time_s: float,
    failure: str | None = None,
    *,
    kind: str = "failure",
    skipped: bool = False,
) -> None:
    case = ET.SubElement(
        suite, "testcase", name=redact.redact(name), classname=classname, time=f"{time_s:.3f}"
    )
    if skipped:
        ET.SubElement(case, "skipped")
    elif failure is not None:
        el = ET.SubElement(case, kind, message=redact.redact(failure)[:1000])
        el.text = redact.redact(failure)


def write_junit(path: Path, it: Iteration) -> None:
    """JUnit XML readable by the common consumers (one <testsuite> per component)."""
    root = ET.Element("testsuites", name=f"golden-path {it.environment}")
    if it.deploy is not None:
        s = ET.SubElement(root, "testsuite", name="deploy")
        _case(
            s,
            "deploy",
            "golden_path.deploy",
            it.deploy.duration_s,
            None if it.deploy.ok else it.deploy.error,
            skipped=not it.deploy.ran,
        )
    for group in ("health", "endpoint"):
        checks = [c for c in it.http if c.group == group]
        if checks:
            s = ET.SubElement(root, "testsuite", name=group)
            for c in checks:
                _case(
                    s,
                    c.name,
                    f"golden_path.{group}",
                    c.latency_s or 0.0,
                    None if c.ok else f"{c.kind}: {c.error}",
                )
    if it.flow is not None and not it.flow.skipped:
        s = ET.SubElement(root, "testsuite", name="agent_flow")
        failed = {f.index: f for f in it.flow.failures}
        flaky = set(it.flow.flaky_sessions)
        n_pass = it.flow.passed + it.flow.flaky
        emitted = 0
        for f in it.flow.failures:
            _case(
                s,
                f"session {f.index}",
                "golden_path.agent_flow",
                f.duration_s,
                f"{f.kind}: {f.error}",
            )
        i = 0
        while emitted < n_pass:
            if i not in failed:
                name = f"session {i}" + (" (flaky)" if i in flaky else "")
                _case(s, name, "golden_path.agent_flow", it.flow.latency_p50_s or 0.0)
                emitted += 1
            i += 1
    for suite in it.suites:
        s = ET.SubElement(root, "testsuite", name=suite.name)
        if suite.error:
            _case(s, suite.name, "golden_path.pytest", 0.0, suite.error, kind="error")
        for tc in suite.cases:
            kind = "error" if tc.outcome == "error" else "failure"
            failure = tc.message or tc.outcome if tc.outcome in ("failed", "error") else None
            _case(
                s,
                tc.nodeid,
                f"golden_path.pytest.{suite.name}",
                tc.duration_s,
                failure,
                kind=kind,
                skipped=tc.outcome == "skipped",
            )
    for s in root.iter("testsuite"):
        cases = s.findall("testcase")
        s.set("tests", str(len(cases)))
        s.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        s.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
        s.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    ET.indent(root)
    _atomic_write(
        path, '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"
    )
