"""A lean WebSocket client: websockets' own Sans-I/O protocol under a bare ``asyncio.Protocol``.

A golden-path session is short: one handshake, a dozen frames, a close. websockets' asyncio
client spends most of such a session's CPU *around* the protocol — a reader task, futures,
a message assembler, a timeout context per await, exceptions to end the read loop — not in
it. Here the same handshake and framing code (``websockets.client.ClientProtocol``, so no
parser of our own) is driven straight from the event loop's callbacks: bytes in, frames out
to :meth:`LeanSocket.on_message`, one timer at a time (handshake, run deadline or close), and
the caller awaits a single future for the whole connection.

Once the upgrade is accepted, most of what arrives is small, complete, unmasked text frames,
and websockets' parser spends more on each (generators per header field, a ``Frame``, checks)
than the rest of the session does with it. So those — and only those — are cut out of the
stream here (:meth:`LeanSocket._frames`: FIN, text or binary, no reserved bits, no mask,
length within ``max_size``). At the first frame of any other shape (ping, close, fragment,
masked, 64-bit length, a reserved bit) the rest of the stream is handed to websockets' parser
for good, which is then at a frame boundary, as it would have been having read the frames
itself. ``tests/test_ws_lean.py`` feeds both the same streams, cut at random points, and
compares what comes out.

What it does not do is left to websockets' asyncio client (:mod:`bot.checks.agent_flow`
chooses): HTTP proxies and permessage-deflate. TLS is the loop's, as it is for websockets.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

Data = bytes | bytearray  # a frame's payload, as websockets' reader hands it over
_LOGGER = logging.getLogger("websockets.client")  # looked up once, not per connection
_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_OPEN = State.OPEN
#: A LeanSocket's phase: its hooks run in this order, each at most once per phase.
CONNECTING, OPEN, ENDED = 0, 1, 2
_FIN_TEXT, _FIN_BINARY = 0x81, 0x82  # first header byte of a whole text / binary frame


class Plan:
    """What every connection of a run shares, computed once: address, TLS, the request bytes.

    The upgrade request differs between connections only in its random key, so it is
    serialised once (by websockets) and the key spliced in per connection.
    """

    __slots__ = (
        "host",
        "max_size",
        "port",
        "request_head",
        "request_tail",
        "server_hostname",
        "ssl",
        "subprotocols",
        "uri",
    )

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        subprotocols: Sequence[str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_size: int = 2**20,
        user_agent: str = "golden-path-bot",
    ) -> None:
        uri: WebSocketURI = parse_uri(url)
        self.uri = uri
        self.host, self.port = uri.host, uri.port
        self.max_size = max_size
        self.subprotocols = [Subprotocol(p) for p in subprotocols] if subprotocols else None
        self.ssl: ssl.SSLContext | None = None
        self.server_hostname: str | None = None
        if uri.secure:
            self.ssl = ssl_context if ssl_context is not None else ssl.create_default_context()
            self.server_hostname = uri.host
        probe = ClientProtocol(uri, subprotocols=self.subprotocols, logger=_LOGGER)
        request = probe.connect()
        if headers:
            request.headers.update(headers)
        request.headers.setdefault("User-Agent", user_agent)
        head, found, tail = request.serialize().partition(probe.key.encode())
        assert found, "the key is in the request"
        probe.parser = None  # type: ignore[assignment]  # see LeanSocket.connection_lost
        self.request_head, self.request_tail = head, tail


class LeanSocket(asyncio.Protocol):
    """One client connection; a subclass says what to do with it (``on_*`` hooks).

    Lifecycle: :meth:`on_open` once the server accepted the upgrade (or :meth:`on_refused`
    with websockets' exception when it did not), :meth:`on_message` per complete message,
    :meth:`on_timeout` when :meth:`set_deadline`'s time comes, :meth:`on_lost` when the
    connection is gone — every path ends there, and then :attr:`done` resolves.
    """

    __slots__ = (
        "_fast",
        "_fragments",
        "_rest",
        "_tail",
        "_text",
        "_timer",
        "closing",
        "done",
        "loop",
        "phase",
        "plan",
        "proto",
        "transport",
    )

    #: After our close frame (or the server's), how long the server gets to end the TCP
    #: connection before we abort it (websockets' asyncio client waits the same by default).
    CLOSE_TIMEOUT = 1.0

    def __init__(self, plan: Plan, loop: asyncio.AbstractEventLoop) -> None:
        self.plan = plan
        self.loop = loop
        self.proto = ClientProtocol(
            plan.uri, subprotocols=plan.subprotocols, max_size=plan.max_size, logger=_LOGGER
        )
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._fragments: list[Data] | None = None
        self._text = True
        self._fast = False  # cutting whole data frames out of the stream ourselves
        self._rest = b""  # the start of a frame not yet complete (fast path only)
        self._tail = b""  # the last bytes of the upgrade answer read so far
        self.phase = CONNECTING
        self.closing = False

    # -- the hooks ------------------------------------------------------------------------

    def on_open(self) -> None:
        """The upgrade was accepted (``self.proto.subprotocol`` is the server's choice)."""

    def on_refused(self, exc: BaseException) -> None:
        """The upgrade failed: an HTTP status, a bad answer, a timeout or a dropped socket."""

    def on_message(self, data: Data, text: bool) -> None:
        """A complete message (fragments joined); ``text`` False for a binary one."""

    def on_timeout(self) -> None:
        """The deadline set with :meth:`set_deadline` passed."""

    def on_lost(self) -> None:
        """The connection is gone (``self.proto.close_code``/``close_reason`` say how)."""

    # -- what a subclass calls ------------------------------------------------------------

    def send_text(self, data: bytes) -> None:
        proto = self.proto
        if proto.state is _OPEN:
            proto.send_text(data)
            self._flush()

    def set_deadline(self, when: float, callback: Any = None) -> None:
        """One timer at a time: a new deadline replaces the previous one."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(when, callback or self._deadline)

    def close(self, code: int = 1000) -> None:
        """Start the closing handshake; the server ends the TCP connection (or we abort)."""
        if self.closing:
            return
        self.closing = True
        proto = self.proto
        if proto.state is _OPEN:
            proto.send_close(code)
            self._flush()
        if self.transport is not None and not self.transport.is_closing():
            self.set_deadline(self.loop.time() + self.CLOSE_TIMEOUT, self.abort)
        else:
            self.abort()

    def abort(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.abort()
        elif not self.done.done():
            self.done.set_result(None)

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        plan = self.plan
        self.transport.write(plan.request_head + self.proto.key.encode() + plan.request_tail)

    def data_received(self, data: bytes) -> None:
        if self._fast:
            self._frames(data)
        elif self.phase == CONNECTING:
            self._upgrade(data)
        else:
            self._receive(data)

    def _upgrade(self, data: bytes) -> None:
        """The answer to the upgrade, to websockets up to its blank line; what follows is frames.

        A 101 answer has no body, so the first blank line ends it exactly; cutting there
        lets :meth:`_frames` take the stream from a frame boundary.
        """
        seen = self._tail + data
        end = seen.find(b"\r\n\r\n")
        if end < 0:
            self._tail = seen[-3:]
            self._receive(data)
            return
        cut = end + 4 - len(self._tail)
        self._receive(data[:cut])
        rest = data[cut:]
        proto = self.proto
        if self.phase == OPEN and not proto.extensions and not proto.reader.buffer:
            self._fast = True
            if rest:
                self._frames(rest)
        elif rest:
            self._receive(rest)

    def _frames(self, data: bytes) -> None:
        """Whole small data frames, cut out of the stream; anything else goes to websockets."""
        buf = self._rest + data if self._rest else data
        n, i = len(buf), 0
        max_size = self.plan.max_size
        while n - i >= 2:
            head, second = buf[i], buf[i + 1]
            if second < 126:  # no mask bit, a 7-bit length
                length, start = second, i + 2
            elif second == 126:  # no mask bit, a 16-bit length
                if n - i < 4:
                    break
                length, start = (buf[i + 2] << 8) | buf[i + 3], i + 4
            else:
                self._hand_over(buf[i:])
                return
            if (head != _FIN_TEXT and head != _FIN_BINARY) or length > max_size:
                self._hand_over(buf[i:])
                return
            end = start + length
            if end > n:
                break
            self.on_message(buf[start:end], head == _FIN_TEXT)
            i = end
        self._rest = buf[i:] if i < n else b""

    def _hand_over(self, data: bytes) -> None:
        """From this frame on, websockets' parser reads the stream (it is at a boundary)."""
        self._fast = False
        self._rest = b""
        self._receive(data)

    def _receive(self, data: bytes) -> None:
        proto = self.proto
        proto.receive_data(data)
        for event in proto.events_received():
            if event.__class__ is not Frame:  # the handshake response
                self._answered()
                continue
            assert isinstance(event, Frame)
            opcode = event.opcode
            payload = cast(Data, event.data)
            if opcode is _TEXT or opcode is _BINARY:
                if event.fin:
                    self.on_message(payload, opcode is _TEXT)
                else:  # websockets checked the sequence and the size limit already
                    self._fragments = [payload]
                    self._text = opcode is _TEXT
            elif opcode is _CONT and self._fragments is not None:
                self._fragments.append(payload)
                if event.fin:
                    data, self._fragments = b"".join(self._fragments), None
                    self.on_message(data, self._text)
        self._flush()
        if proto.close_expected() and not self.closing:
            # the server closed (or the parser failed the connection): give it the close
            # timeout to end the TCP connection, as the protocol asks
            self.closing = True
            self.set_deadline(self.loop.time() + self.CLOSE_TIMEOUT, self.abort)

    def eof_received(self) -> bool:
        # a frame cut short in ``_rest`` ends the connection as it would in websockets'
        # buffer: an unexpected end of stream, 1006
        self.proto.receive_eof()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        proto = self.proto
        proto.receive_eof()  # idempotent: makes close_code/close_reason final
        phase, self.phase = self.phase, ENDED
        try:
            if phase == CONNECTING:
                handshake = proto.handshake_exc
                self.on_refused(
                    handshake
                    if handshake is not None
                    else exc or ConnectionResetError("connection closed during the handshake")
                )
            elif phase == OPEN:
                self.on_lost()
        finally:
            self.release()

    def release(self) -> None:
        """Let reference counting free this connection now that it is over.

        websockets' parser is a generator holding its protocol: a cycle only the garbage
        collector would break, thousands of connections later (RSS would grow with the
        session count); the transport holds us, and we hold it.
        """
        self.proto.parser = None  # type: ignore[assignment]
        self.transport = None
        if not self.done.done():
            self.done.set_result(None)

    # -- internals ------------------------------------------------------------------------

    def _answered(self) -> None:
        proto = self.proto
        if proto.handshake_exc is not None:
            self.refuse(proto.handshake_exc)
            if self.transport is not None:
                self.transport.close()
            return
        self.phase = OPEN
        self.on_open()

    def refuse(self, exc: BaseException) -> None:
        """End the connecting phase with ``exc`` (once; later calls are ignored)."""
        if self.phase == CONNECTING:
            self.phase = ENDED
            self.closing = True
            self.on_refused(exc)

    def _deadline(self) -> None:
        self._timer = None
        if self.phase == CONNECTING:
            self.refuse(TimeoutError("no answer to the WebSocket upgrade in time"))
            self.abort()
        elif self.phase == OPEN:
            self.on_timeout()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.proto.data_to_send():
            if transport.is_closing():
                return
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()


async def open_socket(sock: LeanSocket, connect_timeout: float) -> None:
    """Connect ``sock`` (TCP, TLS, then the upgrade, in ``connect_timeout`` s); await its end.

    A failure to connect reaches ``sock.on_refused`` like any other; nothing raises but
    cancellation, which aborts the connection first.
    """
    loop, plan = sock.loop, sock.plan
    deadline = loop.time() + connect_timeout
    try:
        async with asyncio.timeout_at(deadline):
            await loop.create_connection(
                lambda: sock,
                plan.host,
                plan.port,
                ssl=plan.ssl,
                server_hostname=plan.server_hostname,
            )
    except Exception as exc:  # unreachable, TLS refused, timed out: the hook classifies it
        sock.refuse(exc)
        sock.abort()
        sock.release()
        return
    if sock.phase == CONNECTING:  # the request is out; its answer gets the rest of the time
        sock.set_deadline(deadline)
    try:
        await sock.done
    except asyncio.CancelledError:
        sock.abort()
        raise
