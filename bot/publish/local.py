"""The embedded default tracker: the tracking issue as a local Markdown file.

Same rules as the GitHub tracker (people's edits outside the markers survive, state in
the body, archives for old log entries), so a team can try the bot with no token and
later switch trackers without losing history: the file's body is a valid issue body.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot import redact
from bot.report import _atomic_write
from bot.session import Archive, LogEntry, SessionState


class LocalTracker:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def ref(self) -> str:
        return str(self.path)

    def read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def write(self, body: str) -> None:
        _atomic_write(self.path, body)

    def archive(self, state: SessionState, entries: Sequence[LogEntry]) -> None:
        """Append old log entries to a sibling file and remember where they went."""
        if not entries:
            return
        archive = self.path.with_name(self.path.stem + ".log-archive.md")
        lines = [f"- {e.at} [{e.level}] {redact.redact(e.text)}" for e in entries]
        with archive.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        state.archives.append(Archive.of(archive.name, entries))
