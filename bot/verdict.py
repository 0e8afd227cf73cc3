"""One verdict per iteration: what the facts mean, computed once and read by every output.

The issue body, the console summary, the job summary, the step outputs, the annotations,
junit.xml and results.json all read one :class:`Verdict`, so a number cannot differ between
them: counts come from the check types' outcomes (counts, never kept records), the status from
one rule, the blocker and its Five Whys from the failure-kind table (:mod:`bot.kinds`).

:func:`judge` is a pure function of an :class:`~bot.results.Iteration` and the config: every
network fact it needs was gathered by the checks, so a verdict can be replayed from
``results.json`` or the state block. Its text is plain and partly server-sent, so rendering
treats all of it as untrusted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bot import auth
from bot.checks import check_types
from bot.checks.base import ERRORED, FAILED, PASSED, SKIPPED, Finding, Outcome
from bot.config import Config
from bot.kinds import Kind, fill, info
from bot.results import FlowSession, Iteration

PASSING, DEGRADED, BLOCKED, DEPLOY_FAILED, REFUSED = (
    "passing",
    "degraded",
    "blocked",
    "deploy-failed",
    "refused",
)


@dataclass(frozen=True, slots=True)
class StatusInfo:
    headline: str
    meaning: str
    exit_code: int


#: Every status the bot reports, in the words every output uses (README table generated).
STATUSES: Mapping[str, StatusInfo] = {
    PASSING: StatusInfo(
        "ALL GOLDEN PATH TESTS PASSING", "every check and every golden-path test passed", 0
    ),
    DEGRADED: StatusInfo(
        "DEGRADED - FAILURES NEED ANALYSIS",
        "some checks or golden-path tests failed, others passed",
        1,
    ),
    BLOCKED: StatusInfo(
        "CRITICAL BLOCKER - FIVE WHYS ANALYSIS REQUIRED",
        "no golden-path test passed, or the agent flow failed every session (or the service "
        "is down and none could run)",
        1,
    ),
    DEPLOY_FAILED: StatusInfo(
        "DEPLOY FAILED - FIVE WHYS ANALYSIS REQUIRED",
        "the deploy step failed; nothing was tested",
        1,
    ),
    REFUSED: StatusInfo(
        "COMMAND REFUSED",
        "a comment's command was refused (permission or usage); nothing ran",
        0,
    ),
}

#: GOLDEN PATH STATUS words, from best to worst.
OPERATIONAL, AT_RISK, PARTIALLY_BLOCKED, COMPLETELY_BLOCKED = (
    "OPERATIONAL",
    "AT RISK",
    "PARTIALLY BLOCKED",
    "COMPLETELY BLOCKED",
)

#: Which failure explains the others: earlier components block later ones.
_RANK = ("deploy", "health", "agent_flow", "endpoints", "pytest")

_GENERIC_WHYS = (
    "Why does {component} fail this way?",
    "Why was this not caught before reaching {environment}?",
    "Why is {environment} configured differently from where it works?",
    "What is the fundamental root cause?",
)
_AUTH_WHYS = (
    'Why does WebSocket authentication fail with "{reason}" policy violations?',
    "Why are JWT tokens not properly validated for WebSocket connections?",
    "Why is the authentication not working in the {environment} environment?",
    "What is the fundamental root cause preventing WebSocket authentication?",
)


@dataclass(slots=True)
class Counts:
    passed: int = 0  # flaky ones included
    failed: int = 0
    flaky: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed


@dataclass(slots=True)
class Why:
    n: int
    question: str
    answer: str = ""
    source: str = "hint"  # evidence | team | hint
    author: str = ""
    at: str = ""
    hints: list[str] = field(default_factory=list)
    proposal: dict[str, str] | None = None  # answer/by/basis, until a person accepts it


@dataclass(slots=True)
class EventStatus:
    name: str
    ok: bool
    impact: str
    seen: int
    total: int


@dataclass(slots=True)
class Blocker:
    kind: Kind
    root_issue: str
    component: str  # deploy | health | agent_flow | endpoints | pytest | a check's own
    affected: int = 0
    total: int = 0
    evidence: list[str] = field(default_factory=list)
    impact: str = ""  # what users experience, from the kind table


@dataclass(slots=True)
class NextStep:
    icon: str
    title: str
    detail: str


@dataclass(slots=True)
class Verdict:
    status: str
    headline: str
    golden_path_status: (
        str  # OPERATIONAL | AT RISK | PARTIALLY BLOCKED (n/m failing) | COMPLETELY BLOCKED
    )
    outcomes: list[Outcome]
    counts: Counts  # every check and test
    golden: Counts  # golden-path tests only: agent-flow sessions and user tests
    blocker: Blocker | None
    events: list[EventStatus]
    whys: list[Why]
    findings: list[Finding]
    next_steps: list[NextStep]
    next_action: str

    @property
    def exit_code(self) -> int:
        return STATUSES[self.status].exit_code

    @property
    def events_affected(self) -> bool:
        """The business-impact block belongs in the report: some agent event went missing."""
        return any(not e.ok for e in self.events)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"]["total"] = self.counts.total
        data["golden"]["total"] = self.golden.total
        data["exit_code"] = self.exit_code
        return data


# -- outcomes and counts ---------------------------------------------------------------------


def _deploy_outcome(it: Iteration) -> Outcome | None:
    d = it.deploy
    if d is None:
        return None
    if not d.ran:
        return Outcome("deploy", "deploy", SKIPPED, detail="skipped")
    if d.ok:
        return Outcome("deploy", "deploy", PASSED, passed=1, detail=d.url)
    kind = str(d.kind or Kind.DEPLOY_FAILED)
    return Outcome("deploy", "deploy", FAILED, failed=1, kinds={kind: 1}, sample=d.error)


def outcomes_of(it: Iteration) -> list[Outcome]:
    """Every check's outcome, in report order (deploy first)."""
    out = [o for o in [_deploy_outcome(it)] if o is not None]
    for ct in check_types():
        result = it.checks.get(ct.key)
        if result is not None:
            out += ct.outcomes(result)
    return out


def _findings(it: Iteration, outcomes: Sequence[Outcome]) -> list[Finding]:
    found = [
        Finding("deploy", kind, o.sample, n)
        for o in outcomes
        if o.component == "deploy" and not o.ok
        for kind, n in o.kinds.items()
    ]
    for ct in check_types():
        result = it.checks.get(ct.key)
        if result is not None:
            found += ct.findings(result)
    return found


def _count(outcomes: Sequence[Outcome]) -> Counts:
    return Counts(
        passed=sum(o.passed for o in outcomes),
        failed=sum(o.failed for o in outcomes),
        flaky=sum(o.flaky for o in outcomes),
    )


# -- the blocker and its Five Whys -----------------------------------------------------------


def _most_common(failures: Sequence[FlowSession], kinds: Mapping[str, int]) -> FlowSession:
    """A sample of the most frequent kind (counted over all failures, not the kept few)."""
    if kinds:
        top = max(kinds.items(), key=lambda kv: kv[1])[0]
        for f in failures:
            if str(f.kind) == top:
                return f
    return failures[0]


def _evidence_fields(sample: FlowSession, affected: int, total: int) -> dict[str, object]:
    frame = ""
    error_frame = sample.error_frame or {}
    if error_frame.get("error_code"):
        frame = f"; the server's error frame said {error_frame['error_code']}"
    return {
        "reason": sample.close_reason or "no reason given",
        "code": sample.close_code or (1008 if sample.kind is Kind.AUTH_REJECTED else ""),
        "status": sample.handshake_status or "",
        "missing": ", ".join(sample.missing) or "events",
        "violations": "; ".join(sample.order_violations),
        "seen": ", ".join(sample.events_seen) or "no events",
        "unpaired": "; ".join(sample.unpaired[:3]) or "events",
        "share": f"{affected}/{total} sessions",
        "frame": frame,
        "error": sample.error,
    }


def _flow_blocker(it: Iteration, environment: str) -> tuple[Blocker, list[Why]] | None:
    flow = it.flow
    if flow is None or not flow.failures:
        return None
    sample = _most_common(flow.failures, flow.kinds)
    kind = sample.kind or Kind.TEST_FAILED
    entry = info(kind)
    n = flow.kinds.get(str(kind), flow.failed)
    fields = _evidence_fields(sample, n, flow.total)
    http = sample.handshake_status is not None
    root = fill(entry.root_http if http and entry.root_http else entry.root, fields)
    blocker = Blocker(kind, root, "agent_flow", flow.failed, flow.total, impact=entry.impact)
    frame = sample.error_frame or {}
    if frame:
        blocker.evidence.append(
            f"error frame {frame.get('error_code') or frame.get('type') or ''}: "
            f"{frame.get('message', '')}".strip()
        )
    if http and entry.answer_http:
        answer = fill(entry.answer_http, fields)
    elif not sample.events_seen and entry.answer_early:
        answer = fill(entry.answer_early, fields)
    else:
        answer = fill(entry.answer, fields)
    why1 = Why(1, entry.why1, answer, "evidence")
    if kind is Kind.AUTH_REJECTED:
        hints = auth.explain(it.auth) if it.auth else []
        questions = [
            q.replace("{reason}", str(fields["reason"])).replace("{environment}", environment)
            for q in _AUTH_WHYS
        ]
        whys = [Why(2, questions[0], hints=hints or list(entry.hints[:1]))]
        whys += [
            Why(i + 3, q, hints=list(entry.hints[i : i + 1])) for i, q in enumerate(questions[1:])
        ]
        return blocker, [why1, *whys]
    return blocker, [why1, *_generic_whys("the agent flow", environment, entry.hints)]


def _outcome_blocker(
    failing: Sequence[Outcome], component: str, total: int, environment: str, it: Iteration
) -> tuple[Blocker, list[Why]]:
    """The blocker of a component from its outcomes: works for any check type."""
    o = failing[0]
    kind = Kind(next(iter(o.kinds), Kind.TEST_FAILED))
    entry = info(kind)
    if component == "deploy":
        d = it.deploy
        tail = " | ".join(d.log[-3:]) if d else ""
        root = fill(entry.root, {"error": o.sample})
        blocker = Blocker(
            kind, root, "deploy", evidence=[tail] if tail else [], impact=entry.impact
        )
        why1 = Why(1, entry.why1, fill(entry.answer, {"error": o.sample}), "evidence")
        return blocker, [why1, *_generic_whys("the deploy", environment, entry.hints)]
    label = {
        "health": o.name,
        "endpoints": f"API Endpoint {o.name}",
        "pytest": f"Test Suite {o.name}",
    }.get(component, o.name)
    if component == "pytest":
        root = f"{label}: {o.failed} failing"
        affected, of = o.failed, o.total
    else:
        root = f"{label} Failing: {o.sample}"
        affected, of = len(failing), total
    flow_healthy = bool(it.flow and it.flow.total and not it.flow.failed)
    impact = _SUPPORTING_IMPACT.get(component, entry.impact) if flow_healthy else entry.impact
    blocker = Blocker(kind, root, component, affected, of, impact=impact)
    why1 = Why(1, f"Why is {label} failing?", o.sample or o.state, "evidence")
    hints = list(entry.hints_http or entry.hints) if component in _HTTP else list(entry.hints)
    if component == "health":
        hints.insert(
            0,
            "Every golden-path session passes while health fails: the health endpoint checks "
            "something the golden path does not use, or is stricter than it should be — read "
            "what it reports."
            if flow_healthy
            else "Health fails before any golden-path test can pass: check the service's "
            "startup logs and its dependencies (database, cache, secrets).",
        )
    return blocker, [why1, *_generic_whys(label, environment, tuple(hints))]


_HTTP = ("health", "endpoints")
"""Components that are plain HTTP checks: the kinds' WebSocket hints do not fit them."""

_SUPPORTING_IMPACT = {
    "health": "Nothing yet — every golden-path session passed; but whatever trusts the health "
    "endpoint (load balancer, orchestrator, monitoring) may take the service out of rotation",
    "endpoints": "Users of the failing API endpoints get errors; chats themselves work",
    "pytest": "Users may meet what the failing tests cover; chats themselves work",
}
"""USERS SEE when a supporting check fails while every agent-flow session passed: the kind's
own impact ("the agent crashes") would describe chats that in fact work."""


def _generic_whys(component: str, env: str, hints: Sequence[str]) -> list[Why]:
    return [
        Why(
            n,
            q.replace("{component}", component).replace("{environment}", env),
            hints=list(hints[i : i + 1]),
        )
        for n, (i, q) in enumerate(enumerate(_GENERIC_WHYS), start=2)
    ]


def _blocker(
    it: Iteration, outcomes: Sequence[Outcome], environment: str
) -> tuple[Blocker | None, list[Why]]:
    """The one failure everything else waits on: the earliest failing component."""
    by_component: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_component.setdefault(o.component, []).append(o)
    flow_auth = bool(it.flow and it.flow.kinds.get(str(Kind.AUTH_REJECTED)))
    order = [c for c in _RANK if c in by_component]
    order += [c for c in by_component if c not in _RANK]
    for component in order:
        group = by_component[component]
        failing = [o for o in group if not o.ok]
        if not failing:
            continue
        if component == "health" and flow_auth and all("auth" in o.name.lower() for o in failing):
            continue  # the auth outage is the *cause* of the 1008s: blame them, with it as a hint
        if component == "agent_flow":
            found = _flow_blocker(it, environment)
            if found is not None:
                return found
        return _outcome_blocker(failing, component, len(group), environment, it)
    return None, []


# -- the verdict -----------------------------------------------------------------------------


def _status(it: Iteration, outcomes: Sequence[Outcome], golden: Counts, blocker: Blocker | None):
    """One rule for the status; the agent flow is the golden path itself, so when none of
    its sessions passes the path is blocked, whatever else passed."""
    if it.deploy is not None and it.deploy.ran and not it.deploy.ok:
        return DEPLOY_FAILED
    if all(o.ok for o in outcomes):
        return PASSING
    if golden.total and not golden.passed:
        return BLOCKED
    if any(o.component == "agent_flow" and o.total and not o.passed for o in outcomes):
        return BLOCKED
    if blocker is not None and blocker.component == "health" and not golden.passed:
        return BLOCKED
    return DEGRADED


def _golden_path_status(status: str, golden: Counts) -> str:
    if status == PASSING:
        return OPERATIONAL
    if status in (BLOCKED, DEPLOY_FAILED):
        return COMPLETELY_BLOCKED
    if not golden.failed:
        return AT_RISK
    return f"{PARTIALLY_BLOCKED} ({golden.failed}/{golden.total} failing)"


def _events(it: Iteration, cfg: Config) -> list[EventStatus]:
    flow, flow_cfg = it.flow, cfg.checks.agent_flow
    if flow is None or flow.skipped or flow_cfg is None:
        return []
    return [
        EventStatus(
            name,
            flow.total > 0 and flow.event_seen.get(name, 0) >= flow.total,
            cfg.impact.events.get(name, ""),
            flow.event_seen.get(name, 0),
            flow.total,
        )
        for name in flow_cfg.events
    ]


def _next_steps(status: str, blocker: Blocker | None, target: int, passing: int) -> list[NextStep]:
    if status == PASSING:
        steps = [
            NextStep("✅", "Golden Path Verified", f"{passing} golden-path tests passing"),
            NextStep("🔄", "Keep Watching", "every push re-runs the loop"),
        ]
        if passing < target:
            steps.append(
                NextStep("🎯", f"Continue to {target} Test Goal", f"{passing}/{target} so far")
            )
        return steps
    what = blocker.root_issue if blocker else "the failing checks"
    if blocker is None:
        fix = "land the fix and deploy it"
    else:
        entry = info(blocker.kind)
        fix = entry.fix_http or entry.fix if blocker.component in _HTTP else entry.fix
    return [
        NextStep("🔄", "Root Cause Analysis", f"answer WHY 2–5 with /why N <answer>: {what}"),
        NextStep("🔧", "Fix the Blocker", f"{fix}; land the fix and deploy it"),
        NextStep("✅", "System Stability Validation", "ensure the fix doesn't break other paths"),
        NextStep("🔄", "Re-test Golden Path", "comment /retest (or /deploy after a fix)"),
        NextStep("🎯", f"Continue to {target} Test Goal", "once the blocker is resolved"),
    ]


def judge(it: Iteration, cfg: Config) -> Verdict:
    """The verdict on one iteration: status, counts, blocker, impact, Five Whys, next steps."""
    outcomes = outcomes_of(it)
    counted = [o for o in outcomes if o.state != SKIPPED]
    golden = _count([o for o in counted if o.golden])
    blocker, whys = _blocker(it, outcomes, cfg.environment)
    status = _status(it, counted, golden, blocker)
    return Verdict(
        status=status,
        headline=STATUSES[status].headline,
        golden_path_status=_golden_path_status(status, golden),
        outcomes=outcomes,
        counts=_count(counted),
        golden=golden,
        blocker=blocker,
        events=_events(it, cfg),
        whys=whys,
        findings=_findings(it, outcomes),
        next_steps=_next_steps(status, blocker, cfg.target_tests, golden.passed),
        next_action=(
            "Keep the golden path green"
            if status == PASSING
            else "Five Whys root cause analysis, then /retest"
        ),
    )


def with_answers(
    whys: Sequence[Why],
    answers: Mapping[int, Mapping[str, Any]],
    proposals: Mapping[int, Mapping[str, str]] | None = None,
) -> list[Why]:
    """The Five Whys with the team's ``/why N`` answers in place of hints (WHY 1 stays), and
    analyzers' proposals beside the hints where nobody has answered yet."""
    out = []
    for why in whys:
        answer = answers.get(why.n)
        if answer and why.n > 1:
            why = Why(
                why.n,
                why.question,
                str(answer.get("answer", "")),
                "team",
                str(answer.get("author", "")),
                str(answer.get("at", "")),
            )
        elif proposals and why.n in proposals and why.n > 1:
            why = dataclasses.replace(why, proposal=dict(proposals[why.n]))
        out.append(why)
    return out


__all__ = [
    "AT_RISK",
    "BLOCKED",
    "COMPLETELY_BLOCKED",
    "DEGRADED",
    "DEPLOY_FAILED",
    "ERRORED",
    "OPERATIONAL",
    "PARTIALLY_BLOCKED",
    "PASSING",
    "REFUSED",
    "STATUSES",
    "Blocker",
    "Counts",
    "EventStatus",
    "NextStep",
    "Verdict",
    "Why",
    "judge",
    "outcomes_of",
    "with_answers",
]
