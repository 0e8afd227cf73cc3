"""Shards: split the agent-flow sessions across jobs, then combine their results into one.

A matrix of ``golden-path run --shard K/N`` jobs each runs a slice; ``golden-path merge``
combines their ``results.json`` files with :func:`combine` and publishes once. How each
check's results combine is the check type's business (:meth:`CheckType.merge`): counts add
up, evidence is concatenated, checks that ran once (in shard 1) are taken as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.checks import check_types
from bot.results import Iteration


def combine(parts: Sequence[Iteration]) -> Iteration:
    """One iteration from the shards' iterations (in shard order)."""
    if not parts:
        raise ValueError("nothing to combine")
    parts = sorted(parts, key=lambda p: p.shard)
    first = parts[0]
    it = Iteration(
        environment=first.environment,
        started_at=min(p.started_at for p in parts),
        finished_at=max(p.finished_at for p in parts),
        duration_s=max(p.duration_s for p in parts),
        trigger=first.trigger,
        sha=first.sha,
        run_url=first.run_url,
        deploy=next((p.deploy for p in parts if p.deploy is not None), None),
        auth=next((p.auth for p in parts if p.auth is not None), None),
    )
    for ct in check_types():
        results = [p.checks[ct.key] for p in parts if p.checks.get(ct.key) is not None]
        if results:
            it.checks[ct.key] = ct.merge(results)
    return it
