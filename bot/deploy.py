"""Run the user's deploy command, find the deployed URL, wait until health answers.

A failed or hung deploy is a *finding* (the report's blocker), never a crash: the
command runs in its own process group so a timeout can end all of it, its output is
streamed line by line through the redactor into the session log, and health is polled
a bounded number of times.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from bot import redact
from bot.checks.http import deadline_error, tls_for
from bot.results import DeployResult, Kind

Log = Callable[[str, str], None]  # (text, level)
LOG_TAIL = 40
SESSION_LOG_TAIL = 5


_CHUNK = 65536
#: Longest line kept in the log; deploy tools print minified JSON and progress bars.
MAX_LINE = 2000
#: After the command exits, how long its output may take to end. A background process it
#: started (``server &``) inherits the pipe and may keep it open for good.
DRAIN_S = 1.0
#: Longest one health poll may take; the next one starts after the interval.
POLL_TIMEOUT_S = 10.0


#: Longest stretch of a line one search of ``url_from_output`` sees. A pattern that
#: backtracks (``https://\S+\.run\.app`` on a line without spaces) costs time growing with
#: the square of what it searches, and a search holds the event loop (and the GIL) until
#: it returns; long lines are searched window by window, the loop running in between.
MATCH_WINDOW = 4096
#: Windows overlap by this much, so a URL across a window's edge is found whole.
MATCH_OVERLAP = 1024
#: Most time all searches of one deploy's output may take; past it the pattern is dropped.
MATCH_BUDGET_S = 5.0
#: Lines of output an unmatched ``url_from_output`` error shows, and how much of each.
TRIED_LINES = 3
TRIED_CHARS = 120


class UrlFinder:
    """The deployed URL from the command's output: the first match of the pattern, its
    group 1 when it has groups (so a pattern can anchor on context), else the match."""

    def __init__(self, pattern: str, budget_s: float = MATCH_BUDGET_S) -> None:
        self.pattern = re.compile(pattern)
        self.budget_s = budget_s
        self.url = ""
        self.spent_s = 0.0
        self.gave_up = False

    async def feed(self, line: str, log: Log) -> None:
        pos, n = 0, len(line)
        while not self.url and not self.gave_up:
            end = min(pos + MATCH_WINDOW, n)
            started = time.perf_counter()
            m = self.pattern.search(line, pos, end)
            self.spent_s += time.perf_counter() - started
            # a match running into a window's edge may go on past it: search again from its
            # start (one as long as a whole window is no URL anyway, and is taken as it is)
            if m is not None and (m.end() < end or end == n or m.start() == pos):
                self.url = (m.group(1) if self.pattern.groups else m.group(0)) or ""
            elif m is not None:
                pos = m.start()
                continue
            if self.spent_s > self.budget_s and not self.url:
                self.gave_up = True
                log(
                    f"deploy: url_from_output gave up after {self.spent_s:.1f}s of searching "
                    "the output; it backtracks on long lines (use [^\\s/]+ rather than \\S+)",
                    "warning",
                )
            if end == n:
                return
            pos = end - MATCH_OVERLAP
            await asyncio.sleep(0)  # between windows the loop runs: the timeout can fire

    def error(self, tried: list[str]) -> str:
        shown = redact.redact(f"'{self.pattern.pattern}'")
        if self.gave_up:
            return (
                f"deploy.url_from_output {shown} gave up after {self.spent_s:.1f}s of searching "
                "the deploy output without a match — make it linear (e.g. [^\\s/]+ rather than "
                "\\S+), or set deploy.url"
            )
        lines = [line for line in tried if line.strip()][-TRIED_LINES:]
        tail = " | ".join(
            line if len(line) <= TRIED_CHARS else line[: TRIED_CHARS - 1] + "…" for line in lines
        )
        seen = f"last lines tried: {tail}" if tail else "the command printed nothing"
        return (
            f"deploy.url_from_output {shown} matched no line of the deploy output ({seen}) — "
            "fix the pattern (the URL is group 1 if it has groups, else the whole match), "
            "or set deploy.url"
        )


def _take_line(raw: bytes, result: DeployResult, log: Log) -> str:
    line = raw.decode("utf-8", "replace").rstrip()
    clean = redact.redact(line)  # before truncating: a cut secret would not match any more
    if len(clean) > MAX_LINE:
        clean = clean[:MAX_LINE] + f" … ({len(clean) - MAX_LINE} more characters)"
    result.log.append(clean)
    del result.log[:-LOG_TAIL]
    log(f"deploy: {clean}", "debug")
    return line


async def _stream(
    stream: asyncio.StreamReader, result: DeployResult, log: Log, finder: UrlFinder | None
) -> None:
    """Lines of output into ``result.log`` (redacted) and the first URL match into ``url``.

    Reads chunks rather than ``readline()``, which raises on a line over 64 KiB.
    """
    pending = b""
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            lines, pending = ([pending] if pending else []), b""
        else:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > 16 * _CHUNK:  # a line without end: log it in pieces
                lines.append(pending)
                pending = b""
        for raw in lines:
            line = _take_line(raw, result, log)
            if finder is not None:
                await finder.feed(line, log)
                result.url = finder.url
        if not chunk:
            return


async def run_command(
    command: str,
    *,
    timeout_s: float,
    log: Log,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    url_pattern: str | None = None,
    url_finder: UrlFinder | None = None,
    drain_s: float = DRAIN_S,
    base_env: Mapping[str, str] | None = None,
) -> DeployResult:
    """Run ``command`` in a shell; the result's ``url`` is what ``url_finder`` (or one made
    from ``url_pattern``) found in its output.

    The output pipe is ours, not the subprocess transport's: asyncio's ``Process.wait()``
    also waits for its pipes to close, which a background process the command started
    (``server &``) may never do.
    """
    started = time.perf_counter()
    result = DeployResult(ran=True, ok=False)
    if url_finder is None and url_pattern:
        url_finder = UrlFinder(url_pattern)
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    try:
        proc = await asyncio.create_subprocess_shell(
            command,
            stdout=write_fd,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            env={**(os.environ if base_env is None else base_env), **(env or {})},
            cwd=cwd,
            start_new_session=True,  # its own process group, so a timeout ends all of it
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    stream = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stream), os.fdopen(read_fd, "rb", buffering=0)
    )
    reader = asyncio.ensure_future(_stream(stream, result, log, url_finder))
    try:
        async with asyncio.timeout(timeout_s):
            await proc.wait()
            # the output normally ends with the command; give the last lines a moment
            await asyncio.wait([reader], timeout=drain_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        await asyncio.wait([reader], timeout=drain_s)  # what it printed before the kill
        result.kind = Kind.DEPLOY_FAILED
        result.error = f"deploy command timed out after {timeout_s:g}s"
    finally:
        if not reader.done():
            reader.cancel()
            if result.kind is None:
                log(
                    "deploy: the command exited but something it started still holds its "
                    "output; no longer reading it (redirect background output to a file)",
                    "warning",
                )
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        transport.close()
    result.duration_s = time.perf_counter() - started
    if result.kind is not None:
        return result
    result.exit_code = proc.returncode
    if proc.returncode != 0:
        result.kind = Kind.DEPLOY_FAILED
        result.error = f"deploy command exited with {proc.returncode}"
        return result
    result.ok = True
    return result


async def wait_for_health(
    url: str, *, timeout_s: float, interval_s: float, log: Log
) -> tuple[float | None, str]:
    """Poll ``url`` until it answers 2xx; (latency of the first good answer, last error).

    Each poll ends by the overall deadline too: httpx's timeout bounds one read, and a
    server dripping its answer would otherwise hold the poll, and the run, forever. Only
    the status matters, so no body is read.
    """
    deadline = time.monotonic() + timeout_s
    last_error = ""
    attempt = 0
    async with httpx.AsyncClient(
        timeout=min(POLL_TIMEOUT_S, timeout_s), verify=tls_for(url)
    ) as client:
        while True:
            attempt += 1
            started = time.perf_counter()
            full = min(POLL_TIMEOUT_S, timeout_s)
            budget = min(full, max(deadline - time.monotonic(), 0.001))
            try:
                async with asyncio.timeout(budget), client.stream("GET", url) as response:
                    latency = time.perf_counter() - started
                if response.is_success:
                    return latency, ""
                last_error = f"HTTP {response.status_code}"
            except TimeoutError:
                if budget == full or not last_error:  # a poll cut by the deadline says less
                    last_error = deadline_error(full)
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, redact.redact(last_error)
            if attempt == 1 or attempt % 10 == 0:
                log(f"waiting for health at {redact.redact(url)}: {last_error}", "info")
            await asyncio.sleep(min(interval_s, remaining))  # polling interval, not a sync


async def deploy(
    cfg: Any,
    *,
    log: Log,
    resolve: Callable[[str, str | None], str],
    env: Mapping[str, str] | None = None,
) -> DeployResult:
    """The whole deploy step for a ``bot.config.Deploy``; ``resolve`` joins paths to URLs.

    ``env`` is the environment the command inherits (the bot's settings), plus ``cfg.env``.
    """
    finder = UrlFinder(cfg.url_from_output) if cfg.command and cfg.url_from_output else None
    if cfg.command:
        log(f"deploy: running {redact.redact(cfg.command)!r}", "info")
        result = await run_command(
            cfg.command,
            timeout_s=cfg.timeout,
            log=log,
            env=dict(cfg.env),
            cwd=cfg.cwd,
            url_finder=finder,
            base_env=env,
        )
        if result.log:  # every line went to the console; the session log keeps the tail
            tail = " | ".join(line for line in result.log[-SESSION_LOG_TAIL:] if line.strip())
            log(f"deploy output (last {SESSION_LOG_TAIL} lines): {tail}", "info")
        if not result.ok:
            log(f"deploy failed: {result.error}", "error")
            return result
    else:
        result = DeployResult(ran=True, ok=True)
    result.url = result.url or cfg.url or ""
    if not result.url:
        result.ok = False
        if finder is not None:  # the command worked; the config does not find its URL
            result.kind = Kind.CONFIG_ERROR
            result.error = finder.error(result.log)
        else:
            result.kind = Kind.DEPLOY_FAILED
            result.error = "no deployed URL: set deploy.url or a deploy.url_from_output pattern"
        log(result.error, "error")
        return result
    health_url = resolve(cfg.health_path, result.url)
    latency, error = await wait_for_health(
        health_url, timeout_s=cfg.health_timeout, interval_s=cfg.health_interval, log=log
    )
    result.health_latency_s = latency
    if latency is None:
        # The deploy itself worked; the health checks that follow report the outage
        # with its own classification instead of hiding it behind "deploy failed".
        result.error = f"deployed, but {health_url} never became healthy ({error})"
        log(result.error, "warning")
        return result
    log(
        f"deployed {redact.redact(result.url)} in {result.duration_s:.1f}s; "
        f"health answered in {latency:.3f}s",
        "success",
    )
    return result
