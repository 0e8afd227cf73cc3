"""Shared by the benchmarks: the sample target in its own process, medians, report lines.

The target runs in a separate process so client and server never share a GIL: on a
2-core machine each gets a core, and the client's own CPU per session is what we measure.
Clients run as child processes too (:func:`run_child`), so their CPU is the kernel's
account of that process (user + sys, from ``wait4``), start-up included.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SECRET = "golden-path-bench-secret-0123456789abcdef"
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
SECRET_ENV = "GOLDEN_PATH_BENCH_SECRET"
BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Target:
    base_url: str
    ws_url: str
    auth_url: str
    token: str
    pid: int
    profile: str = "default"


def mint(secret: str = SECRET) -> str:
    import jwt

    now = int(time.time())
    claims = {"sub": "bench", "iat": now, "exp": now + 3600, "iss": "auth-service"}
    return jwt.encode({**claims, "aud": "backend"}, secret, algorithm="HS256")


@contextlib.contextmanager
def sample_target(
    event_delay: float = 0.0,
    *,
    profile: str = "default",
    faults: Sequence[str] = (),
    ready_timeout: float = 20.0,
) -> Iterator[Target]:
    """``python -m bot.sample`` in its own process (own GIL, own core); stopped on exit.

    ``profile="realistic"`` serves the realistic backend (envelopes, repeated thoughts,
    several tools, sub-agents, noise); ``faults=("auth",)`` makes every session close 1008.
    """
    cmd = [sys.executable, "-m", "bot.sample", "--port", "0", "--secret", SECRET]
    cmd += ["--event-delay", repr(event_delay), "--profile", profile]
    cmd += [f"--fault={f}" for f in faults]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], ready_timeout)
        line = proc.stdout.readline() if ready else ""
        parts = line.split()
        if len(parts) != 6 or parts[0] != "backend":
            raise RuntimeError(f"sample target did not start: {line!r}")
        yield Target(parts[1], parts[3], parts[5], mint(), proc.pid, profile)
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
        env=child_env(env),
        check=False,
    )


@dataclass
class Child:
    """One client process: its exit, output, and the kernel's account of its CPU and memory."""

    returncode: int
    stdout: str
    stderr: str
    cpu_s: float  # user + sys of the whole process
    maxrss_mib: float
    #: at the first stderr line containing the mark: (CPU s so far, RSS MiB then)
    at_mark: tuple[float, float] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def json(self) -> dict[str, object]:
        """The child's last stdout line, when it printed JSON there."""
        lines = self.stdout.strip().splitlines()
        return json.loads(lines[-1]) if lines else {}


#: Bytecode for the children, outside the work tree: an installed package has its .pyc
#: files, so a measurement must not pay for compiling every module on every start (as it
#: would where PYTHONDONTWRITEBYTECODE is set).
PYCACHE = Path(tempfile.gettempdir()) / "golden-path-bench-pycache"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return {**env, **(extra or {})}


def _proc_cpu_rss(pid: int) -> tuple[float, float]:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


def run_child(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    mark: str | None = None,
    timeout: float = 900.0,
) -> Child:
    """Run ``cmd`` to its end; CPU and peak RSS come from ``wait4`` (this child alone).

    With ``mark``, the child's CPU and RSS are also read from /proc the moment a stderr
    line containing it appears (e.g. "agent flow: " — the first session is about to start).
    """
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(env),
    )
    assert proc.stdout is not None and proc.stderr is not None
    out: list[str] = []
    drain = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    drain.start()
    err: list[str] = []
    at_mark = None
    deadline = time.monotonic() + timeout
    for line in proc.stderr:
        if at_mark is None and mark is not None and mark in line:
            with contextlib.suppress(OSError, IndexError, ValueError):
                at_mark = _proc_cpu_rss(proc.pid)
        err.append(line)
        if time.monotonic() > deadline:
            proc.kill()
            break
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    drain.join(10)
    return Child(
        proc.returncode,
        "".join(out),
        "".join(err),
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        at_mark,
    )


def cli_config(path: Path, target: Target, sessions: int, concurrency: int = 200) -> Path:
    """The config a team would write for ``target`` (deploy, health, endpoints, the flow)."""
    import yaml

    if target.profile == "realistic":
        from bot.sample.realistic import realistic_config

        cfg = realistic_config(
            base_url=target.base_url,
            auth_url=target.auth_url,
            sessions=sessions,
            secret_env=SECRET_ENV,
        )
    else:
        announce = f"echo 'Service URL: {target.base_url}'"
        cfg = {
            "environment": "bench",
            "deploy": {"command": announce, "url_from_output": r"http://127\.0\.0\.1:\d+"},
            "auth": {
                "jwt": {
                    "secret_env": SECRET_ENV,
                    "claims": {"sub": "bench", "iss": "auth-service", "aud": "backend"},
                }
            },
            "checks": {
                "health": [{"name": "Infrastructure Health", "url": "/health"}],
                "endpoints": [{"name": "threads", "url": "/api/threads", "auth": True}],
                "agent_flow": {
                    "url": "/ws",
                    "sessions": sessions,
                    "timeout": "5s",
                    "connect_timeout": "2s",
                },
            },
        }
    cfg["checks"]["agent_flow"]["concurrency"] = concurrency
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli_command(config: Path, out: Path, *extra: str) -> list[str]:
    """``golden-path run`` as CI runs it: the console script, no tracker, results to ``out``."""
    script = Path(sys.executable).with_name("golden-path")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    return [
        *head,
        "run",
        "--config",
        str(config),
        "--tracker",
        "none",
        "--results",
        str(out),
        *extra,
    ]


def cli_env() -> dict[str, str]:
    return {SECRET_ENV: SECRET, "GOLDEN_PATH_PROGRESS": "off"}
