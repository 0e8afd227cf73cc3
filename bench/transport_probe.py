"""Why the lean transport is websockets' Sans-I/O protocol: the candidates, measured.

The same minimal session (connect, send the message, JSON-decode every text frame until
the run's final event, close) on three transports, each driven from uvloop callbacks
with no runner logic around it, against the sample target in its own process; client
CPU per session (user + sys of this process), rounds alternated, medians:

- websockets' asyncio client (what the runner used before: the fallback now);
- websockets' Sans-I/O ``ClientProtocol`` under a bare ``asyncio.Protocol`` (no new
  dependency; what ``bot/checks/ws_lean.py`` does);
- picows (Cython framing and handshake), when installed — it is not a dependency.

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
from websockets.uri import parse_uri

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


def sans_io(url: str, kwargs: dict) -> Callable[[], object]:
    uri = parse_uri(url)
    loop = asyncio.get_running_loop()
    headers = kwargs.get("additional_headers", {})

    class Client(asyncio.Protocol):
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

        def connection_lost(self, exc: Exception | None) -> None:
            if not self.done.done():
                self.done.set_result(self.run.done)

    async def one() -> bool:
        done = loop.create_future()
        await loop.create_connection(lambda: Client(done), uri.host, uri.port)
        return await done

    return one


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
        "picows": picows_client,
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
