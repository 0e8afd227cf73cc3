"""Result records that flow one way: deploy → checks → diagnosis → render → publish.

They are plain dataclasses so every stage can be tested with literal values, and so
``results.json`` is nothing more than :func:`dataclasses.asdict` of an :class:`Iteration`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bot.kinds import Kind

__all__ = [
    "RESULTS_SCHEMA_VERSION",
    "AuthEvidence",
    "DeployResult",
    "FlowSession",
    "FlowSummary",
    "HttpCheck",
    "Iteration",
    "Kind",
    "SuiteResult",
    "TestCase",
]

RESULTS_SCHEMA_VERSION = 2


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
    revision: str = ""  # from deploy.revision_from_output


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
    #: event → {"p50", "p95"}: seconds after connect until it arrived, over the sessions
    #: that saw it (what users feel as "no real-time progress")
    event_latency: dict[str, dict[str, float]] = field(default_factory=dict)
    concurrency: int = 0
    skipped: bool = False

    @property
    def sessions_per_s(self) -> float:
        return self.total / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(slots=True)
class TestCase:
    """One pytest test from a user suite."""

    __test__ = False  # a record, not a test class for pytest to collect

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
    """Everything one run of the bot measured: facts only, judged by :mod:`bot.verdict`.

    Check results live in ``checks`` under their check type's key (``http``, ``flow``,
    ``suites``, or a new check's own), so the generic stages never name a check type; the
    properties below are typed shortcuts for the built-in ones.
    """

    environment: str
    started_at: str
    finished_at: str = ""
    duration_s: float = 0.0
    trigger: str = "manual"
    sha: str = ""
    run_url: str = ""
    shard: str = ""
    deploy: DeployResult | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    auth: AuthEvidence | None = None
    schema: int = RESULTS_SCHEMA_VERSION

    @property
    def http(self) -> list[HttpCheck]:
        return self.checks.get("http") or []

    @http.setter
    def http(self, value: list[HttpCheck]) -> None:
        self.checks["http"] = value

    @property
    def flow(self) -> FlowSummary | None:
        return self.checks.get("flow")

    @flow.setter
    def flow(self, value: FlowSummary | None) -> None:
        self.checks["flow"] = value

    @property
    def suites(self) -> list[SuiteResult]:
        return self.checks.get("suites") or []

    @suites.setter
    def suites(self, value: list[SuiteResult]) -> None:
        self.checks["suites"] = value

    @property
    def health(self) -> list[HttpCheck]:
        return [c for c in self.http if c.group == "health"]

    @property
    def endpoints(self) -> list[HttpCheck]:
        return [c for c in self.http if c.group == "endpoint"]

    def to_dict(self) -> dict[str, Any]:
        """The facts as stored: each check's result at the top level under its key."""
        data = dataclasses.asdict(self)
        data.update(data.pop("checks"))
        return data
