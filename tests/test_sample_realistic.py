"""The realistic sample profile: envelopes, repeated events, sub-agents, noise, jwt-auth
subprotocol auth, a JSON-body auth service, and each fault's observable behaviour."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from bot.cli import main as cli_main
from bot.sample import (
    EVENTS,
    REALISTIC_FAULTS,
    RealisticTarget,
    main,
    parse_realistic_faults,
    realistic_config,
    token_subprotocol,
)
from bot.sample.realistic import VARIANTS, decode_token_subprotocol

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

USER_MESSAGE = json.dumps({"type": "user_message", "payload": {"content": "What is 2 + 2?"}})
PING = json.dumps({"type": "ping"})
Frame = dict[str, Any]


@pytest.fixture
def target() -> Iterator[RealisticTarget]:
    with RealisticTarget() as t:
        yield t


def protocols_for(token: str | None, *, auth: bool = True) -> list[str]:
    offered = ["jwt-auth"] if auth else []
    return offered + ([token_subprotocol(token)] if token is not None else [])


def open_ws(
    t: RealisticTarget, protocols: list[str] | None = None, token: str | None = None
) -> ClientConnection:
    if protocols is None:
        protocols = protocols_for(token or t.mint_token())
    return connect(
        t.ws_url,
        subprotocols=protocols or None,  # type: ignore[arg-type]
        compression=None,
        open_timeout=2,
        close_timeout=1,
    )


def recv_json(ws: ClientConnection, timeout: float = 2.0) -> Frame:
    frame = ws.recv(timeout=timeout)
    assert isinstance(frame, str)
    parsed = json.loads(frame)
    assert isinstance(parsed, dict)
    return parsed


def run_frames(ws: ClientConnection) -> list[Frame]:
    """Every frame one user message produces. The server answers messages one at a time, so
    the pong to a ping sent right behind the message marks the end of the run's frames."""
    ws.send(USER_MESSAGE)
    ws.send(PING)
    frames: list[Frame] = []
    while (frame := recv_json(ws))["type"] != "pong":
        frames.append(frame)
    return frames


@contextmanager
def welcomed(t: RealisticTarget, protocols: list[str] | None = None) -> Iterator[ClientConnection]:
    with open_ws(t, protocols) as ws:
        assert recv_json(ws)["type"] == "connection_established"
        yield ws


def error_then_close(t: RealisticTarget, protocols: list[str]) -> tuple[Frame, int, str]:
    """The single frame the server sends before closing, and its close code and reason."""
    with open_ws(t, protocols) as ws:
        frames = []
        with pytest.raises(ConnectionClosed):
            while True:
                frames.append(ws.recv(timeout=2))
        assert ws.close_code is not None and ws.close_reason is not None
        code, reason = ws.close_code, ws.close_reason
    assert len(frames) == 1 and isinstance(frames[0], str)
    return json.loads(frames[0]), code, reason


def ours(frames: list[Frame]) -> list[Frame]:
    """Frames of the run the first frame belongs to, events only (no noise, no other runs)."""
    run_id = frames[0]["data"]["run_id"]
    return [f for f in frames if f["type"] in EVENTS and f["data"].get("run_id") == run_id]


def types(frames: list[Frame]) -> list[str]:
    return [f["type"] for f in frames]


def is_top(frame: Frame) -> bool:
    return frame["data"]["agent_name"] == "supervisor" and "parent_agent" not in frame["data"]


def call_ids(frames: list[Frame], kind: str) -> list[str]:
    return [f["data"]["call_id"] for f in frames if f["type"] == kind]


def validate(t: RealisticTarget, body: Any) -> httpx.Response:
    return httpx.post(f"{t.auth_url}/auth/validate", json=body)


# --- HTTP --------------------------------------------------------------------------------------


def test_backend_routes_answer_json_with_detail_errors(target: RealisticTarget) -> None:
    """/health has the clock, readiness and agents are public, errors are {"detail": ...}."""
    health = httpx.get(f"{target.base_url}/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert abs(health.json()["time"] - time.time()) < 5
    assert httpx.get(f"{target.base_url}/health/ready").json()["status"] == "ready"
    agents = httpx.get(f"{target.base_url}/api/agents").json()["agents"]
    assert {"name": "data_helper", "parent": "supervisor", "tools": []} in agents
    missing = httpx.get(f"{target.base_url}/nope")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    post = httpx.post(f"{target.base_url}/health")
    assert (post.status_code, post.json()) == (405, {"detail": "Method Not Allowed"})


def test_threads_need_a_bearer_token(target: RealisticTarget) -> None:
    """/api/threads: 401 detail + WWW-Authenticate without a token, 401 with a bad one, else 200."""
    url = f"{target.base_url}/api/threads"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401 and anonymous.json() == {"detail": "Not authenticated"}
    assert anonymous.headers["www-authenticate"] == "Bearer"
    forged = jwt.encode({"sub": "x"}, "wrong-secret-wrong-secret-wrong-secret", algorithm="HS256")
    bad = httpx.get(url, headers={"Authorization": f"Bearer {forged}"})
    assert bad.status_code == 401 and bad.json()["detail"].startswith("Invalid token: ")
    good = httpx.get(url, headers={"Authorization": f"Bearer {target.mint_token(sub='amy')}"})
    assert good.status_code == 200
    assert good.json()["total"] == 2 and good.json()["threads"][0]["user_id"] == "amy"


def test_auth_service_answers_valid_true_or_false_in_a_200(target: RealisticTarget) -> None:
    """POST {"token"} → 200 {"valid": true, claims} or 200 {"valid": false, reason}."""
    ok = validate(target, {"token": target.mint_token(sub="bob")})
    assert ok.status_code == 200 and ok.json()["valid"] is True
    assert ok.json()["claims"]["sub"] == "bob" and ok.json()["user_id"] == "bob"
    for token, reason in [
        (target.mint_token(ttl=-10), "Signature has expired"),
        (target.mint_token(aud="other"), "Audience doesn't match"),
        ("not-a-jwt", "Not enough segments"),
    ]:
        r = validate(target, {"token": token})
        assert (r.status_code, r.json()) == (200, {"valid": False, "reason": reason})
    assert httpx.get(f"{target.auth_url}/health").json()["service"] == "auth"


def test_auth_service_rejects_requests_without_a_json_token(target: RealisticTarget) -> None:
    """No JSON, no token field or a Bearer header only: 422 detail; GET: 405; elsewhere 404."""
    url = f"{target.auth_url}/auth/validate"
    header_only = httpx.post(url, headers={"Authorization": f"Bearer {target.mint_token()}"})
    assert header_only.status_code == 422 and "token" in header_only.json()["detail"]
    assert httpx.post(url, content=b"token=abc").status_code == 422
    assert validate(target, {"jwt": "abc"}).status_code == 422
    assert validate(target, ["abc"]).status_code == 422
    assert httpx.get(url).json() == {"detail": "Method Not Allowed"}
    assert httpx.get(f"{target.auth_url}/nope").status_code == 404


def test_auth_service_keeps_connections_alive_and_rejects_bad_http(
    target: RealisticTarget,
) -> None:
    """Two pipelined requests get two answers on one connection; a garbled one gets 400."""
    request = (
        b"POST /auth/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 15\r\n\r\n{"token": "ab"}'
    )
    with socket.create_connection(("127.0.0.1", target.auth_port), timeout=2) as sock:
        sock.sendall(request + request)
        received = b""
        while received.count(b'"valid": false') < 2:
            chunk = sock.recv(4096)
            assert chunk, f"connection closed early: {received!r}"
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 2
    with socket.create_connection(("127.0.0.1", target.auth_port), timeout=2) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert sock.recv(4096) == b""  # and the server hung up


# --- WebSocket: negotiation and auth -----------------------------------------------------------


def test_token_subprotocol_is_unpadded_base64url() -> None:
    """jwt.<base64url(token)> without padding round-trips; raw JWTs and junk are refused."""
    token = "header.payload.sig?"  # 19 bytes: padding would be needed, '?' maps to '_'-alphabet
    protocol = token_subprotocol(token)
    assert protocol == "jwt." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    assert "=" not in protocol and decode_token_subprotocol(protocol) == token
    for bad in ("jwt.eyJh.eyJz.c2ln", "jwt.a", "jwt.//8"):
        with pytest.raises(ValueError, match="base64url"):
            decode_token_subprotocol(bad)


@pytest.mark.parametrize("order", ["auth-first", "token-first"])
def test_server_selects_jwt_auth_not_the_token(target: RealisticTarget, order: str) -> None:
    """Offered jwt-auth + jwt.<b64>, in either order, the server selects jwt-auth and welcomes."""
    token = target.mint_token(sub="carol")
    offered = protocols_for(token)
    if order == "token-first":
        offered.reverse()
    with open_ws(target, offered) as ws:
        assert ws.subprotocol == "jwt-auth"
        welcome = recv_json(ws)
    assert set(welcome) == {"type", "data", "timestamp"}
    assert welcome["type"] == "connection_established"
    assert welcome["data"]["user_id"] == "carol" and welcome["data"]["connection_id"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("token without jwt-auth", "The jwt-auth subprotocol is required"),
        ("jwt-auth without token", "No token: offer the subprotocol jwt.<base64url(token)>"),
        ("raw token", "Malformed token: the jwt.<token> subprotocol is not base64url"),
        ("wrong secret", "Invalid token: Signature verification failed"),
        ("expired", "Invalid token: Signature has expired"),
        ("wrong issuer", "Invalid token: Invalid issuer"),
    ],
)
def test_auth_failure_is_an_error_frame_then_1008(
    target: RealisticTarget, case: str, message: str
) -> None:
    """After an accepted handshake: an AUTH_FAILED error_message frame, then 1008."""
    good = target.mint_token()
    protocols = {
        "token without jwt-auth": protocols_for(good, auth=False),
        "jwt-auth without token": ["jwt-auth"],
        "raw token": ["jwt-auth", f"jwt.{good}"],
        "wrong secret": protocols_for(
            jwt.encode(jwt.decode(good, options={"verify_signature": False}), "x" * 32)
        ),
        "expired": protocols_for(target.mint_token(ttl=-10)),
        "wrong issuer": protocols_for(target.mint_token(iss="someone")),
    }[case]
    frame, code, reason = error_then_close(target, protocols)
    assert frame == {"type": "error_message", "error_code": "AUTH_FAILED", "error_message": message}
    assert (code, reason) == (1008, "Authentication failed")
    assert target.stats["auth_failures"] == 1


# --- WebSocket: the healthy run ----------------------------------------------------------------


def check_run(frames: list[Frame]) -> dict[str, Any]:
    """Assert one healthy run's invariants; return what varies between runs."""
    assert all(set(f) == {"type", "data", "timestamp"} for f in frames)
    assert all(isinstance(f["timestamp"], float) for f in frames)
    events = ours(frames)
    run_id = events[0]["data"]["run_id"]
    assert events[0]["type"] == "agent_started" and is_top(events[0])
    assert events[-1]["type"] == "agent_completed" and is_top(events[-1])
    assert frames[-1] is events[-1], "the top-level agent_completed ends the run"
    top_done = [f for f in events if f["type"] == "agent_completed" and is_top(f)]
    assert len(top_done) == 1
    thoughts = [f for f in events if f["type"] == "agent_thinking" and is_top(f)]
    assert len(thoughts) >= 2
    started, completed = call_ids(events, "tool_executing"), call_ids(events, "tool_completed")
    assert len(started) >= 2 and sorted(started) == sorted(completed)
    assert len(set(started)) == len(started) and all(run_id in c for c in started)
    for call in started:
        execute = next(i for i, f in enumerate(events) if f["data"].get("call_id") == call)
        done = [i for i, f in enumerate(events) if f["data"].get("call_id") == call][-1]
        assert events[execute]["type"] == "tool_executing" and done > execute
        assert events[execute]["data"]["tool_name"] == events[done]["data"]["tool_name"]
    sub = [f for f in events if f["data"].get("parent_agent") == "supervisor"]
    assert types(sub) == ["agent_started", "agent_thinking", "agent_completed"]
    assert {f["data"]["agent_name"] for f in sub} == {"data_helper"}
    assert events.index(sub[-1]) < len(events) - 1  # sub-agent completes before the top level
    first_done = types(events).index("tool_completed")
    foreign = [f for f in frames if f["data"].get("run_id") not in (run_id, None)]
    return {
        "thoughts": len(thoughts),
        "tools": len(started),
        "parallel": types(events)[first_done - 2 : first_done]
        == ["tool_executing", "tool_executing"],
        "foreign": types(foreign),
        "noise": {f["type"] for f in frames} - set(EVENTS),
    }


def test_healthy_runs_repeat_events_nest_a_sub_agent_and_vary(target: RealisticTarget) -> None:
    """Every run of a full cycle is a valid nested run, and the shape varies across runs."""
    with welcomed(target) as ws:
        runs = [check_run(run_frames(ws)) for _ in range(VARIANTS)]
    assert {r["thoughts"] for r in runs} == {2, 3}
    assert {r["tools"] for r in runs} == {2, 3}
    assert {r["parallel"] for r in runs} == {True, False}
    foreign = Counter(kind for r in runs for kind in r["foreign"])
    assert foreign == {"agent_thinking": VARIANTS // 4, "agent_completed": VARIANTS // 4}
    assert all(r["noise"] == {"heartbeat", "agent_progress"} for r in runs)
    stats = target.stats
    assert stats["messages"] == stats["runs_completed"] == VARIANTS


def test_event_delay_streams_the_same_runs_frame_by_frame() -> None:
    """With a delay each event is its own later write; the runs are as valid as in a burst."""
    with RealisticTarget(event_delay=0.002) as t, welcomed(t) as ws:
        for _ in range(2):
            frames = run_frames(ws)
            check_run(frames)
            stamps = [f["timestamp"] for f in ours(frames)]
            assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_ping_and_bad_client_frames_keep_the_connection(target: RealisticTarget) -> None:
    """ping → pong; unknown types and non-JSON get {"type":"error","message":...}; still open."""
    with welcomed(target) as ws:
        ws.send(PING)
        assert recv_json(ws)["type"] == "pong"
        ws.send(json.dumps({"type": "bogus"}))
        assert recv_json(ws) == {"type": "error", "message": "Unknown message type: bogus"}
        ws.send("not json")
        assert recv_json(ws)["type"] == "error"
        check_run(run_frames(ws))


async def one_session(t: RealisticTarget, protocols: list[str]) -> int:
    """One golden-path session; returns how many frames the run took."""
    async with aconnect(
        t.ws_url,
        subprotocols=protocols,
        compression=None,
        open_timeout=20,  # type: ignore[arg-type]
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "connection_established"
        await ws.send(USER_MESSAGE)
        run_id, count = None, 0
        while True:
            frame = json.loads(await ws.recv())
            count += 1
            data = frame.get("data", {})
            run_id = run_id or data["run_id"]
            top = data.get("run_id") == run_id and "parent_agent" not in data
            if frame["type"] == "agent_completed" and top:
                return count


def test_a_thousand_concurrent_sessions_all_complete() -> None:
    """1,000 sessions at once: every run ends with its own top-level agent_completed."""
    with RealisticTarget() as t:
        protocols = protocols_for(t.mint_token())

        async def everyone() -> list[int]:
            sessions = (one_session(t, protocols) for _ in range(1000))
            return await asyncio.wait_for(asyncio.gather(*sessions), timeout=60)

        counts = asyncio.run(everyone())
        stats = t.stats
    assert len(counts) == 1000 and min(counts) >= 15
    assert stats["connections"] == stats["runs_completed"] == 1000
    assert stats["auth_failures"] == 0 and stats["frames_sent"] == sum(counts)


# --- faults ------------------------------------------------------------------------------------


def test_fault_auth_backend_and_auth_service_disagree(target: RealisticTarget) -> None:
    """auth: the backend rejects a good token (1008, 401) while the auth service says valid."""
    target.set_faults("auth")
    token = target.mint_token()
    frame, code, _ = error_then_close(target, protocols_for(token))
    assert code == 1008 and frame["error_message"] == "Invalid token: Signature verification failed"
    threads = httpx.get(
        f"{target.base_url}/api/threads", headers={"Authorization": f"Bearer {token}"}
    )
    assert threads.status_code == 401
    assert validate(target, {"token": token}).json()["valid"] is True


def test_fault_expired_runs_the_backend_clock_ahead(target: RealisticTarget) -> None:
    """expired: backend clock an hour ahead, fresh tokens expired there, valid at auth."""
    target.set_faults("expired")
    assert httpx.get(f"{target.base_url}/health").json()["time"] - time.time() > 3500
    token = target.mint_token()
    frame, code, _ = error_then_close(target, protocols_for(token))
    assert code == 1008 and frame["error_message"] == "Invalid token: Signature has expired"
    assert validate(target, {"token": token}).json()["valid"] is True


def test_fault_auth_down_closes_the_port_and_names_it(target: RealisticTarget) -> None:
    """auth-down: port refused, WS 1008 "Auth service unavailable", API 503; clear reopens."""
    port = target.auth_port
    target.set_faults("auth-down")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{target.auth_url}/health")
    frame, code, reason = error_then_close(target, protocols_for(target.mint_token()))
    assert (code, reason) == (1008, "Auth service unavailable")
    assert frame["error_code"] == "AUTH_SERVICE_UNAVAILABLE"
    assert "unavailable" in frame["error_message"]
    headers = {"Authorization": f"Bearer {target.mint_token()}"}
    threads = httpx.get(f"{target.base_url}/api/threads", headers=headers)
    assert threads.status_code == 503 and threads.json() == {"detail": "Auth service unavailable"}
    target.set_faults()
    assert target.auth_port == port
    assert validate(target, {"token": target.mint_token()}).json()["valid"] is True


def test_fault_not_ready_sends_error_then_1011(target: RealisticTarget) -> None:
    """not-ready: an error frame then 1011 before auth; readiness 503, liveness 200."""
    target.set_faults("not-ready")
    frame, code, reason = error_then_close(target, protocols_for(target.mint_token()))
    assert frame == {"type": "error", "message": "service not ready"}
    assert (code, reason) == (1011, "service not ready")
    assert target.stats["auth_failures"] == 0
    assert httpx.get(f"{target.base_url}/health").status_code == 200
    ready = httpx.get(f"{target.base_url}/health/ready")
    assert (ready.status_code, ready.json()) == (503, {"detail": "service not ready"})


@pytest.mark.parametrize("event", ["tool_completed", "tool_executing"])
def test_fault_drop_tool_event_loses_one_call(target: RealisticTarget, event: str) -> None:
    """drop:tool_*: in every run exactly one tool call lacks that frame; the run still ends."""
    target.set_faults(f"drop:{event}")
    with welcomed(target) as ws:
        for _ in range(4):
            events = ours(run_frames(ws))
            started = call_ids(events, "tool_executing")
            completed = call_ids(events, "tool_completed")
            full, partial = (started, completed)
            if event == "tool_executing":
                full, partial = completed, started
            assert len(set(full) - set(partial)) == 1 and set(partial) < set(full)
            assert events[-1]["type"] == "agent_completed" and is_top(events[-1])


@pytest.mark.parametrize("event", ["agent_started", "agent_thinking", "agent_completed"])
def test_fault_drop_agent_event_removes_every_one(target: RealisticTarget, event: str) -> None:
    """drop:agent_*: no frame of that type in the run; the other events still arrive."""
    target.set_faults(f"drop:{event}")
    with welcomed(target) as ws:
        frames = run_frames(ws)
    run_id = next(f["data"]["run_id"] for f in frames if f["type"] == "tool_executing")
    mine = [f for f in frames if f["data"].get("run_id") == run_id and f["type"] in EVENTS]
    assert event not in types(mine)
    assert set(types(mine)) == set(EVENTS) - {event}


def test_fault_no_final_keeps_the_connection_open(target: RealisticTarget) -> None:
    """no-final: the sub-agent completes, the top-level agent never does, the socket stays open."""
    target.set_faults("no-final")
    with welcomed(target) as ws:
        events = ours(run_frames(ws))
        assert ws.protocol.state is State.OPEN
    completions = [f for f in events if f["type"] == "agent_completed"]
    assert [f["data"]["agent_name"] for f in completions] == ["data_helper"]
    assert len(call_ids(events, "tool_completed")) >= 2
    assert target.stats["runs_completed"] == 0


def test_fault_strict_subprotocol_refuses_the_handshake(target: RealisticTarget) -> None:
    """strict-subprotocol: no jwt-auth offered → HTTP 400, not 1008; offered → healthy."""
    token = target.mint_token()
    frame, code, _ = error_then_close(target, protocols_for(token, auth=False))
    assert code == 1008 and frame["error_code"] == "AUTH_FAILED"  # healthy: fails after upgrade
    target.set_faults("strict-subprotocol")
    for offered, why in [
        (protocols_for(token, auth=False), "invalid subprotocol; expected one of jwt-auth"),
        ([], "missing subprotocol"),
    ]:
        with pytest.raises(InvalidStatus) as refused:
            open_ws(target, offered)
        assert refused.value.response.status_code == 400
        assert why in refused.value.response.body.decode()
    with welcomed(target, protocols_for(token)) as ws:
        assert ws.subprotocol == "jwt-auth"
        check_run(run_frames(ws))


def test_fault_no_subprotocol_selects_nothing_but_authenticates(target: RealisticTarget) -> None:
    """no-subprotocol: jwt-auth is offered but not selected; the run itself is healthy."""
    target.set_faults("no-subprotocol")
    with welcomed(target) as ws:
        assert ws.subprotocol is None
        check_run(run_frames(ws))


def test_fault_health_down_and_slow(target: RealisticTarget) -> None:
    """health-down makes /health 503; slow:<s> holds every event back that long."""
    target.set_faults("health-down", "slow:0.4")
    assert httpx.get(f"{target.base_url}/health").json()["status"] == "unhealthy"
    with welcomed(target) as ws:
        ws.send(USER_MESSAGE)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)
        assert recv_json(ws)["type"] == "agent_started"


def test_faults_combine_and_clear(target: RealisticTarget) -> None:
    """Two drops plus no-final apply together; set_faults() restores a healthy run."""
    target.set_faults("drop:agent_thinking", "drop:tool_completed", "no-final")
    assert target.faults == ("drop:agent_thinking", "drop:tool_completed", "no-final")
    with welcomed(target) as ws:
        events = ours(run_frames(ws))
        assert "agent_thinking" not in types(events)
        assert not any(is_top(f) for f in events if f["type"] == "agent_completed")
        assert len(call_ids(events, "tool_completed")) < len(call_ids(events, "tool_executing"))
        target.set_faults()
        check_run(run_frames(ws))


def test_fault_names_are_validated_per_profile() -> None:
    """Realistic faults parse; other profiles' faults and bad events name the valid ones."""
    assert parse_realistic_faults(["no-final, drop:tool_completed", "slow:0.5"]) == (
        "no-final",
        "drop:tool_completed",
        "slow:0.5",
    )
    assert {"not-ready", "no-final", "strict-subprotocol", "auth-down"} <= set(REALISTIC_FAULTS)
    with pytest.raises(ValueError, match=r"valid faults: .*strict-subprotocol"):
        parse_realistic_faults(["reorder"])
    with pytest.raises(ValueError, match="valid events"):
        parse_realistic_faults(["drop:heartbeat"])
    with pytest.raises(ValueError):
        RealisticTarget(faults=("hang",))


# --- the config a user would write -------------------------------------------------------------


def dotted(frame: Frame, path: str) -> Any:
    value: Any = frame
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def test_realistic_config_describes_this_target(target: RealisticTarget) -> None:
    """realistic_config's transport, verify contract and key paths work against the target."""
    cfg = realistic_config(base_url=target.base_url, auth_url=target.auth_url, sessions=10)
    flow, verify = cfg["checks"]["agent_flow"], cfg["auth"]["verify"]
    token = target.mint_token()
    answer = httpx.request(verify["method"], verify["url"], json={verify["json_field"]: token})
    assert dotted(answer.json(), verify["valid_path"]) is True
    transport = flow["token_transport"]
    assert transport["encoding"] == "base64url"
    prefix = transport["subprotocol"].replace("{token}", "")
    encoded = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    with welcomed(target, [*transport["extra_subprotocols"], prefix + encoded]) as ws:
        assert ws.subprotocol == transport["expect_selected"]
        frames = run_frames(ws)
    run_id = dotted(frames[0], flow["run_key"])
    mine = [f for f in frames if dotted(f, flow["run_key"]) == run_id]
    assert {dotted(f, flow["event_key"]) for f in mine} >= set(flow["events"])
    assert {dotted(f, flow["agent_key"]) for f in mine} >= {"supervisor", "data_helper"}
    assert {dotted(f, flow["parent_key"]) for f in mine} == {None, "supervisor"}
    pair = flow["rules"]["tool_executing"]
    opened = [dotted(f, pair["by"]) for f in mine if f["type"] == "tool_executing"]
    closed = [dotted(f, pair["by"]) for f in mine if f["type"] == pair["pair"]]
    assert opened and sorted(opened) == sorted(closed)
    assert cfg["checks"]["endpoints"][1]["url"] == "/api/threads"


# --- lifecycle and CLI -------------------------------------------------------------------------


def test_stop_closes_both_ports_even_with_a_kept_alive_auth_client() -> None:
    """stop() closes the backend and the h11 auth port, kept-alive clients included."""
    t = RealisticTarget().start()
    port, auth_port = t.port, t.auth_port
    with httpx.Client() as client:
        assert client.get(f"{t.auth_url}/health").status_code == 200
        t.stop()
        t.stop()
    for p in (port, auth_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", p), timeout=1).close()


def test_serve_runs_in_the_current_loop() -> None:
    """await serve() serves the realistic profile in the caller's loop until cancelled."""

    async def scenario() -> None:
        t = RealisticTarget()
        ready = asyncio.Event()
        task = asyncio.create_task(t.serve(on_ready=ready.set))
        await ready.wait()
        assert await one_session(t, protocols_for(t.mint_token())) >= 15
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_cli_rejects_faults_of_the_other_profile(capsys: pytest.CaptureFixture[str]) -> None:
    """serve-sample --profile realistic exits 2 on another profile's fault, naming its own."""
    assert cli_main(["serve-sample", "--profile", "realistic", "--fault", "reorder"]) == 2
    err = capsys.readouterr().err
    assert "unknown fault 'reorder'" in err and "no-final" in err
    assert main(["--profile", "realistic", "--fault", "drop:heartbeat"]) == 2
    assert "valid events" in capsys.readouterr().err


def test_module_cli_serves_the_realistic_profile() -> None:
    """python -m bot.sample --profile realistic --fault not-ready serves that profile."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.sample", "--profile", "realistic", "--fault", "not-ready"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        words = proc.stdout.readline().split()
        assert words[0::2] == ["backend", "ws", "auth"]
        assert httpx.get(f"{words[1]}/health/ready").status_code == 503
        assert httpx.post(f"{words[5]}/auth/validate", json={"token": "x"}).json()["valid"] is False
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
