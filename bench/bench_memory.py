"""Target 4: peak RSS for 10,000 sessions ≤ 1.3 × peak RSS for 1,000 sessions.

Each measurement is a fresh interpreter (peak RSS only grows) that runs
``run_agent_flow`` against the sample target (its own process, no added latency) and
reports ``ru_maxrss``; sizes alternate over the rounds and medians are compared. Passing
sessions are counted and their latencies kept in a compact array; only failures are kept
whole, so memory should not grow with the session count.

    python bench/bench_memory.py [--small 1000] [--large 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json

from benchlib import SMOKE, fmt_runs, median, python_child, report, sample_target

CHILD = """
import json, resource, sys
from bot.checks.agent_flow import FlowSpec, run_agent_flow
from bot.runtime import run_async
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
summary = run_async(run_agent_flow(FlowSpec(url=url, token=token), n, concurrency=200))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "peak_kb": peak, "passed": summary.passed}))
"""


def measure(url: str, token: str, n: int) -> dict[str, int]:
    proc = python_child(CHILD, url, token, str(n))
    if proc.returncode != 0:
        raise RuntimeError(f"child failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100 if SMOKE else 1000)
    parser.add_argument("--large", type=int, default=1000 if SMOKE else 10000)
    parser.add_argument("--runs", type=int, default=1 if SMOKE else 3)
    args = parser.parse_args(argv)
    print(f"target 4: peak RSS, {args.large} vs {args.small} sessions, one process each")
    small, large, imports, ok = [], [], [], True
    with sample_target(0.0) as target:
        for _ in range(args.runs):
            for n, peaks in ((args.small, small), (args.large, large)):
                m = measure(target.ws_url, target.token, n)
                peaks.append(m["peak_kb"] / 1024)
                imports.append(m["before_kb"] / 1024)
                ok = ok and m["passed"] == n
    print(f"  after imports, before any session: {median(imports):.1f} MiB")
    print(f"  {args.small} sessions: peak RSS {fmt_runs(small, ' MiB', 1)}")
    print(f"  {args.large} sessions: peak RSS {fmt_runs(large, ' MiB', 1)}")
    print(f"  every session passed: {ok}")
    ratio = median(large) / median(small)
    report(f"memory {args.large}/{args.small} peak RSS", ratio, "≤ 1.3x", ratio <= 1.3 and ok)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
