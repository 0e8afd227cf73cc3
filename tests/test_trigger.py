"""Event payloads → decisions; slash-command parsing; the permission policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.issue_format import env_marker
from bot.trigger import ROLES, Command, from_event, parse_commands, role_allows

EVENTS = Path(__file__).parent / "data" / "events"
MARKER = env_marker("staging")


def _payload(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def _comment(body: str, **changes: object) -> dict:
    p = _payload("issue_comment")
    p["issue"]["body"] = f"text\n{MARKER}\n"
    p["comment"]["body"] = body
    for key, value in changes.items():
        target, _, field = key.partition("__")
        p[target][field] = value
    return p


def _decide(name: str, payload: dict):
    return from_event(name, payload, tracking_labels=["golden-path"], marker=MARKER)


def test_push_and_schedule_run_a_full_iteration() -> None:
    """push and schedule → run with deploy."""
    for name in ("push", "schedule"):
        d = _decide(name, _payload("push"))
        assert d.action == "run" and d.deploy


def test_dispatch_inputs_choose_suites_and_deploy() -> None:
    """workflow_dispatch inputs: deploy false and a suite list are honoured."""
    p = _payload("workflow_dispatch")
    p["inputs"] = {"suites": "smoke, e2e", "deploy": "false"}
    d = _decide("workflow_dispatch", p)
    assert d.action == "run" and not d.deploy and d.suites == ["smoke", "e2e"]


def test_a_comment_on_the_tracking_issue_carries_commands() -> None:
    """A new comment on the tracking issue → its commands, author and ids."""
    d = _decide("issue_comment", _comment("/retest websocket\n/why 2 the secret rotated"))
    assert d.action == "commands" and d.author == "alice" and d.issue_number == 1
    assert [c.name for c in d.commands] == ["retest", "why"]
    assert d.commands[0].args == ("websocket",)
    assert d.commands[1].text == "2 the secret rotated"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"action": "edited"}, "only new comments"),
        ({"action": "deleted"}, "only new comments"),
        ({"comment__user": {"login": "renovate[bot]", "type": "Bot"}}, "bot"),
        ({"comment__user": {"login": "github-actions[bot]", "type": "Bot"}}, "bot"),
        ({"comment__user": {"login": "golden-bot", "type": "User"}}, "bot"),
        ({"issue__labels": []}, "tracking label"),
        ({"issue__pull_request": {"url": "x"}}, "pull request"),
        ({"issue__body": "another issue"}, "non-tracking"),
    ],
)
def test_comments_that_must_be_ignored(changes: dict, reason: str) -> None:
    """Edited/deleted comments, bots (ourselves too), other issues and PRs are ignored."""
    p = _comment("/retest")
    for key, value in changes.items():
        if key == "action":
            p["action"] = value
        else:
            target, _, field = key.partition("__")
            p[target][field] = value
    d = from_event(
        "issue_comment", p, tracking_labels=["golden-path"], marker=MARKER, bot_login="golden-bot"
    )
    assert d.action == "ignore" and reason in d.reason


def test_other_events_are_ignored_with_a_reason() -> None:
    """An event the bot does not handle is a no-op that says why."""
    d = _decide("pull_request", {})
    assert d.action == "ignore" and "pull_request" in d.reason


def test_commands_in_code_blocks_and_quotes_are_not_commands() -> None:
    """Only line-anchored commands count: fences, indented code and quotes are skipped."""
    body = (
        "Please try:\n```\n/deploy\n```\n~~~~\n/deploy\n~~~~\n    /deploy\n> /deploy\n\n"
        "I ran /retest yesterday\n  /status\n/path/to/file is broken\n"
    )
    assert parse_commands(body) == [Command("status", (), "", "/status")]


def test_unknown_and_several_commands() -> None:
    """Every slash word is kept (the registry tells unknown ones); order is kept."""
    cmds = parse_commands("/Retest all\n/frobnicate now\n/help")
    assert [(c.name, c.args) for c in cmds] == [
        ("retest", ("all",)),
        ("frobnicate", ("now",)),
        ("help", ()),
    ]
    from bot.commands import handler

    assert [handler(c.name) is None for c in cmds] == [False, True, False]


def test_unclosed_fence_hides_the_rest() -> None:
    """An unclosed fence runs to the end of the comment, like GitHub renders it."""
    assert parse_commands("```\n/deploy") == []


@pytest.mark.parametrize("minimum", ROLES[1:])
def test_permission_levels(minimum: str) -> None:
    """Every role at or above the minimum is allowed; every role below, refused."""
    for role in ROLES:
        assert role_allows(role, minimum) == (ROLES.index(role) >= ROLES.index(minimum))


def test_unknown_roles_fail_closed() -> None:
    """A role we do not know (or an error placeholder) is refused."""
    assert not role_allows("unknown", "read")
    assert not role_allows("", "read")
