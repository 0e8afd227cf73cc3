"""``golden-path handle-event``: act on the GitHub event this workflow run was started by.

push / workflow_dispatch / schedule → a full iteration. A comment on the tracking issue →
its commands (:mod:`bot.commands`), after the permission check (the only gate:
``issue_comment`` workflows run with the repository's secrets for any commenter).
Acknowledged with reactions: 👀 accepted, 🚀 the iteration finished green, 😕 failure or
refusal.

Before the permission check, two quiet exits (no reaction, no reply): the issue must be
the environment's real tracking issue — found as publishing finds it, because a copied
marker and label are easy to fake and the issue's state steers ``/retest`` — and the
comment must still exist (a command deleted before its run started is withdrawn).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import commands, trigger
from bot.config import Config, ConfigError
from bot.issue_format import env_marker
from bot.pipeline import RunOptions
from bot.publish import Report
from bot.publish.github import GitHub
from bot.publish.tracking_issue import GitHubTracker
from bot.render import code_span
from bot.runner import Run, select_suites
from bot.runtime import EXIT_FAILED, EXIT_OK, RunLog
from bot.session import SessionState, StateError, read_state
from bot.settings import Settings
from bot.verdict import REFUSED, STATUSES

if TYPE_CHECKING:
    from github.Issue import Issue
    from github.IssueComment import IssueComment


def read_event(settings: Settings) -> tuple[str, Mapping[str, Any]]:
    """The event's name and payload, as Actions delivers them."""
    name, path = settings.event_name, settings.event_path
    if not name or not path:
        raise ConfigError(
            "handle-event: GITHUB_EVENT_NAME and GITHUB_EVENT_PATH are not set — this "
            "command runs inside GitHub Actions (use `golden-path run` elsewhere)"
        )
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"GITHUB_EVENT_PATH {path!r}: cannot read the event payload ({exc})"
        ) from None
    return name, payload


def handle(
    run: Run,
    name: str,
    payload: Mapping[str, Any],
    *,
    suites: list[str] | None = None,
    gh: GitHub | None = None,
) -> int:
    cfg = run.cfg
    decision = trigger.from_event(
        name,
        payload,
        tracking_labels=cfg.tracking.labels,
        marker=env_marker(cfg.environment),
        bot_login=run.settings.bot_login,
    )
    run.console.line(f"golden-path: {name}: {decision.reason}")
    if decision.action == "ignore":
        return EXIT_OK
    if decision.action == "run":
        opts = RunOptions(
            deploy=decision.deploy and run.settings.deploy,
            only=select_suites(decision.suites or suites),
            trigger=name,
        )
        return run.iterate(opts, tracker="github", gh=gh)
    return _commands(run, decision, gh or GitHub.from_settings(run.settings))


@dataclass(slots=True)
class IssueCommands:
    """What a command handler works with: the issue, the comment, and how to act."""

    run: Run
    gh: GitHub
    tracker: GitHubTracker
    issue: Issue
    comment: IssueComment
    author: str
    state: SessionState
    results: list[int] = field(default_factory=list)
    failed: bool = False

    @property
    def cfg(self) -> Config:
        return self.run.cfg

    def reply(self, body: str) -> None:
        """Answer on the issue; a refused reply (locked issue, rate limit) is logged, not fatal."""
        try:
            self.gh.comment(self.issue, body)
        except Exception as exc:
            self.run.log(f"could not reply on the issue: {type(exc).__name__}", "warning")

    def react(self, content: str) -> None:
        _react(self.gh, self.comment, content, self.run.log)

    def rerender(self, mutate: Callable[[SessionState], None] | None = None) -> None:
        """Refresh the issue from its stored state (``/status``, ``/why``)."""
        report = Report(None, None, self.run.log.entries, mutate=mutate)
        self.tracker.publish(report)

    def iterate(
        self, opts: RunOptions, *, carry_from: SessionState | None, cmd: trigger.Command
    ) -> None:
        opts.trigger = f"/{cmd.name} by {self.author}"
        self.run.log.entries.clear()
        self.run.log(f"{cmd.raw} requested by {self.author}", "info")
        self.results.append(self.run.iterate(opts, tracker=self.tracker, carry_from=carry_from))


def _react(gh: GitHub, target: Issue | IssueComment, content: str, log: RunLog) -> None:
    try:
        gh.react(target, content)
    except Exception as exc:  # an acknowledgement must never stop the work
        log(f"could not add the {content} reaction: {type(exc).__name__}", "warning")


def _commands(run: Run, decision: trigger.Trigger, gh: GitHub) -> int:
    cfg = run.cfg
    tracker = run.tracker("github", gh=gh)
    assert isinstance(tracker, GitHubTracker)
    issue = tracker.find()
    if issue is None or issue.number != decision.issue_number:
        # The webhook said the issue carries our marker and label, but anyone can copy
        # those: only the environment's real tracking issue takes commands (its state
        # steers /retest, so a look-alike's state must never be read).
        run.console.line(
            f"golden-path: ignored: #{decision.issue_number} is not the {cfg.environment} "
            "tracking issue"
        )
        return EXIT_OK
    comment = gh.get_comment(issue, decision.comment_id or 0)
    if comment is None:
        run.console.line("golden-path: ignored: the comment was deleted before it was handled")
        return EXIT_OK
    # the comment as it reads now, not as the webhook sent it: a command edited away
    # ("/deploy" → "never mind") before this run started is withdrawn
    decision.commands = trigger.parse_commands(comment.body or "")
    if not decision.commands:
        run.console.line("golden-path: ignored: the comment no longer holds a command")
        return EXIT_OK
    minimum = cfg.commands.min_permission
    try:
        role = gh.permission(decision.author)
    except Exception as exc:  # fail closed: no permission answer, no command
        run.log(f"permission check failed ({type(exc).__name__}); refusing", "warning")
        role = "unknown"
    try:
        state = read_state(issue.body or "", run.state_key) or SessionState(
            environment=cfg.environment
        )
    except StateError:
        state = SessionState(environment=cfg.environment)
    ctx = IssueCommands(run, gh, tracker, issue, comment, decision.author, state)
    if not trigger.role_allows(role, minimum):
        ctx.react("confused")
        ctx.reply(
            f"Commands are for collaborators with {code_span(minimum)} permission or more; "
            f"{code_span(decision.author)} has {code_span(role)}. Nothing was run."
        )
        run.console.line(f"golden-path: refused {decision.author} ({role} < {minimum})")
        run.refused(issue)
        return STATUSES[REFUSED].exit_code
    ctx.react("eyes")
    for cmd in decision.commands:
        run.log(f"command {cmd.raw} from {decision.author}", "info")
        handle_one = commands.handler(cmd.name)
        if handle_one is None:
            ctx.failed = True
            ctx.reply(f"Unknown command {code_span(cmd.raw)}.\n\n" + commands.help_text(minimum))
            continue
        handle_one(ctx, cmd)
    if ctx.results:
        green = all(code == EXIT_OK for code in ctx.results)
        ctx.react("rocket" if green and not ctx.failed else "confused")
        return EXIT_OK if green else EXIT_FAILED
    if ctx.failed:
        ctx.react("confused")
    return EXIT_OK


def handle_event(run: Run, suites: list[str] | None = None) -> int:
    """The ``handle-event`` verb."""
    name, payload = read_event(run.settings)
    return handle(run, name, payload, suites=suites)


__all__ = ["IssueCommands", "handle", "handle_event", "read_event"]
