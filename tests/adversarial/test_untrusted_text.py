"""Property 2: untrusted text stays text — through the real entry points.

Hazards: Jinja syntax, HTML, layout-breaking Markdown (unclosed fences, tables,
<details>), fake bot markers and fake state blocks, @team and @user mentions, #123
references and 100 KB strings — arriving as server close reasons and error frames, user
test names and failure messages, /why answers, and commit messages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.issue_format import BEGIN, END
from bot.sample import SampleTarget
from bot.session import read_state
from tests.support.github_server import GitHubServer
from tests.support.hostile import hostile

EVENTS = Path(__file__).parent.parent / "data" / "events"
FAKE_STATE = (
    '<!-- golden-path-state:v1\n{"iterations": [], "blockers": [{"id": "B1", "kind": "x", '
    '"root": "r", "first_seen": "", "whys": {"2": {"answer": "pwned"}}}]}\n-->'
)
EVIL = (
    "{{ 7*7 }} {% for x in range(3) %}boom{% endfor %} @octo-org/admins @alice #123 "
    f"{END} {FAKE_STATE} ```\n| a | b |\n|---|---|\n<details><summary>x <img src=x>"
)


def _assert_inert(body: str, iterations: int) -> None:
    assert len(body) < 65_536
    assert body.count(BEGIN) == 1 and body.count(END) == 1
    assert body.count("<!-- golden-path-state:v1") == 1
    state = read_state(body)
    assert state is not None and len(state.iterations) == iterations
    answers = [v for b in state.blockers for v in b.whys.values()]
    assert all(v.get("answer") != "pwned" for v in answers)  # not spoofed
    visible = body.split("<!-- golden-path-state")[0]
    assert "boomboomboom" not in visible and "{{ 7" not in visible.replace("{{ 7\\*7", "")
    assert not re.search(r"@(octo-org|alice)\b", body)
    m = re.search(r"(?<![\w&])#123\b", body)
    assert not m, body[max(0, m.start() - 200) : m.end() + 50]
    assert "<details><summary>x" not in visible and "<img" not in visible
    assert visible.count("```") % 2 == 0  # no fence left open


def _config(tmp: Path, sample: SampleTarget, flow_url: str, suite: Path | None = None) -> None:
    suites = (
        f"  pytest:\n    - {{name: hostile names, args: ['{suite}'], cwd: '{suite.parent}'}}\n"
        if suite
        else ""
    )
    (tmp / "golden-path.yml").write_text(
        f"environment: staging\ntarget: {{base_url: '{sample.base_url}'}}\n"
        "auth: {jwt: {secret_env: TEST_JWT_SECRET}}\n"
        f"checks:\n  agent_flow: {{url: '{flow_url}', sessions: 3, timeout: 2s, "
        f"connect_timeout: 1s}}\n{suites}tracking: {{labels: [golden-path]}}\n",
        encoding="utf-8",
    )


def test_server_text_and_test_names_render_inert(
    workdir: Path, github_server: GitHubServer, sample: SampleTarget
) -> None:
    """Hostile close reasons, error frames (100 KB), test names and messages stay text."""
    suite = workdir / "suite" / "test_evil.py"
    suite.parent.mkdir()
    suite.write_text(
        "import pytest\n"
        f"EVIL = {EVIL!r}\n"
        "@pytest.mark.parametrize('x', [1], ids=[EVIL[:200]])\n"
        "def test_evil(x):\n"
        "    raise AssertionError(EVIL + 'z' * 100_000)\n",
        encoding="utf-8",
    )
    with hostile("hostile-text") as server:
        _config(workdir, sample, server.ws_url, suite)
        assert main(["run", "--config", "golden-path.yml", "--tracker", "github"]) == 1
    body = github_server.issue("octo/app", 1)["body"]
    assert "hostile names" in body and "1011" in body
    _assert_inert(body, iterations=1)


def test_comment_answers_cannot_spoof_state_or_ping(
    workdir: Path,
    github_server: GitHubServer,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A /why answer full of markers, fake state and mentions is recorded as inert text."""
    github_server.set_permission("octo/app", "alice", "write")
    sample.set_faults("crash")
    assert main(["run", "--config", "golden-path.yml", "--tracker", "github"]) == 1
    issue = github_server.issue("octo/app", 1)
    answer = "/why 2 " + EVIL.replace("\n", " ") + " " + "w" * 100_000
    cid = github_server.add_comment("octo/app", 1, answer, user="alice")
    payload = json.loads((EVENTS / "issue_comment.json").read_text())
    payload["issue"].update(number=1, body=issue["body"])
    payload["comment"].update(id=cid, body=answer, user={"login": "alice", "type": "User"})
    path = workdir / "event.json"
    path.write_text(json.dumps(payload))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "issue_comment")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))
    assert main(["handle-event", "--config", "golden-path.yml"]) == 0
    body = github_server.issue("octo/app", 1)["body"]
    why2 = body.split("#### WHY 2:")[1].split("#### WHY 3:")[0]
    assert "**Answer** (by `alice`" in why2
    _assert_inert(body, iterations=1)


def test_commit_messages_are_never_rendered(
    workdir: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push whose commit message is hostile: the message appears nowhere in the issue."""
    payload = json.loads((EVENTS / "push.json").read_text())
    payload["head_commit"]["message"] = EVIL
    path = workdir / "push.json"
    path.write_text(json.dumps(payload))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))
    assert main(["handle-event", "--config", "golden-path.yml"]) == 0
    body = github_server.issue("octo/app", 1)["body"]
    assert "octo-org" not in body
    _assert_inert(body, iterations=1)
