"""Target 5: ``golden-path --help`` in under 0.3 s (median wall time of N fresh processes).

The baseline measured in the same run is a bare interpreter (``python -c pass``): what
any Python command costs before importing anything. If the median is over budget, the
slowest imports (``python -X importtime``) are printed.

    python bench/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchlib import SMOKE, fmt_runs, median, report

BUDGET_S = 0.3


def command() -> list[str]:
    """The installed console script next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("golden-path")
    if script.exists():
        return [str(script)]
    found = shutil.which("golden-path")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


def wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def top_imports(limit: int = 15) -> list[tuple[int, str]]:
    """(cumulative µs, module) of the slowest imports of ``golden-path --help``."""
    code = "import sys; from bot.cli import main; sys.argv = ['golden-path', '--help']; main()"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    return sorted(rows, reverse=True)[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5 if SMOKE else 15)
    parser.add_argument("--show-imports", action="store_true", help="always print them")
    args = parser.parse_args(argv)
    cmd = [*command(), "--help"]
    print(f"target 5: {' '.join(Path(c).name for c in cmd)}, {args.runs} runs")
    wall(cmd)  # warm the page cache
    ours, bare = [], []
    for _ in range(args.runs):
        ours.append(wall(cmd))
        bare.append(wall([sys.executable, "-c", "pass"]))
    med = median(ours)
    print(f"  golden-path --help: {fmt_runs([x * 1000 for x in ours], ' ms')}")
    print(f"  python -c pass (baseline): {fmt_runs([x * 1000 for x in bare], ' ms')}")
    print(f"  over a bare interpreter: {(med - median(bare)) * 1000:.0f} ms")
    if med >= BUDGET_S or args.show_imports:
        print("  slowest imports (cumulative):")
        for us, name in top_imports():
            print(f"    {us / 1000:7.1f} ms  {name}")
    report("startup --help / 0.3 s budget", med / BUDGET_S, "< 1.0x", med < BUDGET_S)
    print(f"  (--help over a bare interpreter: {med / median(bare):.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
