"""Shared by the benchmarks: the sample target in its own process, medians, report lines.

The target runs in a separate process so client and server never share a GIL: on a
2-core machine each gets a core, and the client's own CPU per session is what we measure.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

SECRET = "golden-path-bench-secret-0123456789abcdef"
SMOKE = os.environ.get("BENCH_SMOKE") == "1"


@dataclass(frozen=True)
class Target:
    base_url: str
    ws_url: str
    auth_url: str
    token: str
    pid: int


def mint(secret: str = SECRET) -> str:
    import jwt

    now = int(time.time())
    claims = {"sub": "bench", "iat": now, "exp": now + 3600, "iss": "auth-service"}
    return jwt.encode({**claims, "aud": "backend"}, secret, algorithm="HS256")


@contextlib.contextmanager
def sample_target(event_delay: float = 0.0, *, ready_timeout: float = 20.0) -> Iterator[Target]:
    """``python -m bot.sample`` in its own process (own GIL, own core); stopped on exit."""
    cmd = [sys.executable, "-m", "bot.sample", "--port", "0", "--secret", SECRET]
    cmd += ["--event-delay", repr(event_delay)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], ready_timeout)
        line = proc.stdout.readline() if ready else ""
        parts = line.split()
        if len(parts) != 6 or parts[0] != "backend":
            raise RuntimeError(f"sample target did not start: {line!r}")
        yield Target(parts[1], parts[3], parts[5], mint(), proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_runs(values: Sequence[float], unit: str = "", digits: int = 0) -> str:
    runs = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"median {median(values):.{digits}f}{unit} (runs: {runs})"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(target: str, ratio: float, goal: str, ok: bool) -> None:
    """The one line a reader (and the smoke test) looks for."""
    print(f"RATIO {target}: {ratio:.2f}x (target {goal}) {verdict(ok)}", flush=True)


def python_child(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600.0):
    """Run ``code`` in a fresh interpreter (for peak RSS: one process per measurement)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
