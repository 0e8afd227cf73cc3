"""Target 1: sessions/s against the sample target with no added latency (CPU-bound).

The sample target runs in its own process (its own core); this process is the client.
Each round runs the reference client (bench/reference_client.py: plain asyncio +
websockets, default loop and compression, a semaphore) and our agent-flow runner
(``bot.checks.agent_flow.run_agent_flow`` as the bot calls it) back to back, alternating,
so both see the same machine; medians over the rounds. Also printed: client CPU per
session (what decides the ceiling on a 2-core runner) and, for information only, our
runner with connection reuse (5 runs per connection), which is opt-in.

    python bench/bench_cpu.py [--sizes 1000 5000] [--runs 5] [--concurrency 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from collections.abc import Callable

from benchlib import SMOKE, fmt_runs, median, report, sample_target
from reference_client import run_reference

from bot.checks.agent_flow import FlowSpec, run_agent_flow
from bot.runtime import run_async


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _server_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def measure(fn: Callable[[], int], n: int, server_pid: int) -> tuple[float, float, float, int]:
    """(sessions/s, client ms CPU/session, server ms CPU/session, passed)."""
    c0, s0, t0 = _cpu(), _server_cpu(server_pid), time.perf_counter()
    passed = fn()
    wall = time.perf_counter() - t0
    c1, s1 = _cpu(), _server_cpu(server_pid)
    return n / wall, (c1 - c0) / n * 1000, (s1 - s0) / n * 1000, passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200] if SMOKE else [1000, 5000])
    parser.add_argument("--runs", type=int, default=1 if SMOKE else 5)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args(argv)
    conc = args.concurrency
    print(f"target 1: CPU-bound sessions/s, concurrency {conc}, {args.runs} rounds per size")
    worst = float("inf")
    all_passed = True
    with sample_target(0.0) as target:
        spec = FlowSpec(url=target.ws_url, token=target.token)
        reuse = FlowSpec(url=target.ws_url, token=target.token, runs_per_connection=5)

        def reference(n: int) -> int:
            return asyncio.run(run_reference(target.ws_url, target.token, n, conc))

        def ours(n: int, s: FlowSpec = spec) -> int:
            summary = run_async(run_agent_flow(s, n, concurrency=conc))
            return summary.passed + summary.flaky

        ours(200)  # warm-up: imports, first connections, the server's token cache
        reference(200)
        for n in args.sizes:
            ref_rates, our_rates, ref_cpu, our_cpu, ref_srv, our_srv = [], [], [], [], [], []
            for _ in range(args.runs):
                for rates, cpus, srvs, fn in (
                    (ref_rates, ref_cpu, ref_srv, reference),
                    (our_rates, our_cpu, our_srv, ours),
                ):
                    rate, cpu, srv, passed = measure(lambda f=fn, k=n: f(k), n, target.pid)
                    all_passed = all_passed and passed == n
                    rates.append(rate)
                    cpus.append(cpu)
                    srvs.append(srv)
            reuse_rate = measure(lambda k=n: ours(k, reuse), n, target.pid)[0]
            ratio = median(our_rates) / median(ref_rates)
            worst = min(worst, ratio)
            print(f"{n} sessions:")
            print(f"  reference client: {fmt_runs(ref_rates, ' sessions/s')}")
            print(f"  agent-flow runner: {fmt_runs(our_rates, ' sessions/s')}")
            print(
                f"  client CPU/session: reference {median(ref_cpu):.3f} ms, "
                f"ours {median(our_cpu):.3f} ms; server CPU/session: reference "
                f"{median(ref_srv):.3f} ms, ours {median(our_srv):.3f} ms"
            )
            print(f"  (info) ours with 5 runs per connection: {reuse_rate:.0f} sessions/s")
            report(f"cpu {n} sessions/s ours/reference", ratio, "≥ 1.2x", ratio >= 1.2)
    print(f"every session passed: {all_passed}")
    report("cpu worst size", worst, "≥ 1.2x", worst >= 1.2 and all_passed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
