"""Property 5: a broken target is a finding, not a crash — within its timeout, leaving nothing.

Every hazard runs through the real agent-flow runner; each must come back classified,
no later than the configured timeout (plus a small margin), with no task or socket left.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest

from bot.checks.agent_flow import EventRule, FlowSpec, run_agent_flow
from bot.results import Kind
from bot.sample import SampleTarget
from tests.support.hostile import hostile

TIMEOUT = 1.0
CONNECT_TIMEOUT = 0.5


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _run(
    url: str,
    sessions: int = 4,
    token: str = "t" * 40,
    timeout: float = TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
    **spec: object,
):
    """Run the flow in a fresh loop and return (summary, seconds, leftover tasks)."""

    async def go():
        summary = await run_agent_flow(
            FlowSpec(
                url=url, token=token, timeout=timeout, connect_timeout=connect_timeout, **spec
            ),  # type: ignore[arg-type]
            sessions,
            concurrency=4,
        )
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return summary, leftover

    started = time.perf_counter()
    summary, leftover = asyncio.run(go())
    return summary, time.perf_counter() - started, leftover


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CASES = [
    ("silent", Kind.TIMEOUT),  # slow handshake: nothing answers the upgrade
    ("garbage", Kind.HANDSHAKE_FAILED),
    ("http-500", Kind.SERVER_ERROR),
    ("mid-close", Kind.CLOSED_EARLY),
    ("flood", Kind.TIMEOUT),
    ("endless", Kind.TIMEOUT),
    ("binary-only", Kind.CLOSED_EARLY),
    ("huge-frame", Kind.CLOSED_EARLY),
]


@pytest.mark.parametrize(("mode", "kind"), CASES, ids=[c[0] for c in CASES])
def test_misbehaving_peer_is_classified_in_time(mode: str, kind: Kind) -> None:
    """Each protocol-level hazard → its kind, within timeout + margin, no task/fd leak."""
    with hostile(mode) as server:
        before = _fds()
        summary, took, leftover = _run(server.ws_url)
    assert summary.total == 4 and summary.failed == 4
    assert set(summary.kinds) == {str(kind)}, summary.failures[0].error
    assert took < TIMEOUT + 1.5
    assert leftover == []
    assert _fds() <= before + 1


def test_connection_refused_is_unreachable() -> None:
    """Nothing listening → unreachable, immediately."""
    summary, took, leftover = _run(f"ws://127.0.0.1:{_closed_port()}/ws")
    assert set(summary.kinds) == {"unreachable"} and took < 1.0 and leftover == []


def test_tls_to_a_plain_server_is_a_handshake_failure() -> None:
    """wss:// against a plain WebSocket server: a TLS failure, classified, not raised.

    The failure shows only once the server gives up on the TLS hello and drops the
    connection; a busy machine (pytest -n 2) can delay that past half a second, so the
    timeouts here leave room for it: the session must end as a TLS failure, not by
    running out of time.
    """
    with hostile("flood") as server:
        summary, took, leftover = _run(
            server.ws_url.replace("ws://", "wss://"), timeout=30.0, connect_timeout=30.0
        )
    assert set(summary.kinds) == {"handshake_failed"}, summary.failures[0].error
    assert took < 30.0 and leftover == []


def test_duplicate_and_out_of_order_events_from_the_sample(sample: SampleTarget) -> None:
    """Duplicates (of an event a rule allows once) and reordered events get their own kinds."""
    token = sample.mint_token(iss="auth-service", aud="backend")
    once = (EventRule("agent_thinking", 1, 1),)
    for fault, kind, rules in (
        ("duplicate", "duplicate_event", once),
        ("reorder", "out_of_order", ()),
    ):
        sample.set_faults(fault)
        summary, _, leftover = _run(sample.ws_url, sessions=6, token=token, rules=rules)  # type: ignore[arg-type]
        assert set(summary.kinds) == {kind} and leftover == []


def test_hung_agent_and_slow_events_end_at_the_timeout(sample: SampleTarget) -> None:
    """A backend that never sends events (or too slowly) is cut at the session timeout."""
    token = sample.mint_token(iss="auth-service", aud="backend")
    for fault in ("hang", "slow:5"):
        sample.set_faults(fault)
        summary, took, leftover = _run(sample.ws_url, token=token)  # type: ignore[arg-type]
        assert set(summary.kinds) == {"timeout"}
        assert took < TIMEOUT + 1.5 and leftover == []
