"""A small JSON-over-HTTP/1.1 server on the serving loop, for services that read request bodies.

websockets' ``process_request`` hook answers GETs well but cannot read a body (its parser drops a
request whose ``Content-Length`` is not 0, unanswered), and a real auth service takes
``POST {"token": ...}``. h11 is a complete HTTP/1.1 state machine that httpx itself runs on, so it
is installed wherever the bot is; driving it from an ``asyncio.Protocol`` keeps the service on the
target's own event loop: no extra thread, ``serve()`` still works in the caller's loop, and the
port opens and closes as cheaply as websockets' does (``auth-down``). The stdlib ``http.server``
would need a thread per service and a second shutdown protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Final, cast

import h11

MAX_BODY: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One complete request: header names are lower-cased, the body is raw bytes."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[HttpRequest], tuple[int, Any]]
"""Answers with a status and a JSON-serialisable body; runs on the loop, so it must not block."""


class HttpServer:
    """A listening JSON service; ``close()`` also closes kept-alive connections."""

    def __init__(self, handler: Handler, name: str) -> None:
        self._handler = handler
        self._name = name
        self._transports: set[asyncio.Transport] = set()
        self._server: asyncio.Server | None = None

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        assert self._server is not None
        return tuple(self._server.sockets)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for transport in list(self._transports):
            transport.close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()


async def serve_http(handler: Handler, host: str, port: int, *, name: str) -> HttpServer:
    """Listen on ``host:port`` (0: any free port) and answer every request with ``handler``."""
    server = HttpServer(handler, name)
    loop = asyncio.get_running_loop()
    server._server = await loop.create_server(lambda: _Connection(server), host, port)
    return server


class _Connection(asyncio.Protocol):
    """One client connection: feeds bytes to h11 and answers each complete request in turn."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_BODY)
        self._transport: asyncio.Transport | None = None
        self._request: h11.Request | None = None
        self._body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._server._transports.add(self._transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._server._transports.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        self._h11.receive_data(data)
        self._pump()

    def eof_received(self) -> bool:
        self._h11.receive_data(b"")
        self._pump()
        return False

    def _pump(self) -> None:
        while self._transport is not None and not self._transport.is_closing():
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._fail(exc.error_status_hint, str(exc))
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request, self._body = event, bytearray()
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > MAX_BODY:
                    self._fail(413, "Request body too large")
                    return
            elif isinstance(event, h11.EndOfMessage):
                self._answer()
                if self._h11.our_state is not h11.DONE or self._h11.their_state is not h11.DONE:
                    self._transport.close()
                    return
                self._h11.start_next_cycle()
                self._request = None
            elif isinstance(event, h11.ConnectionClosed):
                self._transport.close()
                return

    def _answer(self) -> None:
        request = self._request
        assert request is not None
        target = request.target.decode("ascii", "replace")
        parsed = HttpRequest(
            method=request.method.decode("ascii", "replace"),
            path=target.partition("?")[0],
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers},
            body=bytes(self._body),
        )
        try:
            status, body = self._server._handler(parsed)
        except Exception:
            status, body = 500, {"detail": "Internal Server Error"}
        self._send(status, body, keep_alive=True)

    def _fail(self, status: int, detail: str) -> None:
        """Answer a request h11 could not parse, if a response can still be sent, and hang up."""
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with contextlib.suppress(h11.LocalProtocolError):
                self._send(status, {"detail": detail}, keep_alive=False)
        if self._transport is not None:
            self._transport.close()

    def _send(self, status: int, body: Any, *, keep_alive: bool) -> None:
        assert self._transport is not None
        data = json.dumps(body).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("Date", formatdate(usegmt=True)),
            ("Server", self._server._name),
        ]
        if not keep_alive:
            headers.append(("Connection", "close"))
        reason = http.HTTPStatus(status).phrase.encode()
        head = self._h11.send(h11.Response(status_code=status, headers=headers, reason=reason))
        rest = b""
        if self._request is None or self._request.method != b"HEAD":
            rest = self._h11.send(h11.Data(data=data)) or b""
        self._transport.write((head or b"") + rest + (self._h11.send(h11.EndOfMessage()) or b""))
