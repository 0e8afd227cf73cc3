"""Just enough of the Chrome DevTools Protocol to open a page, wait for it and photograph it.

Why not Playwright or Puppeteer: both want to download a browser build of their own, which
does not work on machines that only reach package registries, and the Python package alone
weighs ~40 MB per venv. Debian's ``chromium`` plus the websockets client the bot already
depends on is all this needs: one browser process per ``Browser``, the page driven over the
browser's DevTools WebSocket on 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import ClientConnection, connect

NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
# Headless and quiet: no GPU, no sandbox (we run as root in CI), and none of the background
# services that try to reach Google's hosts, which this machine's closed network refuses.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--force-color-profile=srgb",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
LISTENING = "DevTools listening on "


class BrowserError(RuntimeError):
    """The browser did not start, or a DevTools call failed or timed out."""


def find_chromium() -> str | None:
    """``$CHROME_BIN`` if set, else the first Chromium or Chrome on ``PATH``."""
    explicit = os.environ.get("CHROME_BIN")
    if explicit:
        return explicit if Path(explicit).is_file() else shutil.which(explicit)
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """A headless Chromium with its own throw-away profile, driven over DevTools."""

    def __init__(self, executable: str, *, start_timeout: float = 60.0) -> None:
        self.executable = executable
        self.start_timeout = start_timeout
        self._profile = tempfile.TemporaryDirectory(prefix="golden-path-chromium-")
        self._proc: subprocess.Popen[str] | None = None
        self._ws: ClientConnection | None = None
        self._connection = contextlib.ExitStack()
        self._stderr: queue.Queue[str] = queue.Queue()
        self._stderr_tail: list[str] = []
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Browser:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [self.executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its renderer and zygote processes share our group id
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        deadline = time.monotonic() + self.start_timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._stderr.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise BrowserError(self._why("did not open DevTools in time")) from None
            if line == "":  # stderr closed: the browser exited
                raise BrowserError(self._why("exited before DevTools was ready"))
            if line.startswith(LISTENING):
                url = line[len(LISTENING) :].strip()
                break
        # max_size=None: a full-page PNG arrives as one multi-megabyte base64 message.
        self._ws = self._connection.enter_context(
            connect(url, max_size=None, open_timeout=self.start_timeout)
        )

    def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr_tail = [*self._stderr_tail[-19:], line.rstrip()]
            self._stderr.put(line)
        self._stderr.put("")

    def _why(self, what: str) -> str:
        tail = "\n".join(self._stderr_tail[-10:])
        return f"{self.executable} {what}" + (f"; its last output:\n{tail}" if tail else "")

    def close(self) -> None:
        """Ask the browser to quit, then make sure its whole process group is gone."""
        if self._ws is not None:
            with contextlib.suppress(Exception):  # a browser that is already gone is fine
                self.call("Browser.close", timeout=10)
            self._connection.close()
            self._ws = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
            else:
                with contextlib.suppress(ProcessLookupError):  # helpers it left behind
                    os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc = None
        self._profile.cleanup()

    # -- protocol ------------------------------------------------------------------------
    def call(
        self, method: str, session: str | None = None, *, timeout: float = 60.0, **params: Any
    ) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        if self._ws is None:
            raise BrowserError("the browser is not running")
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        reply = self._receive(lambda m: m.get("id") == message["id"], timeout, method)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message', reply['error'])}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def wait_event(self, name: str, session: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """The first event ``name`` of ``session``, whether it came already or comes now."""

        def wanted(m: dict[str, Any]) -> bool:
            return m.get("method") == name and m.get("sessionId") == session

        for i, event in enumerate(self._events):
            if wanted(event):
                return self._events.pop(i)
        return self._receive(wanted, timeout, name)

    def _receive(self, wanted: Any, timeout: float, what: str) -> dict[str, Any]:
        assert self._ws is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"{what}: no answer from the browser within {timeout:g}s")
            try:
                raw = self._ws.recv(timeout=remaining)
            except TimeoutError:
                continue
            message = json.loads(raw)
            if wanted(message):
                return dict(message)
            if "method" in message:
                self._events.append(message)

    # -- pages ---------------------------------------------------------------------------
    def open(self, url: str, *, width: int, height: int, scale: float = 1.0) -> str:
        """Load ``url`` in a new tab of ``width`` × ``height`` CSS pixels; its session id."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session: str = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=width,
            height=height,
            deviceScaleFactor=scale,
            mobile=False,
        )
        self.call("Page.enable", session)
        navigated = self.call("Page.navigate", session, url=url)
        if navigated.get("errorText"):
            raise BrowserError(f"{url}: {navigated['errorText']}")
        self.wait_event("Page.loadEventFired", session)
        return session

    def evaluate(self, session: str, expression: str, *, timeout: float = 60.0) -> Any:
        """Value of ``expression`` in the page; a promise is awaited."""
        reply = self.call(
            "Runtime.evaluate",
            session,
            timeout=timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"the page threw: {text}")
        return reply["result"].get("value")

    def screenshot(self, session: str, *, width: int, height: int, scale: float = 1.0) -> bytes:
        """PNG of the page's top ``width`` × ``height`` CSS pixels, beyond the viewport too."""
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": scale}
        data = self.call(
            "Page.captureScreenshot",
            session,
            format="png",
            clip=clip,
            captureBeyondViewport=True,
        )["data"]
        return base64.b64decode(data)
