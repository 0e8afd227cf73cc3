"""The bundled sample target: routes, token sources, the five-event flow and every fault switch."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from bot.sample import DEMO_SECRET, EVENTS, FAULTS, SampleTarget, main, parse_faults

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

USER_MESSAGE = json.dumps({"type": "user_message", "payload": {"content": "What is 2 + 2?"}})


@pytest.fixture
def target() -> Iterator[SampleTarget]:
    with SampleTarget(event_delay=0.0) as t:
        yield t


def make_token(secret: str = DEMO_SECRET, ttl: int = 300, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"sub": "e2e-user", "iat": now, "exp": now + ttl, "iss": "auth-service"}
    claims["aud"] = "backend"
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm="HS256")


def open_ws(t: SampleTarget, token: str | None = None, how: str = "header") -> ClientConnection:
    url, headers, protocols = t.ws_url, None, None
    if token is not None and how == "header":
        headers = {"Authorization": f"Bearer {token}"}
    elif token is not None and how == "subprotocol":
        protocols = [f"jwt.{token}"]
    elif token is not None and how == "query":
        url += f"?token={token}"
    return connect(
        url,
        additional_headers=headers,
        subprotocols=protocols,  # type: ignore[arg-type]
        compression=None,
        open_timeout=2,
        close_timeout=1,
    )


def recv_json(ws: ClientConnection, timeout: float = 2.0) -> dict[str, Any]:
    frame = ws.recv(timeout=timeout)
    assert isinstance(frame, str)
    return json.loads(frame)


def drain(ws: ClientConnection, timeout: float = 2.0) -> list[str | bytes]:
    """Every frame until the server closes the connection."""
    frames: list[str | bytes] = []
    try:
        while True:
            frames.append(ws.recv(timeout=timeout))
    except ConnectionClosed:
        return frames


def run_events(ws: ClientConnection, message: str = USER_MESSAGE) -> list[dict[str, Any]]:
    ws.send(message)
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] != "agent_completed":
        events.append(recv_json(ws))
    return events


@contextmanager
def welcomed(
    t: SampleTarget, token: str | None = None, how: str = "header"
) -> Iterator[ClientConnection]:
    with open_ws(t, token or make_token(), how) as ws:
        assert recv_json(ws)["type"] == "connection_established"
        yield ws


def auth_failure(t: SampleTarget, token: str | None) -> tuple[dict[str, Any], int, str]:
    with open_ws(t, token) as ws:
        frames = drain(ws)
        assert ws.close_code is not None and ws.close_reason is not None
        code, reason = ws.close_code, ws.close_reason
    assert len(frames) == 1 and isinstance(frames[0], str)
    return json.loads(frames[0]), code, reason


def types(frames: list[dict[str, Any]]) -> list[str]:
    return [f["type"] for f in frames]


# --- HTTP routes -------------------------------------------------------------------------------


def test_health_reports_server_clock(target: SampleTarget) -> None:
    """/health is 200 JSON with the server clock in both the body and the Date header."""
    r = httpx.get(f"{target.base_url}/health")
    body = r.json()
    assert r.status_code == 200
    assert body["status"] == "healthy" and body["service"] == "backend"
    assert abs(body["time"] - time.time()) < 5
    assert abs(parsedate_to_datetime(r.headers["date"]).timestamp() - time.time()) < 5


def test_status_is_public_and_unknown_paths_404(target: SampleTarget) -> None:
    """/api/status needs no token; unknown paths are 404 JSON."""
    assert httpx.get(f"{target.base_url}/api/status").status_code == 200
    missing = httpx.get(f"{target.base_url}/nope")
    assert missing.status_code == 404 and "error" in missing.json()


def test_threads_require_a_valid_bearer_token(target: SampleTarget) -> None:
    """/api/threads is 401 JSON without or with a bad token, 200 list with a good one."""
    url = f"{target.base_url}/api/threads"
    assert httpx.get(url).status_code == 401
    bad = httpx.get(url, headers={"Authorization": f"Bearer {make_token('wrong')}"})
    assert bad.status_code == 401 and "Signature" in bad.json()["error"]
    good = httpx.get(url, headers={"Authorization": f"Bearer {make_token()}"})
    assert good.status_code == 200 and isinstance(good.json(), list)


def test_auth_service_health_and_validate(target: SampleTarget) -> None:
    """The auth service validates header tokens and names pyjwt's reason when it refuses."""
    assert httpx.get(f"{target.auth_url}/health").json() == {
        "status": "healthy",
        "service": "auth",
        "time": pytest.approx(time.time(), abs=5),
    }
    url = f"{target.auth_url}/auth/validate"

    def validate(token: str) -> httpx.Response:
        return httpx.post(url, headers={"Authorization": f"Bearer {token}"})

    ok = validate(make_token())
    assert ok.status_code == 200 and ok.json()["valid"] is True
    assert ok.json()["claims"]["sub"] == "e2e-user"
    for token, reason in [
        (make_token("wrong"), "Signature verification failed"),
        (make_token(ttl=-10), "Signature has expired"),
        (make_token(aud="other"), "Audience doesn't match"),
        (make_token(iss="other"), "Invalid issuer"),
        (make_token(sub=None), 'Token is missing the "sub" claim'),
    ]:
        r = validate(token)
        assert r.status_code == 401 and r.json() == {"valid": False, "error": reason}
    assert httpx.post(url).status_code == 401


def test_auth_validate_refuses_request_bodies(target: SampleTarget) -> None:
    """websockets' HTTP parser drops body-carrying requests unanswered: send the token as header."""
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{target.auth_url}/auth/validate", json={"token": make_token()})


# --- WebSocket golden path ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["header", "subprotocol", "query"])
def test_each_token_source_authenticates(target: SampleTarget, how: str) -> None:
    """Header, jwt.<token> subprotocol (echoed exactly) and ?token= each reach the welcome."""
    token = make_token(sub=f"user-{how}")
    with open_ws(target, token, how) as ws:
        welcome = recv_json(ws)
        assert ws.subprotocol == (f"jwt.{token}" if how == "subprotocol" else None)
    assert welcome["type"] == "connection_established"
    assert welcome["data"]["user_id"] == f"user-{how}"
    assert welcome["data"]["connection_id"] and isinstance(welcome["timestamp"], float)


def test_subprotocol_echo_picks_the_jwt_one(target: SampleTarget) -> None:
    """Among several offered subprotocols the server echoes the jwt.<token> one."""
    token = make_token()
    protocols = ["chat", f"jwt.{token}"]
    with connect(target.ws_url, subprotocols=protocols, compression=None) as ws:  # type: ignore[arg-type]
        assert recv_json(ws)["type"] == "connection_established"
        assert ws.subprotocol == f"jwt.{token}"


def test_five_events_in_order_with_envelope(target: SampleTarget) -> None:
    """A user_message yields the five events in order, one run_id, in the standard envelope."""
    with welcomed(target) as ws:
        events = run_events(ws)
    assert types(events) == list(EVENTS)
    assert len({e["data"]["run_id"] for e in events}) == 1
    for event in events:
        assert set(event) == {"type", "data", "timestamp"}
        assert event["data"]["agent_name"] == "supervisor"
        assert isinstance(event["timestamp"], float)
    assert target.stats["events_sent"] == 5


def test_connection_reuse_runs_three_messages(target: SampleTarget) -> None:
    """Three messages on one connection give three complete runs with distinct run_ids."""
    data_message = json.dumps({"type": "user_message", "data": {"content": "again"}})
    with welcomed(target) as ws:
        runs = [run_events(ws), run_events(ws, data_message), run_events(ws)]
    assert all(types(run) == list(EVENTS) for run in runs)
    assert len({run[0]["data"]["run_id"] for run in runs}) == 3
    stats = target.stats
    assert stats["connections"] == 1 and stats["messages"] == 3 and stats["events_sent"] == 15


def test_unknown_message_type_keeps_connection_open(target: SampleTarget) -> None:
    """Unknown types and non-JSON get an error_message frame; the connection keeps working."""
    with welcomed(target) as ws:
        ws.send(json.dumps({"type": "bogus"}))
        assert recv_json(ws)["data"]["error_code"] == "UNKNOWN_MESSAGE"
        ws.send("not json")
        assert recv_json(ws)["data"]["error_code"] == "INVALID_MESSAGE"
        assert types(run_events(ws)) == list(EVENTS)


@pytest.mark.parametrize(
    ("claims", "error_code"),
    [
        (None, "NO_TOKEN"),
        ({"secret": "wrong-secret"}, "AUTH_FAILED"),
        ({"ttl": -10}, "TOKEN_EXPIRED"),
        ({"aud": "frontend"}, "AUTH_FAILED"),
        ({"iss": "someone"}, "AUTH_FAILED"),
        ({"sub": None}, "AUTH_FAILED"),
        ({"raw": "not-a-jwt"}, "AUTH_FAILED"),
    ],
)
def test_bad_tokens_fail_after_the_upgrade(
    target: SampleTarget, claims: dict[str, Any] | None, error_code: str
) -> None:
    """The handshake succeeds, then an error_message frame and a 1008 "SSOT Auth failed" close."""
    token = None if claims is None else claims.get("raw") or make_token(**claims)
    frame, code, reason = auth_failure(target, token)
    assert (code, reason) == (1008, "SSOT Auth failed")
    assert frame["type"] == "error_message"
    assert frame["data"]["error_code"] == error_code
    assert frame["data"]["message"] == "SSOT Auth failed"
    assert target.stats["auth_failures"] == 1


# --- faults ------------------------------------------------------------------------------------


def test_fault_auth_breaks_backend_but_not_auth_service(target: SampleTarget) -> None:
    """auth: the backend rejects all tokens (AUTH_FAILED, 401); the auth service says valid."""
    target.set_faults("auth")
    token = make_token()
    frame, code, _ = auth_failure(target, token)
    assert code == 1008 and frame["data"]["error_code"] == "AUTH_FAILED"
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{target.base_url}/api/threads", headers=headers).status_code == 401
    valid = httpx.post(f"{target.auth_url}/auth/validate", headers=headers).json()
    assert valid["valid"] is True


def test_fault_expired_runs_the_clock_ahead(target: SampleTarget) -> None:
    """expired: /health time and Date are an hour ahead and fresh tokens fail as TOKEN_EXPIRED."""
    target.set_faults("expired")
    r = httpx.get(f"{target.base_url}/health")
    assert r.json()["time"] - time.time() > 3500
    assert parsedate_to_datetime(r.headers["date"]).timestamp() - time.time() > 3500
    frame, code, _ = auth_failure(target, make_token())
    assert code == 1008 and frame["data"]["error_code"] == "TOKEN_EXPIRED"
    assert frame["data"]["detail"] == "Signature has expired"


def test_fault_auth_down_closes_port_and_comes_back(target: SampleTarget) -> None:
    """auth-down: the auth port refuses connections, WS closes AUTH_SERVICE_UNAVAILABLE; clearing
    it reopens the same port."""
    port = target.auth_port
    target.set_faults("auth-down")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{target.auth_url}/health")
    frame, code, reason = auth_failure(target, make_token())
    assert (code, reason) == (1008, "SSOT Auth failed")
    assert frame["data"]["error_code"] == "AUTH_SERVICE_UNAVAILABLE"
    target.set_faults()
    assert target.auth_port == port
    assert httpx.get(f"{target.auth_url}/health").status_code == 200
    with welcomed(target) as ws:
        assert types(run_events(ws)) == list(EVENTS)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("drop:agent_thinking", [e for e in EVENTS if e != "agent_thinking"]),
        (
            "reorder",
            [
                "agent_started",
                "agent_thinking",
                "tool_completed",
                "tool_executing",
                "agent_completed",
            ],
        ),
        ("duplicate", ["agent_started", "agent_thinking", "agent_thinking", *EVENTS[2:]]),
    ],
)
def test_fault_changes_event_sequence(
    target: SampleTarget, fault: str, expected: list[str]
) -> None:
    """drop/reorder/duplicate change exactly the documented part of the sequence."""
    target.set_faults(fault)
    with welcomed(target) as ws:
        assert types(run_events(ws)) == expected


def test_fault_drop_combines(target: SampleTarget) -> None:
    """Several faults combine: two drops remove both events."""
    target.set_faults("drop:agent_thinking", "drop:tool_completed")
    with welcomed(target) as ws:
        assert types(run_events(ws)) == ["agent_started", "tool_executing", "agent_completed"]


def test_fault_slow_delays_each_event(target: SampleTarget) -> None:
    """slow:<s>: nothing arrives within the client's short timeout, then the event does."""
    target.set_faults("slow:0.4")
    with welcomed(target) as ws:
        ws.send(USER_MESSAGE)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)
        assert recv_json(ws)["type"] == "agent_started"


def test_fault_hang_keeps_the_connection_silent_but_open(target: SampleTarget) -> None:
    """hang: after the welcome no event ever comes, yet the connection stays open."""
    target.set_faults("hang")
    with welcomed(target) as ws:
        ws.send(USER_MESSAGE)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)
        assert ws.protocol.state is State.OPEN
        assert ws.ping().wait(timeout=1)


def test_fault_crash_closes_1011_after_agent_started(target: SampleTarget) -> None:
    """crash: agent_started, then close 1011 "Internal server error"."""
    target.set_faults("crash")
    with welcomed(target) as ws:
        ws.send(USER_MESSAGE)
        frames = drain(ws)
        assert (ws.close_code, ws.close_reason) == (1011, "Internal server error")
    assert [json.loads(f)["type"] for f in frames] == ["agent_started"]


def test_fault_close_early_closes_1000_after_agent_thinking(target: SampleTarget) -> None:
    """close-early: agent_started, agent_thinking, then a normal 1000 close."""
    target.set_faults("close-early")
    with welcomed(target) as ws:
        ws.send(USER_MESSAGE)
        frames = drain(ws)
        assert ws.close_code == 1000
    assert [json.loads(f)["type"] for f in frames] == ["agent_started", "agent_thinking"]


def test_fault_health_down_and_api_error(target: SampleTarget) -> None:
    """health-down makes /health 503 unhealthy; api-error makes /api/threads 500."""
    target.set_faults("health-down", "api-error")
    r = httpx.get(f"{target.base_url}/health")
    assert r.status_code == 503 and r.json()["status"] == "unhealthy"
    headers = {"Authorization": f"Bearer {make_token()}"}
    assert httpx.get(f"{target.base_url}/api/threads", headers=headers).status_code == 500


def test_fault_noise_interleaves_unrelated_frames(target: SampleTarget) -> None:
    """noise: heartbeats, progress and other runs' events sit between the real five."""
    target.set_faults("noise")
    with welcomed(target) as ws:
        ws.send(USER_MESSAGE)
        first = recv_json(ws)
        run_id = first["data"]["run_id"]
        frames = [first]
        while not (frames[-1]["type"] == "agent_completed" and is_ours(frames[-1], run_id)):
            frames.append(recv_json(ws))
    kinds = set(types(frames))
    assert {"heartbeat", "agent_progress"} <= kinds
    foreign = [f for f in frames if f["type"] in EVENTS and not is_ours(f, run_id)]
    assert foreign and "agent_completed" in types(foreign)
    ours = [f for f in frames if f["type"] in EVENTS and is_ours(f, run_id)]
    assert types(ours) == list(EVENTS)


def is_ours(frame: dict[str, Any], run_id: str) -> bool:
    return frame.get("data", {}).get("run_id") == run_id


@pytest.mark.parametrize("fault", ["binary", "malformed"])
def test_fault_odd_first_frame_then_normal_run(target: SampleTarget, fault: str) -> None:
    """binary/malformed: one binary or non-JSON frame precedes the normal five events."""
    target.set_faults(fault)
    with welcomed(target) as ws:
        ws.send(USER_MESSAGE)
        odd = ws.recv(timeout=2)
        if fault == "binary":
            assert isinstance(odd, bytes)
        else:
            assert isinstance(odd, str)
            with pytest.raises(ValueError):
                json.loads(odd)
        assert types([recv_json(ws) for _ in EVENTS]) == list(EVENTS)


def test_fault_parsing() -> None:
    """Fault strings are validated, comma-splittable and canonical; typos name the valid ones."""
    assert parse_faults(["auth, drop:agent_thinking", "auth", "slow:0.5"]) == (
        "auth",
        "drop:agent_thinking",
        "slow:0.5",
    )
    assert "auth-down" in FAULTS and "drop:" in FAULTS
    with pytest.raises(ValueError, match=r"valid faults:.*auth-down"):
        parse_faults(["autth"])
    with pytest.raises(ValueError, match="agent_thinking"):
        parse_faults(["drop:thinking"])
    with pytest.raises(ValueError, match="seconds"):
        parse_faults(["slow:soon"])
    with pytest.raises(ValueError):
        SampleTarget(faults=("bogus",))


def test_set_faults_replaces_and_clears(target: SampleTarget) -> None:
    """set_faults replaces the whole set and set_faults() clears it; a bad set changes nothing."""
    target.set_faults("hang", "noise")
    target.set_faults("drop:agent_started")
    assert target.faults == ("drop:agent_started",)
    with pytest.raises(ValueError):
        target.set_faults("bogus")
    assert target.faults == ("drop:agent_started",)
    target.set_faults()
    with welcomed(target) as ws:
        assert types(run_events(ws)) == list(EVENTS)


# --- lifecycle ---------------------------------------------------------------------------------


def test_stop_frees_ports_and_thread() -> None:
    """stop() closes both ports, ends the thread, is idempotent, and the ports can be reused."""
    threads_before = threading.active_count()
    t = SampleTarget(faults=("hang",)).start()
    port, auth_port = t.port, t.auth_port
    with welcomed(t) as ws:
        ws.send(USER_MESSAGE)
        t.stop()
        t.stop()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=1)
        assert ws.close_code == 1001
    assert threading.active_count() == threads_before
    for p in (port, auth_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", p), timeout=1).close()
    with SampleTarget(port=port, auth_port=auth_port) as again:
        assert httpx.get(f"{again.base_url}/health").status_code == 200
        assert httpx.get(f"{again.auth_url}/health").status_code == 200


def test_auth_down_from_the_start_still_reserves_the_port() -> None:
    """Starting with auth-down leaves the auth port closed yet known, and clearing opens it."""
    with SampleTarget(faults=("auth-down",)) as t:
        assert t.auth_port != 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", t.auth_port), timeout=1).close()
        t.set_faults()
        assert httpx.get(f"{t.auth_url}/health").status_code == 200


def test_start_reports_bind_errors() -> None:
    """start() raises the bind error instead of hanging when the port is taken."""
    with SampleTarget() as first:
        clash = SampleTarget(port=first.port)
        with pytest.raises(OSError):
            clash.start()
        clash.stop()


def test_serve_runs_in_the_current_loop() -> None:
    """await serve() serves in the caller's loop, calls on_ready once listening, stops on cancel."""

    async def scenario() -> int:
        t = SampleTarget()
        ready = asyncio.Event()
        task = asyncio.create_task(t.serve(on_ready=ready.set))
        await ready.wait()
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{t.base_url}/health")).status_code == 200
            await asyncio.to_thread(t.set_faults, "auth-down")
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{t.auth_url}/health")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return t.port

    port = asyncio.run(scenario())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_main_rejects_unknown_faults(capsys: pytest.CaptureFixture[str]) -> None:
    """main() exits 2 on a bad --fault and names the valid faults."""
    assert main(["--fault", "nope"]) == 2
    assert "valid faults" in capsys.readouterr().err


def test_module_cli_prints_urls_and_stops_on_sigterm() -> None:
    """python -m bot.sample prints one URL line when listening and exits 0 on SIGTERM."""
    env = {**os.environ, "JWT_SECRET_KEY": "cli-secret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.sample", "--fault", "expired"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        words = proc.stdout.readline().split()
        assert words[0::2] == ["backend", "ws", "auth"]
        token = make_token("cli-secret")
        r = httpx.post(f"{words[5]}/auth/validate", headers={"Authorization": f"Bearer {token}"})
        assert r.json()["valid"] is True
        assert httpx.get(f"{words[1]}/health").json()["time"] - time.time() > 3500
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
