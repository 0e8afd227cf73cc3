"""Every benchmark runs end to end in a tiny configuration (``BENCH_SMOKE=1``).

The figures of a seconds-long run mean nothing, so only the shape is checked: exit 0, a
``RATIO`` line per target, the server stopped, and the correctness checks the benchmarks
make along the way (every session passed; the planted pytest failures, and only those).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
RATIO = re.compile(r"^RATIO .+: \d+\.\d\dx \(target .+\) (PASS|FAIL)$", re.MULTILINE)

pytestmark = pytest.mark.slow


def run_bench(name: str, *args: str) -> str:
    """A benchmark script, smoke-sized; its stdout, once it exited 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDEN_PATH_")}
    env["BENCH_SMOKE"] = "1"
    proc = subprocess.run(
        [sys.executable, str(BENCH / name), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=BENCH.parent,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    ("script", "ratios", "checks"),
    [
        (
            "bench_cpu.py",
            3,
            ["every session passed (and every session of the auth-fault runs failed): True"],
        ),
        ("bench_latency.py", 2, ["every session passed: True"]),
        ("bench_memory.py", 1, ["every session passed: True"]),
        ("bench_startup.py", 2, ["CPU before the first session: median"]),
        (
            "bench_pytest.py",
            1,
            ["per-test results correct (3 planted failures, no others): True"],
        ),
    ],
)
def test_benchmark_runs_and_prints_its_ratio(script: str, ratios: int, checks: list[str]) -> None:
    out = run_bench(script)
    assert len(RATIO.findall(out)) == ratios, out
    for text in checks:
        assert text in out, out


def test_transport_probe_measures_every_transport() -> None:
    """The probe behind the transport choice runs and prints a figure per transport."""
    out = run_bench("transport_probe.py", "--profile", "default")
    for name in (
        "websockets asyncio client",
        "websockets Sans-I/O + asyncio.Protocol",
        "bot's lean socket (Sans-I/O + cut frames)",
        "minimal asyncio.Protocol (the floor)",
    ):
        assert re.search(rf"{re.escape(name)} +\d+\.\d+ ms CPU/session", out), out


def test_reference_client_runs_on_its_own() -> None:
    spec = importlib.util.spec_from_file_location("golden_path_benchlib", BENCH / "benchlib.py")
    assert spec is not None and spec.loader is not None
    benchlib = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = benchlib  # dataclasses look their module up there
    try:
        spec.loader.exec_module(benchlib)
    finally:
        del sys.modules[spec.name]
    with benchlib.sample_target() as target:
        proc = subprocess.run(
            [sys.executable, str(BENCH / "reference_client.py"), target.ws_url, target.token, "20"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"reference: 20/20 passed in [\d.]+s \(\d+ sessions/s\)", proc.stdout)
