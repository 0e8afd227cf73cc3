"""Target 3: 1,000 pytest tests, one golden-path session each, against a latency-bound target.

Our mechanism: the suite runs the way golden-path runs it (``bot.checks.pytest_suite``: a
pytest subprocess with the GOLDEN_PATH_* environment, results read back from JUnit XML),
where the ``golden_path`` plugin prefetches every test's session concurrently. The
baseline: plain ``pytest`` on the same tests, where each test runs its session itself,
one after another (``GOLDEN_PATH_PREFETCH=0``); it is measured on a sample of 40 tests
(the whole suite collected, the rest deselected) and extrapolated to 1,000 from the
per-test times in its JUnit report, rather than waiting four minutes.

Correct per-test results: 3 of the tests are planted to fail (one asserts on an event
that never comes, one asks a live session for an event the agent never sends, one
asserts the wrong event order); the run must report exactly those 3 as failed.

    python bench/bench_pytest.py [--tests 1000] [--delay 0.05] [--runs 3] [--xdist N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from benchlib import SMOKE, fmt_runs, median, report, sample_target

PER_FILE = 40
TEST = """
def test_golden_path_{i:04d}(golden_path_session):
    session = golden_path_session()
    assert session.ok, session.error
    assert list(session.events_seen) == EVENTS
"""
PLANTED = {
    "wrong_event": """
def test_golden_path_{i:04d}(golden_path_session):
    session = golden_path_session()
    assert "agent_exploded" in session.events_seen, "planted: an event the agent never sends"
""",
    "live_missing_event": """
def test_golden_path_{i:04d}(golden_path_session):
    session = golden_path_session(events=("agent_started", "agent_exploded", "agent_completed"))
    assert session.ok, session.error
""",
    "wrong_order": """
def test_golden_path_{i:04d}(golden_path_session):
    session = golden_path_session()
    assert list(session.events_seen)[0] == "agent_completed", "planted: wrong order"
""",
}
HEADER = (
    'EVENTS = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", '
    '"agent_completed"]\n'
)


def planted_indices(n: int) -> list[int]:
    return sorted({min(n - 1, 7), n // 2, max(0, n - 7)})


def write_suite(root: Path, n: int) -> list[str]:
    """``n`` tests in files of 40; returns the node ids of the planted failures."""
    planted = dict(zip(planted_indices(n), PLANTED.values(), strict=False))
    failing = []
    for f in range(-(-n // PER_FILE)):
        body = [HEADER]
        for i in range(f * PER_FILE, min(n, (f + 1) * PER_FILE)):
            body.append((planted.get(i) or TEST).format(i=i))
            if i in planted:
                failing.append(f"test_gp_{f:02d}.py::test_golden_path_{i:04d}")
        (root / f"test_gp_{f:02d}.py").write_text("\n".join(body))
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    return failing


def run_ours(root: Path, target, retries: int = 0):
    """The suite as golden-path runs it: subprocess + JUnit, the plugin prefetching."""
    from bot.checks.pytest_suite import run_suite
    from bot.config import PytestSuite

    suite = PytestSuite(name="bench", args=[str(root), "-p", "no:randomly"], cwd=str(root))
    started = time.perf_counter()
    result = asyncio.run(
        run_suite(
            suite,
            base_url=target.base_url,
            ws_url=target.ws_url,
            token=target.token,
            retries=retries,
            log=lambda text, level="info": None,
        )
    )
    return time.perf_counter() - started, result


def run_plain_sample(root: Path, target, extra: list[str]) -> tuple[float, float]:
    """Plain pytest, sessions one after another: (wall s, mean test s from its JUnit)."""
    env = {
        **os.environ,
        "GOLDEN_PATH_BASE_URL": target.base_url,
        "GOLDEN_PATH_WS_URL": target.ws_url,
        "GOLDEN_PATH_TOKEN": target.token,
        "GOLDEN_PATH_PREFETCH": "0",
    }
    junit = root / "plain.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", str(root), f"--junitxml={junit}"]
    cmd += extra
    started = time.perf_counter()
    subprocess.run(cmd, cwd=root, env=env, capture_output=True, check=False, timeout=900)
    wall = time.perf_counter() - started
    cases = list(ET.parse(junit).getroot().iter("testcase"))  # noqa: S314 - our own file
    return wall, sum(float(c.get("time", 0)) for c in cases) / max(1, len(cases))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=40 if SMOKE else 1000)
    parser.add_argument("--delay", type=float, default=0.05, help="per-event agent delay, s")
    parser.add_argument("--runs", type=int, default=1 if SMOKE else 3)
    parser.add_argument("--sample", type=int, default=5 if SMOKE else 40, help="plain sample size")
    parser.add_argument("--xdist", type=int, default=0, help="also time pytest -n N (no prefetch)")
    args = parser.parse_args(argv)
    n = args.tests
    print(f"target 3: {n} pytest tests, one golden-path session each, event delay {args.delay}s")
    with (
        tempfile.TemporaryDirectory(prefix="gp-bench-pytest-") as tmp,
        sample_target(args.delay) as target,
    ):
        root = Path(tmp)
        failing = write_suite(root, n)
        ours, correct = [], True
        for _ in range(args.runs):
            wall, result = run_ours(root, target)
            ours.append(wall)
            failed = sorted(c.nodeid for c in result.cases if c.outcome in ("failed", "error"))
            ok = failed == sorted(failing) and result.passed == n - len(failing)
            correct = correct and ok and not result.error
            print(
                f"  ours: {wall:.2f}s, {result.passed} passed, {len(failed)} failed "
                f"({'exactly the planted ones' if ok else f'WRONG: {failed}'})"
                + (f" error: {result.error}" if result.error else "")
            )
        sample = min(args.sample, n)
        # the whole suite is collected (as in the real run), the sample selected by name
        names = " or ".join(f"test_golden_path_{i:04d}" for i in range(sample))
        plain_wall, per_test = run_plain_sample(root, target, ["-k", names])
        plain = plain_wall + (n - sample) * per_test
        print(
            f"  plain pytest: {sample} tests in {plain_wall:.2f}s ({per_test * 1000:.0f} ms/test)"
            f" → {n} tests ≈ {plain:.1f}s (extrapolated)"
        )
        if args.xdist:
            x_wall, _ = run_plain_sample(root, target, ["-n", str(args.xdist)])
            print(f"  pytest -n {args.xdist} (xdist, no prefetch): {x_wall:.2f}s for all {n}")
    med = median(ours)
    print(f"ours: {fmt_runs(ours, 's', 2)}; plain pytest (extrapolated): {plain:.1f}s")
    print(f"per-test results correct (3 planted failures, no others): {correct}")
    ratio = plain / med
    report(
        "pytest speed-up vs plain pytest", ratio, "≥ 20x, results correct", ratio >= 20 and correct
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
