"""GitHub event payload → what to do: run an iteration, act on commands, or nothing.

Comments come from anyone on the internet and the workflow that reads them holds a write
token, so this module is deliberately narrow: commands are recognised only at the start
of a line, outside code blocks and quotes; edited and deleted comments, comments by bots
(ourselves included) and comments on other issues are ignored with a reason; the
permission policy is a plain function so it can be tested without GitHub.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ROLES = ("none", "read", "triage", "write", "maintain", "admin")
DEFAULT_BOT_LOGIN = "github-actions[bot]"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HTML_COMMENT = re.compile(r"^ {0,3}<!--")
_COMMAND = re.compile(r"^\s{0,3}/(?P<name>[A-Za-z][A-Za-z0-9_-]*)(?:[ \t]+(?P<rest>.*))?$")


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
    """Slash commands, one per line, ignoring fenced/indented code, quotes, HTML comments.

    Code and comments follow CommonMark as GitHub renders it: a fence is closed only by a
    line of the same fence characters (at least as many) and nothing else, and an HTML
    comment block hides every line up to the one holding ``-->``. What a reader cannot
    see as a command is never run as one.
    """
    commands: list[Command] = []
    fence: str | None = None
    in_comment = False
    for line in (body or "").splitlines():
        m = _FENCE.match(line)
        if fence is not None:
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and not line[m.end() :].strip()
            ):
                fence = None
            continue
        if in_comment:
            in_comment = "-->" not in line
            continue
        if m:
            fence = m.group(1)
            continue
        if _HTML_COMMENT.match(line):
            in_comment = "-->" not in line.split("<!--", 1)[1]
            continue
        if line.startswith(("    ", "\t")) or line.lstrip().startswith(">"):
            continue
        cm = _COMMAND.match(line.rstrip())
        if not cm:
            continue
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
