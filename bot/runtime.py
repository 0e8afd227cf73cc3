"""What every command shares at run time: exit codes, default paths, the run log, the loop.

The lowest layer under the commands: ``cli`` wires argv to the commands, the commands
(``runner``, ``events``, ``demo``) and the pytest plugin import from here, and this module
imports nothing of the bot's but the redactor and the session log's record type.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO, TypeVar

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_CONFIG = ".github/golden-path.yml"
DEFAULT_OUT = ".golden-path"
T = TypeVar("T")


class RunLog:
    """Console lines (redacted, timestamped) + the entries that go to the session log."""

    def __init__(self, stream: TextIO | None = None, *, verbose: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.verbose = verbose
        self.entries: list[Any] = []

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A folded section in the Actions log, showing the detail lines inside it."""
        in_actions = os.environ.get("GITHUB_ACTIONS") == "true"
        verbose = self.verbose
        if in_actions:
            self.stream.write(f"::group::{title}\n")
            self.verbose = True
        try:
            yield
        finally:
            if in_actions:
                self.stream.write("::endgroup::\n")
                self.stream.flush()
            self.verbose = verbose

    def __call__(self, text: str, level: str = "info") -> None:
        from bot.redact import redact
        from bot.session import LogEntry, new_id, now_iso

        # one console line per entry: untrusted text never starts a line, so it can
        # never be read as a workflow command (::set-output, ::stop-commands, ...)
        text = redact(text).replace("\r", " ").replace("\n", " ⏎ ")
        at = now_iso(precise=True)
        if level != "debug":
            self.entries.append(LogEntry(new_id(), at, text, level))
        if level != "debug" or self.verbose:
            mark = {"success": "✅", "warning": "⚠️ ", "error": "❌"}.get(level, "  ")
            self.stream.write(f"{at[11:19]} {mark} {text}\n")
            self.stream.flush()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio with uvloop when installed: it cuts client CPU per session noticeably."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


_SECRET_NAME = re.compile(r"(?i)(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIAL)")


def register_env_secrets(env: Mapping[str, str]) -> None:
    """Mask the values of secret-named variables (deploy credentials, tokens) everywhere.

    A deploy script that echoes ``$DEPLOY_TOKEN`` prints a bare value no pattern can
    recognise; knowing the value is the only way to keep it out of the report.
    """
    from bot.redact import register

    register(*(v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= 8))


def default_tracker(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_TOKEN"):
        return "github"
    return f"local:{Path(DEFAULT_OUT) / 'tracking-issue.md'}"
