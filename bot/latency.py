"""Latency percentiles in memory that does not grow with the number of sessions.

Reports show latencies to 0.1 ms, so that is all a sample needs to keep: each is counted in
its 0.1 ms tick, and p50/p95 are read off the counts. The result is the nearest-rank
percentile of the rounded samples — rounding keeps their order, so it is the exact
percentile, rounded — while memory follows the slowest sample (4 bytes a tick, at most
24 KiB when the slowest took 0.3 s), not the count: 10,000 sessions cost what 1,000 do.
Samples past a minute (a session that slow has a timeout far above the usual) are kept
one by one.
"""

from __future__ import annotations

from array import array

TICKS_PER_S = 10_000  # 0.1 ms
_CAP = 60 * TICKS_PER_S  # ticks counted in the array; slower samples are listed


class Latencies:
    """Counts of samples per 0.1 ms tick."""

    __slots__ = ("counts", "n", "slow")

    def __init__(self) -> None:
        self.counts = array("I")
        self.n = 0
        self.slow: list[int] = []

    def __len__(self) -> int:
        return self.n

    def add(self, seconds: float) -> None:
        tick = round(seconds * TICKS_PER_S)
        if tick < 0:  # a clock step; never an index from the end
            tick = 0
        self.n += 1
        counts = self.counts
        if tick < len(counts):
            counts[tick] += 1
        elif tick < _CAP:
            grow = max(tick + 1, 2 * len(counts)) - len(counts)
            counts.frombytes(bytes(grow * counts.itemsize))
            counts[tick] += 1
        else:
            self.slow.append(tick)

    def percentiles(self) -> tuple[float, float]:
        """(p50, p95), nearest rank, in seconds rounded to 0.1 ms; (0.0, 0.0) when empty."""
        n = self.n
        if not n:
            return 0.0, 0.0
        ranks = (n // 2, min(n - 1, int(n * 0.95)))
        found: list[int] = []
        seen = 0
        for tick, count in enumerate(self.counts):
            if not count:
                continue
            seen += count
            while len(found) < 2 and ranks[len(found)] < seen:
                found.append(tick)
            if len(found) == 2:
                break
        if len(found) < 2:
            slow = sorted(self.slow)
            found += [slow[rank - seen] for rank in ranks[len(found) :]]
        return found[0] / TICKS_PER_S, found[1] / TICKS_PER_S
