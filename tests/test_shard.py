"""--shard K/N and `golden-path merge`: deterministic, balanced, and equal to one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.checks.agent_flow import shard_indices
from bot.cli import main
from bot.sample import SampleTarget


@pytest.mark.parametrize(("total", "n"), [(10, 3), (1000, 4), (7, 7), (3, 5)])
def test_shards_are_disjoint_covering_balanced_and_stable(total: int, n: int) -> None:
    """Every session in exactly one shard, sizes within one, the same split every time."""
    shards = [shard_indices(total, (k, n)) for k in range(1, n + 1)]
    flat = sorted(i for s in shards for i in s)
    assert flat == list(range(total))
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    assert shards == [shard_indices(total, (k, n)) for k in range(1, n + 1)]


def _comparable(path: Path) -> dict:
    data = json.loads(path.read_text())
    flow = data["flow"]
    return {
        "flow": {k: flow[k] for k in ("total", "passed", "failed", "flaky", "event_seen", "kinds")},
        "failed_sessions": sorted(f["index"] for f in flow["failures"]),
        "http": sorted((c["name"], c["ok"]) for c in data["http"] or []),
        "summary": data["summary"],
        "verdict": {k: data["verdict"][k] for k in ("status", "counts", "golden", "findings")},
    }


@pytest.mark.parametrize("fault", [None, "drop:agent_thinking"])
def test_merged_shards_equal_an_unsharded_run(
    workdir: Path, sample: SampleTarget, fault: str | None
) -> None:
    """Three shards merged report exactly what one unsharded run reports."""
    if fault:
        sample.set_faults(fault)
    base = ["run", "--config", "golden-path.yml", "--tracker", "none", "--sessions", "31"]
    main([*base, "--results", "full/results.json"])
    for k in (1, 2, 3):
        main([*base, "--shard", f"{k}/3", "--results", f"s{k}/results.json"])
        shard = json.loads((workdir / f"s{k}/results.json").read_text())
        assert shard["shard"] == f"{k}/3"
        assert shard["flow"]["total"] == len(shard_indices(31, (k, 3)))
        assert bool(shard["http"]) == (k == 1)  # checks run once, in shard 1
    code = main(
        [
            "merge",
            "s1/results.json",
            "s2/results.json",
            "s3/results.json",
            "--config",
            "golden-path.yml",
            "--tracker",
            "none",
            "--out",
            "merged/results.json",
        ]
    )
    assert code == (0 if fault is None else 1)
    assert _comparable(workdir / "merged/results.json") == _comparable(
        workdir / "full/results.json"
    )
    assert (workdir / "merged/junit.xml").exists()


def test_a_shard_of_a_billion_sessions_is_not_a_list_of_them() -> None:
    """The session numbers are a range: a billion of them cost nothing until they run."""
    every = shard_indices(10**9, None)
    third = shard_indices(10**9, (2, 3))
    assert len(every) == 10**9 and len(third) == 333_333_333
    assert third[0] == 1 and third[-1] == 999_999_997 and 4 in third and 5 not in third
