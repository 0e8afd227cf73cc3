"""The check types, in the order they run and report, and the iteration's stored form.

Everything generic (the pipeline, the verdict, shards, ``/retest``, results files) asks this
module for the check types instead of naming them; a new check type is registered here once.
"""

from __future__ import annotations

import functools
from typing import Any

from bot.checks.base import CheckType
from bot.results import AuthEvidence, DeployResult, Iteration, Kind


@functools.cache
def _builtin() -> tuple[CheckType, ...]:
    """The packaged check types, cheapest first (imported on first use: httpx, websockets)."""
    from bot.checks.agent_flow import AgentFlowCheck
    from bot.checks.http import HttpCheckType
    from bot.checks.pytest_suite import PytestCheck

    return (HttpCheckType(), AgentFlowCheck(), PytestCheck())


_registered: list[CheckType] = []


def check_types() -> tuple[CheckType, ...]:
    """Every check type: the packaged ones, then any registered with :func:`register`."""
    return (*_builtin(), *_registered)


def register(ct: CheckType) -> None:
    """Add a check type that lives outside this package (it runs after the packaged ones)."""
    if any(other.key == ct.key for other in check_types()):
        raise ValueError(f"a check type with key {ct.key!r} is already registered")
    _registered.append(ct)


def unregister(ct: CheckType) -> None:
    _registered.remove(ct)


def check_type(key: str) -> CheckType:
    for ct in check_types():
        if ct.key == key:
            return ct
    raise KeyError(f"no check type {key!r}")


def iteration_from_dict(data: dict[str, Any]) -> Iteration:
    """Inverse of :meth:`Iteration.to_dict` (results.json, shard files, the state block)."""
    it = Iteration(
        environment=data["environment"],
        started_at=data["started_at"],
        finished_at=data.get("finished_at", ""),
        duration_s=data.get("duration_s", 0.0),
        trigger=data.get("trigger", "manual"),
        sha=data.get("sha", ""),
        run_url=data.get("run_url", ""),
        shard=data.get("shard", ""),
    )
    deploy = data.get("deploy")
    if deploy:
        kind = Kind(deploy["kind"]) if deploy.get("kind") else None
        it.deploy = DeployResult(**{**deploy, "kind": kind})
    if data.get("auth"):
        it.auth = AuthEvidence(**data["auth"])
    for ct in check_types():
        if data.get(ct.key) is not None:
            it.checks[ct.key] = ct.load(data[ct.key])
    return it
