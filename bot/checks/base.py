"""The one interface every check type implements, and the outcome every check reports.

A check type (HTTP probes, the WebSocket agent flow, user pytest suites, …) owns everything
that differs between checks: how it runs, what its result *means* (:class:`Outcome`), how
shard results combine, how a ``/retest`` reruns part of it and carries the rest over, and how
its result is stored. Everything generic — the pipeline, the verdict, shards, ``/retest``,
results.json and junit.xml — loops over :func:`bot.checks.check_types` and never names a check
type, so adding one is a module implementing :class:`CheckType` plus its config model
(ARCHITECTURE.md walks through it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from bot.config import Config

Log = Callable[[str, str], None]
Progress = Callable[[int, int, int], None]

PASSED, FAILED, ERRORED, SKIPPED = "passed", "failed", "errored", "skipped"


@dataclass(slots=True)
class Outcome:
    """What one check meant in one iteration. Counts are counts, never kept records."""

    name: str
    component: str  # deploy | health | endpoints | agent_flow | pytest | a new check's own
    state: str  # passed | failed | errored (could not run at all) | skipped
    passed: int = 0  # units that passed, flaky ones included
    failed: int = 0  # units that failed; an errored check counts as one
    flaky: int = 0  # of ``passed``: passed only on retry
    kinds: dict[str, int] = field(default_factory=dict)  # failure kind → how many units
    sample: str = ""  # one failure's message, as evidence
    golden: bool = False  # its units are golden-path tests (the N/target)
    detail: str = ""  # one line for people, e.g. "0.012s" or "19/20 passed in 0.81s"
    file: str | None = None  # where an annotation should point (pytest failures)

    @property
    def total(self) -> int:
        return self.passed + self.failed

    @property
    def ok(self) -> bool:
        return self.state in (PASSED, SKIPPED)


@dataclass(slots=True)
class Finding:
    """One kind of failure of one check, for annotations and the report's failure table."""

    check: str
    kind: str
    message: str
    count: int = 1  # units failing this way: a count, never the number of records kept
    file: str | None = None


@dataclass(slots=True)
class JunitCase:
    """One ``<testcase>`` of junit.xml."""

    name: str
    classname: str
    time_s: float = 0.0
    failure: str | None = None
    kind: str = "failure"  # failure | error
    skipped: bool = False


@dataclass(slots=True)
class CheckContext:
    """What a check may use while it runs; everything is resolved before any check starts."""

    cfg: Config
    base_url: str | None
    token: str | None
    log: Log
    env: Mapping[str, str] = field(default_factory=dict)  # what child processes inherit
    shard: tuple[int, int] | None = None
    sessions: int | None = None  # overrides checks.agent_flow.sessions
    progress: Progress | None = None


class CheckType:
    """Base of every check type; the defaults suit a check with one all-or-nothing result.

    ``only`` (for :meth:`run` and :meth:`carry_over`) is what a ``/retest`` asked of this
    check: ``None`` means all of it, otherwise the value :meth:`failed_part` or
    :meth:`retest_selection` returned (e.g. session indices, suite names).
    """

    key: ClassVar[str]
    """Its key in ``Iteration.checks``, ``results.json`` and the session state."""
    names: ClassVar[frozenset[str]] = frozenset()
    """Words ``/retest <name>`` accepts for the whole check (lowercase)."""
    every_shard: ClassVar[bool] = False
    """Runs a slice in every shard; other checks run once, in shard 1."""
    alone: ClassVar[bool] = False
    """Runs after the others, by itself: it needs the machine's CPU (user pytest suites)."""

    def enabled(self, cfg: Config) -> bool:
        raise NotImplementedError

    async def run(self, ctx: CheckContext, only: Any) -> Any:
        raise NotImplementedError

    def not_run(self) -> Any:
        """The result recorded when the check is configured but this run skipped it."""
        return None

    def outcomes(self, result: Any) -> list[Outcome]:
        raise NotImplementedError

    def findings(self, result: Any) -> list[Finding]:
        """Failures grouped by check and kind; the counts add up to the outcomes' ``failed``."""
        return [
            Finding(o.name, kind, o.sample, n, o.file)
            for o in self.outcomes(result)
            if not o.ok
            for kind, n in o.kinds.items()
        ]

    def failed_part(self, result: Any) -> Any:
        """What a plain ``/retest`` reruns (JSON-able); falsy when nothing failed."""
        return any(not o.ok for o in self.outcomes(result))

    def retest_names(self, cfg: Config) -> set[str]:
        """Every word ``/retest`` accepts for this check, lowercase."""
        return set(self.names)

    def retest_selection(self, cfg: Config, names: Sequence[str]) -> Any:
        """What to rerun for these of its names (lowercase); None means all of it."""
        return None

    def carry_over(self, prev: Any, new: Any, only: Any) -> Any:
        """A partial rerun completed with what passed before; default: the rerun replaces all."""
        return new

    def merge(self, parts: Sequence[Any]) -> Any:
        """Shard results as one; default: the first shard's (checks that run once)."""
        return parts[0]

    def dump(self, result: Any) -> Any:
        if isinstance(result, list):
            return [dataclasses.asdict(r) for r in result]
        return dataclasses.asdict(result)

    def load(self, data: Any) -> Any:
        raise NotImplementedError

    def stored(self, result: Any) -> Any:
        """The result as results.json keeps it (default: whole). Counts stay exact; a check
        with one record per unit may keep a bounded sample of identical failures."""
        return result

    def compact(self, result: Any) -> Any:
        """The result as kept in the issue's state block: evidence capped, counts exact.

        Works on the result, before it is dumped: a run with 10,000 failed sessions must
        not serialise them all to keep ten.
        """
        return result

    def cases(self, result: Any) -> Iterable[JunitCase]:
        """junit.xml test cases; default: one per outcome."""
        return [
            JunitCase(
                o.name,
                f"golden_path.{o.component}",
                failure=None if o.ok else (o.sample or o.state),
                kind="error" if o.state == ERRORED else "failure",
                skipped=o.state == SKIPPED,
            )
            for o in self.outcomes(result)
        ]
