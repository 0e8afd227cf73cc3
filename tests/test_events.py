"""`golden-path handle-event` with real webhook payloads, the local GitHub and the sample target."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.issue_format import env_marker
from bot.sample import SampleTarget
from bot.session import read_state
from tests.support.github_server import GitHubServer

EVENTS = Path(__file__).parent / "data" / "events"
REPO = "octo/app"


def _fire(workdir: Path, monkeypatch: pytest.MonkeyPatch, name: str, payload: dict) -> int:
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(payload))
    monkeypatch.setenv("GITHUB_EVENT_NAME", name)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))
    return main(["handle-event", "--config", "golden-path.yml"])


def _comment(gh: GitHubServer, body: str, user: str = "alice") -> dict:
    """Post the comment on the stand-in and build the webhook GitHub would send for it."""
    issue = gh.issue(REPO, 1)
    comment_id = gh.add_comment(REPO, 1, body, user=user)
    payload = json.loads((EVENTS / "issue_comment.json").read_text())
    payload["issue"].update(
        number=1, body=issue["body"], labels=[{"name": n} for n in _labels(issue)]
    )
    payload["comment"].update(id=comment_id, body=body, user={"login": user, "type": "User"})
    return payload


def _labels(issue: dict) -> set[str]:
    return {lbl if isinstance(lbl, str) else lbl["name"] for lbl in issue["labels"]}


def _reactions(gh: GitHubServer, comment_id: int) -> list[str]:
    return [r["content"] for r in gh.reactions(REPO, comment_id=comment_id)]


def _state(gh: GitHubServer):
    state = read_state(gh.issue(REPO, 1)["body"])
    assert state is not None
    return state


@pytest.fixture
def tracked(
    workdir: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A tracking issue exists: the first push found the backend refusing every socket."""
    github_server.set_permission(REPO, "alice", "write")
    github_server.set_permission(REPO, "rita", "read")
    sample.set_faults("auth")
    payload = json.loads((EVENTS / "push.json").read_text())
    assert _fire(workdir, monkeypatch, "push", payload) == 1
    assert env_marker("staging") in github_server.issue(REPO, 1)["body"]
    return workdir


def test_push_runs_a_full_iteration(tracked: Path, github_server: GitHubServer) -> None:
    """push → one iteration recorded in the issue; the commit message is never rendered."""
    state = _state(github_server)
    assert [r.trigger for r in state.iterations] == ["push"]
    assert "{{ 7*7 }}" not in github_server.issue(REPO, 1)["body"]


def test_read_user_retest_is_refused(
    tracked: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A /retest from a read-only user runs nothing: 😕 and one reply, no new iteration."""
    payload = _comment(github_server, "/retest", user="rita")
    assert _fire(tracked, monkeypatch, "issue_comment", payload) == 0
    assert _reactions(github_server, payload["comment"]["id"]) == ["confused"]
    replies = [c for c in github_server.comments(REPO, 1) if c["user"] != "rita"]
    assert len(replies) == 1
    assert "`read`" in replies[0]["body"] and "@rita" not in replies[0]["body"]
    assert len(_state(github_server).iterations) == 1


def test_write_user_retest_reruns_only_what_failed(
    tracked: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a fix, /retest reruns only the failed parts (HTTP failed: no WebSocket run)."""
    sample.set_faults("api-error")
    push = json.loads((EVENTS / "push.json").read_text())
    _fire(tracked, monkeypatch, "push", push)
    assert "flow" not in _state(github_server).last_failed["checks"]  # sessions all passed
    sample.set_faults()
    sample.reset_stats()
    payload = _comment(github_server, "/retest")
    assert _fire(tracked, monkeypatch, "issue_comment", payload) == 0
    assert sample.stats["connections"] == 0  # the agent flow passed before: not rerun
    assert _reactions(github_server, payload["comment"]["id"]) == ["eyes", "rocket"]
    issue = github_server.issue(REPO, 1)
    assert issue["state"] == "closed"
    assert "20/20 golden-path tests passing" in issue["body"]  # carried over, not lost


def test_retest_of_failed_sessions_reruns_just_those(
    tracked: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/retest after the auth fault is fixed reruns the failed sessions and goes green."""
    sample.set_faults()
    payload = _comment(github_server, "/retest")
    assert _fire(tracked, monkeypatch, "issue_comment", payload) == 0
    state = _state(github_server)
    assert [r.status for r in state.iterations] == ["blocked", "passing"]
    assert state.iterations[-1].golden_passing == 20
    assert state.iterations[-1].trigger == "/retest by alice"


def test_why_answer_shows_and_survives(
    tracked: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/why 3 <answer> lands under WHY 3 with its author and survives later iterations."""
    payload = _comment(github_server, "/why 3 the staging backend reads a stale @octo/secret")
    assert _fire(tracked, monkeypatch, "issue_comment", payload) == 0
    body = github_server.issue(REPO, 1)["body"]
    why3 = body.split("#### WHY 3:")[1].split("#### WHY 4:")[0]
    assert "**Answer** (by `alice`" in why3 and "stale" in why3
    assert "@octo/secret" not in body
    _fire(tracked, monkeypatch, "push", json.loads((EVENTS / "push.json").read_text()))
    body = github_server.issue(REPO, 1)["body"]
    assert "stale" in body.split("#### WHY 3:")[1].split("#### WHY 4:")[0]


def test_bot_comments_are_ignored_without_any_call(
    tracked: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A comment by a bot (e.g. our own reply) makes no GitHub call at all."""
    payload = _comment(github_server, "/retest", user="github-actions[bot]")
    payload["comment"]["user"]["type"] = "Bot"
    github_server.clear_requests()
    assert _fire(tracked, monkeypatch, "issue_comment", payload) == 0
    assert github_server.requests == []


def test_help_and_unknown_commands_get_replies(
    tracked: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/help replies with the command table; an unknown command gets the table and 😕."""
    payload = _comment(github_server, "/help\n/frobnicate")
    assert _fire(tracked, monkeypatch, "issue_comment", payload) == 0
    bodies = [c["body"] for c in github_server.comments(REPO, 1) if c["user"] != "alice"]
    assert len(bodies) == 2
    assert "/retest all" in bodies[0] and "Unknown command `/frobnicate`" in bodies[1]
    assert _reactions(github_server, payload["comment"]["id"]) == ["eyes", "confused"]


def test_permission_api_errors_fail_closed(
    tracked: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If GitHub cannot tell the commenter's permission, nothing runs."""
    github_server.inject(
        "GET", r"/repos/octo/app/collaborators/.*/permission", status=500, times=None
    )
    payload = _comment(github_server, "/deploy")
    assert _fire(tracked, monkeypatch, "issue_comment", payload) == 0
    assert _reactions(github_server, payload["comment"]["id"]) == ["confused"]
    assert len(_state(github_server).iterations) == 1


def test_status_refreshes_without_running_tests(
    tracked: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/status re-renders from the stored state: no session runs, no new iteration."""
    sample.reset_stats()
    payload = _comment(github_server, "/status")
    assert _fire(tracked, monkeypatch, "issue_comment", payload) == 0
    assert sample.stats["connections"] == 0
    assert len(_state(github_server).iterations) == 1


def test_handle_event_outside_actions_is_a_usage_error(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Without GITHUB_EVENT_NAME/PATH the command explains itself and exits 2."""
    monkeypatch.delenv("GITHUB_EVENT_NAME", raising=False)
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
    assert main(["handle-event", "--config", "golden-path.yml"]) == 2
    assert "GITHUB_EVENT_PATH" in capsys.readouterr().err


def test_a_refused_reply_on_a_locked_issue_is_not_fatal(
    tracked: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/help on a locked issue: GitHub refuses the bot's reply; the run still ends cleanly."""
    payload = _comment(github_server, "/help")
    github_server.lock_issue(REPO, 1)
    assert _fire(tracked, monkeypatch, "issue_comment", payload) == 0
    assert _reactions(github_server, payload["comment"]["id"]) == ["eyes"]
    assert all("/retest all" not in c["body"] for c in github_server.comments(REPO, 1))


def test_a_retest_with_the_same_result_still_updates_the_issue(
    tracked: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/retest that changes nothing is recorded: its row folds (×2) and "Updated" moves."""
    before = github_server.issue(REPO, 1)["body"]
    updated = re.search(r"\*Updated: (.+?)\*", before)
    assert updated is not None
    payload = _comment(github_server, "/retest all")
    assert _fire(tracked, monkeypatch, "issue_comment", payload) == 1  # still blocked
    after = github_server.issue(REPO, 1)["body"]
    state = _state(github_server)
    assert len(state.iterations) == 1 and state.iterations[0].repeats == 2
    assert state.iterations[0].last_trigger == "/retest by alice"
    assert "(×2, last " in after
    assert re.search(r"\*Updated: (.+?)\*", after)[1] >= updated[1]  # type: ignore[index]
    assert after != before


def test_a_refused_command_still_writes_the_summary_and_outputs(
    tracked: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused /retest leaves a trace in Actions: job summary, status=refused, the issue."""
    from tests.test_actions import parse_outputs

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tracked / "output.txt"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tracked / "summary.md"))
    payload = _comment(github_server, "/retest", user="rita")
    assert _fire(tracked, monkeypatch, "issue_comment", payload) == 0
    outputs = parse_outputs((tracked / "output.txt").read_text())
    assert outputs["status"] == "refused" and outputs["issue-number"] == "1"
    assert "COMMAND REFUSED" in (tracked / "summary.md").read_text()
