"""Target 2: 1,000 sessions against a latency-bound target (50 ms per event, ~250 ms/session).

Measured in one run against the same sample target (its own process):
- session latency L: a sample of sessions run one after another (concurrency 1);
- sequential time for N sessions, extrapolated: N × L (not waited for: ~4 minutes);
- our runner at the configured concurrency (default 200), several rounds, median.

Targets: wall ≤ 1.5 × ideal, where ideal = ceil(N / concurrency) × L, and
sequential / wall ≥ 100.

    python bench/bench_latency.py [--sessions 1000] [--concurrency 200] [--delay 0.05]
"""

from __future__ import annotations

import argparse
import math
import time

from benchlib import SMOKE, fmt_runs, median, report, sample_target

from bot.checks.agent_flow import FlowSpec, run_agent_flow
from bot.runtime import run_async


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100 if SMOKE else 1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.05, help="per-event agent delay, s")
    parser.add_argument("--sample", type=int, default=3 if SMOKE else 10)
    parser.add_argument("--runs", type=int, default=1 if SMOKE else 3)
    args = parser.parse_args(argv)
    n, conc = args.sessions, args.concurrency
    print(f"target 2: {n} sessions, concurrency {conc}, {args.delay * 1000:.0f} ms per event")
    with sample_target(args.delay) as target:
        spec = FlowSpec(url=target.ws_url, token=target.token)
        run_async(run_agent_flow(spec, 5, concurrency=5))  # warm-up
        started = time.perf_counter()
        seq = run_async(run_agent_flow(spec, args.sample, concurrency=1))
        latency = (time.perf_counter() - started) / args.sample
        walls, ok = [], seq.passed == args.sample
        for _ in range(args.runs):
            started = time.perf_counter()
            summary = run_async(run_agent_flow(spec, n, concurrency=conc))
            walls.append(time.perf_counter() - started)
            ok = ok and summary.passed == n
    wall = median(walls)
    ideal = math.ceil(n / conc) * latency
    sequential = n * latency
    print(f"  session latency (sequential sample of {args.sample}): {latency * 1000:.0f} ms")
    print(f"  sequential {n} sessions (extrapolated): {sequential:.1f}s")
    print(f"  ideal ceil({n}/{conc}) × latency: {ideal:.2f}s")
    print(f"  agent-flow runner: {fmt_runs(walls, 's', 2)}; every session passed: {ok}")
    over_ideal = wall / ideal
    speedup = sequential / wall
    report("latency wall/ideal", over_ideal, "≤ 1.5x", over_ideal <= 1.5 and ok)
    report("latency speed-up vs sequential", speedup, "≥ 100x", speedup >= 100 and ok)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
