"""A websockets server on a free loopback port, for tests that script the backend's side."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

Handler = Callable[[ServerConnection], Awaitable[None]]

# websockets logs every failed handshake and handler error; the tests assert on results.
_quiet = logging.getLogger("tests.ws_server")
_quiet.setLevel(logging.CRITICAL)


@asynccontextmanager
async def ws_server(handler: Handler, **kwargs: Any) -> AsyncIterator[str]:
    """Serve ``handler`` in the running loop; yields the ws:// (or wss://, given ``ssl``) URL."""
    kwargs.setdefault("compression", None)
    async with serve(
        handler, "127.0.0.1", 0, ping_interval=None, logger=_quiet, **kwargs
    ) as server:
        port = server.sockets[0].getsockname()[1]
        scheme = "wss" if kwargs.get("ssl") else "ws"
        yield f"{scheme}://127.0.0.1:{port}/ws"
