"""What every bundled sample profile shares: token checks, fault parsing and the serving lifecycle.

A profile (``server.SampleTarget``, ``realistic.RealisticTarget``) supplies three things: a plan
(everything a fault set changes, computed once), its backend server and its auth service. This
module runs them from a background thread (tests, demo) or in the caller's loop (CLI,
benchmarks), swaps plans atomically, and opens or closes the auth port to match ``auth-down``, so
both profiles behave the same wherever the lifecycle is concerned.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import contextlib
import http
import itertools
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from email.utils import formatdate
from types import TracebackType
from typing import Any, ClassVar, Final, Generic, Protocol, Self, TypeVar

import jwt
from websockets.asyncio.server import Server
from websockets.datastructures import Headers
from websockets.http11 import Response

DEMO_SECRET: Final = "golden-path-demo-secret"
EXPIRED_CLOCK_SKEW: Final = 3600.0
REQUIRED_CLAIMS: Final = ("sub", "exp", "iat", "iss", "aud")

# A logger of our own, quiet by default: websockets logs every connection at INFO, and an
# application that turns INFO on must not pay for that at thousands of sessions per second.
wire_logger: Final = logging.getLogger("bot.sample.wire")
wire_logger.setLevel(logging.WARNING)
_log = logging.getLogger(__name__)
# asyncio's default of 100 overflows when a benchmark opens thousands of sessions at once.
BACKLOG: Final = 4096


# ---------------------------------------------------------------------------------------------
# Faults


def describe_faults(faults: Sequence[str]) -> str:
    """The fault list as a user types it: argument-taking faults show their placeholder."""
    placeholders = {"drop:": "drop:<event>", "slow:": "slow:<seconds>"}
    return ", ".join(placeholders.get(f, f) for f in faults)


def parse_fault_specs(
    specs: Iterable[str], *, faults: Sequence[str], events: Sequence[str]
) -> tuple[str, ...]:
    """Validate fault specs early so a typo fails loudly instead of silently testing nothing.

    ``faults`` lists a profile's switches; names ending in ``:`` take an argument (``drop:`` an
    event from ``events``, ``slow:`` seconds). Each item may hold several comma-separated specs
    (handy for env vars and CI matrices). Returns the canonical specs in first-seen order,
    without duplicates.
    """
    if isinstance(specs, str):
        specs = (specs,)
    flags = frozenset(f for f in faults if not f.endswith(":"))
    seen: dict[str, None] = {}
    for item in specs:
        for raw in str(item).split(","):
            spec = raw.strip().lower()
            if not spec:
                continue
            name, sep, arg = spec.partition(":")
            if not sep and spec in flags:
                seen[spec] = None
            elif sep and name == "drop" and "drop:" in faults:
                if arg not in events:
                    raise ValueError(
                        f"unknown event in fault {spec!r}; valid events: {', '.join(events)}"
                    )
                seen[spec] = None
            elif sep and name == "slow" and "slow:" in faults:
                try:
                    seconds = float(arg)
                except ValueError:
                    seconds = -1.0
                if not 0 <= seconds < float("inf"):
                    raise ValueError(f"fault {spec!r} needs a number of seconds >= 0")
                seen[f"slow:{arg}"] = None
            else:
                raise ValueError(f"unknown fault {spec!r}; valid faults: {describe_faults(faults)}")
    return tuple(seen)


# ---------------------------------------------------------------------------------------------
# Tokens and HTTP


class Verifier:
    """JWT checks for one (secret, clock) pair; successes are cached because benchmarks reuse
    one token across thousands of sessions and HMAC + JSON parsing would dominate otherwise."""

    __slots__ = ("_audience", "_cache", "_clock_offset", "_issuer", "_key")
    _CACHE_LIMIT = 4096

    def __init__(self, key: str, issuer: str, audience: str, clock_offset: float) -> None:
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self._clock_offset = clock_offset
        self._cache: dict[str, tuple[dict[str, Any], float]] = {}

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims or raise ``jwt.InvalidTokenError`` with pyjwt's own reason."""
        hit = self._cache.get(token)
        if hit is None:
            # exp is checked below against this service's clock, which a fault may skew;
            # pyjwt always reads the real clock.
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": list(REQUIRED_CLAIMS), "verify_exp": False},
            )
            try:
                exp = float(claims["exp"])
            except (TypeError, ValueError, OverflowError):
                raise jwt.DecodeError("Expiration Time claim (exp) must be an integer.") from None
            if len(self._cache) >= self._CACHE_LIMIT:
                self._cache.clear()
            hit = self._cache[token] = (claims, exp)
        claims, exp = hit
        if exp <= time.time() + self._clock_offset:
            raise jwt.ExpiredSignatureError("Signature has expired")
        return claims


def bearer_token(headers: Headers) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None when there is none."""
    value = headers.get("Authorization")
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def json_response(status: int, body: Any, now: float) -> Response:
    """A websockets HTTP response (``process_request``) with a JSON body and the given clock."""
    data = json.dumps(body).encode()
    headers = Headers(
        [
            ("Date", formatdate(now, usegmt=True)),
            ("Connection", "close"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
        ]
    )
    return Response(status, http.HTTPStatus(status).phrase, headers, data)


# ---------------------------------------------------------------------------------------------
# The lifecycle


class PlanLike(Protocol):
    """What the lifecycle reads from a profile's plan."""

    @property
    def faults(self) -> tuple[str, ...]: ...

    @property
    def auth_down(self) -> bool: ...


class Listener(Protocol):
    """A listening server the lifecycle can close: websockets' ``Server`` or a profile's own."""

    @property
    def sockets(self) -> tuple[socket.socket, ...]: ...

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


P = TypeVar("P", bound=PlanLike)


class TargetBase(abc.ABC, Generic[P]):
    """A backend and an auth service on loopback ports, with runtime fault switches.

    ``start()`` serves from a background thread with its own event loop (tests, demo);
    ``await serve()`` serves in the caller's loop (CLI, benchmarks in a subprocess).
    """

    _STAT_KEYS: ClassVar[tuple[str, ...]] = (
        "connections",
        "auth_failures",
        "messages",
        "events_sent",
    )

    def __init__(
        self,
        secret: str = DEMO_SECRET,
        faults: Iterable[str] = (),
        event_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        auth_port: int = 0,
        issuer: str = "auth-service",
        audience: str = "backend",
    ) -> None:
        self.secret = secret
        self.host = host
        self.port = port
        self.auth_port = auth_port
        self.issuer = issuer
        self.audience = audience
        self.event_delay = event_delay
        self._true_verifier = Verifier(secret, issuer, audience, 0.0)
        self._stats = dict.fromkeys(self._STAT_KEYS, 0)
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(3)
        self._faults_lock = threading.Lock()
        self._life_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._startup_error: BaseException | None = None
        self._auth_server: Listener | None = None
        self._auth_lock: asyncio.Lock | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._plan: P = self._make_plan(faults)

    # -- what a profile supplies -----------------------------------------------------------

    @abc.abstractmethod
    def _make_plan(self, faults: Iterable[str]) -> P:
        """Validate ``faults`` (raising ``ValueError`` naming the valid ones) and plan them."""

    @abc.abstractmethod
    async def _open_backend(self) -> Server:
        """Listen for the backend on ``self.host``/``self.port``."""

    @abc.abstractmethod
    async def _open_auth(self) -> Listener:
        """Listen for the auth service on ``self.host``/``self.auth_port``."""

    # -- public surface --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self._netloc(self.port)}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._netloc(self.port)}/ws"

    @property
    def auth_url(self) -> str:
        return f"http://{self._netloc(self.auth_port)}"

    @property
    def faults(self) -> tuple[str, ...]:
        return self._plan.faults

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot: counters only grow on the server loop, so readers get a consistent copy."""
        return dict(self._stats)

    def reset_stats(self) -> None:
        for key in self._stats:
            self._stats[key] = 0

    def mint_token(self, sub: str = "golden-path-e2e", ttl: float = 900.0, **claims: Any) -> str:
        """A token the auth service accepts; tests and the demo need one without the bot's code."""
        now = int(time.time())
        payload: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + int(ttl)}
        payload.update(iss=self.issuer, aud=self.audience)
        payload.update(claims)
        return jwt.encode(payload, self.secret, algorithm="HS256")

    def set_faults(self, *faults: str) -> None:
        """Replace the fault set; returns once the auth port is closed or reopened to match.

        Safe from any thread. Called on the serving loop's own thread it cannot wait, so the
        auth port follows a moment later.
        """
        plan = self._make_plan(faults)
        with self._faults_lock:
            self._plan = plan
            loop = self._loop
        if loop is None or loop.is_closed():
            return
        if self._on_loop_thread(loop):
            task = loop.create_task(self._sync_auth_server())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            return
        try:
            future = asyncio.run_coroutine_threadsafe(self._sync_auth_server(), loop)
        except RuntimeError:  # the loop closed under us: stop() won the race
            return
        while True:
            try:
                future.result(timeout=0.5)
                return
            except concurrent.futures.CancelledError:
                return
            except TimeoutError:
                if loop.is_closed():
                    future.cancel()
                    return

    def start(self) -> Self:
        """Serve from a background thread; returns once both ports are listening."""
        with self._life_lock:
            if self._thread is not None:
                return self
            ready = threading.Event()
            self._startup_error = None
            thread = threading.Thread(
                target=self._thread_main, args=(ready,), name="sample-target", daemon=True
            )
            thread.start()
            ready.wait()
            if self._startup_error is not None:
                thread.join()
                error, self._startup_error = self._startup_error, None
                raise error
            self._thread = thread
        return self

    def stop(self) -> None:
        """Close both servers and every connection, then join the thread; idempotent."""
        with self._life_lock:
            loop, stopping, thread = self._loop, self._stopping, self._thread
            if loop is not None and stopping is not None and not loop.is_closed():
                if self._on_loop_thread(loop):
                    stopping.set()
                else:
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(stopping.set)
            if thread is not None and thread is not threading.current_thread():
                thread.join()
                self._thread = None

    async def serve(self, on_ready: Callable[[], object] | None = None) -> None:
        """Serve in the running loop until cancelled or ``stop()``; ``on_ready`` once listening."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        self._auth_lock = asyncio.Lock()
        backend = await self._open_backend()
        try:
            self.port = backend.sockets[0].getsockname()[1]
            await self._open_auth_server()
            with self._faults_lock:
                self._loop, self._stopping = loop, stopping
            await self._sync_auth_server()
            if on_ready is not None:
                on_ready()
            await stopping.wait()
        finally:
            stopping.set()
            with self._faults_lock:
                self._loop = None
            await self._shutdown(backend)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, faults={self.faults!r})"

    # -- lifecycle -------------------------------------------------------------------------

    def _thread_main(self, ready: threading.Event) -> None:
        try:
            with asyncio.Runner() as runner:
                runner.run(self.serve(on_ready=ready.set))
        except BaseException as exc:
            if ready.is_set():
                _log.exception("sample target crashed")
            else:
                self._startup_error = exc
        finally:
            ready.set()

    async def _open_auth_server(self) -> None:
        self._auth_server = await self._open_auth()
        self.auth_port = self._auth_server.sockets[0].getsockname()[1]

    async def _sync_auth_server(self) -> None:
        """Make the auth port's state match the ``auth-down`` switch (idempotent)."""
        assert self._auth_lock is not None
        async with self._auth_lock:
            if self._stopping is None or self._stopping.is_set():
                return
            down = self._plan.auth_down
            if down and self._auth_server is not None:
                server, self._auth_server = self._auth_server, None
                server.close()
                await server.wait_closed()
            elif not down and self._auth_server is None:
                await self._open_auth_server()

    async def _shutdown(self, backend: Server) -> None:
        for task in list(self._pending):
            task.cancel()
        servers: list[Listener] = [backend]
        assert self._auth_lock is not None
        async with self._auth_lock:  # an auth-down toggle in flight must not reopen the port
            if self._auth_server is not None:
                servers.append(self._auth_server)
                self._auth_server = None
        for server in servers:
            server.close()
        closed = asyncio.ensure_future(asyncio.gather(*(s.wait_closed() for s in servers)))
        # A client that stopped reading keeps its handler blocked on a full socket; don't let
        # it hold stop() hostage.
        done, _ = await asyncio.wait([closed], timeout=1.0)
        if not done:
            for server in servers:
                if isinstance(server, Server):
                    for task in server.handler_tasks:
                        task.cancel()
            await closed

    # -- helpers ---------------------------------------------------------------------------

    def _netloc(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{port}"

    def _next_id(self, kind: str) -> str:
        return f"{kind}-{self._id_prefix}-{next(self._ids)}"

    @staticmethod
    def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False
