"""The tracking issue on GitHub, through PyGithub against the local REST server."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config
from bot.issue_format import env_marker
from bot.publish import Report
from bot.publish.github import GitHub
from bot.publish.tracking_issue import GitHubTracker, pending_path
from bot.results import FlowSummary, Iteration
from bot.runtime import Console, RunLog
from bot.sample import SampleTarget
from bot.session import SessionState, read_state
from bot.verdict import judge
from tests.support.github_fixtures import make_github, make_retry
from tests.support.github_server import GitHubServer

REPO = "octo/app"


def _run(*extra: str) -> int:
    return main(["run", "--config", "golden-path.yml", "--tracker", "github", *extra])


def _labels(issue: dict) -> set[str]:
    return {lbl if isinstance(lbl, str) else lbl["name"] for lbl in issue["labels"]}


def _issue(gh: GitHubServer, number: int = 1) -> dict:
    return gh.issue(REPO, number)


def _one_update(gh: GitHubServer, number: int = 1) -> list[tuple[str, str]]:
    """The calls of a run that updates an issue, checked: list (find), PATCH, GET (verify).

    One more GET before the PATCH is the publisher's rule, not noise: it re-reads a body
    read more than settle/2 ago, which on a busy machine (pytest -n 2) a run can take.
    """
    calls = [(r.method, r.path) for r in gh.requests]
    find, get, patch = (
        ("GET", f"/repos/{REPO}/issues"),
        ("GET", f"/repos/{REPO}/issues/{number}"),
        ("PATCH", f"/repos/{REPO}/issues/{number}"),
    )
    assert calls in ([find, patch, get], [find, get, patch, get]), calls
    return calls


def test_first_run_creates_then_updates_in_place_then_folds(
    workdir: Path, github_server: GitHubServer, sample: SampleTarget
) -> None:
    """Run 1 creates the issue, run 2 edits it, run 3 (same result) is folded into run 2's row."""
    sample.set_faults("auth")
    assert _run() == 1
    issues = github_server.issues(REPO)
    assert len(issues) == 1
    first = issues[0]
    assert env_marker("staging") in first["body"]
    assert _labels(first) == {"golden-path", "golden-path: blocked"}
    assert f"**GitHub Issue:** #{first['number']} - " in first["body"]

    sample.set_faults("drop:agent_thinking")
    github_server.clear_requests()
    assert _run() == 1
    assert len(github_server.issues(REPO)) == 1
    _one_update(github_server)
    state = read_state(_issue(github_server)["body"])
    assert state is not None and len(state.iterations) == 2

    github_server.clear_requests()
    assert _run() == 1
    _one_update(github_server)  # every run is recorded, still in 3 calls
    assert [w.method for w in github_server.writes()] == ["PATCH"]
    body = _issue(github_server)["body"]
    state = read_state(body)
    assert state is not None and len(state.iterations) == 2
    assert state.iterations[-1].repeats == 2
    assert "(×2, last " in body


def test_green_closes_and_regression_reopens(
    workdir: Path, github_server: GitHubServer, sample: SampleTarget
) -> None:
    """All passing closes the issue (close_on_green); a later failure reopens it."""
    sample.set_faults("crash")
    assert _run() == 1
    sample.set_faults()
    assert _run() == 0
    issue = _issue(github_server)
    assert issue["state"] == "closed"
    assert "golden-path: passing" in _labels(issue)
    assert "### ✅ BLOCKER RESOLVED" in issue["body"]
    sample.set_faults("reorder")
    assert _run() == 1
    issue = _issue(github_server)
    assert issue["state"] == "open"
    assert "regression" in issue["body"]
    assert len(github_server.issues(REPO)) == 1


def test_people_text_outside_the_markers_survives(
    workdir: Path, github_server: GitHubServer, sample: SampleTarget
) -> None:
    """Notes people add around the bot's section, and their labels, survive every update."""
    sample.set_faults("auth")
    assert _run() == 1
    issue = _issue(github_server)
    issue["body"] = "Owner: team-chat\n\n" + issue["body"] + "\n\nPostmortem doc: internal"
    issue["labels"] = [*issue["labels"], "priority: high"]
    sample.set_faults()
    assert _run() == 0
    body = _issue(github_server)["body"]
    assert body.startswith("Owner: team-chat\n\n")
    assert body.endswith("Postmortem doc: internal")
    assert body.count("<!-- golden-path:begin -->") == 1
    assert _labels(_issue(github_server)) == {
        "golden-path",
        "golden-path: passing",
        "priority: high",
    }


def test_a_fixed_issue_number_wins(
    workdir: Path, github_server: GitHubServer, sample: SampleTarget
) -> None:
    """tracking.issue points at an existing issue, which is used even without the marker."""
    number = github_server.add_issue(REPO, title="Staging golden path", body="kept")
    cfg = workdir / "golden-path.yml"
    cfg.write_text(cfg.read_text().replace("tracking: {", f"tracking: {{issue: {number}, "))
    assert _run() == 0
    assert len(github_server.issues(REPO)) == 1
    assert _issue(github_server, number)["body"].endswith("kept\n")


def test_thousands_of_log_entries_stay_under_the_limit_and_reachable(
    workdir: Path, github_server: GitHubServer, sample: SampleTarget
) -> None:
    """2,000 log entries: body < 65,536 chars, every entry in the body or a marked comment."""
    state = SessionState(environment="staging")
    for i in range(2000):
        state.add_log(f"entry {i:04d} " + "x" * 150, at=f"2026-01-01T00:00:00.{i:04d}Z")
    ids = {e.id for e in state.log}
    body = "<!-- golden-path:begin -->\n" + env_marker("staging") + "\n" + state.to_block()
    body += "\n<!-- golden-path:end -->"
    github_server.add_issue(REPO, title="t", body=body, labels=["golden-path"])
    assert _run() == 0
    issue = _issue(github_server)
    assert len(issue["body"]) < 65_536
    final = read_state(issue["body"])
    assert final is not None
    comments = github_server.comments(REPO, 1)
    assert comments and all("golden-path:archive" in c["body"] for c in comments)
    archived = {i for a in final.archives for i in a.ids}
    kept = {e.id for e in final.log}
    assert ids <= archived | kept
    for a in final.archives:
        assert a.ref.startswith(github_server.web_url)
    everything = "\n".join(c["body"] for c in comments) + json.dumps([e.text for e in final.log])
    assert all(f"entry {i:04d} " in everything for i in range(2000))
    # the next runs neither grow the state without bound nor archive every time
    github_server.clear_requests()
    sample.set_faults("crash")
    assert _run() == 1
    _one_update(github_server)  # no archive comment this time
    assert len(_issue(github_server)["body"]) < 40_000


def test_ten_concurrent_runs_keep_every_iteration(
    workdir: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten runs publishing at once: all ten iterations end up in the state."""
    # the bound the protocol needs: every write lands within settle/2, even on a busy machine
    monkeypatch.setenv("GOLDEN_PATH_SETTLE", "1")
    cfg = load_config(workdir / "golden-path.yml")
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def one(i: int) -> None:
        it = Iteration(
            environment="staging",
            started_at=f"2026-01-01T00:00:0{i}.000Z",
            finished_at=f"2026-01-01T00:01:0{i}.000Z",
        )
        it.flow = FlowSummary(total=10 + i, passed=10 + i)
        log = RunLog(stream=open("/dev/null", "w"))  # noqa: SIM115
        log(f"run {i}", "info")
        gh = GitHub(make_github(github_server, retry=make_retry()), REPO)
        tracker = GitHubTracker(
            cfg, gh, log=log, out=Console(log.stream), settle_s=1.0, bot_login=github_server.login
        )
        start.wait()
        try:
            tracker.publish(Report(it, judge(it, cfg), log.entries))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    tracking = [i for i in github_server.issues(REPO) if env_marker("staging") in i["body"]]
    assert len(tracking) == 1, "concurrent first runs leave one tracking issue"
    others = [i for i in github_server.issues(REPO) if i not in tracking]
    assert all(i["state"] == "closed" and "Duplicate of #" in i["body"] for i in others)
    state = read_state(tracking[0]["body"])
    assert state is not None
    assert sorted(r.golden_run for r in state.iterations) == list(range(10, 20))
    assert {f"run {i}" for i in range(10)} <= {e.text for e in state.log}


def test_transient_github_faults_are_survived(
    workdir: Path, github_server: GitHubServer, sample: SampleTarget
) -> None:
    """502s on PATCH and a 403 secondary rate limit with Retry-After are retried."""
    sample.set_faults("auth")
    assert _run() == 1
    sample.set_faults()
    github_server.inject("PATCH", r"/repos/octo/app/issues/\d+", status=502, times=2)
    github_server.inject_rate_limit("GET", r"/repos/octo/app/issues", retry_after=1, times=1)
    assert _run() == 0
    assert "ALL GOLDEN PATH TESTS PASSING" in _issue(github_server)["body"]


def test_permanent_failure_saves_state_and_next_run_merges_it(
    workdir: Path, github_server: GitHubServer, sample: SampleTarget, capsys
) -> None:
    """GitHub down: exit 1, state + log saved locally; the next run brings them back."""
    sample.set_faults("auth")
    assert _run() == 1
    sample.set_faults("crash")
    github_server.inject("PATCH", r"/repos/octo/app/issues/\d+", status=500, times=None)
    assert _run() == 1
    assert "could not update the tracking issue" in capsys.readouterr().out
    pending = pending_path("staging", workdir / ".golden-path")
    saved = json.loads(pending.read_text())
    assert len(saved["iterations"]) == 2
    assert (workdir / ".golden-path" / "results.json").exists()
    github_server.clear_faults()
    sample.set_faults()
    assert _run() == 0
    state = read_state(_issue(github_server)["body"])
    assert state is not None
    assert [r.status for r in state.iterations] == ["blocked", "blocked", "passing"]
    assert not pending.exists()


def test_damaged_state_is_reported_and_rebuilt(workdir: Path, github_server: GitHubServer) -> None:
    """A hand-edited, invalid state block does not crash the run; it is rebuilt."""
    body = (
        "<!-- golden-path:begin -->\n"
        + env_marker("staging")
        + "\n<!-- golden-path-state:v1\n{not json\n-->\n<!-- golden-path:end -->"
    )
    github_server.add_issue(REPO, title="t", body=body, labels=["golden-path"])
    assert _run() == 0
    new = _issue(github_server)["body"]
    state = read_state(new)
    assert state is not None and len(state.iterations) == 1
    assert "state block was damaged" in new


def test_dry_run_touches_nothing(workdir: Path, github_server: GitHubServer, capsys) -> None:
    """--dry-run prints the body and the calls it would make; no write reaches GitHub."""
    assert _run("--dry-run") == 0
    out = capsys.readouterr().out
    assert "<!-- golden-path:begin -->" in out and "would call" in out
    assert github_server.writes() == []
