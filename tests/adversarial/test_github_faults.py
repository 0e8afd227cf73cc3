"""Property 4: GitHub faults lose nothing.

Every hazard drives ``golden-path run --tracker github`` against the local GitHub stand-in
(real HTTP, PyGithub's real retry logic) and the sample target, then reads back the issue
and its comments. "Nothing lost" is checked by ids: every iteration and log entry that
existed before (seeded state, or what a failed run saved locally) is still in the state
block — or, for log entries, in an archive comment the state points at — after the run
(or after the run that follows a failure), and the new iteration is there too.

Distinct hazards tried (23):

- 5 bursts of 5xx, one per write path: the issue list (find), POST create, PATCH, the
  verify GET and the archive comment POST;
- 4 dropped connections: on the list and on PATCH (before the server acts), and after the
  server acted on POST create (the retry creates a second issue, which must be closed as a
  duplicate) and on PATCH;
- latency beyond ``GOLDEN_PATH_GITHUB_TIMEOUT``, and a bad value of that knob;
- 403 secondary rate limit and 429, both with ``Retry-After``;
- the primary limit (``x-ratelimit-remaining: 0``) with a reset a second away, and the
  hourly budget exhausted (fail fast, save, merge back next run);
- a one-off 422 "body is too long" on PATCH (shrink and write again);
- the issue deleted between runs (410: a new issue), deleted under a run (saved, merged
  into the new issue next run), and a pinned ``tracking.issue`` that was deleted;
- the issue locked between runs (PATCH works, archive comments are refused: entries stay
  in the state block), then unlocked (they are archived after all);
- the state block edited by hand into invalid JSON (entries salvaged, damage reported);
- GitHub down for a whole run (every request 503), then a good run;
- ``tracking.labels: []`` (the issue must still be found again, not re-created).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.issue_format import BEGIN, END, env_marker
from bot.publish.tracking_issue import pending_path
from bot.sample import SampleTarget
from bot.session import IterationRecord, SessionState, read_state
from tests.support.github_server import MAX_BODY_CHARS, GitHubServer

REPO = "octo/app"
ISSUE = r"/repos/octo/app/issues/\d+"
LIST = r"/repos/octo/app/issues"
COMMENTS = r"/repos/octo/app/issues/\d+/comments"


@pytest.fixture
def gp(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workdir with two sessions per run and no settle pause (one run at a time here)."""
    monkeypatch.setenv("GOLDEN_PATH_SETTLE", "0.05")
    cfg = workdir / "golden-path.yml"
    cfg.write_text(cfg.read_text().replace("sessions: 20, concurrency: 20", "sessions: 2"))
    return workdir


def _run(*extra: str) -> int:
    return main(["run", "--config", "golden-path.yml", "--tracker", "github", *extra])


def _seed_state(iterations: int = 3, logs: int = 12, text: str = "earlier entry") -> SessionState:
    state = SessionState(environment="staging", started_at="2026-01-01T00:00:00Z")
    for i in range(iterations):
        state.add_iteration(
            IterationRecord(
                id=f"seeded{i:06d}",
                at=f"2026-01-01T{i:02d}:30:00Z",
                status="blocked",
                passed=1,
                failed=19,
                golden_run=20,
                trigger="push",
            )
        )
    for i in range(logs):
        state.add_log(f"{text} {i}", "info", at=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z")
    return state


def _seed(gh: GitHubServer, state: SessionState | None = None, **kwargs: object) -> int:
    state = state or _seed_state()
    body = "\n".join([BEGIN, env_marker("staging"), state.to_block(), END])
    return gh.add_issue(REPO, "Golden Path: staging", body, ["golden-path"], **kwargs)  # type: ignore[arg-type]


def _state(gh: GitHubServer, number: int = 1) -> SessionState:
    state = read_state(gh.issue(REPO, number)["body"])
    assert state is not None
    return state


def _ids(state: SessionState) -> tuple[set[str], set[str]]:
    """(run ids, log ids) — runs folded into one history row and archived log ids count."""
    logs = {e.id for e in state.log} | {i for a in state.archives for i in a.ids}
    return state.run_ids, logs


def _assert_kept(before: SessionState, after: SessionState, new_iterations: int = 1) -> None:
    its_before, logs_before = _ids(before)
    its_after, logs_after = _ids(after)
    assert its_before <= its_after, its_before - its_after
    assert logs_before <= logs_after, logs_before - logs_after
    assert len(its_after) == len(its_before) + new_iterations


def _assert_subset(saved: SessionState, after: SessionState) -> None:
    """Everything a failed run saved locally reached the issue."""
    its_saved, logs_saved = _ids(saved)
    its_after, logs_after = _ids(after)
    assert its_saved <= its_after and logs_saved <= logs_after


def _assert_archives_are_real(gh: GitHubServer, state: SessionState, number: int = 1) -> None:
    """Every archive in the state points at a marked comment holding its entries."""
    comments = {
        f"{gh.web_url}/{REPO}/issues/{number}#issuecomment-{c['id']}": c["body"]
        for c in gh.comments(REPO, number)
    }
    for archive in state.archives:
        assert archive.ref in comments, archive.ref
        assert "golden-path:archive" in comments[archive.ref]


def _tracking_issues(gh: GitHubServer) -> list[dict]:
    return [i for i in gh.issues(REPO) if env_marker("staging") in (i["body"] or "")]


# -- 5xx bursts ------------------------------------------------------------------------------
BURSTS = {
    "list": ("GET", LIST, 502),
    "create": ("POST", LIST, 503),
    "patch": ("PATCH", ISSUE, 500),
    "verify": ("GET", ISSUE, 504),
    "archive-comment": ("POST", COMMENTS, 502),
}


@pytest.mark.parametrize("path", BURSTS, ids=BURSTS.keys())
def test_5xx_burst_on_each_write_path_is_retried(
    gp: Path, github_server: GitHubServer, path: str
) -> None:
    """Three 5xx in a row on one call of the update: retried, published, nothing lost."""
    method, pattern, status = BURSTS[path]
    before = _seed_state(logs=250 if path == "archive-comment" else 12)
    if path != "create":
        _seed(github_server, before)
    else:
        before = SessionState(environment="staging")
    fault = github_server.inject(method, pattern, status=status, times=3)
    assert _run() == 0
    assert fault.hits == 3
    (issue,) = _tracking_issues(github_server)
    after = _state(github_server, issue["number"])
    _assert_kept(before, after)
    _assert_archives_are_real(github_server, after, issue["number"])
    if path == "archive-comment":
        assert after.archives, "the oldest entries moved to a comment"


# -- dropped connections ---------------------------------------------------------------------
DROPS = {
    "list": ("GET", LIST, False),
    "patch": ("PATCH", ISSUE, False),
    "patch-after-write": ("PATCH", ISSUE, True),
}


@pytest.mark.parametrize("where", DROPS, ids=DROPS.keys())
def test_dropped_connections_are_retried(gp: Path, github_server: GitHubServer, where: str) -> None:
    """The connection dies before or after GitHub acted: retried, published once."""
    method, pattern, after_processing = DROPS[where]
    before = _seed_state()
    _seed(github_server, before)
    fault = github_server.inject(
        method, pattern, status=None, times=2, drop=True, after_processing=after_processing
    )
    assert _run() == 0
    assert fault.hits == 2
    _assert_kept(before, _state(github_server))


def test_create_whose_answer_was_lost_leaves_one_tracking_issue(
    gp: Path, github_server: GitHubServer
) -> None:
    """POST create acted on but unanswered: the retry's duplicate is closed, one issue tracks."""
    fault = github_server.inject("POST", LIST, status=None, drop=True, after_processing=True)
    assert _run() == 0
    assert fault.hits == 1
    (tracking,) = _tracking_issues(github_server)
    others = [i for i in github_server.issues(REPO) if i["number"] != tracking["number"]]
    assert len(others) == 1 and others[0]["state"] == "closed"
    assert f"Duplicate of #{tracking['number']}" in others[0]["body"]
    assert len(_state(github_server, tracking["number"]).iterations) == 1


# -- slow GitHub -----------------------------------------------------------------------------
def test_latency_beyond_the_client_timeout_is_retried(
    gp: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GOLDEN_PATH_GITHUB_TIMEOUT=1 and a 4 s PATCH: the bot gives up on it and retries."""
    monkeypatch.setenv("GOLDEN_PATH_GITHUB_TIMEOUT", "1")
    before = _seed_state()
    _seed(github_server, before)
    fault = github_server.inject("PATCH", ISSUE, status=None, delay=4.0, times=1)
    started = time.monotonic()
    assert _run() == 0
    assert time.monotonic() - started < 3.5, "waited for the slow answer instead of retrying"
    assert fault.hits == 1
    _assert_kept(before, _state(github_server))


@pytest.mark.parametrize("value", ["soon", "0", "2.5", "9999"])
def test_bad_timeout_knob_is_a_usage_error(
    gp: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch, capsys, value: str
) -> None:
    """A wrong GOLDEN_PATH_GITHUB_TIMEOUT is exit 2 naming the variable, before any write."""
    monkeypatch.setenv("GOLDEN_PATH_GITHUB_TIMEOUT", value)
    assert _run() == 2
    assert "GOLDEN_PATH_GITHUB_TIMEOUT" in capsys.readouterr().err
    assert github_server.writes() == []


# -- rate limits -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "pattern", "status"),
    [("PATCH", ISSUE, 403), ("GET", LIST, 429)],
    ids=["403-secondary-on-patch", "429-on-list"],
)
def test_rate_limit_with_retry_after_is_honoured(
    gp: Path, github_server: GitHubServer, method: str, pattern: str, status: int
) -> None:
    """A secondary limit (403) or 429 with Retry-After: waited out, then published."""
    before = _seed_state()
    _seed(github_server, before)
    fault = github_server.inject_rate_limit(method, pattern, retry_after=1, status=status)
    assert _run() == 0
    assert fault.hits == 1
    _assert_kept(before, _state(github_server))


def test_primary_rate_limit_waits_for_the_reset(gp: Path, github_server: GitHubServer) -> None:
    """x-ratelimit-remaining: 0 with a reset a second away: wait for it, then publish."""
    before = _seed_state()
    _seed(github_server, before)
    fault = github_server.inject_primary_rate_limit("GET", LIST, reset_in=1)
    assert _run() == 0
    assert fault.hits == 1
    _assert_kept(before, _state(github_server))


def test_exhausted_hourly_budget_fails_fast_and_the_next_run_merges(
    gp: Path, github_server: GitHubServer, capsys
) -> None:
    """Budget gone for an hour: no hour-long wait; state saved; the next run loses nothing."""
    before = _seed_state()
    _seed(github_server, before)
    github_server.set_rate_limit(0)
    started = time.monotonic()
    assert _run() == 1
    assert time.monotonic() - started < 10
    assert "could not update the tracking issue" in capsys.readouterr().out
    saved = SessionState.from_dict(
        json.loads(pending_path("staging", gp / ".golden-path").read_text())
    )
    assert len(saved.iterations) == 1, "the failed run's iteration is kept locally"
    github_server.set_rate_limit(5000)
    assert _run() == 0
    after = _state(github_server)
    _assert_kept(before, after, new_iterations=2)
    _assert_subset(saved, after)
    assert (after.session_id, after.started_at) == (before.session_id, before.started_at)
    assert not pending_path("staging", gp / ".golden-path").exists()


# -- body too long ---------------------------------------------------------------------------
def test_one_off_body_too_long_shrinks_and_succeeds(
    gp: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 422 "body is too long" on PATCH: the body is rendered smaller and written again."""
    before = _seed_state()
    _seed(github_server, before)
    fault = github_server.inject(
        "PATCH",
        ISSUE,
        status=422,
        body={
            "message": "Validation Failed",
            "errors": [
                {
                    "resource": "Issue",
                    "code": "custom",
                    "field": "body",
                    "message": f"body is too long (maximum is {MAX_BODY_CHARS} characters)",
                }
            ],
            "documentation_url": "https://docs.github.com/rest/issues/issues#update-an-issue",
            "status": "422",
        },
    )
    assert _run() == 0
    assert fault.hits == 1
    assert [r.status for r in github_server.requests if r.method == "PATCH"] == [422, 200]
    _assert_kept(before, _state(github_server))
    assert "refused the body as too long" in capsys.readouterr().err


# -- the issue changes under us --------------------------------------------------------------
def test_issue_deleted_between_runs_gets_a_new_one(gp: Path, github_server: GitHubServer) -> None:
    """The tracking issue was deleted (410): the run opens a new one instead of crashing."""
    old = _seed(github_server)
    github_server.delete_issue(REPO, old)
    assert _run() == 0
    (issue,) = _tracking_issues(github_server)
    assert issue["number"] != old
    assert len(_state(github_server, issue["number"]).iterations) == 1


def test_issue_deleted_under_a_run_is_merged_into_the_new_one(
    gp: Path, github_server: GitHubServer
) -> None:
    """PATCH answers 410 (deleted mid-run): state saved; the next run's new issue has it all."""
    before = _seed_state()
    old = _seed(github_server, before)
    github_server.inject("PATCH", ISSUE, status=410, body={"message": "This issue was deleted"})
    assert _run() == 1
    github_server.delete_issue(REPO, old)
    assert _run() == 0
    (issue,) = _tracking_issues(github_server)
    _assert_kept(before, _state(github_server, issue["number"]), new_iterations=2)


def test_pinned_issue_that_was_deleted_is_reported_clearly(
    gp: Path, github_server: GitHubServer, capsys
) -> None:
    """tracking.issue points at a deleted issue: exit 1 naming it; the iteration is saved."""
    number = _seed(github_server)
    github_server.delete_issue(REPO, number)
    cfg = gp / "golden-path.yml"
    cfg.write_text(cfg.read_text().replace("tracking: {", f"tracking: {{issue: {number}, "))
    assert _run() == 1
    out = capsys.readouterr().out
    assert f"#{number}" in out and "deleted" in out
    saved = json.loads(pending_path("staging", gp / ".golden-path").read_text())
    assert len(saved["iterations"]) == 1
    assert github_server.writes() == []


def test_locked_issue_keeps_entries_it_cannot_archive(
    gp: Path, github_server: GitHubServer, sample: SampleTarget
) -> None:
    """Locked: PATCH works, archive comments are refused (403), entries stay in the state."""
    before = _seed_state(logs=250)
    _seed(github_server, before, locked=True)
    assert _run() == 0
    after = _state(github_server)
    _assert_kept(before, after)
    assert after.archives == [] and github_server.comments(REPO, 1) == []
    assert {e.id for e in before.log} <= {e.id for e in after.log}
    assert any(r.method == "POST" and r.status == 403 for r in github_server.requests)
    assert any("old log entries to a comment (403" in e.text for e in after.log)
    github_server.unlock_issue(REPO, 1)
    sample.set_faults("auth")  # a different result, so the next run writes again
    assert _run() == 1
    final = _state(github_server)
    _assert_kept(after, final)
    assert final.archives, "once unlocked, the oldest entries move to a comment"
    _assert_archives_are_real(github_server, final)
    assert len(github_server.issue(REPO, 1)["body"]) <= MAX_BODY_CHARS


def test_state_block_edited_into_invalid_json_is_salvaged(
    gp: Path, github_server: GitHubServer
) -> None:
    """A hand edit breaks the JSON: every readable entry is kept and the damage is reported."""
    before = _seed_state()
    _seed(github_server, before)
    issue = github_server.issue(REPO, 1)
    body = issue["body"]
    # someone "annotates" the hidden block and loses the closing brace on the way
    damaged = body.replace('{"environment"', '// paused, see #12\n{"environment"', 1)
    damaged = damaged.replace("}\n-->", "\n-->", 1)
    with github_server.lock:
        issue["body"] = damaged
    assert _run() == 0
    after_body = github_server.issue(REPO, 1)["body"]
    assert "state block was damaged" in after_body
    assert "3 iteration(s) and 12 log entries recovered" in after_body
    _assert_kept(before, _state(github_server))


def test_github_down_for_a_run_then_a_good_run_loses_nothing(
    gp: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request 503 for one run: exit 1, state saved; the next run publishes all of it."""
    monkeypatch.setenv("GOLDEN_PATH_GITHUB_RETRIES", "1")
    before = _seed_state()
    _seed(github_server, before)
    github_server.inject(None, ".*", status=503, times=None)
    assert _run() == 1
    saved = SessionState.from_dict(
        json.loads(pending_path("staging", gp / ".golden-path").read_text())
    )
    assert len(saved.iterations) == 1 and saved.log
    github_server.clear_faults()
    assert _run() == 0
    after = _state(github_server)
    _assert_kept(before, after, new_iterations=2)
    _assert_subset(saved, after)
    assert (after.session_id, after.started_at) == (before.session_id, before.started_at)


def test_without_tracking_labels_the_issue_is_found_again(
    gp: Path, github_server: GitHubServer
) -> None:
    """tracking.labels: [] — the second run updates the first run's issue, not a new one."""
    cfg = gp / "golden-path.yml"
    cfg.write_text(
        cfg.read_text().replace("tracking: {labels: [golden-path]}", "tracking: {labels: []}")
    )
    assert _run() == 0
    assert _run() == 0
    assert len(github_server.issues(REPO)) == 1
    assert len(_state(github_server).iterations) >= 1
