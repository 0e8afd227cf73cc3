"""The bundled sample staging target: an agent-chat backend plus the auth service it trusts.

It is shaped like the production backends the bot checks: the WebSocket handshake always succeeds
and authentication happens after the upgrade, so a wrong secret shows up as an ``error_message``
frame and a 1008 close rather than an HTTP 401. Fault switches reproduce, one by one, the ways a
golden path breaks on staging, so the demo, the tests and the benchmarks can see each of them.

HTTP is answered from websockets' ``process_request`` hook, so one library serves both protocols.
That hook cannot read request bodies: websockets' parser drops any request whose
``Content-Length`` is not 0 *without a response*. ``POST /auth/validate`` therefore takes the
token from the ``Authorization: Bearer`` header only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

import jwt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from bot.sample.base import (
    BACKLOG,
    DEMO_SECRET,
    EXPIRED_CLOCK_SKEW,
    TargetBase,
    Verifier,
    bearer_token,
    json_response,
    parse_fault_specs,
    wire_logger,
)

__all__ = ["DEMO_SECRET", "EVENTS", "FAULTS", "SampleTarget", "parse_faults"]

EVENTS: Final = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
)
FAULTS: Final = (
    "auth",
    "expired",
    "auth-down",
    "drop:",
    "reorder",
    "duplicate",
    "slow:",
    "hang",
    "crash",
    "close-early",
    "health-down",
    "noise",
    "binary",
    "malformed",
    "api-error",
)

AUTH_CLOSE_CODE: Final = 1008
AUTH_CLOSE_REASON: Final = "SSOT Auth failed"
SUBPROTOCOL_PREFIX: Final = "jwt."
AGENT_NAME: Final = "supervisor"

_EVENT_DATA: Final[dict[str, dict[str, Any]]] = {
    "agent_started": {"status": "started", "message": "Processing your request"},
    "agent_thinking": {"thought": "Working out the answer step by step"},
    "tool_executing": {"tool_name": "calculator", "parameters": {"expression": "2 + 2"}},
    "tool_completed": {"tool_name": "calculator", "result": {"value": 4}},
    "agent_completed": {"status": "completed", "result": {"response": "2 + 2 = 4"}},
}


def _event_template(name: str) -> tuple[str, str]:
    """Split an event envelope around its run id so a frame is two concatenations, not a dump."""
    extra = json.dumps(_EVENT_DATA[name], separators=(",", ":"))[1:-1]
    head = f'{{"type":"{name}","data":{{"run_id":"'
    tail = f'","agent_name":"{AGENT_NAME}",{extra}}},"timestamp":'
    return head, tail


_TEMPLATES: Final = {name: _event_template(name) for name in EVENTS}
_MALFORMED_FRAME: Final = "<html><body>502 Bad Gateway</body></html>"
_BINARY_FRAME: Final = b"\x00\x01golden-path-sample\xff"


# ---------------------------------------------------------------------------------------------
# Faults


_EVENT, _NOISE, _CLOSE, _BINARY, _MALFORMED = range(5)
_Step = tuple[int, Any, Any]


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything a fault set changes, computed once so the per-message path only reads it."""

    faults: tuple[str, ...]
    verifier: Verifier
    steps: tuple[_Step, ...]
    delay: float
    clock_offset: float
    auth_down: bool
    health_down: bool
    api_error: bool


def parse_faults(specs: Iterable[str]) -> tuple[str, ...]:
    """Validate fault specs early so a typo fails loudly instead of silently testing nothing.

    Each item may hold several comma-separated specs (handy for env vars and CI matrices).
    Returns the canonical specs in first-seen order, without duplicates.
    """
    return parse_fault_specs(specs, faults=FAULTS, events=EVENTS)


def _build_plan(
    faults: tuple[str, ...], event_delay: float, secret: str, issuer: str, audience: str
) -> _Plan:
    """The verifier lives in the plan so a fault switch never pairs old token rules with new
    events (or vice versa) on a connection that reads the plan mid-change."""
    flags = set(faults)
    drop = {f.partition(":")[2] for f in faults if f.startswith("drop:")}
    slow = [float(f.partition(":")[2]) for f in faults if f.startswith("slow:")]
    order = list(EVENTS)
    if "reorder" in flags:
        i, j = order.index("tool_executing"), order.index("tool_completed")
        order[i], order[j] = order[j], order[i]
    if "duplicate" in flags:
        order.insert(order.index("agent_thinking"), "agent_thinking")

    steps: list[_Step] = []
    if "binary" in flags:
        steps.append((_BINARY, None, None))
    if "malformed" in flags:
        steps.append((_MALFORMED, None, None))
    sent_any = False
    for index, name in enumerate(order):
        if name not in drop:
            if "noise" in flags and sent_any:
                steps.append((_NOISE, name, None))
            steps.append((_EVENT, *_TEMPLATES[name]))
            sent_any = True
        following = order[index + 1] if index + 1 < len(order) else None
        if name == "agent_started" and "crash" in flags:
            steps.append((_CLOSE, 1011, "Internal server error"))
            break
        if name == "agent_thinking" and following != name and "close-early" in flags:
            steps.append((_CLOSE, 1000, ""))
            break
    if "hang" in flags:
        steps = []
    clock_offset = EXPIRED_CLOCK_SKEW if "expired" in flags else 0.0
    key = f"not-{secret}" if "auth" in flags else secret
    return _Plan(
        faults=faults,
        verifier=Verifier(key, issuer, audience, clock_offset),
        steps=tuple(steps),
        delay=max(0.0, event_delay) + (slow[-1] if slow else 0.0),
        clock_offset=clock_offset,
        auth_down="auth-down" in flags,
        health_down="health-down" in flags,
        api_error="api-error" in flags,
    )


# ---------------------------------------------------------------------------------------------
# Handshake


def _select_subprotocol(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """Echo the ``jwt.<token>`` protocol the client offered, as browsers require an echo."""
    for protocol in offered:
        if protocol.startswith(SUBPROTOCOL_PREFIX):
            return protocol
    return None


# ---------------------------------------------------------------------------------------------
# The target


class SampleTarget(TargetBase["_Plan"]):
    """A backend and an auth service on loopback ports, with runtime fault switches.

    ``start()`` serves from a background thread with its own event loop (tests, demo);
    ``await serve()`` serves in the caller's loop (CLI, benchmarks in a subprocess).
    """

    # -- what the lifecycle needs ----------------------------------------------------------

    def _make_plan(self, faults: Iterable[str]) -> _Plan:
        specs = parse_faults(faults)
        return _build_plan(specs, self.event_delay, self.secret, self.issuer, self.audience)

    async def _open_backend(self) -> Server:
        return await serve(
            self._handle_ws,
            self.host,
            self.port,
            process_request=self._backend_http,
            select_subprotocol=_select_subprotocol,
            server_header="golden-path-sample",
            ping_interval=None,
            close_timeout=2,
            logger=wire_logger,
            backlog=BACKLOG,
        )

    async def _open_auth(self) -> Server:
        return await serve(
            self._reject_ws,
            self.host,
            self.auth_port,
            process_request=self._auth_http,
            compression=None,
            server_header="golden-path-sample-auth",
            ping_interval=None,
            logger=wire_logger,
        )

    # -- HTTP ------------------------------------------------------------------------------

    def _backend_http(self, connection: ServerConnection, request: Request) -> Response | None:
        path, _, _ = request.path.partition("?")
        if path == "/ws":
            return None
        plan = self._plan
        now = time.time() + plan.clock_offset
        if path not in ("/health", "/api/status", "/api/threads"):
            return json_response(404, {"error": f"Not found: {path}"}, now)
        if request.method != "GET":
            return json_response(405, {"error": "Method not allowed"}, now)
        if path == "/health":
            if plan.health_down:
                return json_response(503, {"status": "unhealthy", "service": "backend"}, now)
            return json_response(200, {"status": "healthy", "service": "backend", "time": now}, now)
        if path == "/api/status":
            body = {
                "status": "ok",
                "service": "backend",
                "websocket": "/ws",
                "events": list(EVENTS),
                "time": now,
            }
            return json_response(200, body, now)
        token = bearer_token(request.headers)
        if token is None:
            return json_response(401, {"error": "No token provided"}, now)
        if plan.auth_down:
            return json_response(503, {"error": "Auth service unavailable"}, now)
        try:
            claims = plan.verifier.verify(token)
        except jwt.InvalidTokenError as exc:
            return json_response(401, {"error": str(exc)}, now)
        if plan.api_error:
            return json_response(500, {"error": "Internal server error"}, now)
        threads = [
            {"id": "thread-1", "title": "What is 2 + 2?", "user_id": claims["sub"]},
            {"id": "thread-2", "title": "Golden path smoke test", "user_id": claims["sub"]},
        ]
        return json_response(200, threads, now)

    def _auth_http(self, connection: ServerConnection, request: Request) -> Response:
        path, _, _ = request.path.partition("?")
        now = time.time()
        if path == "/health":
            if request.method != "GET":
                return json_response(405, {"error": "Method not allowed"}, now)
            return json_response(200, {"status": "healthy", "service": "auth", "time": now}, now)
        if path != "/auth/validate":
            return json_response(404, {"error": f"Not found: {path}"}, now)
        if request.method not in ("POST", "GET"):
            return json_response(405, {"error": "Method not allowed"}, now)
        token = bearer_token(request.headers)
        if token is None:
            return json_response(401, {"valid": False, "error": "No token provided"}, now)
        try:
            claims = self._true_verifier.verify(token)
        except jwt.InvalidTokenError as exc:
            return json_response(401, {"valid": False, "error": str(exc)}, now)
        return json_response(200, {"valid": True, "claims": claims}, now)

    # -- WebSocket -------------------------------------------------------------------------

    @staticmethod
    async def _reject_ws(ws: ServerConnection) -> None:
        await ws.close(1008, "No WebSocket endpoint here")

    def _authenticate(
        self, ws: ServerConnection, plan: _Plan
    ) -> tuple[dict[str, Any] | None, str, str]:
        request = ws.request
        assert request is not None
        token = bearer_token(request.headers)
        if token is None:
            subprotocol = ws.subprotocol
            if subprotocol is not None and subprotocol.startswith(SUBPROTOCOL_PREFIX):
                token = subprotocol[len(SUBPROTOCOL_PREFIX) :]
        if token is None:
            _, _, query = request.path.partition("?")
            if query:
                values = parse_qs(query).get("token")
                token = values[0] if values else None
        if not token:
            return None, "NO_TOKEN", "No token provided"
        if plan.auth_down:
            return None, "AUTH_SERVICE_UNAVAILABLE", "Auth service unreachable"
        try:
            return plan.verifier.verify(token), "", ""
        except jwt.ExpiredSignatureError as exc:
            return None, "TOKEN_EXPIRED", str(exc)
        except jwt.InvalidTokenError as exc:
            return None, "AUTH_FAILED", str(exc)

    @staticmethod
    def _error_frame(code: str, message: str, detail: str, now: float) -> str:
        data = {"error_code": code, "message": message, "detail": detail}
        return json.dumps({"type": "error_message", "data": data, "timestamp": now})

    async def _handle_ws(self, ws: ServerConnection) -> None:
        stats = self._stats
        stats["connections"] += 1
        plan = self._plan
        claims, code, detail = self._authenticate(ws, plan)
        try:
            if claims is None:
                stats["auth_failures"] += 1
                now = time.time() + plan.clock_offset
                await ws.send(self._error_frame(code, AUTH_CLOSE_REASON, detail, now))
                await ws.close(AUTH_CLOSE_CODE, AUTH_CLOSE_REASON)
                return
            user = json.dumps(claims["sub"])
            now = time.time() + plan.clock_offset
            await ws.send(
                '{"type":"connection_established","data":{"connection_id":"'
                f'{self._next_id("conn")}","user_id":{user}}},"timestamp":{now!r}}}'
            )
            async for message in ws:
                if not await self._on_message(ws, message):
                    return
        except ConnectionClosed:
            pass

    async def _on_message(self, ws: ServerConnection, message: str | bytes) -> bool:
        """Answer one client frame; False once the server closed the connection itself."""
        kind = None
        if isinstance(message, str):
            try:
                parsed = json.loads(message)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                kind = parsed.get("type")
                if kind == "user_message":
                    self._stats["messages"] += 1
                    return await self._run(ws)
                if kind == "ping":
                    now = time.time() + self._plan.clock_offset
                    await ws.send(f'{{"type":"pong","timestamp":{now!r}}}')
                    return True
        now = time.time() + self._plan.clock_offset
        if kind is None:
            frame = self._error_frame("INVALID_MESSAGE", "Expected a JSON object", "", now)
        else:
            detail = f"Unknown message type: {kind}"
            frame = self._error_frame("UNKNOWN_MESSAGE", "Unknown message type", detail, now)
        await ws.send(frame)
        return True

    async def _run(self, ws: ServerConnection) -> bool:
        """Stream one agent run as the current fault plan dictates."""
        plan = self._plan
        run_id = self._next_id("run")
        # With a delay, wake on close rather than after the sleep, so a client giving up or
        # stop() never waits for a slow fault to run its course.
        closed = asyncio.ensure_future(ws.wait_closed()) if plan.delay else None
        try:
            return await self._steps(ws, plan, run_id, closed)
        finally:
            if closed is not None:
                closed.cancel()

    async def _steps(
        self, ws: ServerConnection, plan: _Plan, run_id: str, closed: asyncio.Future[None] | None
    ) -> bool:
        delay, offset, stats = plan.delay, plan.clock_offset, self._stats
        for kind, a, b in plan.steps:
            if kind == _EVENT:
                if closed is not None:
                    await asyncio.wait((closed,), timeout=delay)
                    if closed.done():
                        return False
                stats["events_sent"] += 1
                await ws.send(f"{a}{run_id}{b}{time.time() + offset!r}}}")
            elif kind == _NOISE:
                now = time.time() + offset
                head, tail = _TEMPLATES[a]
                await ws.send(f'{{"type":"heartbeat","timestamp":{now!r}}}')
                await ws.send(
                    f'{{"type":"agent_progress","data":{{"run_id":"{run_id}",'
                    f'"agent_name":"{AGENT_NAME}","progress":"working"}},"timestamp":{now!r}}}'
                )
                await ws.send(f"{head}{self._next_id('run-other')}{tail}{now!r}}}")
            elif kind == _CLOSE:
                await ws.close(a, b)
                return False
            elif kind == _BINARY:
                await ws.send(_BINARY_FRAME)
            elif kind == _MALFORMED:
                await ws.send(_MALFORMED_FRAME)
        return True
