"""Result records that flow one way: deploy → checks → diagnosis → render → publish.

They are plain dataclasses so every stage can be tested with literal values, and so
``results.json`` is nothing more than :func:`dataclasses.asdict` of an :class:`Iteration`.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

RESULTS_SCHEMA_VERSION = 1


class Kind(enum.StrEnum):
    """Why something failed. The diagnosis and the report are keyed on it."""

    AUTH_REJECTED = "auth_rejected"  # WebSocket closed 1008 / handshake 401/403
    SERVER_ERROR = "server_error"  # WebSocket closed 1011 / HTTP 5xx from the backend
    SUBPROTOCOL_REFUSED = "subprotocol_refused"
    HANDSHAKE_FAILED = "handshake_failed"  # TLS, malformed upgrade, unexpected HTTP on /ws
    TIMEOUT = "timeout"
    MISSING_EVENT = "missing_event"
    OUT_OF_ORDER = "out_of_order"
    DUPLICATE_EVENT = "duplicate_event"
    CLOSED_EARLY = "closed_early"  # closed cleanly before the last event
    PROTOCOL_ERROR = "protocol_error"  # malformed / binary frames
    UNREACHABLE = "unreachable"
    HTTP_STATUS = "http_status"
    SLOW = "slow"
    DEPLOY_FAILED = "deploy_failed"
    TEST_FAILED = "test_failed"
    CONFIG_ERROR = "config_error"
    UNPAIRED_EVENT = "unpaired_event"  # e.g. a tool_executing that no tool_completed closed
    AGENT_INCOMPLETE = "agent_incomplete"  # a sub-agent completed, the top-level agent never did
    TOO_MANY_EVENTS = "too_many_events"  # more arrivals than a rule's max (> 1) allows
    SUBPROTOCOL_UNEXPECTED = "subprotocol_unexpected"  # selected an offered one, not the expected


@dataclass(slots=True)
class AuthEvidence:
    """Facts gathered after auth failures; no secrets, only what a report may show."""

    token_sent: bool = True
    token_in: str = "header"
    token_source: str = ""  # "jwt" | "token_env" | "" (auth: configures neither)
    claims: dict[str, Any] = field(default_factory=dict)  # exp/iat/nbf/iss/aud/sub only
    checked_at: float = 0.0
    verify_url: str = ""
    verify_status: int | None = None
    verify_valid: bool | None = None
    verify_error: str = ""
    verify_method: str = ""
    # "valid" | "invalid" | "unreachable" | "error" (5xx) | "unexpected" (answer does not fit
    # auth.verify) | "" (not asked)
    verify_outcome: str = ""
    auth_health_ok: bool | None = None
    auth_health_url: str = ""
    server_clock_skew_s: float | None = None  # backend clock minus ours
    error_codes: dict[str, int] = field(default_factory=dict)  # from error frames


@dataclass(slots=True)
class HttpCheck:
    """One health or API endpoint probe."""

    name: str
    url: str
    ok: bool
    method: str = "GET"
    status: int | None = None
    latency_s: float | None = None
    kind: Kind | None = None
    error: str = ""
    group: str = "health"  # "health" | "endpoint"
    server_time: float | None = None  # the server's clock (JSON "time" or Date header)


@dataclass(slots=True)
class DeployResult:
    ran: bool
    ok: bool
    url: str = ""
    duration_s: float = 0.0
    health_latency_s: float | None = None
    exit_code: int | None = None
    kind: Kind | None = None
    error: str = ""
    log: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FlowSession:
    """One golden-path session: connect with a JWT, send a message, await the events."""

    index: int
    ok: bool
    kind: Kind | None = None
    events_seen: dict[str, float] = field(default_factory=dict)  # event → seconds since connect
    missing: list[str] = field(default_factory=list)
    order_violations: list[str] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    error_frame: dict[str, Any] | None = None
    handshake_status: int | None = None
    subprotocol: str | None = None
    error: str = ""
    duration_s: float = 0.0
    attempts: int = 1
    run: int = 0  # position on a reused connection
    counts: dict[str, int] = field(default_factory=dict)  # event → arrivals in this run
    unpaired: list[str] = field(default_factory=list)  # "tool_executing call_2 without …"


@dataclass(slots=True)
class FlowSummary:
    """The agent flow across all sessions.

    Passing sessions are only counted; failing ones are kept whole, because retries,
    the diagnosis and the report need their evidence.
    """

    url: str = ""
    total: int = 0
    passed: int = 0
    flaky: int = 0
    failed: int = 0  # a count: ``failures`` may be capped where results are stored
    failures: list[FlowSession] = field(default_factory=list)
    flaky_sessions: list[int] = field(default_factory=list)
    event_seen: dict[str, int] = field(default_factory=dict)  # event → sessions that saw it
    kinds: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    concurrency: int = 0
    skipped: bool = False

    @property
    def sessions_per_s(self) -> float:
        return self.total / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(slots=True)
class TestCase:
    """One pytest test from a user suite."""

    nodeid: str
    outcome: str  # passed | failed | skipped | error
    duration_s: float = 0.0
    message: str = ""
    flaky: bool = False
    attempts: int = 1


@dataclass(slots=True)
class SuiteResult:
    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    flaky: int = 0
    duration_s: float = 0.0
    cases: list[TestCase] = field(default_factory=list)
    error: str = ""  # the suite could not run at all (collection error, missing path)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors


@dataclass(slots=True)
class Iteration:
    """Everything one run of the bot measured; the input of diagnosis and render."""

    environment: str
    started_at: str
    finished_at: str = ""
    duration_s: float = 0.0
    trigger: str = "manual"
    sha: str = ""
    run_url: str = ""
    shard: str = ""
    deploy: DeployResult | None = None
    http: list[HttpCheck] = field(default_factory=list)
    flow: FlowSummary | None = None
    suites: list[SuiteResult] = field(default_factory=list)
    auth: AuthEvidence | None = None
    schema: int = RESULTS_SCHEMA_VERSION

    @property
    def health(self) -> list[HttpCheck]:
        return [c for c in self.http if c.group == "health"]

    @property
    def endpoints(self) -> list[HttpCheck]:
        return [c for c in self.http if c.group == "endpoint"]

    @property
    def passed(self) -> int:
        n = sum(c.ok for c in self.http)
        n += self.flow.passed + self.flow.flaky if self.flow else 0
        n += sum(s.passed + s.flaky for s in self.suites)
        return n

    @property
    def failed(self) -> int:
        n = sum(not c.ok for c in self.http)
        n += self.flow.failed if self.flow else 0
        n += sum(s.failed + s.errors for s in self.suites)
        if self.deploy is not None and not self.deploy.ok:
            n += 1
        return n

    @property
    def flaky(self) -> int:
        return (self.flow.flaky if self.flow else 0) + sum(s.flaky for s in self.suites)

    @property
    def total(self) -> int:
        return self.passed + self.failed

    @property
    def golden_path_tests(self) -> tuple[int, int]:
        """(passing, run) counting agent-flow sessions and user tests: the seed's "N/1000"."""
        passing = (self.flow.passed + self.flow.flaky) if self.flow else 0
        run = self.flow.total if self.flow else 0
        for s in self.suites:
            passing += s.passed + s.flaky
            run += s.total
        return passing, run

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["summary"] = {
            "passed": self.passed,
            "failed": self.failed,
            "flaky": self.flaky,
            "total": self.total,
        }
        return data


def iteration_from_dict(data: dict[str, Any]) -> Iteration:
    """Inverse of :meth:`Iteration.to_dict`, for ``golden-path merge``."""

    def http(d: dict[str, Any]) -> HttpCheck:
        return HttpCheck(**{**d, "kind": Kind(d["kind"]) if d.get("kind") else None})

    def session(d: dict[str, Any]) -> FlowSession:
        return FlowSession(**{**d, "kind": Kind(d["kind"]) if d.get("kind") else None})

    deploy = data.get("deploy")
    flow = data.get("flow")
    it = Iteration(
        environment=data["environment"],
        started_at=data["started_at"],
        finished_at=data.get("finished_at", ""),
        duration_s=data.get("duration_s", 0.0),
        trigger=data.get("trigger", "manual"),
        sha=data.get("sha", ""),
        run_url=data.get("run_url", ""),
        shard=data.get("shard", ""),
        http=[http(c) for c in data.get("http", [])],
        suites=[
            SuiteResult(**{**s, "cases": [TestCase(**c) for c in s.get("cases", [])]})
            for s in data.get("suites", [])
        ],
    )
    if deploy:
        it.deploy = DeployResult(
            **{**deploy, "kind": Kind(deploy["kind"]) if deploy.get("kind") else None}
        )
    if data.get("auth"):
        it.auth = AuthEvidence(**data["auth"])
    if flow:
        it.flow = FlowSummary(**{**flow, "failures": [session(f) for f in flow["failures"]]})
    return it
