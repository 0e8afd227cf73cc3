"""Target 4: memory that grows with the session count — 10,000 sessions ≤ 1.3 × 1,000.

Each measurement is a fresh process (peak RSS only grows) against the sample target (its
own process, no added latency), sizes alternating over the rounds; medians compared.
What is compared is memory *above the post-import baseline* — the part sessions could
grow — measured two ways:

- the agent-flow runner alone: ``run_agent_flow`` in a child, its RSS after its imports
  vs its peak (``ru_maxrss``);
- ``golden-path run``: the whole CLI, RSS read from /proc the moment it logs "agent flow:"
  (just before the first session: everything imported, config read, deploy and health
  done) vs the process's peak from ``wait4`` — which includes writing results.json and
  junit.xml for every session.

Passing sessions are counted and their latencies kept in compact arrays; only failures
are kept whole, so neither should grow with the session count.

    python bench/bench_memory.py [--small 1000] [--large 10000] [--runs 3] [--profile default]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchlib import (
    SMOKE,
    cli_command,
    cli_config,
    cli_env,
    fmt_runs,
    median,
    python_child,
    report,
    run_child,
    sample_target,
)

CHILD = """
import json, resource, sys
from bot.checks.agent_flow import FlowSpec, run_agent_flow
from bot.runtime import run_async
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open("/proc/self/status") as f:  # RSS now, after imports (ru_maxrss is a peak)
    before = int(next(ln for ln in f if ln.startswith("VmRSS")).split()[1])
summary = run_async(run_agent_flow(FlowSpec(url=url, token=token), n, concurrency=200))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "peak_kb": peak, "passed": summary.passed}))
"""


def runner(url: str, token: str, n: int) -> tuple[float, float, bool]:
    """(post-import RSS MiB, peak RSS MiB, every session passed) of the runner alone."""
    proc = python_child(CHILD, url, token, str(n))
    if proc.returncode != 0:
        raise RuntimeError(f"child failed: {proc.stderr[-2000:]}")
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    return m["before_kb"] / 1024, m["peak_kb"] / 1024, m["passed"] == n


def cli(target, n: int, tmp: Path) -> tuple[float, float, bool]:
    """(RSS MiB at the first session, peak RSS MiB, every session passed) of golden-path run."""
    config = cli_config(tmp / f"golden-path-{n}.yml", target, n)
    results = tmp / "results.json"
    child = run_child(cli_command(config, results), env=cli_env(), mark="agent flow: ")
    if child.at_mark is None:
        raise RuntimeError(f"golden-path run failed: {child.stderr[-2000:]}")
    flow = json.loads(results.read_text())["flow"]
    return child.at_mark[1], child.maxrss_mib, flow["passed"] == n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100 if SMOKE else 1000)
    parser.add_argument("--large", type=int, default=1000 if SMOKE else 10000)
    parser.add_argument("--runs", type=int, default=1 if SMOKE else 3)
    parser.add_argument("--profile", default="default", choices=("default", "realistic"))
    args = parser.parse_args(argv)
    print(
        f"target 4: RSS above the post-import baseline, {args.large} vs {args.small} sessions, "
        f"one process each, {args.profile} target"
    )
    sizes = (args.small, args.large)
    rows: dict[tuple[str, int], list[tuple[float, float]]] = {}
    ok = True
    with (
        tempfile.TemporaryDirectory(prefix="gp-bench-memory-") as tmp,
        sample_target(0.0, profile=args.profile) as target,
    ):
        for _ in range(args.runs):
            for n in sizes:
                base, peak, passed = runner(target.ws_url, target.token, n)
                rows.setdefault(("runner", n), []).append((base, peak))
                base, peak, passed_cli = cli(target, n, Path(tmp))
                rows.setdefault(("cli", n), []).append((base, peak))
                ok = ok and passed and passed_cli
    ratios = {}
    for who, label in (("runner", "agent-flow runner"), ("cli", "golden-path run (CLI)")):
        above = {}
        print(f"  {label}:")
        for n in sizes:
            runs = rows[(who, n)]
            above[n] = median([peak - base for base, peak in runs])
            print(
                f"    {n} sessions: baseline {median([b for b, _ in runs]):.1f} MiB, "
                f"peak {fmt_runs([p for _, p in runs], ' MiB', 1)}, "
                f"above baseline {above[n]:.1f} MiB"
            )
        ratios[who] = above[args.large] / max(above[args.small], 0.1)
    print(f"  every session passed: {ok}")
    print(f"  (runner alone, above baseline {args.large}/{args.small}: {ratios['runner']:.2f}x)")
    report(
        f"memory {args.large}/{args.small} above the post-import baseline, golden-path run",
        ratios["cli"],
        "≤ 1.3x",
        ratios["cli"] <= 1.3 and ok,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
