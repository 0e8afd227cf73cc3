"""The realistic sample profile: a target shaped like a real agent platform, not like the bot.

The default profile (``server.py``) sends five events, once each, and exists to show every
failure one at a time. Real platforms are noisier, and a bot proven only against a tidy target
breaks on its first real one. Everything below is HEALTHY behaviour a client must accept:

Connection (``ws://…/ws``)
    The handshake is accepted *before* authentication. The token travels in the subprotocol
    ``jwt.<base64url(token)>`` (base64url of the token's bytes, no padding), which is only honoured
    when ``jwt-auth`` is offered too; the server selects ``jwt-auth``, never the token protocol.
    The Authorization header is not read on the WebSocket (browsers cannot set it).

Frames (server → client); every event is an envelope, the timestamp is epoch seconds (float;
without an event delay a run goes out in one write and its frames share one)::

    {"type": "connection_established",
     "data": {"connection_id": "conn-…", "user_id": "<sub>", "heartbeat_interval": 25},
     "timestamp": 1700000000.0}
    {"type": "heartbeat", "data": {"seq": 1}, "timestamp": …}
    {"type": "agent_started",   "data": {"run_id": R, "agent_name": "supervisor", "message": …}, …}
    {"type": "agent_thinking",  "data": {"run_id": R, "agent_name": A, "thought": …, "step": 1}, …}
    {"type": "tool_executing",  "data": {"run_id": R, "agent_name": "supervisor",
                                         "tool_name": "calculator", "call_id": "call_<R>_2",
                                         "arguments": {…}}, …}
    {"type": "tool_completed",  "data": {"run_id": R, "agent_name": "supervisor",
                                         "tool_name": "calculator", "call_id": "call_<R>_2",
                                         "status": "success", "result": {…},
                                         "duration_ms": 19}, …}
    {"type": "agent_progress",  "data": {"run_id": R, "agent_name": A, "progress": 0.5,
                                         "message": …}, …}
    {"type": "agent_completed", "data": {"run_id": R, "agent_name": A, "status": "completed",
                                         "result": {…}}, …}

    Sub-agent frames carry ``"agent_name": "data_helper", "parent_agent": "supervisor"``; the
    top-level agent's frames have no ``parent_agent`` key at all.

    Config paths a client points at: event ``type``, run id ``data.run_id``, agent
    ``data.agent_name``, parent ``data.parent_agent``, tool name ``data.tool_name``, tool-call id
    ``data.call_id``.

One run per ``{"type": "user_message", "payload": {"content": …}}`` (the content is not read):
``agent_started`` (supervisor); 2–3 ``agent_thinking``; 2–3 tool calls, each ``tool_executing``
then ``tool_completed`` with the same ``call_id`` (every third run starts two calls in parallel
and completes them in reverse order); a nested sub-agent (``agent_started`` → ``agent_thinking``
→ ``agent_completed``, parent ``supervisor``) before the top-level ``agent_completed``, which
ends the run. In between: heartbeats, ``agent_progress``, and in every other run one frame of
ANOTHER run id (an ``agent_thinking``, or an ``agent_completed`` of the top-level agent). The
shape varies deterministically with the run counter and repeats every ``VARIANTS`` runs.
``{"type": "ping"}`` is answered ``{"type": "pong", "timestamp": …}``.

Errors come in the three shapes real platforms use:

- auth failure: ``{"type": "error_message", "error_code": "AUTH_FAILED" |
  "AUTH_SERVICE_UNAVAILABLE", "error_message": "<why>"}``, then close 1008 with reason
  ``Authentication failed`` or ``Auth service unavailable``;
- service not ready / bad client frame: ``{"type": "error", "message": "<why>"}`` (not ready:
  then close 1011 ``service not ready``; a bad frame keeps the connection open);
- HTTP API: ``{"detail": "<why>"}`` (FastAPI style).

HTTP: the backend serves ``GET /health`` (``{"status", "service", "version", "time"}``),
``GET /health/ready``, ``GET /api/agents`` and ``GET /api/threads`` (``Authorization: Bearer``).
The auth service serves ``GET /health`` and ``POST /auth/validate`` with JSON ``{"token": …}``,
answering 200 ``{"valid": true, "claims": {…}, "user_id": …}`` or 200 ``{"valid": false,
"reason": …}`` (a 200 alone does not mean valid), 422 ``{"detail": …}`` for a body without a
token. It runs on h11 (see ``httpserver.py``) because websockets' HTTP hook cannot read bodies.

The backend checks tokens with its own copy of the secret (as many platforms cache the auth
service's key), so the ``auth`` fault can make it disagree with an auth service that still says
valid.

Faults (``FAULTS``; they combine):

- ``auth``: the backend verifies with a different secret; the auth service still says valid.
- ``expired``: the backend's clock runs an hour ahead (``/health`` time, frame timestamps), so
  fresh tokens fail with ``Signature has expired``.
- ``auth-down``: the auth port refuses connections; the WebSocket answers
  ``AUTH_SERVICE_UNAVAILABLE`` + 1008 ``Auth service unavailable``; ``/api/threads`` is 503.
- ``not-ready``: every WebSocket gets ``{"type": "error", "message": "service not ready"}`` and
  close 1011 before authentication; ``/health/ready`` is 503, ``/health`` (liveness) stays 200,
  as on a platform whose dependencies are still starting.
- ``drop:<event>``: that event never arrives. For ``tool_executing``/``tool_completed`` one tool
  call (the run's last) loses that frame, as when one tool's result is lost; for the other
  events every frame of that type in the run is left out (``drop:agent_completed`` therefore
  also drops the sub-agent's completion, unlike ``no-final``).
- ``no-final``: the top-level agent never sends ``agent_completed`` (the sub-agent still does);
  the connection stays open until the client gives up.
- ``strict-subprotocol``: the server is configured the way websockets is with
  ``subprotocols=["jwt-auth"]``: a handshake that does not offer ``jwt-auth`` is refused with
  HTTP 400 (websockets' own text body) instead of the healthy profile's error frame + 1008 after
  the upgrade. Invisible to a client that offers ``jwt-auth``; it tells a handshake refusal apart
  from an auth failure.
- ``no-subprotocol``: the server selects no subprotocol even when ``jwt-auth`` is offered (a
  browser aborts such a connection); authentication itself still works.
- ``health-down``: ``/health`` is 503.
- ``slow:<seconds>``: every event of the run waits that long first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import jwt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from bot.sample.base import (
    BACKLOG,
    EXPIRED_CLOCK_SKEW,
    TargetBase,
    Verifier,
    bearer_token,
    json_response,
    parse_fault_specs,
    wire_logger,
)
from bot.sample.httpserver import HttpRequest, HttpServer, serve_http
from bot.sample.server import EVENTS

__all__ = [
    "AUTH_SUBPROTOCOL",
    "FAULTS",
    "RealisticTarget",
    "decode_token_subprotocol",
    "parse_faults",
    "realistic_config",
    "token_subprotocol",
]

FAULTS: Final = (
    "auth",
    "expired",
    "auth-down",
    "not-ready",
    "drop:",
    "no-final",
    "strict-subprotocol",
    "no-subprotocol",
    "health-down",
    "slow:",
)

AUTH_SUBPROTOCOL: Final = "jwt-auth"
TOKEN_SUBPROTOCOL_PREFIX: Final = "jwt."
TOP_AGENT: Final = "supervisor"
SUB_AGENT: Final = "data_helper"
AUTH_CLOSE_CODE: Final = 1008
AUTH_CLOSE_REASON: Final = "Authentication failed"
AUTH_DOWN_CLOSE_REASON: Final = "Auth service unavailable"
NOT_READY_CLOSE_CODE: Final = 1011
NOT_READY_MESSAGE: Final = "service not ready"
VERSION: Final = "2.7.1"
SECRET_ENV: Final = "GOLDEN_PATH_DEMO_JWT_SECRET"  # = bot.demo.DEMO_SECRET_ENV
VARIANTS: Final = 12
"""Run shapes repeat with this period: lcm of the thought (2), tool-count (4), parallel (3),
sub-agent position (6) and other-run (4) cycles."""

_TOOLS: Final[tuple[tuple[str, dict[str, Any], dict[str, Any]], ...]] = (
    ("search_documents", {"query": "2 + 2", "limit": 3}, {"hits": 3, "top": "arithmetic.md"}),
    ("calculator", {"expression": "2 + 2"}, {"value": 4}),
    ("fetch_thread_context", {"thread_id": "thread-1"}, {"messages": 2}),
)
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_NOT_READY_FRAME: Final = json.dumps({"type": "error", "message": NOT_READY_MESSAGE})


# ---------------------------------------------------------------------------------------------
# Token transport


def token_subprotocol(token: str) -> str:
    """The subprotocol carrying ``token``: ``jwt.`` + base64url of its bytes, without padding."""
    encoded = base64.urlsafe_b64encode(token.encode()).rstrip(b"=").decode("ascii")
    return f"{TOKEN_SUBPROTOCOL_PREFIX}{encoded}"


def decode_token_subprotocol(protocol: str) -> str:
    """The token inside ``jwt.<base64url>``; ``ValueError`` when it is not strict base64url.

    Strict because ``base64.urlsafe_b64decode`` silently skips foreign characters: a raw JWT
    sent unencoded (its dots!) would decode to garbage and fail later with a baffling reason.
    """
    encoded = protocol.removeprefix(TOKEN_SUBPROTOCOL_PREFIX)
    if not _BASE64URL.fullmatch(encoded):
        raise ValueError("the jwt.<token> subprotocol is not base64url")
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        return raw.decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("the jwt.<token> subprotocol is not base64url of a token") from None


def _offered(request: Request) -> list[str]:
    """The client's subprotocols; tokens cannot hold commas, so a split parses them."""
    return [
        item.strip()
        for value in request.headers.get_all("Sec-WebSocket-Protocol")
        for item in value.split(",")
        if item.strip()
    ]


# ---------------------------------------------------------------------------------------------
# Runs

_EVENT, _FINAL, _NOISE, _FOREIGN = range(4)
_Step = tuple[int, tuple[str, ...]]
_RUN: Final = "\x00"  # stands for the run id in templates; json.dumps writes it as \u0000


def _pieces(kind: str, data: dict[str, Any]) -> tuple[str, ...]:
    """A frame split around its run id, ending before the timestamp's value: sending is one
    ``run_id.join(pieces)`` plus the clock, never a dump."""
    text = json.dumps({"type": kind, "data": data}, separators=(",", ":"))
    return tuple((text[:-1] + ',"timestamp":').split("\\u0000"))


def _script(n: int, drop: frozenset[str], no_final: bool) -> tuple[_Step, ...]:
    """Run ``n``'s frames; faults remove frames here, once per plan, not per session."""
    thoughts = 2 + n % 2
    tool_count = 2 + (n // 2) % 2
    parallel = n % 3 == 0
    sub_after = 1 if (n // 3) % 2 == 0 else tool_count
    foreign = {1: "agent_thinking", 3: "agent_completed"}.get(n % 4)
    calls = [(i, *_TOOLS[(n + i) % len(_TOOLS)]) for i in range(1, tool_count + 1)]
    lost = calls[-1][0]  # the call a drop:tool_* fault loses
    steps: list[_Step] = []
    top: dict[str, Any] = {"run_id": _RUN, "agent_name": TOP_AGENT}
    sub: dict[str, Any] = {"run_id": _RUN, "agent_name": SUB_AGENT, "parent_agent": TOP_AGENT}
    step_no = itertools.count(1)
    beat = itertools.count(1)

    def event(kind: str, data: dict[str, Any], step: int = _EVENT) -> None:
        if kind not in drop or kind in ("tool_executing", "tool_completed"):
            steps.append((step, _pieces(kind, data)))

    def thinking(agent: dict[str, Any], thought: str) -> None:
        event("agent_thinking", {**agent, "thought": thought, "step": next(step_no)})

    def heartbeat() -> None:
        steps.append((_NOISE, _pieces("heartbeat", {"seq": next(beat)})))

    def progress(agent: dict[str, Any], value: float, message: str) -> None:
        data = {**agent, "progress": round(value, 2), "message": message}
        steps.append((_NOISE, _pieces("agent_progress", data)))

    def tool(kind: str, call: tuple[int, str, dict[str, Any], dict[str, Any]]) -> None:
        index, name, arguments, result = call
        if kind in drop and index == lost:
            return
        data = {**top, "tool_name": name, "call_id": f"call_{_RUN}_{index}"}
        if kind == "tool_executing":
            data["arguments"] = arguments
        else:
            data.update(status="success", result=result, duration_ms=12 + 7 * index)
        event(kind, data)

    def sub_agent() -> None:
        event("agent_started", {**sub, "message": "Looking up the figures"})
        thinking(sub, "Checking the stored figures for the supervisor")
        progress(sub, 1.0, "Figures ready")
        event("agent_completed", {**sub, "status": "completed", "result": {"figures": [2, 2]}})

    event("agent_started", {**top, "message": "Processing your request"})
    heartbeat()
    thinking(top, "Breaking the question into steps")
    groups = [calls[:2], *([c] for c in calls[2:])] if parallel else [[c] for c in calls]
    done, sub_done = 0, False
    for group in groups:
        for call in group:
            tool("tool_executing", call)
        for call in reversed(group):
            tool("tool_completed", call)
        first = done == 0
        done += len(group)
        progress(top, done / tool_count, f"{done} of {tool_count} tools done")
        if first:
            thinking(top, "Combining the tool results")
            if foreign is not None:
                other = {"run_id": _RUN, "agent_name": TOP_AGENT}
                data = {**other, "thought": "Another request on this thread", "step": 1}
                if foreign == "agent_completed":
                    data = {**other, "status": "completed", "result": {"response": "Done"}}
                steps.append((_FOREIGN, _pieces(foreign, data)))
        if not sub_done and done >= sub_after:
            sub_agent()
            sub_done = True
    if thoughts == 3:
        thinking(top, "Checking the answer before replying")
    heartbeat()
    if not no_final:
        final = {**top, "status": "completed", "result": {"response": "2 + 2 = 4"}}
        event("agent_completed", final, _FINAL)
    return tuple(steps)


# ---------------------------------------------------------------------------------------------
# Faults


def parse_faults(specs: Iterable[str]) -> tuple[str, ...]:
    """Validate this profile's fault specs (see the module docstring) and canonicalise them."""
    return parse_fault_specs(specs, faults=FAULTS, events=EVENTS)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything a fault set changes, computed once so the per-message path only reads it."""

    faults: tuple[str, ...]
    verifier: Verifier
    scripts: tuple[tuple[_Step, ...], ...]
    delay: float
    clock_offset: float
    auth_down: bool
    not_ready: bool
    strict_subprotocol: bool
    no_subprotocol: bool
    health_down: bool


def _build_plan(
    faults: tuple[str, ...], event_delay: float, secret: str, issuer: str, audience: str
) -> _Plan:
    flags = set(faults)
    drop = frozenset(f.partition(":")[2] for f in faults if f.startswith("drop:"))
    slow = [float(f.partition(":")[2]) for f in faults if f.startswith("slow:")]
    clock_offset = EXPIRED_CLOCK_SKEW if "expired" in flags else 0.0
    key = f"not-{secret}" if "auth" in flags else secret
    no_final = "no-final" in flags
    return _Plan(
        faults=faults,
        verifier=Verifier(key, issuer, audience, clock_offset),
        scripts=tuple(_script(n, drop, no_final) for n in range(VARIANTS)),
        delay=max(0.0, event_delay) + (slow[-1] if slow else 0.0),
        clock_offset=clock_offset,
        auth_down="auth-down" in flags,
        not_ready="not-ready" in flags,
        strict_subprotocol="strict-subprotocol" in flags,
        no_subprotocol="no-subprotocol" in flags,
        health_down="health-down" in flags,
    )


# ---------------------------------------------------------------------------------------------
# The target


class RealisticTarget(TargetBase[_Plan]):
    """The realistic profile's backend and auth service on loopback ports, with fault switches.

    Same lifecycle as ``SampleTarget``: ``start()``/``stop()``/``with`` from a background thread,
    ``await serve()`` in the caller's loop. ``stats`` adds ``frames_sent`` (every frame,
    noise included) and ``runs_completed`` (top-level ``agent_completed`` frames sent).
    """

    _STAT_KEYS: ClassVar[tuple[str, ...]] = (
        *TargetBase._STAT_KEYS,
        "frames_sent",
        "runs_completed",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runs = itertools.count()
        super().__init__(*args, **kwargs)

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
            select_subprotocol=self._select_subprotocol,
            server_header=f"agent-platform/{VERSION}",
            ping_interval=None,
            close_timeout=2,
            logger=wire_logger,
            backlog=BACKLOG,
        )

    async def _open_auth(self) -> HttpServer:
        return await serve_http(self._auth_http, self.host, self.auth_port, name="auth-service")

    # -- HTTP ------------------------------------------------------------------------------

    def _backend_http(self, connection: ServerConnection, request: Request) -> Response | None:
        path, _, _ = request.path.partition("?")
        if path == "/ws":
            return None
        plan = self._plan
        now = time.time() + plan.clock_offset
        if path not in ("/health", "/health/ready", "/api/agents", "/api/threads"):
            return json_response(404, {"detail": "Not Found"}, now)
        if request.method != "GET":
            return json_response(405, {"detail": "Method Not Allowed"}, now)
        if path == "/health":
            status = "unhealthy" if plan.health_down else "healthy"
            body = {"status": status, "service": "backend", "version": VERSION, "time": now}
            return json_response(503 if plan.health_down else 200, body, now)
        if path == "/health/ready":
            if plan.not_ready:
                return json_response(503, {"detail": NOT_READY_MESSAGE}, now)
            return json_response(200, {"status": "ready", "time": now}, now)
        if path == "/api/agents":
            agents = [
                {"name": TOP_AGENT, "tools": [name for name, _, _ in _TOOLS]},
                {"name": SUB_AGENT, "parent": TOP_AGENT, "tools": []},
            ]
            return json_response(200, {"agents": agents}, now)
        token = bearer_token(request.headers)
        if token is None:
            response = json_response(401, {"detail": "Not authenticated"}, now)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        if plan.auth_down:
            return json_response(503, {"detail": "Auth service unavailable"}, now)
        try:
            claims = plan.verifier.verify(token)
        except jwt.InvalidTokenError as exc:
            return json_response(401, {"detail": f"Invalid token: {exc}"}, now)
        threads = [
            {"id": "thread-1", "title": "What is 2 + 2?", "user_id": claims["sub"]},
            {"id": "thread-2", "title": "Golden path smoke test", "user_id": claims["sub"]},
        ]
        return json_response(200, {"threads": threads, "total": len(threads)}, now)

    def _auth_http(self, request: HttpRequest) -> tuple[int, Any]:
        now = time.time()
        if request.path == "/health":
            if request.method not in ("GET", "HEAD"):
                return 405, {"detail": "Method Not Allowed"}
            return 200, {"status": "healthy", "service": "auth", "time": now}
        if request.path != "/auth/validate":
            return 404, {"detail": "Not Found"}
        if request.method != "POST":
            return 405, {"detail": "Method Not Allowed"}
        try:
            body = json.loads(request.body)
        except ValueError:
            return 422, {"detail": 'Body must be JSON: {"token": "<jwt>"}'}
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            return 422, {"detail": 'Field "token" is required (a non-empty string)'}
        try:
            claims = self._true_verifier.verify(token)
        except jwt.InvalidTokenError as exc:
            return 200, {"valid": False, "reason": str(exc)}
        return 200, {"valid": True, "claims": claims, "user_id": claims["sub"]}

    # -- WebSocket -------------------------------------------------------------------------

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """Select ``jwt-auth`` (never the token protocol, which would echo the token)."""
        plan = self._plan
        if AUTH_SUBPROTOCOL in offered:
            return None if plan.no_subprotocol else Subprotocol(AUTH_SUBPROTOCOL)
        if plan.strict_subprotocol:  # websockets' own wording when subprotocols= is set
            if not offered:
                raise NegotiationError("missing subprotocol")
            raise NegotiationError(f"invalid subprotocol; expected one of {AUTH_SUBPROTOCOL}")
        return None

    def _authenticate(self, ws: ServerConnection, plan: _Plan) -> tuple[Any, str, str]:
        """The claims, or None with the error code and message for the client."""
        assert ws.request is not None
        offered = _offered(ws.request)
        if AUTH_SUBPROTOCOL not in offered:
            return None, "AUTH_FAILED", f"The {AUTH_SUBPROTOCOL} subprotocol is required"
        protocol = next((p for p in offered if p.startswith(TOKEN_SUBPROTOCOL_PREFIX)), None)
        if protocol is None:
            return None, "AUTH_FAILED", "No token: offer the subprotocol jwt.<base64url(token)>"
        try:
            token = decode_token_subprotocol(protocol)
        except ValueError as exc:
            return None, "AUTH_FAILED", f"Malformed token: {exc}"
        if plan.auth_down:
            return None, "AUTH_SERVICE_UNAVAILABLE", "Auth service unavailable: connection refused"
        try:
            return plan.verifier.verify(token), "", ""
        except jwt.InvalidTokenError as exc:
            return None, "AUTH_FAILED", f"Invalid token: {exc}"

    async def _handle_ws(self, ws: ServerConnection) -> None:
        stats = self._stats
        stats["connections"] += 1
        plan = self._plan
        try:
            if plan.not_ready:
                await ws.send(_NOT_READY_FRAME)
                await ws.close(NOT_READY_CLOSE_CODE, NOT_READY_MESSAGE)
                return
            claims, code, why = self._authenticate(ws, plan)
            if claims is None:
                stats["auth_failures"] += 1
                frame = {"type": "error_message", "error_code": code, "error_message": why}
                reason = AUTH_CLOSE_REASON if code == "AUTH_FAILED" else AUTH_DOWN_CLOSE_REASON
                await ws.send(json.dumps(frame))
                await ws.close(AUTH_CLOSE_CODE, reason)
                return
            user = json.dumps(claims["sub"])
            now = time.time() + plan.clock_offset
            await ws.send(
                '{"type":"connection_established","data":{"connection_id":"'
                f'{self._next_id("conn")}","user_id":{user},"heartbeat_interval":25}},'
                f'"timestamp":{now!r}}}'
            )
            async for message in ws:
                await self._on_message(ws, message)
        except ConnectionClosed:
            pass

    async def _on_message(self, ws: ServerConnection, message: str | bytes) -> None:
        kind: Any = None
        if isinstance(message, str):
            try:
                parsed = json.loads(message)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                kind = parsed.get("type")
                if kind == "user_message":
                    self._stats["messages"] += 1
                    await self._run(ws)
                    return
                if kind == "ping":
                    now = time.time() + self._plan.clock_offset
                    await ws.send(f'{{"type":"pong","timestamp":{now!r}}}')
                    return
        if kind is None:
            error = "Expected a JSON object with a type"
        else:
            error = f"Unknown message type: {kind}"
        await ws.send(json.dumps({"type": "error", "message": error}))

    async def _run(self, ws: ServerConnection) -> None:
        """Stream one agent run as the current plan dictates."""
        plan = self._plan
        n = next(self._runs)
        run_id = f"run-{self._id_prefix}-{n}"
        # With a delay, wake on close rather than after the sleep, so a client giving up or
        # stop() never waits for a slow fault to run its course.
        closed = asyncio.ensure_future(ws.wait_closed()) if plan.delay else None
        try:
            await self._send_script(ws, plan, plan.scripts[n % VARIANTS], run_id, closed)
        finally:
            if closed is not None:
                closed.cancel()

    async def _send_script(
        self,
        ws: ServerConnection,
        plan: _Plan,
        script: tuple[_Step, ...],
        run_id: str,
        closed: asyncio.Future[None] | None,
    ) -> None:
        delay, offset, stats = plan.delay, plan.clock_offset, self._stats
        foreign = f"{run_id}-bg"
        if closed is None and ws.protocol.state is State.OPEN:
            # No delay: the whole run goes out in one socket write. Every frame but the last
            # waits in the Sans-I/O protocol's buffer, which send() flushes with its own frame;
            # a send() per frame costs a write and a lock each, most of this profile's CPU at
            # benchmark rates.
            now = f"{time.time() + offset!r}}}"
            frames = [(foreign if k == _FOREIGN else run_id).join(p) + now for k, p in script]
            for frame in frames[:-1]:
                ws.protocol.send_text(frame.encode())
            events = [k for k, _ in script if k <= _FINAL]
            stats["events_sent"] += len(events)
            stats["runs_completed"] += events.count(_FINAL)
            stats["frames_sent"] += len(frames)
            await ws.send(frames[-1])
            return
        for kind, pieces in script:
            rid = run_id
            if kind <= _FINAL:
                if closed is not None:
                    await asyncio.wait((closed,), timeout=delay)
                    if closed.done():
                        return
                stats["events_sent"] += 1
                if kind == _FINAL:
                    stats["runs_completed"] += 1
            elif kind == _FOREIGN:
                rid = foreign
            stats["frames_sent"] += 1
            await ws.send(f"{rid.join(pieces)}{time.time() + offset!r}}}")


# ---------------------------------------------------------------------------------------------
# The config a user would write


def realistic_config(
    *,
    base_url: str,
    auth_url: str,
    sessions: int,
    secret_env: str = SECRET_ENV,
) -> dict[str, Any]:
    """The bot config a team would write for this profile (same shape as ``demo_config``).

    What makes it pass here is spelled out, not defaulted: the base64url ``jwt.<token>``
    subprotocol beside ``jwt-auth`` (``token_transport``), the JSON-body auth service
    (``auth.verify``), the key paths of the envelopes (``event_key``, ``run_key``,
    ``agent_key``, ``parent_key``: the run ends at the supervisor's ``agent_completed``, not
    the sub-agent's) and the ``rules`` (thinking repeats, tool calls pair by ``call_id``).
    ``golden-path demo --profile realistic`` runs with it; ``tests/test_demo_realistic.py``
    pins that it passes ``bot.config.parse_config``.
    """
    announce = (
        f"echo 'Deploying agent platform (revision realistic)...'; echo 'Service URL: {base_url}'"
    )
    return {
        "environment": "staging",
        "mission": "Execute comprehensive golden path e2e tests on {environment} until ALL "
        "{target_tests} tests pass",
        "target_tests": sessions,
        "deploy": {
            "command": announce,
            "url_from_output": r"http://127\.0\.0\.1:\d+",
            "timeout": "30s",
            "health_timeout": "3s",
            "health_interval": "100ms",
        },
        "auth": {
            "jwt": {
                "secret_env": secret_env,
                "ttl": "15m",
                "claims": {"sub": "golden-path-e2e", "iss": "auth-service", "aud": "backend"},
            },
            "verify": {
                "url": f"{auth_url}/auth/validate",
                "method": "POST",
                "token_in": "json",
                "json_field": "token",
                "valid_path": "valid",
            },
        },
        "checks": {
            "health": [
                {"name": "Infrastructure Health", "url": "/health", "max_latency": "1s"},
                {"name": "Auth Service Health", "url": f"{auth_url}/health", "timeout": "2s"},
            ],
            "endpoints": [
                {"name": "agents", "url": "/api/agents"},
                {"name": "threads", "url": "/api/threads", "auth": True},
            ],
            "agent_flow": {
                "url": "/ws",
                "token_transport": {
                    "subprotocol": "jwt.{token}",
                    "encoding": "base64url",
                    "extra_subprotocols": [AUTH_SUBPROTOCOL],
                    "expect_selected": AUTH_SUBPROTOCOL,
                },
                "message": {"type": "user_message", "payload": {"content": "What is 2 + 2?"}},
                "events": list(EVENTS),
                "event_key": "type",
                "run_key": "data.run_id",
                "agent_key": "data.agent_name",
                "parent_key": "data.parent_agent",
                "rules": {
                    "agent_thinking": {"min": 1},
                    "tool_executing": {"pair": "tool_completed", "by": "data.call_id"},
                },
                "sessions": sessions,
                "concurrency": min(200, max(1, sessions)),
                "timeout": "5s",
                "connect_timeout": "2s",
            },
        },
        "tracking": {"title": "ULTIMATE TEST DEPLOY LOOP: Golden Path {environment}"},
    }
