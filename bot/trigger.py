"""GitHub event payload → what to do: run an iteration, act on commands, or nothing.

Comments come from anyone on the internet and the workflow that reads them holds a write
token, so this module is deliberately narrow: commands are recognised only at the start
of a line GitHub renders as plain text (not code, quotes, raw HTML or hidden markup);
edited and deleted comments, comments by bots (ourselves included) and comments on other
issues are ignored with a reason; the permission policy is a plain function so it can be
tested without GitHub.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.markdown_text import plain_lines

ROLES = ("none", "read", "triage", "write", "maintain", "admin")
DEFAULT_BOT_LOGIN = "github-actions[bot]"

_COMMAND = re.compile(r"^ {0,3}/(?P<name>[A-Za-z][A-Za-z0-9_-]*)(?:[ \t]+(?P<rest>.*))?$")


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # lowercase; bot.commands knows which names exist
    args: tuple[str, ...] = ()
    text: str = ""  # the rest of the line (for /why answers)
    raw: str = ""


@dataclass(slots=True)
class Trigger:
    action: str  # run | commands | ignore
    reason: str
    event: str = ""
    deploy: bool = True
    suites: list[str] | None = None
    issue_number: int | None = None
    comment_id: int | None = None
    author: str = ""
    commands: list[Command] = field(default_factory=list)


def parse_commands(body: str) -> list[Command]:
    """Slash commands, one per line, read from the text a reader sees as plain text.

    What a reader cannot see as a command is never run as one: code, quotes, raw HTML and
    whatever markup hides (see :mod:`bot.markdown_text`) carry no command, and lines end only
    at ``\\n`` as GitHub's renderer has them (a U+2028 or ``\\x1e`` starts no new line).
    """
    commands: list[Command] = []
    for line, code in plain_lines(body or ""):
        cm = _COMMAND.match(line.rstrip())
        if not cm or any(code[: cm.end("name")]):
            continue  # the command itself must be plain text, not code
        name = cm["name"].lower()
        rest = (cm["rest"] or "").strip()
        raw = line.strip()[:200]
        commands.append(Command(name, tuple(rest.split()), rest, raw))
    return commands


def role_allows(role: str, minimum: str) -> bool:
    """``role`` is at least ``minimum``; unknown roles are refused (fail closed)."""
    if role not in ROLES or minimum not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(minimum)


def _labels(issue: Mapping[str, Any]) -> set[str]:
    return {
        (lbl.get("name", "") if isinstance(lbl, Mapping) else str(lbl))
        for lbl in issue.get("labels") or []
    }


def _is_bot(user: Mapping[str, Any], bot_login: str) -> bool:
    login = str(user.get("login", "")).casefold()
    # GitHub logins are case-insensitive: GOLDEN_PATH_BOT_LOGIN may be typed in any case
    return user.get("type") == "Bot" or login.endswith("[bot]") or login == bot_login.casefold()


def from_event(
    name: str,
    payload: Mapping[str, Any],
    *,
    tracking_labels: Sequence[str],
    marker: str,
    bot_login: str = DEFAULT_BOT_LOGIN,
) -> Trigger:
    """Decide from the event name and the webhook payload GitHub delivered."""
    if name in ("push", "schedule"):
        return Trigger("run", f"{name}: full iteration", event=name)
    if name == "workflow_dispatch":
        inputs = payload.get("inputs") or {}
        suites_text = str(inputs.get("suites") or "").replace(",", " ").split()
        deploy = str(inputs.get("deploy", "true")).lower() not in ("false", "0", "no")
        return Trigger(
            "run",
            "workflow_dispatch: full iteration",
            event=name,
            deploy=deploy,
            suites=suites_text or None,
        )
    if name != "issue_comment":
        return Trigger("ignore", f"event {name!r} is not one the bot acts on", event=name)
    action = payload.get("action")
    if action != "created":
        return Trigger("ignore", f"comment {action}: only new comments carry commands", event=name)
    issue = payload.get("issue") or {}
    comment = payload.get("comment") or {}
    user = comment.get("user") or {}
    author = str(user.get("login", ""))
    if issue.get("pull_request"):
        return Trigger("ignore", "comment on a pull request, not a tracking issue", event=name)
    if _is_bot(user, bot_login):
        return Trigger("ignore", f"comment by a bot ({author}): ignored to avoid loops", event=name)
    wanted = set(tracking_labels)
    if wanted and not wanted & _labels(issue):
        return Trigger("ignore", "comment on an issue without the tracking label", event=name)
    if marker not in str(issue.get("body") or ""):
        return Trigger(
            "ignore", "comment on another environment's or a non-tracking issue", event=name
        )
    commands = parse_commands(str(comment.get("body") or ""))
    if not commands:
        return Trigger("ignore", "no command in the comment", event=name)
    return Trigger(
        "commands",
        f"{len(commands)} command(s) from {author}",
        event=name,
        issue_number=int(issue.get("number", 0)),
        comment_id=int(comment.get("id", 0)),
        author=author,
        commands=commands,
    )
