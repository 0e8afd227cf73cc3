"""The GitHub REST stand-in, exercised through PyGithub as the bot uses it.

These tests pin both the stand-in's fidelity (shapes, status codes, pagination) and the
PyGithub behaviour the bot relies on (what is retried, what raises).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests
from github import (
    BadCredentialsException,
    Github,
    GithubException,
    RateLimitExceededException,
    UnknownObjectException,
)

from tests.support.github_fixtures import make_github, make_retry
from tests.support.github_server import DEFAULT_REPO, MAX_BODY_CHARS, GitHubServer

pytest_plugins = ["tests.support.github_fixtures"]

REPO = "octo/app"


@pytest.fixture
def client(github_server: GitHubServer) -> Iterator[Github]:
    """A PyGithub client on the stand-in, closed after the test."""
    with make_github(github_server) as github:
        yield github


def test_issue_create_get_edit_round_trip(github_server: GitHubServer, client: Github) -> None:
    """Create, fetch and edit an issue; urls point back at the stand-in."""
    repo = client.get_repo(REPO)
    created = repo.create_issue("Golden Path: staging", body="v1", labels=["golden-path"])
    assert created.number == 1
    assert created.url == f"{github_server.url}/repos/{REPO}/issues/1"
    assert created.html_url == f"{github_server.web_url}/{REPO}/issues/1"
    assert created.user.login == "golden-path-bot[bot]"
    assert [label.name for label in created.labels] == ["golden-path"]
    assert created.pull_request is None
    assert github_server.requests[-1].status == 201

    fetched = repo.get_issue(1)
    assert (fetched.title, fetched.body, fetched.state) == ("Golden Path: staging", "v1", "open")

    fetched.edit(body="v2", labels=["golden-path", "blocked"])
    fetched.edit(state="closed", state_reason="not_planned")
    record = github_server.issue(REPO, 1)
    assert record["body"] == "v2"
    assert record["labels"] == ["golden-path", "blocked"]
    assert (record["state"], record["state_reason"]) == ("closed", "not_planned")
    assert fetched.closed_at is not None
    assert fetched.closed_by is not None
    assert fetched.closed_by.login == "golden-path-bot[bot]"

    fetched.edit(state="open")
    assert (fetched.state, fetched.state_reason, fetched.closed_at) == ("open", "reopened", None)
    assert [r.method for r in github_server.writes()] == ["POST", "PATCH", "PATCH", "PATCH"]


def test_list_issues_by_label_includes_closed_only_when_asked(
    github_server: GitHubServer, client: Github
) -> None:
    """Label filters AND together and state=all brings closed issues back."""
    github_server.add_issue(REPO, "open tracker", labels=["golden-path", "staging"])
    github_server.add_issue(REPO, "closed tracker", labels=["golden-path"], state="closed")
    github_server.add_issue(REPO, "unrelated", labels=["bug"])
    repo = client.get_repo(REPO)

    assert [i.title for i in repo.get_issues(labels=["golden-path"])] == ["open tracker"]
    titles = [i.title for i in repo.get_issues(state="all", labels=["golden-path"])]
    assert titles == ["closed tracker", "open tracker"]  # newest first, like GitHub
    assert [i.title for i in repo.get_issues(labels=["golden-path", "staging"])] == ["open tracker"]
    assert [i.title for i in repo.get_issues(state="closed")] == ["closed tracker"]


def test_pagination_over_more_than_100_issues(github_server: GitHubServer) -> None:
    """PyGithub walks the Link headers: 205 issues at per_page=100 is three pages."""
    for n in range(205):
        github_server.add_issue(REPO, f"issue {n}", labels=["golden-path"])
    with make_github(github_server, per_page=100) as client:
        repo = client.get_repo(REPO)
        github_server.clear_requests()
        numbers = [i.number for i in repo.get_issues(state="all", direction="asc")]
        assert numbers == list(range(1, 206))
        pages = [r for r in github_server.requests if r.path == f"/repos/{REPO}/issues"]
        assert [(r.query.get("page", "1"), r.query["per_page"]) for r in pages] == [
            ("1", "100"),
            ("2", "100"),
            ("3", "100"),
        ]
        assert repo.get_issues(labels=["golden-path"]).totalCount == 205


def test_comments_create_get_and_delete(github_server: GitHubServer, client: Github) -> None:
    """A comment round-trips; once deleted, fetching it is 404."""
    number = github_server.add_issue(REPO, "tracker")
    issue = client.get_repo(REPO).get_issue(number)
    comment = issue.create_comment("log moved here")
    assert comment.user.login == "golden-path-bot[bot]"
    assert comment.html_url.endswith(f"/{REPO}/issues/{number}#issuecomment-{comment.id}")
    assert issue.get_comment(comment.id).body == "log moved here"

    comment.delete()
    assert github_server.comments(REPO, number) == []
    with pytest.raises(UnknownObjectException):
        issue.get_comment(comment.id)


def test_reactions_are_idempotent_per_user_and_content(
    github_server: GitHubServer, client: Github
) -> None:
    """A repeated reaction answers 200 with the same id; an unknown content is 422."""
    number = github_server.add_issue(REPO, "tracker")
    comment_id = github_server.add_comment(REPO, number, "/retest", user="alice")
    issue = client.get_repo(REPO).get_issue(number)
    comment = issue.get_comment(comment_id)

    first = comment.create_reaction("eyes")
    again = comment.create_reaction("eyes")
    assert first.id == again.id
    statuses = [r.status for r in github_server.requests if r.path.endswith("/reactions")]
    assert statuses == [201, 200]
    comment.create_reaction("rocket")
    issue.create_reaction("+1")
    contents = [r["content"] for r in github_server.reactions(REPO, comment_id=comment_id)]
    assert contents == ["eyes", "rocket"]
    assert [r["content"] for r in github_server.reactions(REPO, number)] == ["+1"]
    assert client.get_repo(REPO).get_issue(number).get_comment(comment_id).reactions["eyes"] == 1

    with pytest.raises(GithubException) as refused:
        comment.create_reaction("thumbsup")
    assert refused.value.status == 422


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        ("admin", "admin"),
        ("maintain", "write"),
        ("write", "write"),
        ("triage", "read"),
        ("read", "read"),
        ("none", "none"),
    ],
)
def test_collaborator_permission_levels(
    github_server: GitHubServer, client: Github, role: str, permission: str
) -> None:
    """permission folds maintain->write and triage->read; role_name keeps the fine role."""
    github_server.set_permission(REPO, "alice", role)
    repo = client.get_repo(REPO)
    assert repo.get_collaborator_permission("alice") == permission
    assert repo.get_collaborator_role_name("alice") == role


def test_permission_of_strangers_and_missing_accounts(
    github_server: GitHubServer, client: Github
) -> None:
    """No grant: none on a private repo, read on a public one; no account: 404."""
    github_server.add_repo("octo/public", private=False)
    assert client.get_repo(REPO).get_collaborator_permission("mallory") == "none"
    assert client.get_repo("octo/public").get_collaborator_permission("mallory") == "read"
    github_server.delete_user("ghost")
    with pytest.raises(UnknownObjectException):
        client.get_repo(REPO).get_collaborator_permission("ghost")


def test_body_over_65536_characters_is_422(github_server: GitHubServer, client: Github) -> None:
    """GitHub's body limit: exactly 65,536 passes, one more is Validation Failed."""
    repo = client.get_repo(REPO)
    issue = repo.create_issue("tracker", body="x" * MAX_BODY_CHARS)
    with pytest.raises(GithubException) as refused:
        issue.edit(body="x" * (MAX_BODY_CHARS + 1))
    assert refused.value.status == 422
    error = refused.value.data["errors"][0]
    assert (error["resource"], error["field"], error["code"]) == ("Issue", "body", "custom")
    assert error["message"] == "body is too long (maximum is 65536 characters)"
    with pytest.raises(GithubException) as comment_refused:
        issue.create_comment("y" * (MAX_BODY_CHARS + 1))
    assert comment_refused.value.data["errors"][0]["resource"] == "IssueComment"
    assert len(github_server.comments(REPO, issue.number)) == 0


def test_injected_502_is_retried_for_get_but_not_for_patch(
    github_server: GitHubServer, client: Github
) -> None:
    """GithubRetry retries GET through two 502s; PATCH is not retried by default."""
    number = github_server.add_issue(REPO, "tracker")
    repo = client.get_repo(REPO)
    path = rf"/repos/{REPO}/issues/\d+"
    github_server.clear_requests()
    github_server.inject("GET", path, status=502, times=2)
    assert repo.get_issue(number).title == "tracker"
    assert [r.status for r in github_server.requests] == [502, 502, 200]

    issue = repo.get_issue(number)
    github_server.inject("PATCH", path, status=502, times=1)
    with pytest.raises(GithubException) as failed:
        issue.edit(body="new")
    assert failed.value.status == 502
    assert [r.status for r in github_server.writes()] == [502]

    github_server.clear_requests()
    github_server.inject("PATCH", path, status=502, times=1)
    patch_retry = make_retry(allowed_methods={"GET", "POST", "PATCH"})
    with make_github(github_server, retry=patch_retry) as patient:
        patient.get_repo(REPO).get_issue(number).edit(body="new")
    assert [r.status for r in github_server.writes()] == [502, 200]


def test_exhausted_5xx_retries_raise_requests_retry_error(
    github_server: GitHubServer, client: Github
) -> None:
    """When every retry gets a 5xx, PyGithub surfaces urllib3's RetryError, not GithubException."""
    repo = client.get_repo(REPO)
    github_server.inject("GET", rf"/repos/{REPO}/issues", status=503, times=None)
    with pytest.raises(requests.exceptions.RetryError):
        list(repo.get_issues())
    assert len([r for r in github_server.requests if r.status == 503]) == 4  # 1 + total=3


def test_secondary_rate_limit_with_retry_after_is_waited_out(
    github_server: GitHubServer, client: Github
) -> None:
    """A 403 secondary limit with Retry-After: 1 is slept through and then succeeds."""
    number = github_server.add_issue(REPO, "tracker")
    issue = client.get_repo(REPO).get_issue(number)
    github_server.clear_requests()
    github_server.inject_rate_limit("POST", rf"/repos/{REPO}/issues/\d+/comments", retry_after=1)
    started = time.monotonic()
    issue.create_comment("hello")
    elapsed = time.monotonic() - started
    assert [r.status for r in github_server.writes()] == [403, 201]
    assert 0.9 <= elapsed < 3
    assert len(github_server.comments(REPO, number)) == 1


def test_primary_rate_limit_waits_until_reset(github_server: GitHubServer, client: Github) -> None:
    """A primary 403 (remaining 0) is retried after x-ratelimit-reset, capped by max wait."""
    repo = client.get_repo(REPO)
    github_server.inject_primary_rate_limit("GET", rf"/repos/{REPO}/issues", reset_in=0)
    assert list(repo.get_issues()) == []
    assert [r.status for r in github_server.requests if r.path.endswith("/issues")] == [403, 200]

    github_server.inject_primary_rate_limit("GET", rf"/repos/{REPO}/issues", reset_in=3600)
    with pytest.raises(RateLimitExceededException):  # max_rate_limit_wait=5 < 3600 s
        list(repo.get_issues())


def test_429_without_retry_after_is_not_retried(
    github_server: GitHubServer, client: Github
) -> None:
    """PyGithub neither retries a bare 429 nor maps it to RateLimitExceededException."""
    repo = client.get_repo(REPO)
    github_server.inject_rate_limit("POST", rf"/repos/{REPO}/issues", retry_after=None, status=429)
    with pytest.raises(GithubException) as limited:
        repo.create_issue("tracker")
    assert limited.value.status == 429
    assert not isinstance(limited.value, RateLimitExceededException)
    assert github_server.issues(REPO) == []


def test_dropped_connection_raises_connection_error(
    github_server: GitHubServer, client: Github
) -> None:
    """A connection closed without a response is a requests ConnectionError."""
    number = github_server.add_issue(REPO, "tracker")
    issue = client.get_repo(REPO).get_issue(number)
    github_server.inject("PATCH", rf"/repos/{REPO}/issues/\d+", drop=True, times=None)
    with pytest.raises(requests.exceptions.ConnectionError):
        issue.edit(body="lost")
    assert [r.status for r in github_server.writes()] == [0]  # not retried
    assert github_server.issue(REPO, number)["body"] is None

    github_server.inject("GET", rf"/repos/{REPO}/issues/\d+", drop=True, times=1)
    assert client.get_repo(REPO).get_issue(number).title == "tracker"  # GET retried once


def test_lost_response_to_create_issue_is_retried_into_a_duplicate(
    github_server: GitHubServer, client: Github
) -> None:
    """GithubRetry retries POST after a lost response, so the issue is created twice."""
    repo = client.get_repo(REPO)
    github_server.inject("POST", rf"/repos/{REPO}/issues", drop=True, after_processing=True)
    issue = repo.create_issue("Golden Path: staging")
    assert issue.number == 2
    assert [i["title"] for i in github_server.issues(REPO)] == ["Golden Path: staging"] * 2
    assert [r.status for r in github_server.writes()] == [0, 201]


def test_injected_latency_only_delays(github_server: GitHubServer, client: Github) -> None:
    """status=None with delay adds latency but answers normally."""
    repo = client.get_repo(REPO)
    github_server.inject("GET", rf"/repos/{REPO}/issues", status=None, delay=0.2)
    started = time.monotonic()
    assert list(repo.get_issues()) == []
    assert time.monotonic() - started >= 0.2
    assert github_server.requests[-1].injected is False


def test_bad_token_is_401_bad_credentials(github_server: GitHubServer) -> None:
    """A wrong token raises BadCredentialsException and is not retried."""
    with (
        make_github(github_server, token="wrong") as client,
        pytest.raises(BadCredentialsException),
    ):
        client.get_repo(REPO)
    assert [r.status for r in github_server.requests] == [401]


def test_deleted_issue_is_410_gone(github_server: GitHubServer, client: Github) -> None:
    """A deleted tracking issue answers 410 with GitHub's message."""
    number = github_server.add_issue(REPO, "tracker")
    repo = client.get_repo(REPO)
    github_server.delete_issue(REPO, number)
    with pytest.raises(GithubException) as gone:
        repo.get_issue(number).title  # noqa: B018 - lazy issue: attribute access fetches
    assert gone.value.status == 410
    assert gone.value.data["message"] == "This issue was deleted"
    assert list(repo.get_issues(state="all")) == []


def test_locked_issue_refuses_bot_comments(github_server: GitHubServer, client: Github) -> None:
    """Bots cannot comment on a locked issue (403), people with push access still can."""
    number = github_server.add_issue(REPO, "tracker")
    github_server.lock_issue(REPO, number, "resolved")
    issue = client.get_repo(REPO).get_issue(number)
    assert issue.locked is True
    with pytest.raises(GithubException) as refused:
        issue.create_comment("update")
    assert refused.value.status == 403
    assert refused.value.data["message"] == "Unable to create comment because issue is locked."

    github_server.add_token("alice-token", "alice")
    github_server.set_permission(REPO, "alice", "write")
    with make_github(github_server, token="alice-token") as alice:
        alice.get_repo(REPO).get_issue(number).create_comment("maintainer note")
    assert [c["user"] for c in github_server.comments(REPO, number)] == ["alice"]


def test_unknown_repo_is_404_and_costs_budget(github_server: GitHubServer, client: Github) -> None:
    """An unknown repository is 404 Not Found, and the refusal is counted like GitHub does."""
    client.get_repo(REPO)
    assert client.rate_limiting == (5000 - 1, 5000)
    with pytest.raises(UnknownObjectException):
        client.get_repo("octo/missing")
    assert client.rate_limiting[0] == 5000 - 2


def test_installation_token_gets_403_on_user_and_no_permissions(
    github_server: GitHubServer, client: Github
) -> None:
    """GITHUB_TOKEN-like: /user is 403 for an integration, /app wants a JWT, no permissions."""
    with pytest.raises(GithubException) as refused:
        client.get_user().login  # noqa: B018 - lazy user: attribute access fetches
    assert refused.value.status == 403
    assert refused.value.data["message"] == "Resource not accessible by integration"
    with pytest.raises(GithubException) as no_jwt:  # PyGithub's get_app() needs an AppAuth
        client.requester.requestJsonAndCheck("GET", "/app")
    assert no_jwt.value.status == 401
    assert no_jwt.value.data["message"] == "A JSON web token could not be decoded"
    repo = client.get_repo(REPO)
    assert repo.full_name == REPO
    assert "permissions" not in repo.raw_data


def test_user_token_gets_its_login_and_permissions(github_server: GitHubServer) -> None:
    """A person's token: /user is its login, /app is 401, the repo says what it may do."""
    github_server.add_token("rita-token", "rita")
    github_server.set_permission(REPO, "rita", "triage")
    with make_github(github_server, token="rita-token") as rita:
        user = rita.get_user()
        assert (user.login, user.type) == ("rita", "User")
        with pytest.raises(GithubException) as no_jwt:
            rita.requester.requestJsonAndCheck("GET", "/app")
        assert no_jwt.value.status == 401
        perms = rita.get_repo(REPO).permissions
        assert (perms.pull, perms.triage, perms.push, perms.admin) == (True, True, False, False)


def test_compare_ahead_with_commits_and_files(github_server: GitHubServer, client: Github) -> None:
    """base...head: status, counts, commits oldest first with author, and the files touched."""
    base = github_server.add_commit(REPO, "initial", [("README.md", "added")])
    github_server.add_commit(REPO, "fix auth", ["bot/auth.py"], author="alice")
    head = github_server.add_commit(
        REPO, "docs", [("docs/auth.md", "added"), "bot/auth.py"], author=None, author_name="Bo"
    )
    cmp = client.get_repo(REPO).compare(base, "main")
    assert (cmp.status, cmp.ahead_by, cmp.behind_by, cmp.total_commits) == ("ahead", 2, 0, 2)
    commits = list(cmp.commits)
    assert [c.commit.message for c in commits] == ["fix auth", "docs"]
    assert commits[-1].sha == head
    assert commits[0].html_url == f"{github_server.web_url}/{REPO}/commit/{commits[0].sha}"
    assert commits[0].commit.author.name == "alice"
    assert commits[0].author.login == "alice"
    assert (commits[1].commit.author.name, commits[1].author) == ("Bo", None)
    assert [(f.filename, f.status) for f in cmp.files] == [
        ("bot/auth.py", "modified"),
        ("docs/auth.md", "added"),
    ]
    assert cmp.merge_base_commit.sha == base
    assert github_server.requests[-1].path == f"/repos/{REPO}/compare/{base}...main"


def test_compare_diverged_identical_and_unknown(
    github_server: GitHubServer, client: Github
) -> None:
    """Branches that both moved are diverged; a ref against itself identical; unknown refs 404."""
    root = github_server.add_commit(REPO, "initial", ["a.py"])
    github_server.add_branch(REPO, "feature", root)
    github_server.add_commit(REPO, "on main", ["b.py"])
    github_server.add_commit(REPO, "on feature", ["c.py"], branch="feature")
    repo = client.get_repo(REPO)
    cmp = repo.compare("main", "feature")
    assert (cmp.status, cmp.ahead_by, cmp.behind_by) == ("diverged", 1, 1)
    assert [f.filename for f in cmp.files] == ["c.py"]
    same = repo.compare(root[:7], root)
    assert (same.status, same.total_commits, same.files) == ("identical", 0, [])
    with pytest.raises(UnknownObjectException):
        repo.compare("main", "no-such-branch").status  # noqa: B018 - lazy: fetches
    github_server.add_commit(REPO, "orphan", ["x.py"], branch="orphan")
    with pytest.raises(GithubException) as unrelated:
        repo.compare("main", "orphan").status  # noqa: B018 - lazy: fetches
    assert unrelated.value.status == 404
    assert unrelated.value.data["message"] == "No common ancestor between main and orphan."


def test_compare_pages_commits_and_sends_files_once(
    github_server: GitHubServer, client: Github
) -> None:
    """Commits page by per_page through Link headers; files come with page 1 only."""
    base = github_server.add_commit(REPO, "initial", ["a.py"])
    for n in range(5):
        github_server.add_commit(REPO, f"change {n}", [f"f{n}.py"])
    repo = client.get_repo(REPO)
    github_server.clear_requests()
    cmp = repo.compare(base, "main", comparison_commits_per_page=2)
    assert [c.commit.message for c in cmp.commits] == [f"change {n}" for n in range(5)]
    assert [r.query["page"] for r in github_server.requests] == ["1", "2", "3"]
    assert len(cmp.files) == 5


def test_exhausted_budget_yields_primary_rate_limit(github_server: GitHubServer) -> None:
    """With no budget left the server itself answers GitHub's primary 403."""
    github_server.set_rate_limit(0)
    with (
        make_github(github_server, retry=0) as client,
        pytest.raises(RateLimitExceededException) as limited,
    ):
        client.get_repo(REPO)
    assert (limited.value.headers or {})["x-ratelimit-remaining"] == "0"


def test_enterprise_style_api_prefix() -> None:
    """With api_prefix=/api/v3 PyGithub follows urls under the prefix, like GHES."""
    with GitHubServer(api_prefix="/api/v3") as server, make_github(server) as client:
        assert server.url.endswith("/api/v3")
        issue = client.get_repo(REPO).create_issue("tracker")
        assert issue.url == f"{server.url}/repos/{REPO}/issues/1"
        assert issue.html_url == f"{server.web_url}/{REPO}/issues/1"
        issue.create_comment("hi")
        assert {r.path for r in server.requests} >= {f"/repos/{REPO}/issues/1/comments"}


def test_stop_closes_keep_alive_connections_and_port() -> None:
    """stop() returns promptly with a client still holding a keep-alive connection."""
    server = GitHubServer().start()
    port = server.port
    client = make_github(server)
    client.get_repo(REPO)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1
    client.close()
    with socket.socket() as probe, pytest.raises(OSError):
        probe.connect(("127.0.0.1", port))


def test_a_single_commit_lists_its_files(github_server: GitHubServer) -> None:
    """GET /repos/{o}/{r}/commits/{sha}: the commit and the files it changes (PyGithub)."""
    github_server.add_commit(DEFAULT_REPO, "root", ["README.md"])
    sha = github_server.add_commit(DEFAULT_REPO, "jwt (#7)", ["auth/settings.py", "app.py"])
    with make_github(github_server) as client:
        commit = client.get_repo(DEFAULT_REPO).get_commit(sha)
        assert [f.filename for f in commit.files] == ["auth/settings.py", "app.py"]
        assert commit.commit.message == "jwt (#7)"
