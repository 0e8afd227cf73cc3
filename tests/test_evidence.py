"""Root-cause evidence: the regression window, the log excerpt, proposals, blockers' stories."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.evidence import matches
from bot.sample import SampleTarget
from bot.session import SessionState, read_state
from tests.support.github_server import GitHubServer

REPO = "octo/app"
EVENTS = Path(__file__).parent / "data" / "events"
LOGS = (
    "INFO ws: connection accepted\n"
    "ERROR auth.middleware: JWT signature verification failed -> close 1008\n"
    "INFO ws: connection closed (1008)\n"
)


def _fire(workdir: Path, monkeypatch: pytest.MonkeyPatch, name: str, payload: dict) -> int:
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(payload))
    monkeypatch.setenv("GITHUB_EVENT_NAME", name)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))
    return main(["handle-event", "--config", "golden-path.yml"])


def _push(workdir: Path, monkeypatch: pytest.MonkeyPatch, sha: str) -> int:
    monkeypatch.setenv("GITHUB_SHA", sha)
    return _fire(workdir, monkeypatch, "push", json.loads((EVENTS / "push.json").read_text()))


def _comment(gh: GitHubServer, body: str) -> dict:
    issue = gh.issue(REPO, 1)
    comment_id = gh.add_comment(REPO, 1, body, user="alice")
    payload = json.loads((EVENTS / "issue_comment.json").read_text())
    labels = [{"name": lbl if isinstance(lbl, str) else lbl["name"]} for lbl in issue["labels"]]
    payload["issue"].update(number=1, body=issue["body"], labels=labels)
    payload["comment"].update(id=comment_id, body=body, user={"login": "alice", "type": "User"})
    return payload


def _state(gh: GitHubServer, workdir: Path) -> SessionState:
    from bot.session import state_key

    secret = (workdir / ".secret").read_text()
    state = read_state(gh.issue(REPO, 1)["body"], state_key(secret))
    assert state is not None
    return state


@pytest.fixture
def evidence_workdir(workdir: Path, sample: SampleTarget, github_server: GitHubServer) -> Path:
    """The workdir's config plus paths of interest and a logs command."""
    (workdir / "backend.log").write_text(LOGS)
    (workdir / ".secret").write_text(sample.secret)
    config = (workdir / "golden-path.yml").read_text()
    config += (
        "evidence:\n"
        "  paths: ['auth/**', '**/websocket/**']\n"
        "  logs: {command: 'cat backend.log', timeout: 5s}\n"
    )
    (workdir / "golden-path.yml").write_text(config)
    github_server.set_permission(REPO, "alice", "write")
    return workdir


def test_a_blocker_keeps_its_story_from_first_sighting_to_resolution(
    evidence_workdir: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """green @A → B, C (C touches auth/) → blocked @C: window B, C with C highlighted, logs,
    C proposed; /why 2 accept; another blocker @D starts fresh; green @E resolves it."""
    gh, wd = github_server, evidence_workdir
    a = gh.add_commit(REPO, "Initial backend", ["app/main.py"])
    assert _push(wd, monkeypatch, a) == 0
    b = gh.add_commit(REPO, "Tune prompts (#41)", ["agent/prompts.py"])
    c = gh.add_commit(REPO, "Rotate JWT settings (#42)", ["auth/settings.py"], author="mallory")
    sample.set_faults("auth")
    gh.clear_requests()
    assert _push(wd, monkeypatch, c) == 1
    calls = [(r.method, r.path) for r in gh.requests]
    # find, compare (one call), the files of the window's commits (bounded), write, verify
    assert calls.count(("GET", f"/repos/{REPO}/compare/{a}...{c}")) == 1
    assert len([p for m, p in calls if re.fullmatch(rf"/repos/{REPO}/commits/\w+", p)]) <= 5
    assert len(calls) <= 3 + 1 + 2 + 1  # normal update + compare + 2 commits + one re-read

    body = gh.issue(REPO, 1)["body"]
    b1 = _state(gh, wd).current_blocker
    assert b1 is not None and b1.id == "B1"
    window = b1.evidence["window"]
    assert [x["sha"] for x in window["commits"]] == [c, b]  # newest first
    assert [x["highlighted"] for x in window["commits"]] == [True, False]
    assert window["commits"][0]["files"] == ["auth/settings.py"]
    assert f"⚠️ [{c[:7]}](" in body and "Rotate JWT settings" in body
    assert "JWT signature verification failed" in body  # the log excerpt, under the blocker
    assert c[:7] in b1.proposals["5"]["answer"] and "Proposed by golden-path rules" in body
    assert f"suspected change `{c[:7]}`" in body  # the one-line summary at the top

    assert _fire(wd, monkeypatch, "issue_comment", _comment(gh, "/why 2 accept")) == 0
    b1 = _state(gh, wd).current_blocker
    assert b1 is not None and "accepted" in b1.whys["2"]["answer"]
    assert b1.whys["2"]["author"] == "alice"

    d = gh.add_commit(REPO, "Batch events in the notifier (#43)", ["websocket/notifier.py"])
    sample.set_faults("drop:agent_thinking")
    assert _push(wd, monkeypatch, d) == 1
    state = _state(gh, wd)
    b1_after, b2 = state.blocker("B1"), state.current_blocker
    assert b2 is not None and b2.id == "B2" and b2.whys == {}  # a fresh Five Whys
    assert b1_after is not None and b1_after.resolved and "2" in b1_after.whys  # kept
    body = gh.issue(REPO, 1)["body"]
    whys = body.split("FIVE WHYS BUG ANALYSIS (B2)", 1)[1].split("## NEXT STEPS")[0]
    assert "(proposed by golden-path rules, accepted)" not in whys

    e = gh.add_commit(REPO, "Deliver agent_thinking again (#44)", ["websocket/notifier.py"])
    sample.set_faults()
    assert _push(wd, monkeypatch, e) == 0
    state = _state(gh, wd)
    assert state.current_blocker is None
    b2 = state.blocker("B2")
    assert b2 is not None and b2.resolved_sha == e and b2.first_sha == d
    body = gh.issue(REPO, 1)["body"]
    assert "### Resolved blockers" in body
    history = body.split("### Resolved blockers", 1)[1]
    assert history.index("| B2 |") < history.index("| B1 |"), "newest first"
    assert "after " in body and "### ✅ BLOCKER RESOLVED" in body


def test_no_green_iteration_yet_says_so(
    evidence_workdir: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A blocker on the very first run has no window: the issue says why, nothing is called."""
    a = github_server.add_commit(REPO, "Initial backend", ["auth/settings.py"])
    sample.set_faults("auth")
    assert _push(evidence_workdir, monkeypatch, a) == 1
    assert not [r for r in github_server.requests if "/compare/" in r.path]
    assert "no green iteration yet" in github_server.issue(REPO, 1)["body"]


def test_failing_sources_degrade_to_notes_never_a_lost_iteration(
    evidence_workdir: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Compare answers 500, the logs command fails, the analyzer prints garbage: all noted."""
    wd, gh = evidence_workdir, github_server
    (wd / "analyzer.sh").write_text("#!/bin/sh\ncat >/dev/null\necho 'not json'\n")
    (wd / "analyzer.sh").chmod(0o755)
    config = (wd / "golden-path.yml").read_text().replace("cat backend.log", "exit 3")
    config += "analysis: {command: ./analyzer.sh, name: stub-llm}\n"
    (wd / "golden-path.yml").write_text(config)
    monkeypatch.setenv("GOLDEN_PATH_GITHUB_RETRIES", "0")
    a = gh.add_commit(REPO, "Initial backend", ["app/main.py"])
    assert _push(wd, monkeypatch, a) == 0
    c = gh.add_commit(REPO, "Rotate JWT settings", ["auth/settings.py"])
    gh.inject("GET", r"/repos/.*/compare/.*", 500, times=None)
    sample.set_faults("auth")
    assert _push(wd, monkeypatch, c) == 1
    state = _state(gh, wd)
    assert len(state.run_ids) == 2, "the iteration is recorded"
    b1 = state.current_blocker
    assert b1 is not None
    assert b1.evidence["window"]["note"].startswith("could not compare")
    assert b1.evidence["logs"]["note"].startswith("the logs command failed")
    assert any("analyzer stub-llm failed" in n for n in b1.evidence["notes"])
    assert "could not compare" in gh.issue(REPO, 1)["body"]


def test_an_analyzer_command_proposes_and_never_overwrites_a_person(
    evidence_workdir: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stub analyzer reads the evidence on stdin; its proposals are marked with its name."""
    wd, gh = evidence_workdir, github_server
    script = (
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        "bundle = json.load(sys.stdin)\n"
        "kind = bundle['blocker']['kind']\n"
        "json.dump({'whys': {'3': 'the ' + kind + ' comes from the deploy'}}, sys.stdout)\n"
    )
    (wd / "analyzer.py").write_text(script)
    (wd / "analyzer.py").chmod(0o755)
    config = (wd / "golden-path.yml").read_text()
    config += "analysis: {command: ./analyzer.py, name: stub-llm, builtin: false}\n"
    (wd / "golden-path.yml").write_text(config)
    sample.set_faults("auth")
    assert _push(wd, monkeypatch, gh.add_commit(REPO, "x", ["a.py"])) == 1
    body = gh.issue(REPO, 1)["body"]
    assert "**Proposed by stub-llm, not confirmed**: the auth\\_rejected comes from" in body
    assert _fire(wd, monkeypatch, "issue_comment", _comment(gh, "/why 3 a person's answer")) == 0
    assert _fire(wd, monkeypatch, "issue_comment", _comment(gh, "/why 3 accept")) == 0
    b1 = _state(gh, wd).current_blocker
    assert b1 is not None and b1.whys["3"]["answer"] == "a person's answer"
    assert "3" not in b1.proposals
    replies = [c["body"] for c in gh.comments(REPO, 1)]
    assert any("already has an answer by `alice`" in r for r in replies)


def test_why_can_name_an_earlier_blocker(
    evidence_workdir: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/why B1 4 <answer> lands on B1 after B2 took over; /why B9 gets a clear reply."""
    wd, gh = evidence_workdir, github_server
    sample.set_faults("auth")
    _push(wd, monkeypatch, gh.add_commit(REPO, "one", ["a.py"]))
    sample.set_faults("crash")
    _push(wd, monkeypatch, gh.add_commit(REPO, "two", ["b.py"]))
    assert _fire(wd, monkeypatch, "issue_comment", _comment(gh, "/why B1 4 stale secret")) == 0
    state = _state(gh, wd)
    b1, b2 = state.blocker("B1"), state.blocker("B2")
    assert b1 is not None and b1.whys["4"]["answer"] == "stale secret"
    assert b2 is not None and b2.whys == {}
    _fire(wd, monkeypatch, "issue_comment", _comment(gh, "/why B9 2 nothing"))
    replies = [c["body"] for c in gh.comments(REPO, 1)]
    assert any("No blocker `B9`" in r for r in replies)


def test_log_command_values_are_quoted_never_shell(tmp_path: Path) -> None:
    """A revision parsed from deploy output cannot run commands through {revision}."""
    from bot.config import parse_config
    from bot.evidence import logs_excerpt
    from bot.results import DeployResult, Iteration
    from bot.session import BlockerRecord

    marker = tmp_path / "pwned"
    cfg = parse_config({"evidence": {"logs": {"command": "echo ERROR revision {revision}"}}})
    it = Iteration(environment="staging", started_at="2026-01-01T00:00:00Z")
    it.deploy = DeployResult(ran=True, ok=True, revision=f"r1; touch {marker}")
    excerpt = logs_excerpt(cfg, it, BlockerRecord("B1", "timeout", "r", "2026-01-01T00:00:00Z"), {})
    assert not marker.exists()
    assert excerpt["lines"] == [f"ERROR revision r1; touch {marker}"]


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("auth/settings.py", True),
        ("services/auth/settings.py", False),
        ("api/websocket/notifier.py", True),
        ("websocket/notifier.py", True),
        ("docs/readme.md", False),
    ],
)
def test_paths_of_interest_globs(path: str, wanted: bool) -> None:
    """``auth/**`` is rooted; ``**/websocket/**`` matches at any depth, the top included."""
    assert matches(path, ["auth/**", "**/websocket/**"]) is wanted


def test_the_story_demo_shows_every_piece(tmp_path: Path) -> None:
    """demo --story: regression window, log excerpt, a proposal and the blocker history."""
    assert main(["demo", "--story", "--out", str(tmp_path)]) == 1  # it ends on a blocker
    body = (tmp_path / "tracking-issue.md").read_text()
    assert "**What changed** since the last green iteration" in body
    assert "What the backend logged" in body
    assert "Proposed by golden-path rules, not confirmed" in body
    assert "### Resolved blockers" in body and "| B1 |" in body
    assert "FIVE WHYS BUG ANALYSIS (B2)" in body
