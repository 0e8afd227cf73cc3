"""Latency percentiles from counts per 0.1 ms: exact, and as small for 10,000 as for 1,000."""

from __future__ import annotations

import random

import pytest

from bot.latency import Latencies


def nearest_rank(samples: list[float]) -> tuple[float, float]:
    """The definition: sort, take ranks n//2 and 95 %, round to 0.1 ms."""
    ordered = sorted(samples)
    n = len(ordered)
    return round(ordered[n // 2], 4), round(ordered[min(n - 1, int(n * 0.95))], 4)


@pytest.mark.parametrize("seed", range(40))
def test_percentiles_are_the_nearest_rank_ones(seed: int) -> None:
    """Any mix — sub-millisecond, seconds, a few over a minute — gives the exact p50/p95."""
    rng = random.Random(seed)
    n = rng.choice((1, 2, 3, 19, 20, 21, 1000))
    slow_share = rng.choice((0.0, 0.05, 0.6, 1.0))
    samples = [
        rng.uniform(60.0, 3600.0) if rng.random() < slow_share else rng.expovariate(8.0)
        for _ in range(n)
    ]
    lat = Latencies()
    for s in samples:
        lat.add(s)
    assert len(lat) == n
    assert lat.percentiles() == pytest.approx(nearest_rank(samples), abs=1e-12)


def test_memory_follows_the_slowest_sample_not_the_count() -> None:
    """Ten times the samples in the same range: a counts array as small, no list of them."""
    small, large = Latencies(), Latencies()
    rng = random.Random(7)
    for lat, n in ((small, 1_000), (large, 10_000)):
        for _ in range(n):
            lat.add(rng.uniform(0.05, 0.3))
    assert max(len(small.counts), len(large.counts)) <= 2 * 3_001  # 0.3 s, grown by doubling
    assert large.slow == [] and large.counts.itemsize == 4


def test_edges() -> None:
    """Empty reads as zeros; a negative (a clock step) counts as 0; one sample is both."""
    assert Latencies().percentiles() == (0.0, 0.0)
    lat = Latencies()
    lat.add(-0.002)
    assert lat.percentiles() == (0.0, 0.0)
    one = Latencies()
    one.add(0.13524)
    assert one.percentiles() == (0.1352, 0.1352)
