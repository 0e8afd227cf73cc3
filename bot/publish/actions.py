"""Workflow commands and the ``$GITHUB_*`` files: the one place that speaks to the runner.

:class:`GitHubActions` is built from an environment mapping (nothing is read at import),
so tests drive it with plain dicts and temp files. Everything it writes passes through
:func:`bot.redact.redact` first — except ``::add-mask::`` values, which *are* the secrets.

Formats follow @actions/core: workflow-command data escapes ``%``, CR and LF (properties
also ``:`` and ``,``) so a multi-line message keeps every line; ``$GITHUB_OUTPUT`` takes
``name=value``, or a heredoc with a random delimiter when the value spans lines.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.issue_format import BOT_COMMENT, SUMMARY_LIMIT, owned_region
from bot.redact import REDACTOR, redact

if TYPE_CHECKING:
    from bot.publish import Report
    from bot.results import Iteration
    from bot.verdict import Verdict
#: GitHub shows at most 10 error and 10 warning annotations per step.
ANNOTATIONS_PER_LEVEL = 10
LEVELS = ("error", "warning", "notice")
OUTPUTS = (
    "status",
    "passed",
    "failed",
    "total",
    "issue-number",
    "issue-url",
    "results-path",
)

_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TRIM_NOTE = (
    "\n\n> [!WARNING]\n> This summary was trimmed to GitHub's 1 MiB job-summary limit; "
    "the full report is in the tracking issue and `results.json`.\n"
)


def escape_data(value: str) -> str:
    """@actions/core's escaping, plus ``##[``: the runner's legacy parser finds it anywhere."""
    escaped = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return escaped.replace("##[", "##\u2060[")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


class GitHubActions:
    """Workflow commands (stdout) and the ``$GITHUB_OUTPUT`` / ``$GITHUB_STEP_SUMMARY`` files.

    Outside Actions (``GITHUB_ACTIONS`` is not ``"true"``) no workflow command is printed;
    the files are still written when their variables name one, so a local run can ask
    for them explicitly.
    """

    def __init__(self, env: Mapping[str, str], stream: TextIO | None = None) -> None:
        self.env = dict(env)
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    @property
    def in_actions(self) -> bool:
        return self.env.get("GITHUB_ACTIONS") == "true"

    # -- workflow commands ----------------------------------------------------------------
    def command(self, name: str, message: str = "", **props: str | int | None) -> None:
        """``::name k=v,…::message``, redacted and escaped; nothing outside Actions."""
        if not self.in_actions:
            return
        self._command(name, redact(message), {k: redact(str(v)) for k, v in props.items() if v})

    def _command(self, name: str, message: str, props: Mapping[str, str] | None = None) -> None:
        params = ",".join(f"{k}={escape_property(v)}" for k, v in (props or {}).items())
        self.stream.write(f"::{name}{' ' + params if params else ''}::{escape_data(message)}\n")
        self.stream.flush()

    def mask(self, value: str) -> None:
        """``::add-mask::`` for each line of ``value`` (the runner masks line by line)."""
        if not self.in_actions or not value:
            return
        for line in value.splitlines():
            if line.strip():
                self._command("add-mask", line)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        """Fold the output printed inside into one collapsible ``::group::``."""
        self.command("group", title)
        try:
            yield
        finally:
            self.command("endgroup")

    def annotate(
        self,
        level: str,
        message: str,
        title: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"annotation level {level!r}: use one of {', '.join(LEVELS)}")
        self.command(level, message, title=title, file=file, line=line)

    # -- $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY -------------------------------------------
    def output(self, name: str, value: object) -> None:
        """Append ``name`` to ``$GITHUB_OUTPUT``; a no-op when the variable is unset."""
        if not _OUTPUT_NAME.match(name):
            raise ValueError(f"output name {name!r}: letters, digits, '-' and '_' only")
        path = self.env.get("GITHUB_OUTPUT")
        if not path:
            return
        text = redact("" if value is None else str(value))
        if "\n" in text or "\r" in text:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            while delimiter in text:  # pragma: no cover - 122 random bits
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
            entry = f"{name}<<{delimiter}\n{text}\n{delimiter}\n"
        else:
            entry = f"{name}={text}\n"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(entry)

    def summary(self, markdown: str) -> bool:
        """Append to ``$GITHUB_STEP_SUMMARY`` within the step's 1 MiB; False when not written."""
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if not path:
            return False
        try:
            used = Path(path).stat().st_size
        except FileNotFoundError:
            used = 0
        text = trim_markdown(redact(markdown).rstrip("\n") + "\n", SUMMARY_LIMIT - used)
        if not text:
            return False
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
        return True


def trim_markdown(text: str, budget: int, note: str = _TRIM_NOTE) -> str:
    """``text`` if it fits ``budget`` UTF-8 bytes; else cut at a line boundary, plus ``note``.

    Code fences and ``<details>`` left open by the cut are closed, so the note renders
    as text instead of disappearing into a code block. Returns "" when not even the note fits.
    """
    data = text.encode("utf-8")
    if len(data) <= budget:
        return text
    room = budget - len(note.encode("utf-8"))
    while room > 0:
        cut = data[:room]
        kept = cut[: cut.rfind(b"\n") + 1]  # "" when there is no whole line
        head = kept.decode("utf-8", errors="ignore")
        closing = ""
        if sum(1 for ln in head.splitlines() if ln.lstrip().startswith("```")) % 2:
            closing += "```\n"
        closing += "</details>\n" * max(0, head.count("<details") - head.count("</details>"))
        out = head + closing + note
        if len(out.encode("utf-8")) <= budget:
            return out
        room -= len(closing.encode("utf-8"))
    return ""


def install_masks(actions: GitHubActions) -> None:
    """Emit ``::add-mask::`` for every secret registered with the redactor, now or later."""
    REDACTOR.on_register(actions.mask)


def summary_markdown(body: str, *, issue_number: int | None = None, issue_url: str = "") -> str:
    """The job summary: the bot's section of the tracking issue, without markers or state."""
    region = owned_region(body)
    if region is not None:
        body = body[region[0] : region[1]]
    text = BOT_COMMENT.sub("", body).strip("\n")
    if issue_url:
        ref = f"#{issue_number}" if issue_number is not None else "tracking issue"
        text += f"\n\n---\nTracking issue: [{ref}]({issue_url})"
    return text + "\n"


def annotate_findings(actions: GitHubActions, it: Iteration | None, verdict: Verdict) -> int:
    """One ``::error`` per failed check and kind, one ``::warning`` per flaky one.

    GitHub shows only ten of each level per step, so the tenth says how many more exist.
    """
    errors = [
        (f"{f.check}: {f.kind}", f.message or str(f.kind), f.count, f.file)
        for f in verdict.findings
    ]
    warnings: list[tuple[str, str, int, str | None]] = []
    if it is not None and it.flow and it.flow.flaky:
        shown = ", ".join(f"#{i}" for i in it.flow.flaky_sessions[:20])
        warnings.append(
            (
                "agent flow: flaky",
                f"{it.flow.flaky} session(s) passed only on retry"
                + (f": {shown}" if shown else ""),
                it.flow.flaky,
                None,
            )
        )
    for suite in it.suites if it is not None else []:
        for case in suite.cases:
            if case.flaky:
                path = case.nodeid.split("::", 1)[0]
                file = path if "::" in case.nodeid and path.endswith(".py") else None
                warnings.append(
                    (f"{case.nodeid}: flaky", f"passed after {case.attempts} attempts", 1, file)
                )
    n = 0
    for level, items in (("error", errors), ("warning", warnings)):
        for i, (title, message, count, file) in enumerate(items):
            if i == ANNOTATIONS_PER_LEVEL - 1 and len(items) > ANNOTATIONS_PER_LEVEL:
                rest = len(items) - i
                actions.annotate(
                    level,
                    f"{rest} more {level}s not shown here: see the job summary",
                    title=f"golden path: {rest} more",
                )
                n += 1
                break
            if count > 1:
                message = f"{message}\n({count} occurrences)"
            actions.annotate(level, message, title=title, file=file)
            n += 1
    return n


def outputs(report: Report) -> dict[str, object]:
    """The step outputs, from the verdict the issue shows."""
    verdict = report.verdict
    counts = verdict.counts if verdict is not None else None
    return {
        "status": verdict.status if verdict is not None else "",
        "passed": counts.passed if counts else "",
        "failed": counts.failed if counts else "",
        "total": counts.total if counts else "",
        "issue-number": "" if report.issue_number is None else report.issue_number,
        "issue-url": report.issue_url,
        "results-path": str(report.results_path or ""),
    }


class ActionsPublisher:
    """Job summary, annotations and step outputs (a :class:`~bot.publish.Publisher`)."""

    def __init__(self, actions: GitHubActions) -> None:
        self.actions = actions

    def publish(self, report: Report) -> None:
        actions = self.actions
        if report.body:
            actions.summary(
                summary_markdown(
                    report.body, issue_number=report.issue_number, issue_url=report.issue_url
                )
            )
        if report.verdict is not None:
            annotate_findings(actions, report.iteration, report.verdict)
        for name, value in outputs(report).items():
            actions.output(name, value)
