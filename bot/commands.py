"""Slash commands on the tracking issue: one table of name, usage, help, who may, handler.

``/help`` and the README's command table are generated from :data:`COMMANDS`, and the
parser recognises exactly its names, so a command exists in one place. Every command needs
``commands.min_permission`` on the repository (the permission check in :mod:`bot.events` is
the only gate: ``issue_comment`` workflows run with secrets for any commenter).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from bot import history, pipeline
from bot.checks import check_types
from bot.config import Config
from bot.render import code_span
from bot.session import SessionState
from bot.trigger import Command

WHO = "commands.min_permission"
_QUOTED_EXAMPLE = '/retest "smoke tests"'


class CommandRun(Protocol):
    """What a handler may do: implemented by :class:`bot.events.IssueCommands`."""

    author: str
    state: SessionState
    failed: bool

    @property
    def cfg(self) -> Config: ...

    def reply(self, body: str) -> None: ...

    def rerender(self, mutate: Callable[[SessionState], None] | None = None) -> None: ...

    def iterate(
        self, opts: pipeline.RunOptions, *, carry_from: SessionState | None, cmd: Command
    ) -> None: ...


Handler = Callable[[CommandRun, Command], None]


def words(text: str) -> list[str]:
    """Arguments as a shell would split them, so ``"smoke tests"`` is one name."""
    try:
        return shlex.split(text)
    except ValueError:  # an unbalanced quote: plain words, never an error
        return text.split()


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str
    help: str
    handler: Handler = field(repr=False)
    who: str = WHO


def _help(run: CommandRun, cmd: Command) -> None:
    run.reply(help_text(run.cfg.commands.min_permission))


def _status(run: CommandRun, cmd: Command) -> None:
    run.rerender()


_WHY_USAGE = "/why [<blocker>] <2-5> <answer>"


def _why(run: CommandRun, cmd: Command) -> None:
    """``/why N <answer>`` for the current blocker; ``/why B2 N <answer>`` for another;
    ``<answer>`` ``accept`` confirms the proposal shown for that WHY."""
    args = list(cmd.args)
    ident = args.pop(0) if args and re.fullmatch(r"(?i)B\d+", args[0]) else ""
    if len(args) < 2 or not args[0].isdigit() or not 2 <= int(args[0]) <= 5:
        run.failed = True
        run.reply(
            f"Usage: {code_span(_WHY_USAGE)} — e.g. "
            f"{code_span('/why 2 the backend reads JWT_SECRET from a stale secret')}, "
            f"{code_span('/why 3 accept')} to confirm a proposal, or {code_span('/why B1 4 …')} "
            "for an earlier blocker"
        )
        return
    n = int(args[0])
    rest = cmd.text.split(None, 2 if ident else 1)[-1].strip()[:1000]
    author = run.author
    blocker = run.state.blocker(ident) if ident else run.state.current_blocker
    if blocker is None:
        run.failed = True
        known = ", ".join(code_span(b.id) for b in run.state.blockers) or "none yet"
        run.reply(
            f"No blocker {code_span(ident)} in this session (known: {known})."
            if ident
            else "There is no blocker open right now: name one, e.g. "
            f"{code_span('/why B1 2 …')} (known: {known})."
        )
        return
    target_id = blocker.id
    if rest.casefold() == "accept":
        given = blocker.whys.get(str(n))
        if given is not None:  # a person's answer is never replaced by a proposal
            run.failed = True
            run.reply(
                f"WHY {n} of {code_span(target_id)} already has an answer by "
                f"{code_span(given.get('author', ''))}; answer again to change it."
            )
            return
        if blocker.proposals.get(str(n)) is None:
            run.failed = True
            run.reply(f"There is no proposed answer to WHY {n} of {code_span(target_id)}.")
            return

    def record(state: SessionState) -> None:
        target = state.blocker(target_id)
        if target is None:
            return
        if rest.casefold() == "accept" and str(n) in target.proposals:
            proposal = target.proposals.pop(str(n))
            text = f"{proposal['answer']} (proposed by {proposal['by']}, accepted)"
            state.set_why(n, text, author, blocker=target)
            state.add_log(f"WHY {n} of {target_id}: proposal accepted by {author}", "info")
        else:
            target.proposals.pop(str(n), None)  # a person answered: the proposal is moot
            state.set_why(n, rest, author, blocker=target)
            state.add_log(f"WHY {n} of {target_id} answered by {author}", "info")

    run.rerender(record)


def _deploy(run: CommandRun, cmd: Command) -> None:
    run.iterate(pipeline.RunOptions(deploy=True), carry_from=None, cmd=cmd)


def retest_plan(
    cmd: Command, state: SessionState, cfg: Config
) -> tuple[pipeline.RunOptions, bool] | str:
    """Options for ``/retest``, and whether to carry over what is not rerun; or a reply."""
    deploy_failed, failed = history.last_failed(state)
    args = words(cmd.text)
    names = [a.casefold() for a in args]
    if names == ["all"]:
        return pipeline.RunOptions(deploy=False), False
    if names:
        types = [ct for ct in check_types() if ct.enabled(cfg)]
        known = {n.casefold() for ct in types for n in ct.retest_names(cfg)}
        unknown = [a for a, n in zip(args, names, strict=True) if n not in known]
        if unknown:
            shown = sorted(
                {"agent-flow", "health", "endpoints"} | {s.name for s in cfg.checks.pytest}
            )
            return (
                f"Nothing to retest named {', '.join(code_span(u) for u in unknown)}. "
                f"Known: {', '.join(code_span(n) for n in shown)} "
                f"(quote names with spaces: {code_span(_QUOTED_EXAMPLE)})."
            )
        only: dict[str, Any] = {}
        for ct in types:
            mine = [n for n in names if n in {x.casefold() for x in ct.retest_names(cfg)}]
            if mine:
                part = ct.retest_selection(cfg, mine)
                only[ct.key] = True if part is None else part
        return pipeline.RunOptions(deploy=False, only=only), True
    if deploy_failed:
        return pipeline.RunOptions(deploy=True), False
    if not failed or not state.last_iteration:
        return pipeline.RunOptions(deploy=False), False  # nothing known to have failed: all
    return pipeline.RunOptions(deploy=False, only=failed), True


def _host(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return (parts.hostname or "", parts.port)


def trusted_target(state: SessionState, cfg: Config) -> str | None:
    """Where the last deploy went, if the bot may send a token there.

    The URL comes from the issue's state, which a person can edit: it is used only when the
    state's signature checked out, or when its host is the one the config names.
    """
    url = str((state.last_iteration.get("deploy") or {}).get("url") or "")
    if not url:
        return None
    configured = [u for u in (cfg.target.base_url, cfg.deploy.url if cfg.deploy else None) if u]
    if state.verified or any(_host(url) == _host(c) for c in configured):
        return url
    return None


def _retest(run: CommandRun, cmd: Command) -> None:
    plan = retest_plan(cmd, run.state, run.cfg)
    if isinstance(plan, str):
        run.failed = True
        run.reply(plan)
        return
    opts, carry = plan
    if not opts.deploy:
        opts.deployed_url = trusted_target(run.state, run.cfg)
        if opts.deployed_url is None and run.cfg.base_url(None) is None:
            run.failed = True
            run.reply(
                "I cannot tell where the last deployment went: the issue's record of it is not "
                "signed by the bot, and the config names no target. Comment "
                f"{code_span('/deploy')} to deploy and test, or set "
                f"{code_span('target.base_url')}."
            )
            return
    run.iterate(opts, carry_from=run.state if carry else None, cmd=cmd)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "retest",
        "/retest",
        "rerun what failed in the last iteration (failed checks, the failed sessions only, "
        "failed suites), without redeploying; what passed before is carried over",
        _retest,
    ),
    CommandSpec("retest", "/retest all", "rerun every check, without redeploying", _retest),
    CommandSpec(
        "retest",
        "/retest <name>…",
        "rerun named parts: a pytest suite (any case; quote names with spaces), "
        "`agent-flow` (or `websocket`), `health`, `endpoints` (or `api`)",
        _retest,
    ),
    CommandSpec("deploy", "/deploy", "redeploy, then run a full iteration", _deploy),
    CommandSpec(
        "status", "/status", "refresh the issue from the stored state; runs no tests", _status
    ),
    CommandSpec(
        "why",
        "/why <2-5> <answer>",
        "record the team's answer to that WHY; shown with author and time, kept across iterations",
        _why,
    ),
    CommandSpec("help", "/help", "reply with this list", _help),
)

#: Every command word the parser recognises.
NAMES: tuple[str, ...] = tuple(dict.fromkeys(c.name for c in COMMANDS))


def handler(name: str) -> Handler | None:
    return next((c.handler for c in COMMANDS if c.name == name), None)


def table(rows: Sequence[CommandSpec] = COMMANDS) -> str:
    """The Markdown table of commands (``/help`` and the README)."""
    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| `{c.usage}` | {c.help} |" for c in rows]
    return "\n".join(lines)


def help_text(minimum: str) -> str:
    return (
        f"**Golden Path Bot commands** (one per line, for collaborators with "
        f"{code_span(minimum)} permission or more):\n\n{table()}\n"
    )
