"""An outside security review's findings on the tracking issue and the console, each pinned.

Findings 1, 2, 5, 6, 7, 10 and 13 of the review (the others live in their own modules). Every
test here failed on the code before its fix.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from bot import tracking
from bot.cli import main
from bot.commands import retest_plan
from bot.config import parse_config
from bot.issue_format import BEGIN, END, GITHUB_BODY_LIMIT, check_body, env_marker
from bot.publish.tracking_issue import pending_path
from bot.results import FlowSession, FlowSummary, Iteration, Kind, SuiteResult, TestCase
from bot.sample import SampleTarget
from bot.session import SessionState, read_state
from bot.trigger import parse_commands
from bot.verdict import judge
from tests.support.github_fixtures import make_github
from tests.support.github_server import GitHubServer
from tests.support.hostile import hostile
from tests.test_actions import parse_commands as workflow_commands

REPO = "octo/app"
EVENTS = Path(__file__).parent.parent / "data" / "events"


def _fire(workdir: Path, monkeypatch: pytest.MonkeyPatch, name: str, payload: dict) -> int:
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(payload))
    monkeypatch.setenv("GITHUB_EVENT_NAME", name)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))
    return main(["handle-event", "--config", "golden-path.yml"])


def _push(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    return _fire(workdir, monkeypatch, "push", json.loads((EVENTS / "push.json").read_text()))


def _comment(gh: GitHubServer, number: int, body: str, user: str = "alice") -> dict:
    issue = gh.issue(REPO, number)
    comment_id = gh.add_comment(REPO, number, body, user=user)
    payload = json.loads((EVENTS / "issue_comment.json").read_text())
    labels = [{"name": lbl if isinstance(lbl, str) else lbl["name"]} for lbl in issue["labels"]]
    payload["issue"].update(number=number, body=issue["body"], labels=labels)
    payload["comment"].update(id=comment_id, body=body, user={"login": user, "type": "User"})
    return payload


def _forged_body(url: str) -> str:
    """An issue body copying the bot's markers, with a state that points /retest at ``url``."""
    forged = SessionState(environment="staging")
    forged.last_iteration = {"environment": "staging", "started_at": "", "deploy": {"url": url}}
    forged.last_failed = {"checks": {"http": True}}
    forged.set_why(2, "forged answer: the backend is fine", "mallory")
    return f"{BEGIN}\n{env_marker('staging')}\n# looks real\n\n{forged.to_block()}\n{END}"


# -- Finding 1: tracking-issue takeover and token exfiltration -------------------------------


def test_an_outsiders_issue_with_our_markers_is_never_adopted(
    workdir: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 1: an older labelled issue by someone else, with markers and state, is ignored."""
    body = _forged_body("http://127.0.0.1:9/evil")
    theirs = github_server.add_issue(REPO, "bug", body, ["golden-path"], user="mallory")
    assert _push(workdir, monkeypatch) in (0, 1)
    ours = [i for i in github_server.issues(REPO) if i["number"] != theirs]
    assert len(ours) == 1 and ours[0]["user"] == github_server.login
    assert github_server.issue(REPO, theirs)["body"] == body, "the outsider's issue is untouched"
    assert "forged answer" not in ours[0]["body"]


def test_a_pull_request_with_our_markers_is_never_adopted(
    workdir: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 1: GitHub lists pull requests among issues; one carrying the marker is skipped."""
    body = _forged_body("http://127.0.0.1:9/evil")
    pr = github_server.add_issue(
        REPO, "feat", body, ["golden-path"], user=github_server.login, pull_request=True
    )
    _push(workdir, monkeypatch)
    assert github_server.issue(REPO, pr)["body"] == body
    assert any(i["number"] != pr for i in github_server.issues(REPO))


def test_retest_never_sends_a_token_where_an_edited_state_points(
    tmp_path: Path,
    github_env: dict[str, str],
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 1: /retest after someone rewrote the state's deploy URL sends nothing there."""
    monkeypatch.chdir(tmp_path)
    for key, value in github_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TEST_JWT_SECRET", sample.secret)
    monkeypatch.setenv("GOLDEN_PATH_PROGRESS", "off")
    monkeypatch.setenv("GOLDEN_PATH_SETTLE", "0.3")
    monkeypatch.setenv("GOLDEN_PATH_BOT_LOGIN", github_server.login)
    (tmp_path / "golden-path.yml").write_text(
        f"""
deploy: {{command: "echo Service URL: {sample.base_url}", url_from_output: 'http://\\S+'}}
auth:
  jwt: {{secret_env: TEST_JWT_SECRET, claims: {{sub: e2e, iss: auth-service, aud: backend}}}}
checks: {{agent_flow: {{sessions: 3, timeout: 5s, connect_timeout: 2s}}}}
"""
    )
    github_server.set_permission(REPO, "alice", "write")
    sample.set_faults("auth")
    assert _push(tmp_path, monkeypatch) == 1
    with hostile("echo-credentials") as attacker:
        real = github_server.issue(REPO, 1)
        state = read_state(real["body"])
        assert state is not None
        # a person with edit rights points the stored deploy URL at their own server
        text = real["body"].replace(sample.base_url, f"http://127.0.0.1:{attacker.port}")
        with make_github(github_server, token="human-token") as g:
            github_server.add_token("human-token", "eve", role="admin")
            g.get_repo(REPO).get_issue(1).edit(body=text)
        code = _fire(tmp_path, monkeypatch, "issue_comment", _comment(github_server, 1, "/retest"))
        assert attacker.connections == 0 and attacker.tokens_seen == set()
    assert code == 0
    replies = [c["body"] for c in github_server.comments(REPO, 1)]
    assert any("cannot tell where the last deployment went" in r for r in replies)


def test_a_state_block_edited_by_hand_is_dropped_not_merged(
    workdir: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 1: a signed state whose text was changed fails its signature: nothing is kept."""
    sample.set_faults("auth")
    assert _push(workdir, monkeypatch) == 1
    body = github_server.issue(REPO, 1)["body"]
    assert " mac=" in body, "the bot signs its state (the JWT secret is the key)"
    forged = body.replace('"whys":{}', '"whys":{"2":{"answer":"forged","author":"x","at":"z"}}')
    assert forged != body
    with make_github(github_server, token="human-token") as g:
        github_server.add_token("human-token", "eve", role="admin")
        g.get_repo(REPO).get_issue(1).edit(body=forged)
    _push(workdir, monkeypatch)
    after = github_server.issue(REPO, 1)["body"]
    assert "forged" not in after
    assert "signature does not match" in after


# -- Finding 2: workflow-command injection from the target -----------------------------------


@pytest.fixture
def injecting_target() -> Iterator[str]:
    """A backend whose API error body and close reason carry workflow commands."""
    ready = threading.Event()
    stop: dict[str, asyncio.Event] = {}
    port: list[int] = []
    payload = "ok\n::stop-commands::pwned\n##[stop-commands]pwned2 ##[add-mask]x"

    def process(conn, request):
        if request.path.startswith("/ws"):
            return None
        body = payload.encode()
        headers = Headers([("Content-Length", str(len(body)))])
        return Response(500, "Internal Server Error", headers, body)

    async def handler(ws):
        await ws.recv()
        await ws.close(1011, payload[:100])

    async def main_loop() -> None:
        stop["e"] = asyncio.Event()
        async with serve(handler, "127.0.0.1", 0, process_request=process) as server:
            port.append(server.sockets[0].getsockname()[1])
            ready.set()
            await stop["e"].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main_loop(),), daemon=True)
    thread.start()
    ready.wait(5)
    yield f"http://127.0.0.1:{port[0]}"
    loop.call_soon_threadsafe(stop["e"].set)
    thread.join(5)


def test_target_text_never_becomes_a_workflow_command(
    tmp_path: Path,
    injecting_target: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Finding 2: close reasons and HTTP bodies cannot stop commands or start a line with ::."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GOLDEN_PATH_PROGRESS", "off")
    monkeypatch.setenv("TEST_JWT_SECRET", "s" * 40)
    (tmp_path / "c.yml").write_text(
        f"""
target: {{base_url: "{injecting_target}"}}
auth: {{jwt: {{secret_env: TEST_JWT_SECRET}}}}
checks:
  health: [{{name: Infrastructure Health, url: /health}}]
  agent_flow: {{sessions: 2, timeout: 3s, connect_timeout: 2s}}
"""
    )
    assert main(["run", "--config", "c.yml", "--tracker", "none"]) == 1
    out, err = capfd.readouterr()
    for stream in (out, err):
        assert "##[" not in stream
        commands = {name for name, _, _ in workflow_commands(stream)}
        assert commands <= {"add-mask", "group", "endgroup", "error", "warning", "notice"}
        assert "stop-commands" not in commands
    assert "pwned" in out, "the text is shown, only defused"


# -- Finding 5: a test name can end the bot's section ----------------------------------------


def test_a_test_named_like_our_end_marker_cannot_end_the_section(tmp_path: Path) -> None:
    """Finding 5: a failing test id holding '<!-- golden-path:end -->' renders inert."""
    cfg = parse_config({"checks": {"agent_flow": None, "health": []}})
    nodeid = "tests/test_x.py::test_y[<!-- golden-path:end --> <!-- golden-path:begin -->]"
    body = ""
    for n in range(2):
        it = Iteration(environment="staging", started_at=f"2026-01-01T00:0{n}:00Z")
        it.suites = [
            SuiteResult("e2e", failed=1, cases=[TestCase(nodeid, "failed", flaky=bool(n))])
        ]
        body = tracking.apply(body, cfg, iteration=it).body
        assert body.count(END) == 1 and body.count(BEGIN) == 1
        assert check_body(body) == ""
    state = read_state(body)
    assert state is not None and len(state.run_ids) == 2, "the session continues"


def test_a_body_with_two_end_markers_is_never_written(
    workdir: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 5 (and 7): a body the next run could not read back is refused; state is kept."""
    assert _push(workdir, monkeypatch) in (0, 1)
    body = github_server.issue(REPO, 1)["body"]
    with make_github(github_server) as g:
        g.get_repo(REPO).get_issue(1).edit(body=body + f"\n\nquoting the bot: {END}\n")
    github_server.clear_requests()
    assert _push(workdir, monkeypatch) == 1
    assert [w.method for w in github_server.writes()] == []
    saved = json.loads(pending_path("staging", workdir / ".golden-path").read_text())
    assert len(SessionState.from_dict(saved).run_ids) == 2, "the refused run is kept locally"


# -- Finding 6: the state grows past GitHub's body limit -------------------------------------


@pytest.mark.slow
def test_a_thousand_iterations_of_big_failures_stay_under_the_limit() -> None:
    """Finding 6: 1,000 iterations, 10,000-session failures: the body stays writable."""
    cfg = parse_config({"checks": {"health": []}, "tracking": {"log_limit": 30}})
    failures = [
        FlowSession(i, False, Kind.TIMEOUT, error=f"no agent_completed within 30s (#{i})")
        for i in range(0, 10_000, 2)  # every other session: no compact range to store
    ]
    body, largest = "", 0
    for n in range(1000):
        it = Iteration(environment="staging", started_at=f"2026-01-01T{n // 60:02d}:{n % 60:02d}Z")
        failed = len(failures) if n % 2 else 0
        it.flow = FlowSummary(
            total=10_000,
            passed=10_000 - failed,
            failed=failed,
            failures=failures if failed else [],
            kinds={"timeout": failed} if failed else {},
        )
        upd = tracking.apply(body, cfg, iteration=it, verdict=judge(it, cfg))
        body = upd.body
        largest = max(largest, len(body))
        assert check_body(body) == ""
    assert largest < GITHUB_BODY_LIMIT
    state = read_state(body)
    assert state is not None
    assert state.earlier["runs"] + sum(r.repeats for r in state.iterations) == 1000


# -- Finding 7: pending state is lost --------------------------------------------------------


def test_the_action_carries_pending_state_between_runs() -> None:
    """Finding 7: action.yml restores .golden-path/pending-state-* before the run, saves after."""
    import yaml

    action = yaml.safe_load((Path(__file__).parents[2] / "action.yml").read_text())
    steps = action["runs"]["steps"]
    names = [s.get("uses", "").split("@")[0] or s.get("id", "") for s in steps]
    restore, run, save = (
        names.index("actions/cache/restore"),
        names.index("run"),
        names.index("actions/cache/save"),
    )
    assert restore < run < save
    for index in (restore, save):
        assert steps[index]["with"]["path"] == ".golden-path/pending-state-*"
    assert "always()" in steps[save]["if"]


# -- Finding 10: human edits reset the session -----------------------------------------------


@pytest.mark.parametrize("marker", [BEGIN, END], ids=["begin", "end"])
def test_a_deleted_marker_line_keeps_the_session(
    workdir: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    """Finding 10: deleting one marker line by hand salvages the state and says so."""
    assert _push(workdir, monkeypatch) in (0, 1)
    body = github_server.issue(REPO, 1)["body"]
    with make_github(github_server) as g:
        g.get_repo(REPO).get_issue(1).edit(body="people's note\n" + body.replace(marker, ""))
    _push(workdir, monkeypatch)
    after = github_server.issue(REPO, 1)["body"]
    assert after.startswith("people's note\n")
    assert after.count(BEGIN) == 1 and after.count(END) == 1
    assert after.count("golden-path-state:v") == 1, "no dead copy of the old section"
    state = read_state(after)
    assert state is not None and len(state.run_ids) == 2
    assert "marker line of the bot's section was deleted" in after


def test_a_removed_label_neither_forks_the_issue_nor_stays_removed(
    workdir: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 10: the bot finds its own issue by authorship and marker, and re-labels it."""
    assert _push(workdir, monkeypatch) in (0, 1)
    with make_github(github_server) as g:
        g.get_repo(REPO).get_issue(1).edit(labels=[])
    _push(workdir, monkeypatch)
    assert len(github_server.issues(REPO)) == 1
    labels = {
        lbl if isinstance(lbl, str) else lbl["name"]
        for lbl in github_server.issue(REPO, 1)["labels"]
    }
    assert "golden-path" in labels


# -- Finding 13: /retest <suite> -------------------------------------------------------------


def test_retest_accepts_suite_names_in_any_case_and_quoted_with_spaces() -> None:
    """Finding 13: '/retest "Smoke Tests" E2E' reruns exactly those two suites."""
    cfg = parse_config(
        {
            "checks": {
                "pytest": [
                    {"name": "Smoke Tests", "args": ["tests/smoke"]},
                    {"name": "e2e", "args": ["tests/e2e"]},
                    {"name": "slow", "args": ["tests/slow"]},
                ]
            }
        }
    )
    (cmd,) = parse_commands('/retest "smoke tests" E2E')
    plan = retest_plan(cmd, SessionState(), cfg)
    assert not isinstance(plan, str), plan
    assert plan[0].only == {"suites": ["Smoke Tests", "e2e"]}


# -- Finding 11 (second half): a command edited away before its run -------------------------


def test_a_command_edited_away_before_its_run_does_not_run(
    workdir: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 11: '/deploy' edited to 'never mind' before the run: the live text decides."""
    assert _push(workdir, monkeypatch) in (0, 1)
    github_server.set_permission(REPO, "alice", "write")
    payload = _comment(github_server, 1, "/deploy")
    github_server.edit_comment(REPO, payload["comment"]["id"], "never mind")
    sample.reset_stats()
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, "issue_comment", payload) == 0
    assert sample.stats["connections"] == 0
    assert [w.method for w in github_server.writes()] == []
