"""Why the lean transport is websockets' Sans-I/O protocol: the candidates, measured.

The same minimal session (connect, send the message, JSON-decode every text frame until
the run's final event, close) on three transports, each driven from uvloop callbacks
with no runner logic around it, against the sample target in its own process; client
CPU per session (user + sys of this process), rounds alternated, medians:

- websockets' asyncio client (what the runner used before: the fallback now);
- websockets' Sans-I/O ``ClientProtocol`` under a bare ``asyncio.Protocol`` (no new
  dependency; what ``bot/checks/ws_lean.py`` does);
- the bot's own lean socket (``bot.checks.ws_lean.LeanSocket``: the Sans-I/O handshake,
  whole small data frames cut out of the stream, websockets' parser for anything else);
- picows (Cython framing and handshake), when installed — it is not a dependency;
- a minimal hand-written ``asyncio.Protocol`` client: a fixed upgrade request, no header
  checks, frames cut by hand — the floor, not a candidate.

    python bench/transport_probe.py [--sessions 3000] [--rounds 3] [--profile realistic]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
from collections.abc import Callable

import uvloop
from benchlib import SMOKE, median, sample_target
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.uri import WebSocketURI, parse_uri

MESSAGE = json.dumps({"type": "user_message", "payload": {"content": "What is 2 + 2?"}})


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Run:
    """The run's end: our top-level agent's agent_completed (any for the simple sample)."""

    def __init__(self) -> None:
        self.run_id: object = None
        self.done = False

    def frame(self, raw: str | bytes) -> bool:
        msg = json.loads(raw)
        data = msg.get("data") or {}
        top = "parent_agent" not in data
        if msg.get("type") == "agent_started" and self.run_id is None and top:
            self.run_id = data.get("run_id")
        self.done = (
            msg.get("type") == "agent_completed" and top and data.get("run_id") == self.run_id
        )
        return self.done


async def pool(n: int, one: Callable[[], object], concurrency: int = 200) -> int:
    todo, passed = iter(range(n)), 0

    async def worker() -> None:
        nonlocal passed
        for _ in todo:
            ok = await one()  # type: ignore[misc]
            passed += bool(ok)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return passed


def websockets_asyncio(url: str, kwargs: dict) -> Callable[[], object]:
    async def one() -> bool:
        run = Run()
        async with connect(url, compression=None, ping_interval=None, **kwargs) as ws:
            await ws.send(MESSAGE)
            async for raw in ws:
                if run.frame(raw):
                    break
        return run.done

    return one


class _Reports(asyncio.Protocol):
    """A probe client whose connection, once lost, reports whether its run completed."""

    done: asyncio.Future[bool]
    run: Run

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.run.done)


def _dial(
    loop: asyncio.AbstractEventLoop, uri: WebSocketURI, client: Callable[..., asyncio.Protocol]
) -> Callable[[], object]:
    """One session: connect a fresh ``client(done)``, wait until it reports."""

    async def one() -> bool:
        done = loop.create_future()
        await loop.create_connection(lambda: client(done), uri.host, uri.port)
        return await done

    return one


def sans_io(url: str, kwargs: dict) -> Callable[[], object]:
    uri = parse_uri(url)
    loop = asyncio.get_running_loop()
    headers = kwargs.get("additional_headers", {})

    class Client(_Reports):
        def __init__(self, done: asyncio.Future[bool]) -> None:
            self.p = ClientProtocol(uri, subprotocols=kwargs.get("subprotocols"))
            request = self.p.connect()
            request.headers.update(headers)
            self.p.send_request(request)
            self.done, self.run = done, Run()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport
            for data in self.p.data_to_send():
                transport.write(data)  # type: ignore[attr-defined]

        def data_received(self, data: bytes) -> None:
            p = self.p
            p.receive_data(data)
            for event in p.events_received():
                if not hasattr(event, "opcode"):
                    if p.handshake_exc is None:
                        p.send_text(MESSAGE.encode())
                elif (
                    event.opcode is Opcode.TEXT and not self.run.done and self.run.frame(event.data)
                ):
                    p.send_close(1000)
            for out in p.data_to_send():
                if out:
                    self.t.write(out)  # type: ignore[attr-defined]

        def eof_received(self) -> bool:
            self.p.receive_eof()
            return False

    return _dial(loop, uri, Client)


def lean_socket(url: str, kwargs: dict) -> Callable[[], object]:
    from bot.checks.ws_lean import Data, LeanSocket, Plan, open_socket

    loop = asyncio.get_running_loop()
    plan = Plan(
        url, headers=kwargs.get("additional_headers"), subprotocols=kwargs.get("subprotocols")
    )

    class Client(LeanSocket):
        def __init__(self) -> None:
            super().__init__(plan, loop)
            self.run = Run()

        def on_open(self) -> None:
            self.send_text(MESSAGE.encode())

        def on_message(self, data: Data, text: bool) -> None:
            if text and not self.run.done and self.run.frame(data):
                self.close()

    async def one() -> bool:
        sock = Client()
        await open_socket(sock, 10.0)
        return sock.run.done

    return one


def minimal(url: str, kwargs: dict) -> Callable[[], object]:
    uri = parse_uri(url)
    loop = asyncio.get_running_loop()
    headers = dict(kwargs.get("additional_headers", {}))
    if kwargs.get("subprotocols"):
        headers["Sec-WebSocket-Protocol"] = ", ".join(kwargs["subprotocols"])
    request = (
        f"GET {uri.resource_name} HTTP/1.1\r\nHost: {uri.host}:{uri.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode()
    body = MESSAGE.encode()
    message = bytes([0x81, 0x80 | len(body)]) + b"\0\0\0\0" + body  # mask 0: as is
    close = bytes([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8])

    class Client(_Reports):
        def __init__(self, done: asyncio.Future[bool]) -> None:
            self.done, self.run, self.buf, self.open = done, Run(), b"", False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport
            transport.write(request)  # type: ignore[attr-defined]

        def data_received(self, data: bytes) -> None:
            buf = self.buf + data
            if not self.open:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    self.buf = buf
                    return
                buf, self.open = buf[end + 4 :], True
                self.t.write(message)  # type: ignore[attr-defined]
            i = 0
            while len(buf) - i >= 2:
                n, start = buf[i + 1] & 0x7F, i + 2
                if n == 126:
                    n, start = int.from_bytes(buf[i + 2 : i + 4], "big"), i + 4
                if start + n > len(buf):
                    break
                if buf[i] == 0x81 and not self.run.done and self.run.frame(buf[start : start + n]):
                    self.t.write(close)  # type: ignore[attr-defined]
                i = start + n
            self.buf = buf[i:]

    return _dial(loop, uri, Client)


def picows_client(url: str, kwargs: dict) -> Callable[[], object] | None:
    try:
        from picows import WSCloseCode, WSListener, WSMsgType, ws_connect
    except ImportError:
        return None
    headers = dict(kwargs.get("additional_headers", {}))
    if kwargs.get("subprotocols"):
        headers["Sec-WebSocket-Protocol"] = ", ".join(kwargs["subprotocols"])
    loop = asyncio.get_running_loop()

    class Listener(WSListener):  # type: ignore[misc]
        def __init__(self, done: asyncio.Future[bool]) -> None:
            self.done, self.run = done, Run()

        def on_ws_connected(self, t) -> None:  # type: ignore[no-untyped-def]
            t.send(WSMsgType.TEXT, MESSAGE.encode())

        def on_ws_frame(self, t, frame) -> None:  # type: ignore[no-untyped-def]
            if frame.msg_type == WSMsgType.TEXT:
                if not self.run.done and self.run.frame(frame.get_payload_as_bytes()):
                    t.send_close(WSCloseCode.OK)
            elif frame.msg_type == WSMsgType.CLOSE:
                t.disconnect()

        def on_ws_disconnected(self, t) -> None:  # type: ignore[no-untyped-def]
            if not self.done.done():
                self.done.set_result(self.run.done)

    async def one() -> bool:
        done = loop.create_future()
        await ws_connect(lambda: Listener(done), url, extra_headers=headers)
        return await done

    return one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200 if SMOKE else 3000)
    parser.add_argument("--rounds", type=int, default=1 if SMOKE else 3)
    parser.add_argument("--profile", default="realistic", choices=("default", "realistic"))
    args = parser.parse_args(argv)
    makers = {
        "websockets asyncio client": websockets_asyncio,
        "websockets Sans-I/O + asyncio.Protocol": sans_io,
        "bot's lean socket (Sans-I/O + cut frames)": lean_socket,
        "picows": picows_client,
        "minimal asyncio.Protocol (the floor)": minimal,
    }
    with sample_target(profile=args.profile) as target:
        if args.profile == "realistic":
            token = base64.urlsafe_b64encode(target.token.encode()).rstrip(b"=").decode()
            kwargs: dict = {"subprotocols": ["jwt-auth", f"jwt.{token}"]}
        else:
            kwargs = {"additional_headers": {"Authorization": f"Bearer {target.token}"}}

        def measure(make: Callable, n: int) -> tuple[float, int] | None:
            async def go() -> tuple[float, int] | None:
                one = make(target.ws_url, kwargs)
                if one is None:
                    return None
                started = _cpu()
                passed = await pool(n, one)
                return (_cpu() - started) / n * 1000, passed

            return uvloop.run(go())

        results: dict[str, list[float]] = {}
        for name, make in makers.items():
            if measure(make, 100) is None:  # warm-up; None: not installed
                print(f"  {name}: not installed, skipped")
        for _ in range(args.rounds):
            for name, make in makers.items():
                got = measure(make, args.sessions)
                if got is not None:
                    assert got[1] == args.sessions, (name, got)
                    results.setdefault(name, []).append(got[0])
    print(f"transports, {args.profile} target, {args.sessions} sessions, {args.rounds} rounds:")
    for name, values in results.items():
        runs = ", ".join(f"{v:.3f}" for v in values)
        print(f"  {name:<42} {median(values):.3f} ms CPU/session (runs: {runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
