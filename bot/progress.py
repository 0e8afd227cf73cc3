"""Progress for long runs: a live bar on a terminal, a line every few seconds in CI.

Never both: a bar's carriage returns make unreadable Actions logs, and periodic lines
clutter a terminal.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


def mode_for(stream: TextIO, env: dict[str, str] | None = None) -> str:
    """'bar' on an interactive terminal, 'lines' in CI or when piped, 'off' when asked."""
    env = dict(os.environ) if env is None else env
    if env.get("GOLDEN_PATH_PROGRESS") in ("off", "bar", "lines"):
        return env["GOLDEN_PATH_PROGRESS"]
    if env.get("CI") or env.get("GITHUB_ACTIONS"):
        return "lines"
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


class Progress:
    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        mode: str | None = None,
        interval_s: float = 5.0,
        clock=time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.mode = mode or mode_for(self.stream)
        self.interval_s = interval_s
        self.clock = clock
        self._last = clock()
        self._drawn = -1
        self._start = self._last

    def __call__(self, done: int, total: int) -> None:
        if self.mode == "off" or total <= 0:
            return
        now = self.clock()
        if self.mode == "bar":
            pct = done * 100 // total
            if pct == self._drawn and done != total:
                return
            self._drawn = pct
            filled = pct * 30 // 100
            bar = "█" * filled + "·" * (30 - filled)
            end = "\n" if done == total else ""
            self.stream.write(f"\r{self.label} {bar} {done}/{total}{end}")
            self.stream.flush()
        elif now - self._last >= self.interval_s or done == total:
            self._last = now
            rate = done / (now - self._start) if now > self._start else 0.0
            self.stream.write(f"{self.label}: {done}/{total} ({rate:.0f}/s)\n")
            self.stream.flush()
