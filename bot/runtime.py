"""What every command shares at run time: exit codes, default paths, the run log, the loop.

The lowest layer under the commands: ``cli`` wires argv to the commands, the commands
(``runner``, ``events``, ``demo``) and the pytest plugin import from here, and this module
imports nothing of the bot's but the redactor and the session log's record type.
"""

from __future__ import annotations

import contextlib
import gc
import re
import sys
from collections.abc import Coroutine, Iterator, Mapping
from typing import Any, TextIO, TypeVar

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_CONFIG = ".github/golden-path.yml"
DEFAULT_OUT = ".golden-path"
T = TypeVar("T")


#: Characters the runner (or a terminal) treats as line breaks.
_BREAKS = re.compile(r"\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_WJ = "\u2060"  # word joiner: invisible, and not whitespace, so nothing trims it away


def inert(text: str) -> str:
    """Untrusted text made one console line the Actions runner cannot read as a command.

    The runner reads ``::name::`` at the start of a line (after trimming whitespace) and,
    through its legacy parser, ``##[name]`` anywhere in a line; an injected
    ``::stop-commands::`` would switch off every later ``::add-mask::`` and leak a token.
    Line breaks become a visible ⏎, ``##[`` gets a word joiner, and a leading ``::`` too.
    """
    text = _BREAKS.sub(" ⏎ ", text).replace("##[", "##" + _WJ + "[")
    return _WJ + text if text.lstrip().startswith("::") else text


class Console:
    """The one writer for everything the bot prints: redacted, and inert line by line.

    Only :class:`~bot.publish.actions.GitHubActions` writes workflow commands, and it writes
    to the stream directly; any other text reaching the console comes through here.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def line(self, text: str) -> None:
        from bot.redact import redact

        self.stream.write(inert(redact(text)) + "\n")
        self.stream.flush()

    def block(self, text: str) -> None:
        """Several lines (a rendered body): each one made inert on its own."""
        from bot.redact import redact

        self.stream.write("".join(inert(ln) + "\n" for ln in redact(text).split("\n")))
        self.stream.flush()

    def write(self, text: str) -> int:
        """File-like use (``print(..., file=console)``): every line made inert."""
        self.block(text.removesuffix("\n"))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


class RunLog:
    """Console lines (redacted, timestamped, inert) + the entries that go to the session log."""

    def __init__(
        self, stream: TextIO | None = None, *, verbose: bool = False, in_actions: bool = False
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.verbose = verbose
        self.in_actions = in_actions
        self.entries: list[Any] = []

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A folded section in the Actions log, showing the detail lines inside it."""
        verbose = self.verbose
        if self.in_actions:
            self.stream.write(f"::group::{inert(title)}\n")
            self.verbose = True
        try:
            yield
        finally:
            if self.in_actions:
                self.stream.write("::endgroup::\n")
                self.stream.flush()
            self.verbose = verbose

    def __call__(self, text: str, level: str = "info") -> None:
        from bot.redact import redact
        from bot.session import LogEntry, new_id, now_iso

        text = inert(redact(text))
        at = now_iso(precise=True)
        if level != "debug":
            self.entries.append(LogEntry(new_id(), at, text, level))
        if level != "debug" or self.verbose:
            mark = {"success": "✅", "warning": "⚠️ ", "error": "❌"}.get(level, "  ")
            self.stream.write(f"{at[11:19]} {mark} {text}\n")
            self.stream.flush()


#: Young-generation threshold while a run is in flight (CPython's default is 700). Sessions
#: allocate a lot and free nearly all of it at once; collecting less often costs no memory
#: (bench/bench_memory.py) and saves CPU.
GC_THRESHOLD = (10_000, 20, 20)

_gc_held = False


def hold_gc() -> None:
    """Start-up without the cyclic GC, until :func:`run_async` freezes what it built.

    Imports, the config's validators and the run's wiring allocate a few hundred thousand
    objects that live as long as the process; collecting while they pile up walks them
    again and again (tens of milliseconds of CPU) and frees next to nothing. Only a GC
    that is on is held; :func:`release_gc` (or the first :func:`run_async`) turns it back on.
    """
    global _gc_held
    if gc.isenabled():
        gc.disable()
        _gc_held = True


def release_gc() -> None:
    """The GC back on, if :func:`hold_gc` turned it off (for a command that runs no loop)."""
    global _gc_held
    if _gc_held:
        _gc_held = False
        gc.enable()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio with uvloop when installed: it cuts client CPU per session noticeably.

    While it runs, everything alive before it (modules, config, the run's wiring: hundreds
    of thousands of objects) is frozen out of the garbage collector, whose full passes
    would otherwise walk all of it again and again; it is handed back afterwards, so a
    long-lived caller (pytest) keeps collecting as before. A GC held for start-up
    (:func:`hold_gc`) is turned on here, once that start-up is frozen.
    """
    import asyncio

    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    release_gc()
    result: list[T] = []

    async def main() -> None:
        # The task hands its result over here and ends with None: on Python 3.11,
        # asyncio.Runner restoring SIGINT builds repr() of a handler that holds the task,
        # result included — 0.13 s for a run holding 5,000 failure records.
        result.append(await coro)

    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(main())
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(main())
        return result[0]
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


_SECRET_NAME = re.compile(r"(?i)(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIAL)")


def register_env_secrets(env: Mapping[str, str]) -> None:
    """Mask the values of secret-named variables (deploy credentials, tokens) everywhere.

    A deploy script that echoes ``$DEPLOY_TOKEN`` prints a bare value no pattern can
    recognise; knowing the value is the only way to keep it out of the report.
    """
    from bot.redact import register

    register(*(v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= 8))
