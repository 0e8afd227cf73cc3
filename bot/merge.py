"""Combine shard results into one iteration, so a matrix publishes once.

Counts add up; per-session evidence is concatenated; checks that every shard ran (health,
endpoints) are taken from the first shard that has them, because running them N times
measures the same thing N times.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.results import FlowSummary, Iteration, SuiteResult


def _merge_flow(flows: Sequence[FlowSummary]) -> FlowSummary:
    out = FlowSummary(url=flows[0].url)
    for f in flows:
        out.total += f.total
        out.passed += f.passed
        out.flaky += f.flaky
        out.failed += f.failed
        out.failures.extend(f.failures)
        out.flaky_sessions.extend(f.flaky_sessions)
        for k, v in f.event_seen.items():
            out.event_seen[k] = out.event_seen.get(k, 0) + v
        for k, v in f.kinds.items():
            out.kinds[k] = out.kinds.get(k, 0) + v
        out.wall_s = max(out.wall_s, f.wall_s)
        out.concurrency += f.concurrency
    out.failures.sort(key=lambda s: s.index)
    out.flaky_sessions.sort()
    p50s = [f.latency_p50_s for f in flows if f.latency_p50_s is not None]
    p95s = [f.latency_p95_s for f in flows if f.latency_p95_s is not None]
    out.latency_p50_s = sorted(p50s)[len(p50s) // 2] if p50s else None
    out.latency_p95_s = max(p95s) if p95s else None
    return out


def _merge_suites(parts: Sequence[Iteration]) -> list[SuiteResult]:
    by_name: dict[str, SuiteResult] = {}
    for it in parts:
        for s in it.suites:
            m = by_name.setdefault(s.name, SuiteResult(name=s.name))
            m.passed += s.passed
            m.failed += s.failed
            m.skipped += s.skipped
            m.errors += s.errors
            m.flaky += s.flaky
            m.duration_s = max(m.duration_s, s.duration_s)
            m.cases.extend(s.cases)
            m.error = "; ".join(e for e in (m.error, s.error) if e)
    for m in by_name.values():
        m.cases.sort(key=lambda c: c.nodeid)
    return list(by_name.values())


def merge_iterations(parts: Sequence[Iteration]) -> Iteration:
    if not parts:
        raise ValueError("nothing to merge")
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
        http=next((p.http for p in parts if p.http), []),
        auth=next((p.auth for p in parts if p.auth is not None), None),
    )
    flows = [p.flow for p in parts if p.flow is not None and not p.flow.skipped]
    if flows:
        it.flow = _merge_flow(flows)
    it.suites = _merge_suites(parts)
    return it
