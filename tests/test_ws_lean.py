"""The lean transport's own frame cutting reads every stream exactly as websockets' parser does.

:class:`~bot.checks.ws_lean.LeanSocket` cuts whole small data frames out of the stream
itself and hands the rest to websockets at the first frame of another shape. Here both read
the same streams — valid and broken, cut at random points — and must agree on every message,
on the close code and reason, and on what is written back (pongs, the closing frame).
websockets' ``ClientProtocol``, fed the whole stream at once, is the reference.

The socket is driven through the ``asyncio.Protocol`` interface the event loop uses, with a
transport that records writes: the cuts then land exactly where the test puts them, which a
real socket would not promise (``tests/test_flow_transports.py`` runs the lean transport over
real sockets against real servers).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Generator, Iterator
from typing import TypeVar, cast

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from websockets.uri import parse_uri
from websockets.utils import accept_key

from bot.checks import ws_lean

T = TypeVar("T")
URL = "ws://127.0.0.1:9/ws"
MAX_SIZE = 4096  # small, so that a too-big frame is cheap to build


class Wire(asyncio.Transport):
    """What the event loop would hand the protocol: here it keeps what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.closed = True


class Recorder(ws_lean.LeanSocket):
    __slots__ = ("got",)

    def __init__(self, plan: ws_lean.Plan, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(plan, loop)
        self.got: list[tuple[object, ...]] = []

    def on_open(self) -> None:
        self.got.append(("open",))

    def on_message(self, data: ws_lean.Data, text: bool) -> None:
        self.got.append(("message", bytes(data), text))

    def on_refused(self, exc: BaseException) -> None:
        self.got.append(("refused", type(exc).__name__))

    def on_lost(self) -> None:
        self.got.append(("lost", self.proto.close_code, self.proto.close_reason))


def answer(key: str) -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode()


def frame(opcode: int, payload: bytes, *, fin: bool = True, first: int | None = None) -> bytes:
    """A server frame, built by hand so that broken ones can be built too."""
    head = first if first is not None else (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        size = bytes([n])
    elif n < 1 << 16:
        size = bytes([126]) + n.to_bytes(2, "big")
    else:
        size = bytes([127]) + n.to_bytes(8, "big")
    return bytes([head]) + size + payload


def text(n: int, rng: random.Random) -> bytes:
    return bytes(rng.choice(b'abcdefghij {}":,') for _ in range(n))


def random_stream(rng: random.Random) -> bytes:
    """Mostly what a healthy backend sends, with now and then a frame of another shape."""
    parts: list[bytes] = []
    for _ in range(rng.randint(1, 30)):
        roll = rng.random()
        if roll < 0.55:
            parts.append(frame(0x1, text(rng.randint(0, 125), rng)))
        elif roll < 0.65:
            parts.append(frame(0x1, text(rng.randint(126, 3000), rng)))
        elif roll < 0.70:
            parts.append(frame(0x2, text(rng.randint(0, 300), rng)))
        elif roll < 0.75:  # a fragmented message, a ping in its middle
            parts += [
                frame(0x1, b"frag-", fin=False),
                frame(0x9, b"hi"),
                frame(0x0, b"ment", fin=False),
                frame(0x0, b"ed"),
            ]
        elif roll < 0.80:
            parts.append(frame(0x9, text(rng.randint(0, 20), rng)))
        elif roll < 0.83:
            parts.append(frame(0xA, b""))
        elif roll < 0.85:
            parts.append(frame(0x1, text(70, rng), first=0xC1))  # a reserved bit set
        elif roll < 0.87:
            parts.append(frame(0x1, text(MAX_SIZE + 1, rng)))  # over max_size
        elif roll < 0.89:  # a masked server frame
            parts.append(Frame(Opcode.TEXT, b"masked").serialize(mask=True))
        elif roll < 0.90:
            parts.append(frame(0x3, b"??"))  # a reserved opcode
        elif roll < 0.91:
            parts.append(frame(0x1, text(1 << 16, rng)))  # a 64-bit length (over max_size)
        elif roll < 0.94:
            parts.append(frame(0x8, Close(1008, "SSOT Auth failed").serialize()))
        elif roll < 0.95:
            parts.append(frame(0x1, b"\xff\xfe not utf-8"))
    return b"".join(parts)


def cuts(data: bytes, rng: random.Random) -> Iterator[bytes]:
    i = 0
    while i < len(data):
        step = rng.choice((1, 2, 3, 5, 64, 1000, len(data)))
        yield data[i : i + step]
        i += step


def reference(stream: bytes) -> tuple[list[tuple[object, ...]], list[Frame]]:
    """websockets' own reading of ``stream``: the messages, then how it ended; and its writes."""
    proto = ClientProtocol(parse_uri(URL), max_size=MAX_SIZE)
    request = proto.connect()
    proto.send_request(request)
    proto.data_to_send()
    proto.receive_data(answer(proto.key) + stream)
    got: list[tuple[object, ...]] = []
    parts: list[bytes] = []
    kind = True
    for event in proto.events_received():
        if not isinstance(event, Frame):
            got.append(("open",))
        elif event.opcode in (Opcode.TEXT, Opcode.BINARY):
            if event.fin:
                got.append(("message", bytes(event.data), event.opcode is Opcode.TEXT))
            else:
                parts, kind = [bytes(event.data)], event.opcode is Opcode.TEXT
        elif event.opcode is Opcode.CONT:
            parts.append(bytes(event.data))
            if event.fin:
                got.append(("message", b"".join(parts), kind))
    written = b"".join(proto.data_to_send())
    proto.receive_eof()
    got.append(("lost", proto.close_code, proto.close_reason))
    return got, client_frames(written)


def client_frames(data: bytes) -> list[Frame]:
    """The frames a client wrote (masked), read back with websockets' server-side parser."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames: list[Frame] = []
    while not _run(reader.at_eof()):
        frames.append(_run(Frame.parse(reader.read_exact, mask=True)))
    return frames


def _run(gen: Generator[None, None, T]) -> T:
    """Run a websockets generator-coroutine whose data is all there already."""
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return cast(T, stop.value)


def lean(stream: bytes, rng: random.Random) -> tuple[list[tuple[object, ...]], list[Frame]]:
    loop = asyncio.new_event_loop()
    try:
        sock = Recorder(ws_lean.Plan(URL, max_size=MAX_SIZE), loop)
        wire = Wire()
        sock.connection_made(wire)
        request = wire.written.pop(0)
        key = re.search(rb"Sec-WebSocket-Key: (\S+)", request)
        assert key is not None
        for piece in cuts(answer(key[1].decode()) + stream, rng):
            if wire.closed:
                break
            sock.data_received(piece)
        sock.eof_received()
        sock.connection_lost(None)
        return sock.got, client_frames(b"".join(w for w in wire.written if w))
    finally:
        loop.close()


def same_frames(a: list[Frame], b: list[Frame]) -> bool:
    return [(f.opcode, f.data, f.fin) for f in a] == [(f.opcode, f.data, f.fin) for f in b]


@pytest.mark.parametrize("seed", range(300))
def test_every_stream_reads_as_websockets_reads_it(seed: int) -> None:
    """Messages, close code and reason, pongs and close frames match websockets', cut anywhere."""
    rng = random.Random(seed)
    stream = random_stream(rng)
    want, want_written = reference(stream)
    got, written = lean(stream, rng)
    assert got == want
    assert same_frames(written, want_written)


def test_small_text_frames_take_the_fast_path_and_a_ping_hands_over() -> None:
    """Plain frames never reach websockets' parser; the first ping does, and is answered."""
    rng = random.Random(1)
    plain = b"".join(frame(0x1, b'{"type":"agent_thinking"}') for _ in range(5))
    stream = plain + frame(0x9, b"ping!") + frame(0x1, b"after")
    loop = asyncio.new_event_loop()
    try:
        sock = Recorder(ws_lean.Plan(URL, max_size=MAX_SIZE), loop)
        wire = Wire()
        sock.connection_made(wire)
        key = re.search(rb"Sec-WebSocket-Key: (\S+)", wire.written.pop(0))
        assert key is not None
        sock.data_received(answer(key[1].decode()) + plain[:7])
        assert sock.proto.reader.buffer == b""  # websockets has not seen a frame byte
        for piece in cuts(plain[7:], rng):
            sock.data_received(piece)
        assert [g for g in sock.got if g[0] == "message"] == [
            ("message", b'{"type":"agent_thinking"}', True)
        ] * 5
        sock.data_received(stream[len(plain) :])
        pongs = client_frames(b"".join(wire.written))
        assert [(f.opcode, f.data) for f in pongs] == [(Opcode.PONG, b"ping!")]
        assert sock.got[-1] == ("message", b"after", True)
    finally:
        loop.close()


def test_a_refused_upgrade_with_frames_behind_it_is_websockets_to_judge() -> None:
    """A 403 answer (with a body and bytes after it) is refused exactly as websockets says."""
    loop = asyncio.new_event_loop()
    try:
        sock = Recorder(ws_lean.Plan(URL, max_size=MAX_SIZE), loop)
        wire = Wire()
        sock.connection_made(wire)
        body = b"SSOT Auth failed"
        sock.data_received(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body
            + frame(0x1, b"never a message")
        )
        assert sock.got == [("refused", "InvalidStatus")]
        assert wire.closed
    finally:
        loop.close()


def test_a_server_frame_stream_ending_mid_frame_closes_abnormally() -> None:
    """A stream cut inside a frame ends as websockets ends it: 1006, no message."""
    partial = frame(0x1, b"x" * 100)[:50]
    want, _ = reference(partial)
    got, _ = lean(partial, random.Random(0))
    assert got == want
    assert got[-1][:2] == ("lost", 1006)


def test_the_request_is_websockets_own() -> None:
    """The upgrade request written is the one websockets serialises (key spliced in)."""
    loop = asyncio.new_event_loop()
    try:
        sock = Recorder(ws_lean.Plan(URL, headers={"X-Team": "golden"}), loop)
        wire = Wire()
        sock.connection_made(wire)
        server = ServerProtocol()
        server.receive_data(wire.written[0])
        (request,) = server.events_received()
        assert isinstance(request, Request)
        assert request.headers["X-Team"] == "golden"
        assert request.headers["Sec-WebSocket-Key"] == sock.proto.key
    finally:
        loop.close()
