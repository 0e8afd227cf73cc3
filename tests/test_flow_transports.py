"""Both session transports give the same evidence; the fallback is chosen and said once.

The lean transport (websockets' Sans-I/O protocol under a bare asyncio.Protocol) is the
default; websockets' asyncio client remains for proxies and compression. Every case here
runs through the real runner on both, against real servers on loopback.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bot.checks.agent_flow import (
    DEFAULT_EVENTS,
    AgentFlowCheck,
    FlowSpec,
    run_agent_flow,
    run_connection,
    transport_for,
)
from bot.checks.base import CheckContext
from bot.config import AgentFlow, parse_config
from bot.results import FlowSession, Kind
from bot.sample import RealisticTarget, SampleTarget, realistic_config
from tests.support.hostile import hostile
from tests.support.ws_server import ws_server

TRANSPORTS = ("lean", "websockets")


def one(spec: FlowSpec) -> FlowSession:
    (s,) = asyncio.run(run_connection(spec, [0]))
    return s


def evidence(s: FlowSession) -> dict[str, Any]:
    """What a report shows of a session, minus timings."""
    return {
        "ok": s.ok,
        "kind": s.kind,
        "error": s.error,
        "close_code": s.close_code,
        "close_reason": s.close_reason,
        "error_frame": s.error_frame,
        "handshake_status": s.handshake_status,
        "subprotocol": s.subprotocol,
        "events": list(s.events_seen),
        "counts": s.counts,
        "missing": s.missing,
    }


def event(name: str) -> str:
    return json.dumps({"type": name, "data": {"run_id": "run-1"}})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sample_sessions_pass_on_both(sample: SampleTarget, transport: str) -> None:
    """50 sessions against the sample target all pass, every event seen, on either transport."""
    spec = FlowSpec(url=sample.ws_url, token=sample.mint_token(), transport=transport)
    summary = asyncio.run(run_agent_flow(spec, 50, concurrency=10))
    assert summary.passed == 50 and summary.failed == 0
    assert summary.event_seen == dict.fromkeys(DEFAULT_EVENTS, 50)
    assert summary.latency_p50_s is not None and summary.latency_p50_s > 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_realistic_profile_passes_on_both(transport: str) -> None:
    """Envelopes, sub-agents, noise, a base64url subprotocol token: all pass, jwt-auth shown."""
    with RealisticTarget(secret="s" * 40) as target:
        cfg = realistic_config(base_url=target.base_url, auth_url=target.auth_url, sessions=1)
        flow = AgentFlow.model_validate(cfg["checks"]["agent_flow"])
        spec = FlowSpec.from_config(flow, target.ws_url, target.mint_token())
        spec = replace(spec, transport=transport, runs_per_connection=3)
        summary = asyncio.run(run_agent_flow(spec, 30, concurrency=5))
        (s,) = asyncio.run(run_connection(spec, [0]))
    assert summary.passed == 30, [f.error for f in summary.failures[:3]]
    assert s.ok and s.subprotocol == "jwt-auth" and s.counts["agent_thinking"] >= 2


@pytest.mark.parametrize(
    ("faults", "token_in", "kind"),
    [
        (("auth",), "header", Kind.AUTH_REJECTED),
        ((), "none", Kind.AUTH_REJECTED),
        (("drop:tool_completed",), "header", Kind.MISSING_EVENT),
        (("reorder",), "header", Kind.OUT_OF_ORDER),
    ],
)
def test_failures_carry_the_same_evidence_on_both(
    sample: SampleTarget, faults: tuple[str, ...], token_in: str, kind: Kind
) -> None:
    """Close code, reason, error frame, events and message match between the transports."""
    sample.set_faults(*faults)
    base = FlowSpec(url=sample.ws_url, token=sample.mint_token(), token_in=token_in, timeout=3.0)
    lean, plain = (one(replace(base, transport=t)) for t in TRANSPORTS)
    assert lean.kind is kind
    assert evidence(lean) == evidence(plain)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("silent", Kind.TIMEOUT),
        ("garbage", Kind.HANDSHAKE_FAILED),
        ("http-500", Kind.SERVER_ERROR),
        ("mid-close", Kind.CLOSED_EARLY),
        ("binary-only", Kind.CLOSED_EARLY),
        ("huge-frame", Kind.CLOSED_EARLY),
        ("endless", Kind.TIMEOUT),
    ],
)
def test_hostile_peers_are_classified_on_both(mode: str, kind: Kind, transport: str) -> None:
    """Each protocol-level hazard gets its kind on either transport, no task left behind."""

    async def go() -> tuple[Any, list[asyncio.Task[Any]]]:
        spec = FlowSpec(
            url=server.ws_url, token="t" * 40, timeout=1.0, connect_timeout=0.5, transport=transport
        )
        summary = await run_agent_flow(spec, 2, concurrency=2)
        return summary, [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    with hostile(mode) as server:
        summary, leftover = asyncio.run(go())
    assert set(summary.kinds) == {str(kind)}, summary.failures[0].error
    assert leftover == []
    if mode == "http-500":
        frame = summary.failures[0].error_frame
        assert frame is not None and frame["message"] == "upstream exploded"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fragmented_and_pinged_messages_are_read_whole(transport: str) -> None:
    """A final event split over three frames, with a ping between, still completes the run."""

    async def fragmented(ws: ServerConnection) -> None:
        try:
            await ws.recv()
            for name in DEFAULT_EVENTS[:-1]:
                await ws.send(event(name))
            await ws.ping()
            text = event(DEFAULT_EVENTS[-1])
            await ws.send([text[:5], text[5:20], text[20:]])  # one message, three frames
            await ws.wait_closed()
        except ConnectionClosed:
            pass

    async def go() -> FlowSession:
        async with ws_server(fragmented) as url:
            (s,) = await run_connection(FlowSpec(url=url, transport=transport), [0])
            return s

    s = asyncio.run(go())
    assert s.ok, s.error
    assert list(s.events_seen) == list(DEFAULT_EVENTS)


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed cert for 127.0.0.1, and a client trusting it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = tmp / "cert.pem"
    key_pem = tmp / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_pem, key_pem)
    client = ssl.create_default_context(cafile=str(cert_pem))
    return server, client


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tls_with_the_given_context(tmp_path: Path, transport: str) -> None:
    """wss:// through the loop's TLS with the spec's context: passes; without it, refused."""
    server_ctx, client_ctx = _self_signed(tmp_path)

    async def golden(ws: ServerConnection) -> None:
        try:
            async for _ in ws:
                for name in DEFAULT_EVENTS:
                    await ws.send(event(name))
        except ConnectionClosed:
            pass

    async def go() -> tuple[FlowSession, FlowSession]:
        async with ws_server(golden, ssl=server_ctx) as url:
            spec = FlowSpec(url=url, transport=transport, ssl_context=client_ctx)
            (trusted,) = await run_connection(spec, [0])
            (untrusted,) = await run_connection(replace(spec, ssl_context=None), [0])
            return trusted, untrusted

    trusted, untrusted = asyncio.run(go())
    assert trusted.ok, trusted.error
    assert (
        untrusted.kind is Kind.HANDSHAKE_FAILED and "CERTIFICATE_VERIFY_FAILED" in untrusted.error
    )


@contextmanager
def recording_proxy() -> Iterator[tuple[str, list[str]]]:
    """A TCP 'proxy' that records the request line it gets and refuses it (HTTP 403)."""
    seen: list[str] = []
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((await reader.readline()).decode().strip())
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        holder["port"] = server.sockets[0].getsockname()[1]
        holder["stop"] = asyncio.Event()
        ready.set()
        async with server:
            await holder["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{holder['port']}", seen
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
        loop.close()


def _flow_log(url: str, **flow: Any) -> tuple[list[str], Any]:
    """Run the agent-flow check as the pipeline does; returns (log lines, summary)."""
    cfg = parse_config(
        {
            "target": {"base_url": url.replace("ws://", "http://").rsplit("/", 1)[0]},
            "checks": {
                "health": [],
                "agent_flow": {"url": url, "sessions": 2, "concurrency": 2, **flow},
            },
        }
    )
    lines: list[str] = []
    ctx = CheckContext(cfg, None, None, lambda text, level="info": lines.append(text))
    summary = asyncio.run(AgentFlowCheck().run(ctx, None))
    return lines, summary


def test_the_lean_transport_is_the_default_and_said_once(
    sample: SampleTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No proxy, no compression: the lean transport, named once in the run log."""
    for name in ("ws_proxy", "WS_PROXY", "all_proxy", "ALL_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    lines, summary = _flow_log(sample.ws_url, token_in="none")
    assert [ln for ln in lines if "transport" in ln] == ["agent flow: lean transport"]
    assert summary.total == 2  # no token: rejected, but the sessions ran


def test_a_proxy_for_the_url_selects_websockets_and_is_used(
    sample: SampleTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ws_proxy set: websockets' client carries the sessions through the proxy; the log says why."""
    with recording_proxy() as (proxy, seen):
        monkeypatch.setenv("ws_proxy", proxy)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        spec = FlowSpec(url=sample.ws_url)
        assert transport_for(spec) == "websockets transport (proxy configured)"
        lines, summary = _flow_log(sample.ws_url, token_in="none")
        host = sample.ws_url.split("/")[2]
        assert seen and all(line == f"CONNECT {host} HTTP/1.1" for line in seen)
        assert [ln for ln in lines if "transport" in ln] == [
            "agent flow: websockets transport (proxy configured)"
        ]
        assert summary.failed == 2  # the proxy refused: the sessions never reached the target
        monkeypatch.setenv("no_proxy", "127.0.0.1")  # bypassed: lean again
        assert transport_for(spec) == "lean transport"


def test_compression_selects_websockets_and_passes(sample: SampleTarget) -> None:
    """compression: true needs permessage-deflate: websockets' client, and sessions pass."""
    token = sample.mint_token()
    spec = FlowSpec(url=sample.ws_url, token=token, compression=True)
    assert transport_for(spec) == "websockets transport (compression configured)"
    assert asyncio.run(run_agent_flow(spec, 5, concurrency=5)).passed == 5


def test_finished_lean_connections_free_themselves_without_the_gc(sample: SampleTarget) -> None:
    """Collector off: no protocol outlives its session, passed, rejected or unreachable."""
    from websockets.client import ClientProtocol

    from bot.checks.ws_lean import LeanSocket

    token = sample.mint_token()
    passing = FlowSpec(url=sample.ws_url, token=token, transport="lean")
    rejected = replace(passing, token=None, token_in="none")
    unreachable = replace(passing, url=sample.ws_url.rsplit(":", 1)[0] + ":9/ws")
    gc.collect()
    gc.disable()
    try:
        summaries = [
            asyncio.run(run_agent_flow(spec, 20, concurrency=5))
            for spec in (passing, rejected, unreachable)
        ]
        alive = [o for o in gc.get_objects() if isinstance(o, ClientProtocol | LeanSocket)]
    finally:
        gc.enable()
    assert [s.passed for s in summaries] == [20, 0, 0]
    assert [set(s.kinds) for s in summaries[1:]] == [{"auth_rejected"}, {"unreachable"}]
    assert alive == []
