"""Progress for long runs: a live bar on a terminal, a line every few seconds in CI.

Never both: a bar's carriage returns make unreadable Actions logs (no TTY there, every
redraw becomes a line), and periodic lines clutter a terminal. The choice:

1. ``GOLDEN_PATH_PROGRESS=off|bar|lines`` wins;
2. in CI (``GITHUB_ACTIONS`` or ``CI`` set to anything but false/0): lines;
3. an interactive terminal: the bar;
4. anything else (piped, redirected to a file, a closed stream): lines.

The callback is called once per finished session, thousands of times a second, so it
returns early unless there is something to draw.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO

MODES = ("off", "bar", "lines")
ENV_MODE = "GOLDEN_PATH_PROGRESS"
BAR_WIDTH = 30


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (ValueError, OSError):  # closed or detached stream
        return False


def mode_for(stream: object, env: Mapping[str, str] | None = None) -> str:
    """'bar' on an interactive terminal, 'lines' in CI or when piped, 'off' when asked.

    ``env`` is the bot's settings' environment (never read from the process here).
    """
    env = {} if env is None else env
    forced = env.get(ENV_MODE, "").strip().lower()
    if forced in MODES:
        return forced
    if _truthy(env.get("GITHUB_ACTIONS")) or _truthy(env.get("CI")):
        return "lines"
    return "bar" if _isatty(stream) else "lines"


class Progress:
    """``progress(done, total)``: draws a bar or prints a line, per :func:`mode_for`."""

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        mode: str | None = None,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.mode = mode if mode in MODES else mode_for(self.stream, env)
        self.interval_s = interval_s
        self.clock = clock
        self._start = self._last = clock()
        self._drawn = -1  # the percentage on screen
        self._open = False  # a bar line without its newline yet
        self._finished = False
        self._passed: int | None = None

    def __call__(self, done: int, total: int, passed: int | None = None) -> None:
        """``done`` sessions finished so far, ``passed`` of them passed (when known).

        Both numbers are shown: "100/100 done" must never read as "100/100 passed".
        """
        if self.mode == "off" or total <= 0:
            return
        done = min(max(done, 0), total)
        self._passed = passed
        if self.mode == "bar":
            self._bar(done, total)
        else:
            self._line(done, total)

    def _counts(self, done: int, total: int) -> str:
        passed = "" if self._passed is None else f", {self._passed} passed"
        return f"{done}/{total} done{passed}"

    def _bar(self, done: int, total: int) -> None:
        pct = done * 100 // total
        if pct == self._drawn and done != total:
            return
        if done == total and self._finished and pct == self._drawn:
            return
        self._drawn = pct
        filled = pct * BAR_WIDTH // 100
        bar = "█" * filled + "·" * (BAR_WIDTH - filled)
        finished = done == total
        line = f"\r{self.label} {bar} {self._counts(done, total)}"
        self.stream.write(line + ("\n" if finished else ""))
        self.stream.flush()
        self._open = not finished
        self._finished = finished

    def _line(self, done: int, total: int) -> None:
        finished = done == total
        if finished and self._finished:
            return
        now = self.clock()
        if not finished and now - self._last < self.interval_s:
            return
        self._last = now
        self._finished = finished
        elapsed = now - self._start
        rate = f" ({done / elapsed:.0f}/s)" if elapsed > 0 else ""
        self.stream.write(f"{self.label}: {self._counts(done, total)}{rate}\n")
        self.stream.flush()

    def close(self) -> None:
        """End an unfinished bar's line (a run stopped early), so later output starts clean."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
