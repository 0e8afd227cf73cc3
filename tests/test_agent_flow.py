"""The WebSocket agent flow against the sample target and tiny purpose-built servers."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bot import auth
from bot.checks.agent_flow import (
    DEFAULT_EVENTS,
    EventRule,
    FlowAggregator,
    FlowSpec,
    run_agent_flow,
    run_connection,
)
from bot.config import AgentFlow, parse_config
from bot.redact import MASK
from bot.results import FlowSession, FlowSummary, Kind
from bot.sample import SampleTarget
from tests.support.ws_server import ws_server


def session(spec: FlowSpec, indices: list[int] | None = None) -> list[FlowSession]:
    return asyncio.run(run_connection(spec, indices or [0]))


def one(spec: FlowSpec) -> FlowSession:
    (s,) = session(spec)
    return s


@pytest.fixture
def spec(sample: SampleTarget) -> FlowSpec:
    """A spec for the sample target with a valid token in the Authorization header."""
    return FlowSpec(url=sample.ws_url, token=sample.mint_token(), timeout=5.0)


def event(name: str, run_id: str = "run-1") -> str:
    return json.dumps({"type": name, "data": {"run_id": run_id}})


async def golden(ws: ServerConnection) -> None:
    """Answer every message with the five events, in order."""
    try:
        async for _ in ws:
            for name in DEFAULT_EVENTS:
                await ws.send(event(name))
    except ConnectionClosed:
        pass


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the sample target ------------------------------------------------------------------------


@pytest.mark.parametrize("token_in", ["header", "subprotocol", "query"])
def test_token_in_each_place_passes(sample: SampleTarget, token_in: str) -> None:
    """Header, jwt.<token> subprotocol and ?token= all authenticate and see every event."""
    s = one(FlowSpec(url=sample.ws_url, token=sample.mint_token(), token_in=token_in))
    assert s.ok and s.kind is None and s.error == ""
    assert list(s.events_seen) == list(DEFAULT_EVENTS)
    assert s.missing == [] and s.order_violations == []
    assert s.subprotocol == ("jwt.***" if token_in == "subprotocol" else None)
    assert s.duration_s > 0 and s.attempts == 1


def test_no_token_is_auth_rejected_with_the_error_frame(sample: SampleTarget) -> None:
    """Without a token the backend's 1008 and its NO_TOKEN error frame are the evidence."""
    s = one(FlowSpec(url=sample.ws_url, token=None, token_in="none"))
    assert not s.ok and s.kind is Kind.AUTH_REJECTED
    assert s.close_code == 1008 and s.close_reason == "SSOT Auth failed"
    assert s.error_frame is not None and s.error_frame["error_code"] == "NO_TOKEN"
    assert s.error == "closed 1008 'SSOT Auth failed' before agent_completed"
    assert s.missing == list(DEFAULT_EVENTS)


def test_token_minted_by_the_bot_is_accepted(sample: SampleTarget) -> None:
    """bot.auth.mint_token with the target's secret and claims passes the sample's checks."""
    token = auth.mint_token(sample.secret, claims={"iss": "auth-service", "aud": "backend"})
    assert one(FlowSpec(url=sample.ws_url, token=token)).ok


@pytest.mark.parametrize(
    ("faults", "overrides", "kind", "expect"),
    [
        (["auth"], {}, Kind.AUTH_REJECTED, {"close_code": 1008, "frame": "AUTH_FAILED"}),
        (["expired"], {}, Kind.AUTH_REJECTED, {"close_code": 1008, "frame": "TOKEN_EXPIRED"}),
        (
            ["auth-down"],
            {},
            Kind.AUTH_REJECTED,
            {"close_code": 1008, "frame": "AUTH_SERVICE_UNAVAILABLE"},
        ),
        (["drop:tool_completed"], {}, Kind.MISSING_EVENT, {"missing": ["tool_completed"]}),
        (
            ["drop:agent_completed"],
            {"timeout": 0.1},
            Kind.TIMEOUT,
            {"missing": ["agent_completed"]},
        ),
        (
            ["reorder"],
            {},
            Kind.OUT_OF_ORDER,
            {"order_violations": ["tool_completed before tool_executing"]},
        ),
        (
            ["duplicate"],
            {"rules": (EventRule("agent_thinking", 1, 1),)},
            Kind.DUPLICATE_EVENT,
            {"error": "duplicate agent_thinking (2 arrived, at most 1)"},
        ),
        (["crash"], {}, Kind.SERVER_ERROR, {"close_code": 1011}),
        (
            ["close-early"],
            {},
            Kind.CLOSED_EARLY,
            {
                "close_code": 1000,
                "missing": ["tool_executing", "tool_completed", "agent_completed"],
            },
        ),
        (["hang"], {"timeout": 0.1}, Kind.TIMEOUT, {"error": "no agent_completed within 0.1s"}),
        (["slow:0.5"], {"timeout": 0.1}, Kind.TIMEOUT, {"close_code": None}),
        (["malformed"], {}, Kind.PROTOCOL_ERROR, {"error": "1 malformed or binary frame(s)"}),
        (["binary"], {}, Kind.PROTOCOL_ERROR, {"missing": []}),
        (["slow:0.01"], {"max_latency": 0.02}, Kind.SLOW, {"missing": []}),
        (
            ["drop:agent_thinking", "binary"],
            {},
            Kind.MISSING_EVENT,
            {"error": "missing agent_thinking; 1 malformed or binary frame(s)"},
        ),
    ],
)
def test_each_fault_gets_its_kind(
    sample: SampleTarget,
    spec: FlowSpec,
    faults: list[str],
    overrides: dict[str, Any],
    kind: Kind,
    expect: dict[str, Any],
) -> None:
    """Every sample fault is classified with the kind and evidence the diagnosis keys on."""
    sample.set_faults(*faults)
    s = one(replace(spec, **overrides))
    assert not s.ok and s.kind is kind, s.error
    for key, value in expect.items():
        if key == "frame":
            assert s.error_frame is not None and s.error_frame["error_code"] == value
        else:
            assert getattr(s, key) == value


@pytest.mark.parametrize("faults", [["noise"], ["health-down", "api-error"], ["duplicate"]])
def test_noise_and_unrelated_faults_still_pass(
    sample: SampleTarget, spec: FlowSpec, faults: list[str]
) -> None:
    """Heartbeats and other runs' events are grouped away; HTTP-only faults don't matter;
    a second agent_thinking is a healthy repeat unless a rule says otherwise."""
    sample.set_faults(*faults)
    s = one(spec)
    assert s.ok, s.error
    assert list(s.events_seen) == list(DEFAULT_EVENTS)


def test_strict_order_from_config_catches_any_reordering(sample: SampleTarget) -> None:
    """strict_order turns the listed events into consecutive order pairs."""
    cfg = AgentFlow(strict_order=True)
    strict = FlowSpec.from_config(cfg, sample.ws_url, sample.mint_token())
    assert strict.order == tuple(itertools.pairwise(DEFAULT_EVENTS))
    sample.set_faults("reorder")
    s = one(strict)
    assert s.kind is Kind.OUT_OF_ORDER
    assert s.order_violations == ["tool_completed before tool_executing"]


def test_runs_per_connection_reuses_one_connection(sample: SampleTarget, spec: FlowSpec) -> None:
    """Three runs on one connection: three passing sessions, one server-side connection."""
    sessions = session(replace(spec, runs_per_connection=3), [7, 8, 9])
    assert [(s.index, s.run, s.ok) for s in sessions] == [(7, 0, True), (8, 1, True), (9, 2, True)]
    assert sample.stats["connections"] == 1
    assert sample.stats["messages"] == 3


def test_reuse_through_run_agent_flow_opens_one_connection_per_chunk(
    sample: SampleTarget, spec: FlowSpec
) -> None:
    """run_agent_flow with runs_per_connection=3 opens sessions/3 connections."""
    summary = asyncio.run(run_agent_flow(replace(spec, runs_per_connection=3), 9, concurrency=2))
    assert summary.total == 9 and summary.passed == 9
    assert sample.stats["connections"] == 3 and sample.stats["messages"] == 9


def test_reuse_after_a_lost_connection_copies_the_evidence(
    sample: SampleTarget, spec: FlowSpec
) -> None:
    """When the first run's connection is closed, later runs on it share its failure."""
    sample.set_faults("auth")
    sessions = session(replace(spec, runs_per_connection=3), [0, 1, 2])
    assert [s.kind for s in sessions] == [Kind.AUTH_REJECTED] * 3
    assert {s.close_code for s in sessions} == {1008}
    assert all(s.error_frame and s.error_frame["error_code"] == "AUTH_FAILED" for s in sessions)
    assert sample.stats["connections"] == 1


def test_reuse_continues_after_a_content_failure(sample: SampleTarget, spec: FlowSpec) -> None:
    """A missing event fails that run only; the connection carries on with the next."""
    sample.set_faults("drop:agent_thinking")
    sessions = session(replace(spec, runs_per_connection=3), [0, 1, 2])
    assert [s.kind for s in sessions] == [Kind.MISSING_EVENT] * 3
    assert sample.stats["messages"] == 3


def test_summary_counts_passes_and_latency(sample: SampleTarget, spec: FlowSpec) -> None:
    """200 passing sessions: counted, every event seen 200 times, percentiles filled."""
    ticks: list[tuple[int, int]] = []
    summary = asyncio.run(
        run_agent_flow(spec, 200, concurrency=50, progress=lambda d, t, p: ticks.append((d, t)))
    )
    assert summary.total == 200 and summary.passed == 200 and summary.failures == []
    assert summary.event_seen == dict.fromkeys(DEFAULT_EVENTS, 200)
    assert summary.kinds == {} and summary.concurrency == 50 and summary.wall_s > 0
    assert summary.latency_p50_s is not None and summary.latency_p95_s is not None
    assert summary.latency_p50_s <= summary.latency_p95_s
    assert ticks == [(n, 200) for n in range(1, 201)]
    assert sample.stats["connections"] == 200


def test_failures_are_kept_with_their_kinds(sample: SampleTarget, spec: FlowSpec) -> None:
    """Failing sessions are stored whole, indexed, and tallied by kind."""
    sample.set_faults("crash")
    summary = asyncio.run(run_agent_flow(spec, 6, concurrency=3))
    assert summary.passed == 0 and summary.failed == 6
    assert [f.index for f in summary.failures] == list(range(6))  # sorted, not by arrival
    assert summary.kinds == {"server_error": 6}
    assert summary.event_seen["agent_started"] == 6 and summary.event_seen["agent_completed"] == 0


# -- retries and flaky sessions -----------------------------------------------------------------


def test_session_passing_on_retry_is_flaky(sample: SampleTarget, spec: FlowSpec) -> None:
    """Sessions failing the first pass and passing the retry are flaky, not failures."""
    sample.set_faults("drop:agent_thinking")
    ticks: list[int] = []

    def progress(done: int, total: int, passed: int) -> None:
        ticks.append(done)
        if done == total:  # the first pass is over: the target recovers before the retry
            sample.set_faults()

    summary = asyncio.run(run_agent_flow(spec, 8, concurrency=4, retries=1, progress=progress))
    assert summary.failures == [] and summary.passed == 0
    assert summary.flaky == 8 and summary.flaky_sessions == list(range(8))
    assert summary.event_seen["agent_thinking"] == 8
    assert ticks == list(range(1, 9))  # progress reports the first pass only
    assert sample.stats["connections"] == 16


def test_retries_exhausted_keep_the_last_attempt(sample: SampleTarget, spec: FlowSpec) -> None:
    """A session failing every attempt stays a failure with attempts = retries + 1."""
    sample.set_faults("reorder")
    summary = asyncio.run(run_agent_flow(spec, 3, concurrency=3, retries=2))
    assert summary.flaky == 0 and [f.index for f in summary.failures] == [0, 1, 2]
    assert {f.attempts for f in summary.failures} == {3}
    assert {f.kind for f in summary.failures} == {Kind.OUT_OF_ORDER}
    assert sample.stats["connections"] == 9


def test_no_retries_means_one_attempt(sample: SampleTarget, spec: FlowSpec) -> None:
    """retries=0: a failed session is not rerun."""
    sample.set_faults("drop:agent_thinking")
    summary = asyncio.run(run_agent_flow(spec, 4, concurrency=2, retries=0))
    assert summary.failed == 4 and {f.attempts for f in summary.failures} == {1}
    assert sample.stats["connections"] == 4


def test_only_the_failed_sessions_are_retried() -> None:
    """A server failing its first two connections: sessions 0 and 1 flaky, the rest passed."""
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        if connections <= 2:
            await ws.recv()
            await ws.send(event("agent_started"))
            await ws.close(1011, "boom")
            return
        await golden(ws)

    async def main() -> FlowSummary:
        async with ws_server(handler) as url:
            spec = FlowSpec(url=url, timeout=5.0)
            return await run_agent_flow(spec, 5, concurrency=1, retries=2)

    summary = asyncio.run(main())
    assert summary.passed == 3 and summary.flaky == 2 and summary.flaky_sessions == [0, 1]
    assert summary.failures == [] and connections == 7


# -- concurrency --------------------------------------------------------------------------------


def test_concurrency_bound_is_reached_and_never_exceeded() -> None:
    """With concurrency=3 the server sees exactly three sessions in flight at the most."""
    bound, total = 3, 12
    state = {"in_flight": 0, "peak": 0, "started": 0}
    changed = asyncio.Condition()

    async def handler(ws: ServerConnection) -> None:
        async with changed:
            state["in_flight"] += 1
            state["started"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
            changed.notify_all()
            # hold each session until `bound` are open at once (or no more are coming),
            # so a client that stays under the bound shows up as a lower peak
            await asyncio.wait_for(
                changed.wait_for(lambda: state["in_flight"] >= bound or state["started"] >= total),
                timeout=5,
            )
        try:
            await golden(ws)
        finally:
            async with changed:
                state["in_flight"] -= 1
                changed.notify_all()

    async def main() -> FlowSummary:
        async with ws_server(handler) as url:
            spec = FlowSpec(url=url, timeout=5.0, runs_per_connection=1)
            return await run_agent_flow(spec, total, concurrency=bound)

    summary = asyncio.run(main())
    assert summary.passed == total
    assert state["peak"] == bound


# -- handshake outcomes -------------------------------------------------------------------------


def test_closed_port_is_unreachable() -> None:
    """Nothing listening: every session is unreachable, with the OS error kept."""
    url = f"ws://127.0.0.1:{closed_port()}/ws"
    summary = asyncio.run(run_agent_flow(FlowSpec(url=url, token=None), 3, concurrency=2))
    assert summary.kinds == {"unreachable": 3}
    failure = summary.failures[0]
    assert failure.handshake_status is None and "Connect" in failure.error


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (403, Kind.AUTH_REJECTED),
        (401, Kind.AUTH_REJECTED),
        (500, Kind.SERVER_ERROR),
        (404, Kind.HTTP_STATUS),
    ],
)
def test_http_status_on_upgrade(status: int, kind: Kind) -> None:
    """A refused upgrade is classified by its HTTP status, which is kept."""

    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(status, "refused\n")

    async def main() -> FlowSession:
        async with ws_server(golden, process_request=refuse) as url:
            (s,) = await run_connection(FlowSpec(url=url, token="t" * 20), [0])
            return s

    s = asyncio.run(main())
    assert s.kind is kind and s.handshake_status == status
    assert "t" * 20 not in s.error


def test_server_not_echoing_the_jwt_subprotocol_is_refused() -> None:
    """A socket accepted without the jwt.<token> subprotocol echoed: subprotocol_refused."""
    messages = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal messages
        try:
            async for _ in ws:
                messages += 1
        except ConnectionClosed:
            pass

    async def main() -> FlowSession:
        async with ws_server(handler) as url:
            spec = FlowSpec(url=url, token="secret-token-value", token_in="subprotocol")
            (s,) = await run_connection(spec, [0])
            return s

    s = asyncio.run(main())
    assert s.kind is Kind.SUBPROTOCOL_REFUSED
    assert "without echoing the jwt subprotocol" in s.error
    assert messages == 0  # nothing was sent on a socket that ignored our credentials


def test_server_choosing_another_subprotocol_is_refused() -> None:
    """A server answering with a subprotocol we never offered: subprotocol_refused."""

    async def main() -> FlowSession:
        async with ws_server(golden, select_subprotocol=lambda c, offered: "other") as url:
            spec = FlowSpec(url=url, token="secret-token-value", token_in="subprotocol")
            (s,) = await run_connection(spec, [0])
            return s

    s = asyncio.run(main())
    assert s.kind is Kind.SUBPROTOCOL_REFUSED and "unsupported subprotocol" in s.error


# -- envelopes ----------------------------------------------------------------------------------


def test_nested_event_key_from_config() -> None:
    """event_key data.event finds events nested in the envelope; the default key doesn't."""

    async def nested(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps({"type": "welcome"}))
        for name in DEFAULT_EVENTS:
            await ws.send(json.dumps({"type": "agent_event", "data": {"event": name, "run_id": 4}}))
        await ws.close()

    async def main() -> tuple[FlowSession, FlowSession]:
        async with ws_server(nested) as url:
            cfg = AgentFlow(event_key="data.event", token_in="none")
            (good,) = await run_connection(FlowSpec.from_config(cfg, url, None), [0])
            (plain,) = await run_connection(FlowSpec(url=url, token_in="none"), [0])
            return good, plain

    good, plain = asyncio.run(main())
    assert good.ok and list(good.events_seen) == list(DEFAULT_EVENTS), good.error
    assert plain.kind is Kind.CLOSED_EARLY and plain.missing == list(DEFAULT_EVENTS)


def test_frames_only_the_standard_library_reads_still_count() -> None:
    """NaN, a 70-bit integer, a lone surrogate: valid JSON to json, so the events count."""
    odd = ['"score": NaN', f'"seq": {2**70}', '"note": "\\ud800"', '"t": Infinity']

    async def lenient(ws: ServerConnection) -> None:
        await ws.recv()
        for name, extra in zip(DEFAULT_EVENTS, [*odd, '"ok": 1'], strict=True):
            await ws.send(f'{{"type": "{name}", {extra}, "data": {{"run_id": "run-1"}}}}')
        await ws.recv()

    async def main() -> FlowSession:
        async with ws_server(lenient) as url:
            (s,) = await run_connection(FlowSpec(url=url, token_in="none"), [0])
            return s

    s = asyncio.run(main())
    assert s.ok, s.error
    assert list(s.events_seen) == list(DEFAULT_EVENTS)


def test_error_frame_found_in_an_error_envelope() -> None:
    """An error object under "error" yields its code and message as the error frame."""

    async def reject(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "error", "error": {"code": 4401, "message": "nope"}}))
        await ws.close(1008, "unauthorised")

    async def main() -> FlowSession:
        async with ws_server(reject) as url:
            (s,) = await run_connection(FlowSpec(url=url, token=None, token_in="none"), [0])
            return s

    s = asyncio.run(main())
    assert s.kind is Kind.AUTH_REJECTED and s.close_reason == "unauthorised"
    assert s.error_frame == {"type": "error", "error_code": "4401", "message": "nope"}


def test_query_token_never_reaches_the_summary(sample: SampleTarget) -> None:
    """With the token in the query, the summary URL and failure texts hold only the mask."""
    token = auth.mint_token("wrong-secret" * 4, claims={"iss": "auth-service", "aud": "backend"})
    spec = FlowSpec(url=sample.ws_url, token=token, token_in="query")
    summary = asyncio.run(run_agent_flow(spec, 2, concurrency=2))
    assert summary.kinds == {"auth_rejected": 2}
    text = json.dumps([f.error for f in summary.failures] + [summary.url])
    assert token not in text
    assert token not in FlowAggregator(spec).summary.url
    assert MASK not in summary.url  # the URL we were given had no token in it


# -- the aggregator -----------------------------------------------------------------------------


def test_aggregator_counts_passes_without_keeping_them() -> None:
    """500 passes are counted and timed, not stored; failures are kept and tallied."""
    agg = FlowAggregator(FlowSpec(url="ws://h/ws"))
    for i in range(500):
        agg.add(FlowSession(index=i, ok=True, duration_s=(i + 1) / 1000, events_seen={}))
    assert agg.summary.failures == []
    agg.add(FlowSession(index=500, ok=False, kind=Kind.TIMEOUT))
    agg.add(FlowSession(index=501, ok=False, kind=Kind.TIMEOUT))
    agg.add(FlowSession(index=502, ok=False, kind=Kind.MISSING_EVENT))
    summary = agg.finish(wall_s=2.0, concurrency=10)
    assert summary.total == 503 and summary.passed == 500 and summary.failed == 3
    assert [f.index for f in summary.failures] == [500, 501, 502]
    assert summary.kinds == {"timeout": 2, "missing_event": 1}
    assert summary.latency_p50_s == 0.251 and summary.latency_p95_s == 0.476
    assert summary.sessions_per_s == 251.5
    assert len(agg.durations) == 500


def test_aggregator_counts_events_per_session() -> None:
    """event_seen counts sessions that saw each event, passing or not."""
    agg = FlowAggregator(FlowSpec(url="ws://h/ws"))
    agg.add(FlowSession(index=0, ok=True, events_seen={"agent_started": 0.1}))
    agg.add(FlowSession(index=1, ok=False, events_seen={"agent_started": 0.1, "x": 0.2}))
    seen = agg.finish(1.0, 1).event_seen
    assert seen["agent_started"] == 2 and seen["agent_completed"] == 0 and seen["x"] == 1


# -- what results.json keeps ------------------------------------------------------------------


def test_results_keep_a_sample_of_identical_failures_with_exact_counts(tmp_path: Path) -> None:
    """60 identical failures + 3 others: 25 + 3 stored, counts exact, junit says the rest."""
    import xml.etree.ElementTree as ET

    from bot.checks.agent_flow import STORED_PER_GROUP, AgentFlowCheck
    from bot.result_files import read_results, results_data, write_junit, write_results
    from bot.results import Iteration
    from bot.verdict import judge

    agg = FlowAggregator(FlowSpec(url="ws://h/ws"))
    for i in range(60):
        agg.add(
            FlowSession(
                index=i,
                ok=False,
                kind=Kind.AUTH_REJECTED,
                close_code=1008,
                error="closed 1008 'bad token' before agent_completed",
            )
        )
    for i in range(60, 63):
        agg.add(FlowSession(index=i, ok=False, kind=Kind.TIMEOUT, error=f"no answer {i}"))
    for i in range(63, 100):
        agg.add(FlowSession(index=i, ok=True, duration_s=0.1, events_seen={}))
    summary = agg.finish(1.0, 10)
    it = Iteration(environment="e", started_at="t")
    it.checks["flow"] = summary
    cfg = parse_config({"target": {"base_url": "http://h"}, "checks": {"health": []}})
    flow = results_data(it, judge(it, cfg))["flow"]
    assert len(flow["failures"]) == STORED_PER_GROUP + 3 and flow["failed"] == 63
    assert flow["kinds"] == {"auth_rejected": 60, "timeout": 3}
    assert len(summary.failures) == 63  # the run itself keeps them all

    write_results(tmp_path / "results.json", it, judge(it, cfg))
    back = read_results(tmp_path / "results.json")
    assert AgentFlowCheck().failed_part(back.flow) is True  # a /retest reruns everything
    write_junit(tmp_path / "junit.xml", back)
    cases = list(ET.parse(tmp_path / "junit.xml").getroot().iter("testcase"))
    names = [c.get("name") for c in cases]
    assert len(cases) == STORED_PER_GROUP + 3 + 1 + 37
    assert "35 more failed sessions" in names and "passed session 37" in names
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == STORED_PER_GROUP + 3 + 1
