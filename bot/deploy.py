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
from bot.checks.http import deadline_error
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


def _take_line(raw: bytes, result: DeployResult, log: Log, pattern: re.Pattern[str] | None) -> None:
    line = raw.decode("utf-8", "replace").rstrip()
    if pattern is not None and not result.url:
        m = pattern.search(line)
        if m:
            result.url = m.group(0)
    clean = redact.redact(line)  # before truncating: a cut secret would not match any more
    if len(clean) > MAX_LINE:
        clean = clean[:MAX_LINE] + f" … ({len(clean) - MAX_LINE} more characters)"
    result.log.append(clean)
    del result.log[:-LOG_TAIL]
    log(f"deploy: {clean}", "debug")


async def _stream(
    stream: asyncio.StreamReader, result: DeployResult, log: Log, pattern: re.Pattern[str] | None
) -> None:
    """Lines of output into ``result.log`` (redacted) and the first URL match into ``url``.

    Reads chunks rather than ``readline()``, which raises on a line over 64 KiB.
    """
    pending = b""
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            if pending:
                _take_line(pending, result, log, pattern)
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            _take_line(raw, result, log, pattern)
        if len(pending) > 16 * _CHUNK:  # a line without end: log it in pieces
            _take_line(pending, result, log, pattern)
            pending = b""


async def run_command(
    command: str,
    *,
    timeout_s: float,
    log: Log,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    url_pattern: str | None = None,
    drain_s: float = DRAIN_S,
) -> DeployResult:
    """Run ``command`` in a shell; the result's ``url`` is the first match of the pattern.

    The output pipe is ours, not the subprocess transport's: asyncio's ``Process.wait()``
    also waits for its pipes to close, which a background process the command started
    (``server &``) may never do.
    """
    started = time.perf_counter()
    result = DeployResult(ran=True, ok=False)
    pattern = re.compile(url_pattern) if url_pattern else None
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    try:
        proc = await asyncio.create_subprocess_shell(
            command,
            stdout=write_fd,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
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
    reader = asyncio.ensure_future(_stream(stream, result, log, pattern))
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
    async with httpx.AsyncClient(timeout=min(POLL_TIMEOUT_S, timeout_s)) as client:
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


async def deploy(cfg: Any, *, log: Log, resolve: Callable[[str, str | None], str]) -> DeployResult:
    """The whole deploy step for a ``bot.config.Deploy``; ``resolve`` joins paths to URLs."""
    if cfg.command:
        log(f"deploy: running {redact.redact(cfg.command)!r}", "info")
        result = await run_command(
            cfg.command,
            timeout_s=cfg.timeout,
            log=log,
            env=dict(cfg.env),
            cwd=cfg.cwd,
            url_pattern=cfg.url_from_output,
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
