"""Where a run's report goes: one small interface for every destination.

A :class:`Report` carries one run's facts and verdict on its way out. Trackers (the GitHub
issue, the local file, nowhere) fold it into the session and fill in the body and where it
went; the Actions publisher then writes the job summary, annotations and outputs from the
same report, so every destination shows the same verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.results import Iteration
    from bot.session import LogEntry, SessionState
    from bot.verdict import Verdict


@dataclass(slots=True)
class Report:
    """One run's output. ``iteration`` None re-renders the stored state (``/status``)."""

    iteration: Iteration | None
    verdict: Verdict | None
    log: Sequence[LogEntry] = ()
    mutate: Callable[[SessionState], None] | None = None  # e.g. record a /why answer
    gather: Callable[[SessionState, Iteration, Verdict], None] | None = None  # evidence
    results_path: Path | None = None
    # filled in by the tracker
    shown: Iteration | None = None  # the iteration the body shows
    body: str = ""
    where: str = ""  # for people: a URL, a path, "(dry run)"
    issue_number: int | None = None
    issue_url: str = ""
    warnings: list[str] = field(default_factory=list)


class Publisher(Protocol):
    """A destination for a run's report."""

    def publish(self, report: Report) -> None: ...


class PublishError(RuntimeError):
    """A tracker could not be updated; its state was kept for the next run to merge back."""
