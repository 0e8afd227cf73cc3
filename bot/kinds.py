"""Why something failed: every failure kind, and everything the report says about it, in one table.

A failure kind is a promise to the reader: the issue names it, explains it (WHY 1), hints at
its cause (WHY 2–5), says what users lose and what to do next. Keeping all of that in one
entry per kind means a new kind cannot be half-explained: :data:`KINDS` must hold an entry for
every :class:`Kind` (a test checks it), and :func:`info` raises for one that does not.

Templates are filled with :meth:`str.format_map` over a fixed set of fields the verdict
provides (``reason``, ``code``, ``status``, ``missing``, ``violations``, ``seen``, ``share``,
``frame``, ``error``); their values are untrusted server text, substituted as data — the
template strings themselves are ours.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Kind(enum.StrEnum):
    """Why something failed. The verdict and the report are keyed on it."""

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
    CONFIG_ERROR = "config_error"  # the config cannot work here (e.g. no URL in the output)
    UNPAIRED_EVENT = "unpaired_event"  # e.g. a tool_executing that no tool_completed closed
    AGENT_INCOMPLETE = "agent_incomplete"  # a sub-agent completed, the top-level agent never did
    TOO_MANY_EVENTS = "too_many_events"  # more arrivals than a rule's max (> 1) allows
    SUBPROTOCOL_UNEXPECTED = "subprotocol_unexpected"  # selected an offered one, not the expected


@dataclass(frozen=True, slots=True)
class KindInfo:
    """What the report says about one kind of failure."""

    label: str
    """Short name for tables and the console, e.g. 'auth rejected'."""
    root: str
    """ROOT ISSUE line when this kind blocks the agent flow."""
    why1: str
    """WHY 1 question when this kind blocks the agent flow."""
    answer: str
    """WHY 1 answer, from the evidence of a sample session."""
    hints: tuple[str, ...]
    """Hints for WHY 2–5, most useful first."""
    impact: str
    """What users experience while this failure lasts."""
    fix: str
    """The 'Fix the Blocker' next step."""
    root_http: str = ""
    """ROOT ISSUE when the failure came as an HTTP status on the upgrade (if it can)."""
    answer_http: str = ""
    """WHY 1 answer for the HTTP-status variant."""
    answer_early: str = ""
    """WHY 1 answer when the failure came before any agent event (if it reads differently)."""
    hints_http: tuple[str, ...] = ()
    """Hints when a plain HTTP check (health, an endpoint) failed this way, if the WebSocket
    ones do not fit."""
    fix_http: str = ""
    """The 'Fix the Blocker' step for a plain HTTP check, if ``fix`` does not fit."""
    keeps_connection: bool = False
    """The WebSocket is still usable afterwards, so later runs on it are judged on their own."""


_GENERIC_ANSWER = "{error} ({share}{frame})"

KINDS: Mapping[Kind, KindInfo] = {
    Kind.AUTH_REJECTED: KindInfo(
        label="auth rejected",
        root='WebSocket Authentication "{reason}" Policy Violations (Error Code {code})',
        root_http="WebSocket handshake refused with HTTP {status}",
        why1="Why are WebSocket events not working?",
        answer=(
            "WebSocket connections establish successfully but fail authentication with "
            '"{reason}" policy violation code {code} ({share}{frame})'
        ),
        answer_http="The WebSocket upgrade is refused with HTTP {status} ({share}{frame})",
        hints=(
            "Compare the JWT secret, issuer and audience the backend validates with against "
            "the auth service's, for this environment.",
            "Check how the WebSocket middleware reaches the auth service (URL, timeout) in this "
            "environment's configuration.",
            "Auth for HTTP and WebSocket should go through one validation path, tested end to "
            "end in CI with a real token.",
        ),
        impact="Users cannot start a chat: every connection is refused before the agent runs",
        fix="align the token the backend expects with the one the auth service issues",
    ),
    Kind.SERVER_ERROR: KindInfo(
        label="server error",
        root='WebSocket Server Error "{reason}" (Error Code {code})',
        root_http="WebSocket handshake failed with HTTP {status}",
        why1="Why does the agent flow fail with a server error?",
        answer=(
            'The server closes the connection with {code} "{reason}" after {seen} ({share}{frame})'
        ),
        answer_early=(
            'The server closes the connection with {code} "{reason}" before any agent event: '
            "the failure is in connection setup, not in a run ({share}{frame})"
        ),
        answer_http="The WebSocket upgrade fails with HTTP {status} ({share}{frame})",
        hints=(
            "The backend accepted the socket and then failed: if events arrived first, look at "
            "the agent execution path in the backend logs for the failing run_id; if none did, "
            "look at what it does on connect (a dependency not ready, the auth middleware).",
            "Check the backend's dependencies used during a run (LLM provider, tool services, "
            "database) for errors or missing configuration in this environment.",
        ),
        hints_http=(
            "A 5xx is the backend's own error: read the body it answered with and its logs at "
            "that time (a dependency down, a crash in the handler, a failed migration).",
        ),
        fix_http="find the error in the backend's logs for the failing request and fix it",
        impact="Chats start, then break: the agent crashes before answering",
        fix="find the crash in the backend's logs for a failing run and fix it",
    ),
    Kind.SUBPROTOCOL_REFUSED: KindInfo(
        label="subprotocol refused",
        root="WebSocket JWT Subprotocol Refused by the Backend",
        why1="Why is the WebSocket subprotocol refused?",
        answer=_GENERIC_ANSWER,
        hints=(
            "Browsers fail a WebSocket whose server does not echo the offered subprotocol: the "
            "backend must select the subprotocol it authenticated with.",
        ),
        impact="Browsers drop the connection: the chat never starts",
        fix="make the backend select the expected subprotocol",
    ),
    Kind.HANDSHAKE_FAILED: KindInfo(
        label="handshake failed",
        root="WebSocket Handshake Failed",
        why1="Why does the WebSocket handshake fail?",
        answer=_GENERIC_ANSWER,
        hints=(
            "The upgrade handshake fails: TLS configuration, or a proxy that does not forward "
            "WebSocket upgrades.",
        ),
        impact="No chat can start: the connection never opens",
        fix="fix the TLS or proxy configuration in front of the WebSocket endpoint",
    ),
    Kind.TIMEOUT: KindInfo(
        label="timeout",
        root="Agent Flow Timeout: {missing} never arrived",
        why1="Why do golden-path sessions not complete in time?",
        answer="After {seen}, nothing more arrived before the timeout ({share}): {error}",
        hints=(
            "The last event received marks where the flow stalls: check the component that "
            "should emit the next event (agent loop, tool dispatcher, notifier).",
            "If the backend is just slow, raise checks.agent_flow.timeout; if it is stuck, look "
            "for awaited calls without timeouts.",
        ),
        hints_http=(
            "No answer within the check's timeout: look for a handler waiting on a dependency "
            "without its own timeout, or raise the check's timeout if it is just slow.",
        ),
        fix_http="find what the endpoint waits on and bound it (or fix the dependency)",
        impact="Users wait forever: the agent stops answering mid-run",
        fix="find where the flow stalls (the last event seen) and unblock it",
    ),
    Kind.MISSING_EVENT: KindInfo(
        label="missing event",
        root="Missing WebSocket Events: {missing}",
        why1="Why are some WebSocket events never delivered?",
        answer="The flow completes but {missing} never arrived; received {seen} ({share})",
        hints=(
            "The missing event's emitter is not wired for this path, or its notifier drops it "
            "(filtered by event type, or sent to another connection).",
            "Compare the event names the backend emits with checks.agent_flow.events and "
            "event_key — a renamed event looks like a missing one.",
        ),
        impact="Users lose part of the live progress the chat promises",
        fix="wire the missing event's emitter for this path",
        keeps_connection=True,
    ),
    Kind.OUT_OF_ORDER: KindInfo(
        label="out of order",
        root="WebSocket Events Out of Order: {violations}",
        why1="Why do WebSocket events arrive in the wrong order?",
        answer="Events arrive, but {violations} ({share})",
        hints=(
            "Events are probably emitted from concurrent tasks without a per-run ordering; send "
            "them through one queue per connection.",
        ),
        impact="The chat shows progress out of order (results before the tool ran)",
        fix="send each run's events through one ordered queue",
        keeps_connection=True,
    ),
    Kind.DUPLICATE_EVENT: KindInfo(
        label="duplicate event",
        root="Duplicate WebSocket Events",
        why1="Why are WebSocket events delivered twice?",
        answer=_GENERIC_ANSWER,
        hints=(
            "An event is emitted twice: a retry without idempotency, or two notifiers "
            "subscribed to the same run.",
        ),
        impact="The chat shows the same step twice",
        fix="emit each event once per run (idempotent retries, one notifier)",
        keeps_connection=True,
    ),
    Kind.CLOSED_EARLY: KindInfo(
        label="closed early",
        root="WebSocket Closed Mid-Flow (Code {code}) before {missing}",
        why1="Why does the WebSocket close before the agent finishes?",
        answer=_GENERIC_ANSWER,
        hints=(
            "The backend closes the socket normally mid-run: look for a handler that returns "
            "before the agent finishes (an exception swallowed, or a per-connection timeout).",
        ),
        impact="Chats stop mid-answer without an error",
        fix="keep the connection open until the agent completes",
    ),
    Kind.PROTOCOL_ERROR: KindInfo(
        label="protocol error",
        root="Malformed WebSocket Frames from the Backend",
        why1="Why does the backend send malformed frames?",
        answer=_GENERIC_ANSWER,
        hints=(
            "The backend sends frames that are not JSON text: a serializer bug or a proxy "
            "injecting content.",
        ),
        hints_http=(
            "The answer is not valid HTTP: a proxy or load balancer in front of the service, or "
            "a process on that port that is not the service.",
        ),
        impact="The chat client cannot read some of the agent's messages",
        fix="send every frame as JSON text",
        keeps_connection=True,
    ),
    Kind.UNREACHABLE: KindInfo(
        label="unreachable",
        root="WebSocket Endpoint Unreachable",
        why1="Why is the WebSocket endpoint unreachable?",
        answer=_GENERIC_ANSWER,
        hints=(
            "Nothing answers at the URL: check the URL itself (target.base_url, deploy.url or "
            "the check's own url in the config), then the deployment, the port, and any load "
            "balancer that must allow the Upgrade header.",
        ),
        impact="The service is down for users",
        fix="bring the endpoint back (deployment, port, load balancer)",
    ),
    Kind.HTTP_STATUS: KindInfo(
        label="unexpected HTTP status",
        root="WebSocket Upgrade Answered HTTP {status}",
        why1="Why does the WebSocket upgrade get an HTTP answer?",
        answer=_GENERIC_ANSWER,
        hints=(
            "An HTTP answer instead of an upgrade: a wrong path, a router that does not know "
            "the WebSocket route, or a proxy that strips the Upgrade header.",
        ),
        hints_http=(
            "The endpoint answers with another status than the check expects: 401/403 point at "
            "the token (auth: true sends ours), 404 at the path or a route not deployed.",
        ),
        impact="A feature the golden path depends on answers with an error",
        fix="make the endpoint answer as the golden path expects",
    ),
    Kind.SLOW: KindInfo(
        label="slow",
        root="Golden Path Sessions Slower Than the Latency Budget",
        why1="Why are golden-path sessions too slow?",
        answer=_GENERIC_ANSWER,
        hints=(
            "Sessions pass but exceed their latency budget: profile the agent loop and the "
            "tools it calls.",
        ),
        hints_http=(
            "The endpoint answers, but slower than its max_latency: profile the handler and "
            "what it calls.",
        ),
        impact="Users wait longer than the latency budget allows",
        fix="profile and speed up the slow step",
        keeps_connection=True,
    ),
    Kind.DEPLOY_FAILED: KindInfo(
        label="deploy failed",
        root="Deployment Failed: {error}",
        why1="Why is the golden path not running?",
        answer="The deploy step failed ({error}); no tests ran against a new build",
        hints=(
            "Read the deploy output's last lines in the session log; reproduce the deploy "
            "command locally with the same environment.",
        ),
        impact="Nothing new reaches the environment: fixes cannot be verified",
        fix="make the deploy command succeed",
    ),
    Kind.TEST_FAILED: KindInfo(
        label="test failed",
        root="Test Failures: {error}",
        why1="Why do the golden-path tests fail?",
        answer=_GENERIC_ANSWER,
        hints=(
            "Run the failing test locally against this environment; its assertion message "
            "names what differs.",
        ),
        impact="A behaviour the golden path promises is broken",
        fix="fix what the failing tests assert",
    ),
    Kind.CONFIG_ERROR: KindInfo(
        label="config problem",
        root="Golden-Path Configuration Problem: {error}",
        why1="Why could the golden path not be checked?",
        answer="The bot's configuration does not fit this environment: {error}",
        hints=(
            "Nothing is known about the backend yet: fix the configuration key the message "
            "names, then /deploy (golden-path check tries it without deploying).",
        ),
        impact="Unknown: nothing was tested",
        fix="fix the configuration key the message names",
    ),
    Kind.UNPAIRED_EVENT: KindInfo(
        label="unpaired event",
        root="Unpaired WebSocket Events: {unpaired}",
        why1="Why do some events arrive without their pair?",
        answer="{error} ({share})",
        hints=(
            "Every opening event needs its closing event with the same call id, and the other "
            "way round: an opener left open points at the error path of what it started (e.g. "
            "the tool dispatcher); a closer with no opener at an opening event that was dropped, "
            "sent late or sent on another run.",
            "Check that tool_completed carries the same id (checks.agent_flow.rules.<event>.by) "
            "as tool_executing — a renamed field looks like a missing completion.",
        ),
        impact="Users see a tool start and never finish",
        fix="send the completion for every tool call, with the same call id",
        keeps_connection=True,
    ),
    Kind.AGENT_INCOMPLETE: KindInfo(
        label="agent incomplete",
        root="Top-Level Agent Never Completed (Its Sub-Agents Did)",
        why1="Why does the agent never finish the run?",
        answer="Sub-agents completed, but the top-level agent never sent {final} ({share})",
        hints=(
            "The supervisor waits for something after its sub-agents finish: look for the "
            "hand-back from sub-agent to parent (a missing callback, an unawaited task).",
            "If the backend marks agents differently, check checks.agent_flow.agent_key and "
            "parent_key: the top-level agent is the one without a parent.",
        ),
        impact="Users never get the final answer",
        fix="make the top-level agent complete after its sub-agents",
    ),
    Kind.TOO_MANY_EVENTS: KindInfo(
        label="too many events",
        root="More WebSocket Events Than Allowed: {error}",
        why1="Why are events sent more often than the rules allow?",
        answer="{error} ({share})",
        hints=(
            "An event arrives more often than checks.agent_flow.rules allows: a loop that "
            "re-emits, or two notifiers on the same run.",
        ),
        impact="The chat repeats steps",
        fix="emit the event as often as the rule allows (or relax the rule)",
        keeps_connection=True,
    ),
    Kind.SUBPROTOCOL_UNEXPECTED: KindInfo(
        label="unexpected subprotocol",
        root="WebSocket Server Selected an Unexpected Subprotocol",
        why1="Why does the server select another subprotocol?",
        answer="{error} ({share})",
        hints=(
            "The server selected an offered subprotocol other than "
            "checks.agent_flow.token_transport.expect_selected: clients built for the expected "
            "one drop the connection.",
        ),
        impact="Clients expecting the agreed protocol drop the connection",
        fix="select the agreed subprotocol on the server (or fix expect_selected)",
    ),
}


def info(kind: Kind | str) -> KindInfo:
    """The table entry for ``kind``; a kind without one is a bug, never a silent default."""
    return KINDS[Kind(kind)]


class _Blank(dict[str, str]):
    """Template fields the evidence did not provide read as blank, never as a crash."""

    def __missing__(self, key: str) -> str:
        return ""


def fill(template: str, fields: Mapping[str, object]) -> str:
    """``template`` with ``{field}`` placeholders replaced by evidence, as plain data."""
    return template.format_map(_Blank({k: str(v) for k, v in fields.items()}))
