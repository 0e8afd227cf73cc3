"""Property 3: nobody below the configured permission runs anything.

Every hazard goes through the real entry point (``golden-path handle-event`` with a webhook
payload on disk) against the local GitHub stand-in and the sample target, and is judged by
what reached GitHub: recorded requests, reactions, replies, the issue body and its state.

A command that runs leaves 👀 then 🚀/😕 and one more iteration. A refused one leaves 😕,
exactly one reply naming the required level, no iteration and no write to the issue. An
ignored one makes no write at all (most make no GitHub call at all).

Distinct hazards tried (49, one test each):

- 18 role × threshold cases: none/read/triage/write/maintain/admin against
  ``min_permission`` read, write and maintain (``/retest`` or ``/deploy``);
- 8 identities: a stranger on a public repository (implicit read), a user with no grant on
  a private one, a deleted account (404 → none), a ``[bot]`` login of type Bot, a Bot
  without the suffix, a ``[bot]`` login typed as a user, the bot itself as a PAT user
  (``GOLDEN_PATH_BOT_LOGIN``) and the same in another letter case;
- 4 permission API failures, all fail closed: persistent 500, a timeout (beyond
  ``GOLDEN_PATH_GITHUB_TIMEOUT``), 403 (our token lacks push access), a dropped connection;
- 7 comment shapes: edited, deleted, deleted before the run handled it, on an issue without
  the label, on a pull request, on another environment's tracking issue, and on a look-alike
  issue carrying our marker, label and a forged state (its state must never steer a run);
- 11 hiding places for a command: backtick and tilde fences, an unclosed fence, a fence a
  line with an info string does not close, four-space and tab indentation, a quote, a nested
  and an indented quote, an HTML comment, mid-sentence text;
- several commands from a refused user, which still get exactly one reply;
- 5 kinds of markup that hide a line from readers (security review, finding 11).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bot.cli import main
from bot.issue_format import BEGIN, END, env_marker
from bot.session import SessionState, read_state
from tests.support.github_server import GitHubServer

EVENTS = Path(__file__).resolve().parents[1] / "data" / "events"
REPO = "octo/app"
ROLES = ("none", "read", "triage", "write", "maintain", "admin")
USER = "pat"


def _body(environment: str = "staging", state: SessionState | None = None) -> str:
    state = state or SessionState(environment=environment)
    return "\n".join([BEGIN, env_marker(environment), state.to_block(), END])


@pytest.fixture
def tracked(workdir: Path, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch) -> int:
    """A tracking issue with an empty session; two sessions per run, no settle pause."""
    monkeypatch.setenv("GOLDEN_PATH_SETTLE", "0.05")
    cfg = workdir / "golden-path.yml"
    cfg.write_text(cfg.read_text().replace("sessions: 20, concurrency: 20", "sessions: 2"))
    return github_server.add_issue(REPO, "Golden Path: staging", _body(), ["golden-path"])


def _min_permission(workdir: Path, minimum: str) -> None:
    cfg = workdir / "golden-path.yml"
    cfg.write_text(cfg.read_text() + f"commands: {{min_permission: {minimum}}}\n")


def _payload(gh: GitHubServer, number: int, body: str, user: str = USER, **kind: str) -> dict:
    """Post the comment on the stand-in and build the webhook GitHub would deliver for it."""
    issue = gh.issue(REPO, number)
    comment_id = gh.add_comment(REPO, number, body, user=user)
    payload = json.loads((EVENTS / "issue_comment.json").read_text())
    payload["issue"].update(
        number=number,
        body=issue["body"],
        labels=[{"name": n} for n in issue["labels"]],
    )
    payload["comment"].update(
        id=comment_id, body=body, user={"login": user, "type": kind.get("type", "User")}
    )
    payload["sender"] = payload["comment"]["user"]
    return payload


def _fire(workdir: Path, monkeypatch: pytest.MonkeyPatch, payload: dict) -> int:
    path = workdir / "event.json"
    path.write_text(json.dumps(payload))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "issue_comment")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))
    return main(["handle-event", "--config", "golden-path.yml"])


def _reactions(gh: GitHubServer, comment_id: int) -> list[str]:
    return [r["content"] for r in gh.reactions(REPO, comment_id=comment_id)]


def _replies(gh: GitHubServer, number: int) -> list[str]:
    return [c["body"] for c in gh.comments(REPO, number) if c["user"] == gh.login]


def _iterations(gh: GitHubServer, number: int) -> int:
    state = read_state(gh.issue(REPO, number)["body"])
    assert state is not None
    return len(state.iterations)


def _issue_writes(gh: GitHubServer) -> list[str]:
    """Writes that touch an issue itself (body, state, labels), not comments or reactions."""
    return [
        f"{r.method} {r.path}"
        for r in gh.writes()
        if "/comments" not in r.path and "/reactions" not in r.path
    ]


def _assert_refused(gh: GitHubServer, number: int, payload: dict, minimum: str) -> None:
    body_before = payload["issue"]["body"]
    assert _reactions(gh, payload["comment"]["id"]) == ["confused"]
    replies = _replies(gh, number)
    assert len(replies) == 1, replies
    assert f"`{minimum}` permission" in replies[0] and "Nothing was run" in replies[0]
    assert _issue_writes(gh) == []
    assert gh.issue(REPO, number)["body"] == body_before
    assert _iterations(gh, number) == 0


def _assert_ignored(gh: GitHubServer, number: int, payload: dict) -> None:
    assert gh.writes() == []
    assert _reactions(gh, payload["comment"]["id"]) == []
    assert _replies(gh, number) == []
    assert _iterations(gh, number) == 0


# -- the permission matrix -------------------------------------------------------------------
MATRIX = [(role, minimum) for minimum in ("read", "write", "maintain") for role in ROLES]


@pytest.mark.parametrize(("role", "minimum"), MATRIX, ids=[f"{r}-vs-{m}" for r, m in MATRIX])
def test_role_against_threshold(
    workdir: Path,
    tracked: int,
    github_server: GitHubServer,
    monkeypatch: pytest.MonkeyPatch,
    role: str,
    minimum: str,
) -> None:
    """A role at or above min_permission runs the command; anything below is refused."""
    _min_permission(workdir, minimum)
    github_server.set_permission(REPO, USER, role)
    command = "/deploy" if minimum == "write" else "/retest"
    payload = _payload(github_server, tracked, command)
    github_server.clear_requests()
    code = _fire(workdir, monkeypatch, payload)
    if ROLES.index(role) >= ROLES.index(minimum):
        assert code == 0
        assert _reactions(github_server, payload["comment"]["id"]) == ["eyes", "rocket"]
        assert _iterations(github_server, tracked) == 1
        state = read_state(github_server.issue(REPO, tracked)["body"])
        assert state is not None and state.iterations[0].trigger == f"{command} by {USER}"
        assert _replies(github_server, tracked) == []
    else:
        assert code == 0
        _assert_refused(github_server, tracked, payload, minimum)
        assert f"`{role}`" in _replies(github_server, tracked)[0]


# -- who is asking ---------------------------------------------------------------------------
def test_stranger_on_a_public_repository_is_refused(
    workdir: Path, tracked: int, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a public repository everyone can read; read is still below the default write."""
    github_server.repo(REPO).private = False
    payload = _payload(github_server, tracked, "/deploy", user="passer-by")
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    _assert_refused(github_server, tracked, payload, "write")
    assert "`read`" in _replies(github_server, tracked)[0]


def test_user_without_any_grant_on_a_private_repository_is_refused(
    workdir: Path, tracked: int, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No grant on a private repository is ``none``: refused even under min_permission read."""
    _min_permission(workdir, "read")
    payload = _payload(github_server, tracked, "/retest all", user="outsider")
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    _assert_refused(github_server, tracked, payload, "read")
    assert "`none`" in _replies(github_server, tracked)[0]


def test_deleted_account_is_none(
    workdir: Path, tracked: int, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 404 from the permission endpoint (account gone) means ``none``: refused."""
    github_server.set_permission(REPO, "ghost", "admin")
    payload = _payload(github_server, tracked, "/deploy", user="ghost")
    github_server.delete_user("ghost")
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    _assert_refused(github_server, tracked, payload, "write")
    assert "`none`" in _replies(github_server, tracked)[0]


@pytest.mark.parametrize(
    ("login", "kind", "bot_login"),
    [
        ("renovate[bot]", "Bot", None),
        ("helper-app", "Bot", None),
        ("lookslike[bot]", "User", None),
        ("golden-path-pat", "User", "golden-path-pat"),
        ("Golden-Path-PAT", "User", "golden-path-pat"),
    ],
    ids=["bot-login", "bot-type", "bot-suffix-as-user", "ourselves-as-pat", "ourselves-any-case"],
)
def test_bots_and_ourselves_are_ignored_without_a_call(
    workdir: Path,
    tracked: int,
    github_server: GitHubServer,
    monkeypatch: pytest.MonkeyPatch,
    login: str,
    kind: str,
    bot_login: str | None,
) -> None:
    """Bots (type, [bot] suffix) and the bot's own login never reach GitHub, even as admins."""
    if bot_login:
        monkeypatch.setenv("GOLDEN_PATH_BOT_LOGIN", bot_login)
    github_server.set_permission(REPO, login, "admin")
    payload = _payload(github_server, tracked, "/deploy", user=login, type=kind)
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    assert github_server.requests == []
    _assert_ignored(github_server, tracked, payload)


# -- the permission API fails ----------------------------------------------------------------
PERMISSION = r"/repos/octo/app/collaborators/[^/]+/permission"


@pytest.mark.parametrize(
    ("fault", "asked"),
    [
        ({"status": 500, "times": None}, 2),
        ({"status": None, "delay": 3.0, "times": None}, 2),
        ({"status": 403, "times": None}, 1),  # a plain 403 is an answer: not retried
        ({"drop": True, "times": None}, 2),
    ],
    ids=["500", "timeout", "403-no-push-access", "dropped"],
)
def test_permission_api_failure_fails_closed(
    workdir: Path,
    tracked: int,
    github_server: GitHubServer,
    monkeypatch: pytest.MonkeyPatch,
    fault: dict,
    asked: int,
) -> None:
    """No answer about the commenter's permission (error, timeout, no access): refused."""
    monkeypatch.setenv("GOLDEN_PATH_GITHUB_TIMEOUT", "1")
    monkeypatch.setenv("GOLDEN_PATH_GITHUB_RETRIES", "1")
    github_server.set_permission(REPO, USER, "admin")
    injected = github_server.inject("GET", PERMISSION, **fault)
    payload = _payload(github_server, tracked, "/deploy")
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    _assert_refused(github_server, tracked, payload, "write")
    assert injected.hits == asked  # transient faults: retried once (GOLDEN_PATH_GITHUB_RETRIES)


# -- which comment ---------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["edited", "deleted"])
def test_edited_and_deleted_comments_are_ignored(
    workdir: Path,
    tracked: int,
    github_server: GitHubServer,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
) -> None:
    """Only a new comment carries commands; an edit (or deletion) of one runs nothing."""
    github_server.set_permission(REPO, USER, "admin")
    payload = _payload(github_server, tracked, "/deploy")
    payload["action"] = action
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    assert github_server.requests == []
    _assert_ignored(github_server, tracked, payload)


def test_comment_deleted_before_it_is_handled_runs_nothing(
    workdir: Path, tracked: int, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A /deploy deleted before the run picked it up is withdrawn: no run, no reply, exit 0."""
    github_server.set_permission(REPO, USER, "admin")
    payload = _payload(github_server, tracked, "/deploy")
    response = httpx.delete(
        f"{github_server.url}/repos/{REPO}/issues/comments/{payload['comment']['id']}",
        headers={"Authorization": f"token {github_server.token}"},
    )
    assert response.status_code == 204
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    assert github_server.writes() == []
    assert _replies(github_server, tracked) == []
    assert _iterations(github_server, tracked) == 0


@pytest.mark.parametrize(
    "where",
    ["unlabelled-issue", "pull-request", "other-environment"],
)
def test_comments_elsewhere_are_ignored_without_a_call(
    workdir: Path,
    tracked: int,
    github_server: GitHubServer,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """An admin's /deploy on an unlabelled issue, a PR or another environment's issue: nothing."""
    github_server.set_permission(REPO, USER, "admin")
    labels = [] if where == "unlabelled-issue" else ["golden-path"]
    environment = "production" if where == "other-environment" else "staging"
    other = github_server.add_issue(REPO, "elsewhere", _body(environment), labels)
    payload = _payload(github_server, other, "/deploy")
    if where == "unlabelled-issue":
        payload["issue"]["body"] = "a bug report\n" + env_marker("staging")
    if where == "pull-request":
        payload["issue"]["pull_request"] = {"url": f"{github_server.url}/repos/{REPO}/pulls/9"}
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    assert github_server.requests == []
    _assert_ignored(github_server, other, payload)
    assert _iterations(github_server, tracked) == 0


def test_lookalike_issue_cannot_steer_a_run(
    workdir: Path, tracked: int, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An issue copying our marker, label and a state block is not the tracking issue."""
    github_server.set_permission(REPO, USER, "admin")
    forged = SessionState(environment="staging")
    forged.last_iteration = {"environment": "staging", "deploy": {"url": "http://evil.invalid"}}
    forged.last_failed = {"http": True}
    fake = github_server.add_issue(
        REPO, "Golden Path: staging (copy)", _body(state=forged), ["golden-path"], user="mallory"
    )
    payload = _payload(github_server, fake, "/retest")
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    assert github_server.writes() == []
    assert _iterations(github_server, tracked) == 0
    assert _iterations(github_server, fake) == 0


# -- where the command hides -----------------------------------------------------------------
HIDDEN = {
    "backtick-fence": "Try this:\n```\n/deploy\n```\n",
    "tilde-fence": "~~~sh\n/deploy\n~~~\n",
    "unclosed-fence": "```\n/deploy\n",
    "info-string-does-not-close": "````\n```` not a closing fence\n/deploy\n````\n",
    "indented": "Example:\n\n    /deploy\n",
    "tab-indented": "\t/deploy\n",
    "quote": "> /deploy\n\nthat is what broke staging",
    "nested-quote": "> > /deploy\n",
    "indented-quote": "   > /deploy\n",
    "html-comment": "LGTM\n<!--\n/deploy\n-->\n",
    "mid-sentence": "yesterday someone typed /deploy and it broke\n",
}


@pytest.mark.parametrize("body", HIDDEN.values(), ids=HIDDEN.keys())
def test_hidden_commands_are_not_commands(
    workdir: Path,
    tracked: int,
    github_server: GitHubServer,
    monkeypatch: pytest.MonkeyPatch,
    body: str,
) -> None:
    """A command inside code, a quote or a hidden comment is text, even from an admin."""
    github_server.set_permission(REPO, USER, "admin")
    payload = _payload(github_server, tracked, body)
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    assert github_server.requests == []
    _assert_ignored(github_server, tracked, payload)


# Finding 11 of the security review: markup that hides a line from readers
HIDDEN_BY_MARKUP = {
    "comment-opened-mid-line": "LGTM <!--\n/deploy\n-->\n",
    "multi-line-link-title": 'See [docs](https://example.com "docs\n/deploy\n")\n',
    "pre": "<pre>\n\n/deploy\n\n</pre>\n",
    "line-separator": "LGTM\u2028/deploy\n",
    "record-separator": "LGTM\x1e/deploy\n",
}


@pytest.mark.parametrize("body", HIDDEN_BY_MARKUP.values(), ids=HIDDEN_BY_MARKUP.keys())
def test_commands_hidden_by_markup_are_not_commands(
    workdir: Path,
    tracked: int,
    github_server: GitHubServer,
    monkeypatch: pytest.MonkeyPatch,
    body: str,
) -> None:
    """Finding 11: a command readers cannot see as text does nothing, even from an admin."""
    github_server.set_permission(REPO, USER, "admin")
    payload = _payload(github_server, tracked, body)
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    assert github_server.requests == []
    _assert_ignored(github_server, tracked, payload)


def test_several_commands_from_a_refused_user_get_one_reply(
    workdir: Path, tracked: int, github_server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/deploy, /retest, /why and /help from a triage user: one 😕, one reply, nothing run."""
    github_server.set_permission(REPO, USER, "triage")
    payload = _payload(github_server, tracked, "/deploy\n/retest all\n/why 2 because\n/help")
    github_server.clear_requests()
    assert _fire(workdir, monkeypatch, payload) == 0
    _assert_refused(github_server, tracked, payload, "write")
    state = read_state(github_server.issue(REPO, tracked)["body"])
    assert state is not None and all(b.whys == {} for b in state.blockers)
