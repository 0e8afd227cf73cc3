"""Target 1: client CPU per session — `golden-path run` against two plain clients, same run.

What decides how many golden-path sessions a 2-core runner sustains is the client's own
CPU per session, so that is what is compared: user + sys of the client *process* (from
``wait4``: start-up included, the target excluded — it runs in a process of its own).
Every client runs as its own process, in rounds, alternating, against the same target:

- reference, websockets defaults: bench/reference_client.py — plain asyncio +
  websockets, permessage-deflate on, asyncio's loop (what a team writes first);
- reference, compression off + uvloop: the same with the two settings a team that cares
  about CPU would change (the fairer reference);
- the agent-flow runner alone (bench/flow_client.py; its CPU for the run itself is shown
  too), on the lean transport and, for information, on websockets' client;
- ``golden-path run``: the whole CLI (config, deploy, health and endpoint checks, the flow,
  verdict, results.json and junit.xml), as CI runs it.

Each runs against the simple sample and the realistic profile (envelopes, repeated
thoughts, several tools, sub-agents, noise, a subprotocol token), passing, and with the
``auth`` fault (every session closed 1008) — a blocked run must not be the slow one.
Medians over the rounds; ratios are taken within the same run.

    python bench/bench_cpu.py [--sessions 5000] [--rounds 3] [--profiles default realistic]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchlib import (
    BENCH,
    SMOKE,
    Child,
    Target,
    cli_command,
    cli_config,
    cli_env,
    median,
    report,
    run_child,
    sample_target,
)

REF = "reference, websockets defaults"
FAST = "reference, compression off + uvloop"
LEAN = "agent-flow runner (lean transport)"
WS = "agent-flow runner (websockets transport)"
CLI = "golden-path run (whole CLI)"


def clients(target: Target, n: int, conc: int, tmp: Path) -> dict[str, Callable[[], Child]]:
    py = sys.executable
    url, token = target.ws_url, target.token
    realistic = ["--realistic"] if target.profile == "realistic" else []
    ref = [py, str(BENCH / "reference_client.py"), url, token, str(n), str(conc), *realistic]
    flow = [py, str(BENCH / "flow_client.py"), url, token, str(n), str(conc), *realistic]
    config = cli_config(tmp / f"{target.profile}-{n}.yml", target, n, conc)
    results = tmp / "results.json"
    return {
        REF: lambda: run_child(ref),
        FAST: lambda: run_child([*ref, "--fast"]),
        LEAN: lambda: run_child([*flow, "--transport", "lean"]),
        WS: lambda: run_child([*flow, "--transport", "websockets"]),
        CLI: lambda: run_child(cli_command(config, results), env=cli_env()),
    }


def passed(name: str, child: Child, tmp: Path) -> int:
    """Sessions that passed, as the client itself reports them."""
    if name in (REF, FAST):
        return int(child.stdout.split("reference: ", 1)[1].split("/", 1)[0])
    if name == CLI:
        flow = json.loads((tmp / "results.json").read_text())["flow"]
        return int(flow["passed"]) + int(flow["flaky"])
    return int(child.json()["passed"])


def run_cpu(name: str, child: Child) -> float | None:
    """CPU of the sessions alone (after imports), where the client reports it."""
    if name in (REF, FAST):
        return float(child.stdout.rsplit("run CPU ", 1)[1].split("s", 1)[0])
    if name in (LEAN, WS):
        return float(child.json()["run_cpu_s"])  # type: ignore[arg-type]
    return None


def measure(
    profile: str, failing: bool, n: int, rounds: int, conc: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], bool]:
    """Per client: whole-process ms/session and run-only ms/session over the rounds."""
    whole: dict[str, list[float]] = {}
    alone: dict[str, list[float]] = {}
    as_expected = True
    faults = ("auth",) if failing else ()
    with (
        tempfile.TemporaryDirectory(prefix="gp-bench-cpu-") as tmp_dir,
        sample_target(profile=profile, faults=faults) as target,
    ):
        tmp = Path(tmp_dir)
        for run in () if SMOKE else clients(target, min(n, 200), conc, tmp).values():
            run()  # warm-up: page cache, the server's token cache
        todo = clients(target, n, conc, tmp)
        for _ in range(rounds):
            for name, run in todo.items():
                child = run()
                ok = passed(name, child, tmp)
                as_expected = as_expected and ok == (0 if failing else n)
                whole.setdefault(name, []).append(child.cpu_s / n * 1000)
                only = run_cpu(name, child)
                if only is not None:
                    alone.setdefault(name, []).append(only / n * 1000)
    return whole, alone, as_expected


def show(title: str, whole: dict[str, list[float]], alone: dict[str, list[float]]) -> None:
    ref, fast = median(whole[REF]), median(whole[FAST])
    print(title)
    print(
        f"  {'client':<42} {'CPU ms/session':>15} {'(sessions only)':>16} {'vs defaults':>12} "
        f"{'vs fast':>8}"
    )
    for name, values in whole.items():
        med = median(values)
        only = f"{median(alone[name]):.3f}" if name in alone else "—"
        print(f"  {name:<42} {med:>15.3f} {only:>16} {ref / med:>11.2f}x {fast / med:>7.2f}x")
    runs = {k: [round(v, 3) for v in vs] for k, vs in whole.items()}
    print(f"  (runs, whole process: {json.dumps(runs)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100 if SMOKE else 5000)
    parser.add_argument("--rounds", type=int, default=1 if SMOKE else 3)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument(
        "--profiles", nargs="+", default=["default"] if SMOKE else ["default", "realistic"]
    )
    args = parser.parse_args(argv)
    n = args.sessions
    print(
        f"target 1: client CPU per session, {n} sessions, {args.rounds} rounds, "
        f"concurrency {args.concurrency}; each client its own process, the target too"
    )
    ok = True
    cli: dict[tuple[str, bool], float] = {}
    ratios: dict[str, tuple[float, float]] = {}
    for profile in args.profiles:
        for failing in (False, True):
            whole, alone, expected = measure(profile, failing, n, args.rounds, args.concurrency)
            ok = ok and expected
            what = "all failing (auth: closed 1008)" if failing else "passing"
            show(f"{profile} profile, {what}:", whole, alone)
            cli[(profile, failing)] = median(whole[CLI])
            if not failing:
                ratios[profile] = (
                    median(whole[REF]) / median(whole[CLI]),
                    median(whole[FAST]) / median(whole[CLI]),
                )
    print(f"every session passed (and every session of the auth-fault runs failed): {ok}")
    main_profile = "realistic" if "realistic" in ratios else args.profiles[0]
    vs_ref, vs_fast = ratios[main_profile]
    report(
        f"cpu {main_profile} golden-path run vs plain client (defaults)",
        vs_ref,
        "≥ 2.0x",
        vs_ref >= 2.0 and ok,
    )
    report(
        f"cpu {main_profile} golden-path run vs plain client (compression off + uvloop)",
        vs_fast,
        "≥ 1.5x",
        vs_fast >= 1.5 and ok,
    )
    worst = max(cli[(p, True)] / cli[(p, False)] for p in args.profiles)
    report(
        "cpu all-failing / passing run per session (golden-path run, worst profile)",
        worst,
        "≤ 1.0x",
        worst <= 1.0,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
