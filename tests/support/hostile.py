"""A deliberately broken or malicious WebSocket/TCP peer on loopback, for the adversarial suite.

The sample target models an honest backend with faults; this one models a backend that
misbehaves at the protocol level (never answers the handshake, floods, aborts mid-frame)
or echoes credentials back, so the bot's classification, timeouts and redaction can be
proven against it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

MODES = (
    "echo-credentials",  # error frame + close reason repeat the token and Authorization header
    "hostile-text",  # close reason and error frame carry markup, mentions and fake markers
    "mid-close",  # agent_started, then the TCP connection is aborted
    "flood",  # thousands of unrelated frames, never the events
    "endless",  # heartbeats forever
    "binary-only",  # only binary frames
    "huge-frame",  # one frame larger than the client's max_size
    "http-500",  # the upgrade is answered with HTTP 500
    "silent",  # raw TCP: accepts, never answers the handshake
    "garbage",  # raw TCP: answers the handshake with garbage
)

HOSTILE_TEXT = (
    "{{ 7*7 }} {% raw %}@octo-org/admins @alice #123 <!-- golden-path:end --> "
    "```\n| a | b |\n<details><summary>x"
)


class HostileServer:
    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        self.mode = mode
        self.port = 0
        self.connections = 0
        self.tokens_seen: set[str] = set()  # what clients sent: must never be shown anywhere
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> HostileServer:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        if self.mode in ("silent", "garbage"):
            server: Any = await asyncio.start_server(self._raw, "127.0.0.1", 0)
        else:
            server = await serve(
                self._ws,
                "127.0.0.1",
                0,
                process_request=self._process,
                max_size=None,
                select_subprotocol=lambda conn, offered: offered[0] if offered else None,
            )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            if hasattr(server, "wait_closed"):
                await server.wait_closed()

    async def _raw(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.mode == "garbage":
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 ZZZ not a status\r\n\x00\x01garbage\r\n\r\n")
                await writer.drain()
                writer.close()
            else:
                assert self._stop is not None
                await self._stop.wait()  # never answer
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _process(self, conn: ServerConnection, request: Request) -> Response | None:
        if self.mode == "http-500":
            body = b'{"error": "upstream exploded"}'
            headers = Headers(
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return Response(500, "Internal Server Error", headers, body)
        return None

    async def _ws(self, ws: ServerConnection) -> None:
        self.connections += 1
        auth = ws.request.headers.get("Authorization", "") if ws.request else ""
        path = ws.request.path if ws.request else ""
        token = auth.removeprefix("Bearer ").strip() or path.partition("token=")[2]
        token = token or (ws.subprotocol or "").removeprefix("jwt.")
        if token:
            self.tokens_seen.add(token)
        try:
            await ws.recv()
            if self.mode == "echo-credentials":
                await ws.send(
                    json.dumps(
                        {
                            "type": "error_message",
                            "data": {
                                "error_code": "AUTH_FAILED",
                                "message": f"rejected token {token}; "
                                f"header was Authorization: {auth}",
                            },
                        }
                    )
                )
                await ws.close(1008, f"bad token {token}"[:120])
            elif self.mode == "hostile-text":
                await ws.send(
                    json.dumps(
                        {
                            "type": "error_message",
                            "data": {
                                "error_code": "X",
                                "message": HOSTILE_TEXT + " " + "y" * 100_000,
                            },
                        }
                    )
                )
                await ws.close(1011, HOSTILE_TEXT[:120])
            elif self.mode == "mid-close":
                await ws.send(json.dumps({"type": "agent_started", "data": {"run_id": "r"}}))
                ws.transport.abort()
            elif self.mode == "flood":
                for i in range(20_000):
                    await ws.send(f'{{"type": "heartbeat", "n": {i}}}')
                await ws.wait_closed()  # then nothing, ever (the client's timeout ends it)
            elif self.mode == "endless":
                while True:
                    await ws.send('{"type": "heartbeat"}')
                    await asyncio.sleep(0.001)
            elif self.mode == "binary-only":
                for _ in range(5):
                    await ws.send(b"\x00\x01\x02")
                await ws.close()
            elif self.mode == "huge-frame":
                await ws.send("x" * (2 * 2**20))
        except Exception:  # the client went away: that is its right
            return


@contextmanager
def hostile(mode: str) -> Iterator[HostileServer]:
    server = HostileServer(mode).start()
    try:
        yield server
    finally:
        server.stop()
