"""The embedded default tracker: the tracking issue as a local Markdown file, or nowhere.

Same rules as the GitHub tracker (people's edits outside the markers survive, state in the
body, archives for old log entries), so a team can try the bot with no token and later
switch trackers without losing history: the file's body is a valid issue body.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from bot import redact, tracking
from bot.config import Config
from bot.publish import Report
from bot.result_files import atomic_write
from bot.runtime import Console
from bot.session import Archive, LogEntry, SessionState

Log = Callable[[str, str], None]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _fill(report: Report, cfg: Config, upd: tracking.Update, where: str) -> None:
    report.verdict = upd.verdict
    report.shown = tracking.shown_iteration(upd.state, cfg.environment)
    report.body = upd.body
    report.where = where
    report.warnings = upd.warnings


def _apply(
    body: str,
    cfg: Config,
    report: Report,
    key: bytes | None,
    docs_url: str,
    *,
    render: bool = True,
) -> tracking.Update:
    """The body after this report, for the trackers that keep it outside GitHub."""
    return tracking.apply(
        body,
        cfg,
        iteration=report.iteration,
        verdict=report.verdict,
        run_log=report.log,
        mutate=report.mutate,
        gather=report.gather,
        key=key,
        docs_url=docs_url,
        render=render,
    )


class LocalTracker:
    """The tracking issue in a file (a :class:`~bot.publish.Publisher`)."""

    def __init__(
        self,
        cfg: Config,
        path: str | Path,
        *,
        log: Log,
        key: bytes | None = None,
        docs_url: str = "",
    ) -> None:
        self.cfg = cfg
        self.path = Path(path)
        self.log = log
        self.key = key
        self.docs_url = docs_url

    def publish(self, report: Report) -> None:
        upd = _apply(_read(self.path), self.cfg, report, self.key, self.docs_url)
        for w in upd.warnings:
            self.log(w, "warning")
        self.archive(upd.state, upd.to_archive)
        if upd.to_archive:  # the archive list is part of the state: render again
            upd.body = tracking.rerender(self.cfg, upd)
        atomic_write(self.path, upd.body)
        _fill(report, self.cfg, upd, str(self.path))

    def archive(self, state: SessionState, entries: Sequence[LogEntry]) -> None:
        """Append old log entries to a sibling file and remember where they went."""
        if not entries:
            return
        archive = self.path.with_name(self.path.stem + ".log-archive.md")
        lines = [f"- {e.at} [{e.level}] {redact.redact(e.text)}" for e in entries]
        with archive.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        state.archives.append(Archive.of(archive.name, entries))


class NoTracker:
    """No tracking issue: print it (``--dry-run``), render it for the job summary, or neither.

    ``--tracker none`` outside Actions shows the body nowhere, so it is not rendered (nor
    is evidence gathered for it): the run is still judged and recorded the same way.
    """

    def __init__(
        self,
        cfg: Config,
        *,
        out: Console,
        dry_run: bool,
        base: str | Path | None = None,
        key: bytes | None = None,
        docs_url: str = "",
        summary: bool = True,
    ) -> None:
        self.cfg = cfg
        self.key = key
        self.docs_url = docs_url
        self.out = out
        self.dry_run = dry_run
        self.base = Path(base) if base else None
        self.summary = summary

    def publish(self, report: Report) -> None:
        upd = _apply(
            _read(self.base) if self.base else "",
            self.cfg,
            report,
            self.key,
            self.docs_url,
            render=self.dry_run or self.summary,
        )
        if self.dry_run:
            self.out.block(upd.body)
        _fill(report, self.cfg, upd, "(dry run)" if self.dry_run else "(no tracker)")
