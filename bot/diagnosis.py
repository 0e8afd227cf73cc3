"""From measurements to a verdict: status, the blocker, business impact, Five Whys.

Pure functions of an :class:`~bot.results.Iteration`: every network fact they need was
gathered by the checks, so a diagnosis can be replayed from ``results.json``. Output is
plain text — rendering decides the Markdown, and treats all of it as untrusted because
close reasons and error frames come from the server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import auth
from bot.results import FlowSession, HttpCheck, Iteration, Kind

PASSING, BLOCKED, DEGRADED, DEPLOY_FAILED = "passing", "blocked", "degraded", "deploy-failed"

HEADLINES = {
    PASSING: "ALL GOLDEN PATH TESTS PASSING",
    BLOCKED: "CRITICAL BLOCKER - FIVE WHYS ANALYSIS REQUIRED",
    DEGRADED: "DEGRADED - FAILURES NEED ANALYSIS",
    DEPLOY_FAILED: "DEPLOY FAILED - FIVE WHYS ANALYSIS REQUIRED",
}


@dataclass(slots=True)
class Why:
    n: int
    question: str
    answer: str = ""
    source: str = "hint"  # evidence | team | hint
    author: str = ""
    at: str = ""
    hints: list[str] = field(default_factory=list)


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
    component: str  # deploy | health | agent_flow | endpoints | pytest
    affected: int = 0
    total: int = 0
    evidence: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Finding:
    """One failed check, for annotations and the report's failure list."""

    check: str
    kind: Kind
    message: str
    count: int = 1


@dataclass(slots=True)
class NextStep:
    icon: str
    title: str
    detail: str


@dataclass(slots=True)
class Diagnosis:
    status: str
    headline: str
    golden_path_status: str
    blocker: Blocker | None
    events: list[EventStatus]
    whys: list[Why]
    findings: list[Finding]
    next_steps: list[NextStep]
    next_action: str


def _flow_root(kind: Kind, sample: FlowSession) -> str:
    reason = sample.close_reason or "no reason given"
    code = sample.close_code
    missing = ", ".join(sample.missing) or "events"
    return {
        Kind.AUTH_REJECTED: (
            f'WebSocket Authentication "{reason}" Policy Violations (Error Code {code or 1008})'
            if sample.handshake_status is None
            else f"WebSocket handshake refused with HTTP {sample.handshake_status}"
        ),
        Kind.SERVER_ERROR: (
            f'WebSocket Server Error "{reason}" (Error Code {code})'
            if sample.handshake_status is None
            else f"WebSocket handshake failed with HTTP {sample.handshake_status}"
        ),
        Kind.SUBPROTOCOL_REFUSED: "WebSocket JWT Subprotocol Refused by the Backend",
        Kind.HANDSHAKE_FAILED: "WebSocket Handshake Failed",
        Kind.TIMEOUT: f"Agent Flow Timeout: {missing} never arrived",
        Kind.MISSING_EVENT: f"Missing WebSocket Events: {missing}",
        Kind.OUT_OF_ORDER: "WebSocket Events Out of Order: " + "; ".join(sample.order_violations),
        Kind.DUPLICATE_EVENT: "Duplicate WebSocket Events",
        Kind.CLOSED_EARLY: f"WebSocket Closed Mid-Flow (Code {code}) before {missing}",
        Kind.PROTOCOL_ERROR: "Malformed WebSocket Frames from the Backend",
        Kind.UNREACHABLE: "WebSocket Endpoint Unreachable",
        Kind.HTTP_STATUS: f"WebSocket Upgrade Answered HTTP {sample.handshake_status}",
        Kind.SLOW: "Golden Path Sessions Slower Than the Latency Budget",
        Kind.UNPAIRED_EVENT: "Unpaired WebSocket Events: " + "; ".join(sample.unpaired[:3]),
        Kind.AGENT_INCOMPLETE: "Top-Level Agent Never Completed (Its Sub-Agents Did)",
        Kind.TOO_MANY_EVENTS: f"More WebSocket Events Than Allowed: {sample.error}",
        Kind.SUBPROTOCOL_UNEXPECTED: "WebSocket Server Selected an Unexpected Subprotocol",
    }.get(kind, f"Agent flow failed: {kind}")


_FLOW_WHY1 = {
    Kind.AUTH_REJECTED: "Why are WebSocket events not working?",
    Kind.SERVER_ERROR: "Why does the agent flow fail with a server error?",
    Kind.TIMEOUT: "Why do golden-path sessions not complete in time?",
    Kind.MISSING_EVENT: "Why are some WebSocket events never delivered?",
    Kind.OUT_OF_ORDER: "Why do WebSocket events arrive in the wrong order?",
}


def _why1_answer(kind: Kind, sample: FlowSession, affected: int, total: int) -> str:
    share = f"{affected}/{total} sessions"
    frame = ""
    if sample.error_frame and sample.error_frame.get("error_code"):
        frame = f"; the server's error frame said {sample.error_frame['error_code']}"
    seen = ", ".join(sample.events_seen) or "no events"
    if kind is Kind.AUTH_REJECTED and sample.handshake_status is None:
        return (
            "WebSocket connections establish successfully but fail authentication with "
            f'"{sample.close_reason}" policy violation code {sample.close_code} ({share}{frame})'
        )
    if kind is Kind.AUTH_REJECTED:
        return f"The WebSocket upgrade is refused with HTTP {sample.handshake_status} ({share})"
    if kind is Kind.SERVER_ERROR:
        return (
            f"Connections authenticate, then the server closes with {sample.close_code} "
            f'"{sample.close_reason}" after {seen} ({share}{frame})'
        )
    if kind is Kind.TIMEOUT:
        return f"After {seen}, nothing more arrived before the timeout ({share}): {sample.error}"
    if kind is Kind.MISSING_EVENT:
        return (
            f"The flow completes but {', '.join(sample.missing)} never arrived; "
            f"received {seen} ({share})"
        )
    if kind is Kind.OUT_OF_ORDER:
        return f"Events arrive, but {'; '.join(sample.order_violations)} ({share})"
    return f"{sample.error or kind} ({share}{frame})"


_FLOW_HINTS: dict[Kind, list[str]] = {
    Kind.SERVER_ERROR: [
        "The failure happens after the connection is accepted: authentication and routing "
        "work; look at the agent execution path in the backend logs for the failing run_id.",
        "Check the backend's dependencies used during a run (LLM provider, tool services, "
        "database) for errors or missing configuration in this environment.",
    ],
    Kind.TIMEOUT: [
        "The last event received marks where the flow stalls: check the component that "
        "should emit the next event (agent loop, tool dispatcher, notifier).",
        "If the backend is just slow, raise checks.agent_flow.timeout; if it is stuck, "
        "look for awaited calls without timeouts.",
    ],
    Kind.MISSING_EVENT: [
        "The missing event's emitter is not wired for this path, or its notifier drops it "
        "(filtered by event type, or sent to another connection).",
        "Compare the event names the backend emits with checks.agent_flow.events and "
        "event_key — a renamed event looks like a missing one.",
    ],
    Kind.OUT_OF_ORDER: [
        "Events are probably emitted from concurrent tasks without a per-run ordering; "
        "send them through one queue per connection.",
    ],
    Kind.DUPLICATE_EVENT: [
        "An event is emitted twice: a retry without idempotency, or two notifiers "
        "subscribed to the same run.",
    ],
    Kind.CLOSED_EARLY: [
        "The backend closes the socket normally mid-run: look for a handler that returns "
        "before the agent finishes (an exception swallowed, or a per-connection timeout).",
    ],
    Kind.PROTOCOL_ERROR: [
        "The backend sends frames that are not JSON text: a serializer bug or a proxy "
        "injecting content.",
    ],
    Kind.SUBPROTOCOL_REFUSED: [
        "Browsers fail a WebSocket whose server does not echo the offered subprotocol: "
        "the backend must select the jwt.<token> protocol it authenticated with.",
    ],
    Kind.UNREACHABLE: [
        "Nothing answers at the WebSocket URL: check the deployment, the port, and any "
        "load balancer that must allow the Upgrade header.",
    ],
    Kind.HANDSHAKE_FAILED: [
        "The upgrade handshake fails: TLS configuration, or a proxy that does not forward "
        "WebSocket upgrades.",
    ],
    Kind.SLOW: [
        "Sessions pass but exceed checks.agent_flow.max_latency: profile the agent loop "
        "and the tools it calls.",
    ],
}

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


def _most_common(failures: Sequence[FlowSession]) -> tuple[Kind, FlowSession, int]:
    counts = Counter(f.kind for f in failures if f.kind)
    kind, n = counts.most_common(1)[0] if counts else (Kind.TEST_FAILED, len(failures))
    sample = next((f for f in failures if f.kind is kind), failures[0])
    return kind, sample, n


def _findings(it: Iteration) -> list[Finding]:
    out: list[Finding] = []
    if it.deploy is not None and not it.deploy.ok:
        out.append(Finding("deploy", it.deploy.kind or Kind.DEPLOY_FAILED, it.deploy.error))
    for c in it.http:
        if not c.ok:
            out.append(Finding(c.name, c.kind or Kind.HTTP_STATUS, c.error))
    if it.flow and it.flow.failures:
        grouped: Counter[tuple[Kind, str]] = Counter(
            (f.kind or Kind.TEST_FAILED, f.error) for f in it.flow.failures
        )
        for (kind, message), n in grouped.most_common(10):
            out.append(Finding("agent flow", kind, message, n))
    for suite in it.suites:
        if suite.error:
            out.append(Finding(suite.name, Kind.TEST_FAILED, suite.error))
        for case in suite.cases:
            if case.outcome in ("failed", "error"):
                out.append(Finding(case.nodeid, Kind.TEST_FAILED, case.message))
    return out


def _blocker(it: Iteration, env: str) -> tuple[Blocker | None, list[Why]]:
    """The one failure everything else waits on, and its Five Whys (questions + WHY 1)."""
    deploy = it.deploy
    if deploy is not None and not deploy.ok:
        tail = " | ".join(deploy.log[-3:])
        b = Blocker(
            deploy.kind or Kind.DEPLOY_FAILED,
            f"Deployment Failed: {deploy.error}",
            "deploy",
            evidence=[tail] if tail else [],
        )
        why1 = Why(
            1,
            "Why is the golden path not running?",
            f"The deploy step failed ({deploy.error}); no tests ran against a new build",
            "evidence",
        )
        return b, [why1, *_generic_whys("the deploy", env, [])]
    down = [c for c in it.health if not c.ok]
    flow_auth = bool(it.flow and any(f.kind is Kind.AUTH_REJECTED for f in it.flow.failures))
    if down and flow_auth and all("auth" in c.name.lower() for c in down):
        down = []  # the auth outage is the *cause* of the 1008s: report them, with it as hint
    if down:
        hints = [
            "Health fails before any golden-path test can pass: check the service's "
            "startup logs and its dependencies (database, cache, secrets).",
        ]
        return _http_blocker(down, len(it.health), "health", env, hints)
    flow = it.flow
    if flow and flow.failures:
        kind, sample, n = _most_common(flow.failures)
        n = flow.kinds.get(str(kind), n)  # failures may be capped; the counts are not
        b = Blocker(kind, _flow_root(kind, sample), "agent_flow", flow.failed, flow.total)
        if sample.error_frame:
            b.evidence.append(
                f"error frame {sample.error_frame.get('error_code')}: "
                f"{sample.error_frame.get('message')}"
            )
        why1 = Why(
            1,
            _FLOW_WHY1.get(kind, "Why are WebSocket events not working?"),
            _why1_answer(kind, sample, n, flow.total),
            "evidence",
        )
        if kind is Kind.AUTH_REJECTED:
            hints = auth.explain(it.auth) if it.auth else []
            questions = [q.format(reason=sample.close_reason, environment=env) for q in _AUTH_WHYS]
            extra = [
                "Compare the JWT secret, issuer and audience the backend validates with "
                "against the auth service's, for this environment.",
                "Check how the WebSocket middleware reaches the auth service (URL, timeout) "
                "in this environment's configuration.",
                "Auth for HTTP and WebSocket should go through one validation path, tested "
                "end to end in CI with a real token.",
            ]
            whys = [Why(2, questions[0], hints=hints or extra[:1])]
            whys += [Why(i + 3, q, hints=[extra[i]]) for i, q in enumerate(questions[1:])]
            return b, [why1, *whys]
        return b, [why1, *_generic_whys("the agent flow", env, _FLOW_HINTS.get(kind, []))]
    failing_endpoints = [c for c in it.endpoints if not c.ok]
    if failing_endpoints:
        return _http_blocker(failing_endpoints, len(it.endpoints), "endpoints", env, [])
    failing_suites = [s for s in it.suites if s.failed or s.errors or s.error]
    if failing_suites:
        s = failing_suites[0]
        first = next((c for c in s.cases if c.outcome in ("failed", "error")), None)
        detail = s.error or (f"{first.nodeid}: {first.message}" if first else "")
        b = Blocker(
            Kind.TEST_FAILED,
            f"Test Suite {s.name}: {s.failed + s.errors} failing",
            "pytest",
            s.failed + s.errors,
            s.total,
        )
        why1 = Why(1, f"Why does {s.name} fail?", detail or "tests failed", "evidence")
        return b, [why1, *_generic_whys(s.name, env, [])]
    return None, []


def _http_blocker(
    failing: Sequence[HttpCheck], total: int, component: str, env: str, hints: list[str]
) -> tuple[Blocker, list[Why]]:
    c = failing[0]
    label = c.name if component == "health" else f"API Endpoint {c.name}"
    blocker = Blocker(
        c.kind or Kind.HTTP_STATUS, f"{label} Failing: {c.error}", component, len(failing), total
    )
    why1 = Why(
        1,
        f"Why is {label} failing?",
        f"{c.method} {c.url} answered {c.error or c.kind}",
        "evidence",
    )
    return blocker, [why1, *_generic_whys(label, env, hints)]


def _generic_whys(component: str, env: str, hints: list[str]) -> list[Why]:
    return [
        Why(n, q.format(component=component, environment=env), hints=hints[i : i + 1])
        for n, (i, q) in enumerate(enumerate(_GENERIC_WHYS), start=2)
    ]


def _events(it: Iteration, impact: Mapping[str, str], events: Sequence[str]) -> list[EventStatus]:
    flow = it.flow
    if flow is None or flow.skipped:
        return []
    total = flow.total
    return [
        EventStatus(
            name,
            total > 0 and flow.event_seen.get(name, 0) >= total,
            impact.get(name, ""),
            flow.event_seen.get(name, 0),
            total,
        )
        for name in events
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
    return [
        NextStep("🔄", "Root Cause Analysis", f"answer WHY 2–5 with /why N <answer>: {what}"),
        NextStep("🔧", "Fix the Blocker", "land the fix and deploy it"),
        NextStep("✅", "System Stability Validation", "ensure the fix doesn't break other paths"),
        NextStep("🔄", "Re-test Golden Path", "comment /retest (or /deploy after a fix)"),
        NextStep("🎯", f"Continue to {target} Test Goal", "once the blocker is resolved"),
    ]


def diagnose(
    it: Iteration,
    *,
    environment: str,
    events: Sequence[str],
    impact: Mapping[str, str],
    target_tests: int,
    why_answers: Mapping[int, Mapping[str, Any]] | None = None,
) -> Diagnosis:
    findings = _findings(it)
    blocker, whys = _blocker(it, environment)
    passing, run = it.golden_path_tests
    if it.deploy is not None and not it.deploy.ok:
        status = DEPLOY_FAILED
    elif not findings:
        status = PASSING
    elif (blocker and blocker.component == "health") or (
        it.flow and it.flow.total and it.flow.failed == it.flow.total
    ):
        status = BLOCKED
    else:
        status = DEGRADED

    if status == PASSING:
        gp = "OPERATIONAL"
    elif status in (BLOCKED, DEPLOY_FAILED) or run == 0 or passing == 0:
        gp = "COMPLETELY BLOCKED"
    else:
        gp = f"PARTIALLY BLOCKED ({run - passing}/{run} failing)"

    for why in whys:
        answer = (why_answers or {}).get(why.n)
        if answer and why.n > 1:
            why.answer = str(answer.get("answer", ""))
            why.source = "team"
            why.author = str(answer.get("author", ""))
            why.at = str(answer.get("at", ""))
    next_action = (
        "Keep the golden path green"
        if status == PASSING
        else "Five Whys root cause analysis, then /retest"
    )
    return Diagnosis(
        status=status,
        headline=HEADLINES[status],
        golden_path_status=gp,
        blocker=blocker,
        events=_events(it, impact, events),
        whys=whys,
        findings=findings,
        next_steps=_next_steps(status, blocker, target_tests, passing),
        next_action=next_action,
    )
