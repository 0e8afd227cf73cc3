"""The one seam to GitHub: every PyGithub call the bot makes, typed, and nothing else.

Callers receive a :class:`GitHub` (tests point it at the local REST stand-in through
``GITHUB_API_URL``); nobody else imports PyGithub's request methods. Transient failures are
retried by PyGithub's ``GithubRetry`` with PATCH allowed (editing a body is idempotent).
What to do with the issue — find it, reconcile, verify, archive — lives in
:mod:`bot.publish.tracking_issue`, which uses this seam.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from bot import redact
from bot.config import ConfigError
from bot.settings import Settings

if TYPE_CHECKING:
    from github import Github
    from github.GithubRetry import GithubRetry
    from github.Issue import Issue
    from github.IssueComment import IssueComment
    from github.Repository import Repository


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def credentials(settings: Settings) -> tuple[str, str]:
    """The token and ``owner/name`` the GitHub tracker needs, or the error that says why not.

    Read without importing PyGithub, so the pre-flight can fail a run in its first second.
    """
    token, repository = settings.github_token, settings.repository
    if not token:
        raise ConfigError(
            "GITHUB_TOKEN is not set — pass it to the step (env: GITHUB_TOKEN: "
            "${{ github.token }}), or use --tracker local:PATH"
        )
    if "/" not in repository:
        raise ConfigError(
            f"GITHUB_REPOSITORY {repository!r} is not owner/name — Actions sets it; "
            "set it by hand outside Actions"
        )
    return token, repository


@dataclass(frozen=True, slots=True)
class RepoAccess:
    """What one ``GET /repos/{owner}/{repo}`` says about the token's reach there."""

    repository: str
    has_issues: bool
    archived: bool
    permissions: dict[str, bool] | None
    """``admin``/``maintain``/``push``/``triage``/``pull`` as GitHub reports them for the
    token's account; None when GitHub reports none (installation tokens: ``GITHUB_TOKEN``
    or a GitHub App's), which only a write could then tell."""

    @property
    def issue_write(self) -> bool | None:
        """May it edit and label the tracking issue (triage or more)? None: not reported."""
        if self.permissions is None:
            return None
        return any(self.permissions.get(k) for k in ("triage", "push", "maintain", "admin"))


def make_retry(total: int = 5, backoff: float = 0.5) -> GithubRetry:
    """PyGithub's retry, with PATCH allowed (an issue edit is idempotent)."""
    from github import GithubRetry
    from urllib3 import Retry

    return GithubRetry(
        total=total,
        backoff_factor=backoff,
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS.union({"GET", "POST", "PATCH"}),
        max_rate_limit_wait=120,
    )


@dataclass(frozen=True, slots=True)
class CommitInfo:
    sha: str
    author: str
    title: str
    url: str = ""


def is_pull_request(issue: Issue) -> bool:
    """GitHub's issue list includes pull requests; their page is under /pull/.

    (Reading ``issue.pull_request`` on a listed issue would cost a request per issue:
    PyGithub completes the object when the field is absent.)
    """
    return "/pull/" in (issue.html_url or "")


class GitHub:
    """The bot's whole vocabulary of GitHub calls. Handlers receive it; nobody builds one."""

    def __init__(self, client: Github, repository: str) -> None:
        self.client = client
        self.repository = repository
        self.repo: Repository = client.get_repo(repository)
        self.calls = 0  # REST requests issued through this seam (for tests and the note)

    @classmethod
    def from_settings(cls, settings: Settings, *, retry: GithubRetry | None = None) -> GitHub:
        token, repository = credentials(settings)
        from github import Auth, Github

        redact.register(token)
        local = _is_loopback(settings.api_url)
        client = Github(
            base_url=settings.api_url,
            lazy=True,
            auth=Auth.Token(token),
            retry=retry or make_retry(settings.github_retries, settings.retry_backoff),
            per_page=100,
            timeout=settings.github_timeout,
            # keep GitHub's etiquette against github.com; a local test server needs none
            seconds_between_requests=0 if local else 0.25,
            seconds_between_writes=0 if local else 1.0,
        )
        return cls(client, repository)

    def _count(self, n: int = 1) -> None:
        self.calls += n

    # -- the repository --------------------------------------------------------------------
    def access(self) -> RepoAccess:
        """Read the repository once: proves read access, and reports what GitHub says of
        write access (raises ``GithubException`` as PyGithub does, e.g. 401, 404)."""
        self._count()
        perms = self.repo.permissions  # the lazy repository is fetched here
        return RepoAccess(
            repository=self.repo.full_name,
            has_issues=bool(self.repo.has_issues),
            archived=bool(self.repo.archived),
            permissions=None
            if perms is None
            else {
                "admin": bool(perms.admin),
                "maintain": bool(perms.maintain),
                "push": bool(perms.push),
                "triage": bool(perms.triage),
                "pull": bool(perms.pull),
            },
        )

    # -- identity --------------------------------------------------------------------------
    def whoami(self) -> str | None:
        """The token's own login (``GET /user``); None for an installation token.

        GitHub answers 403 "Resource not accessible by integration" for ``GITHUB_TOKEN`` and
        App installation tokens: their identity is the configured bot login instead.
        """
        from github import GithubException

        self._count()
        try:
            return str(self.client.get_user().login)
        except GithubException as exc:
            if exc.status in (401, 403, 404):
                return None
            raise

    # -- issues ----------------------------------------------------------------------------
    def issues(self, label: str | None, *, creator: str | None = None) -> Iterator[Issue]:
        """Issues (open and closed, oldest first) with ``label`` (None: any), PRs excluded."""
        filters: dict[str, Any] = {}
        if label:
            filters["labels"] = [label]
        if creator:
            filters["creator"] = creator
        self._count()
        for n, issue in enumerate(
            self.repo.get_issues(state="all", sort="created", direction="asc", **filters)
        ):
            if n and n % 100 == 0:
                self._count()
            if not is_pull_request(issue):
                yield issue

    def get_issue(self, number: int) -> Issue:
        issue = self.repo.get_issue(number)
        _ = issue.body  # lazy object: fetch now, so errors surface here
        self._count()
        return issue

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> Issue:
        self._count()
        return self.repo.create_issue(title=title, body=body, labels=list(labels))

    def edit_issue(
        self,
        issue: Issue,
        *,
        body: str | None = None,
        state: str | None = None,
        labels: Sequence[str] | None = None,
        state_reason: str | None = None,
    ) -> None:
        from github.GithubObject import NotSet

        self._count()
        issue.edit(
            body=NotSet if body is None else body,
            state=NotSet if state is None else state,
            labels=NotSet if labels is None else list(labels),
            state_reason=NotSet if state_reason is None else state_reason,
        )

    def comment(self, issue: Issue, body: str) -> IssueComment:
        self._count()
        return issue.create_comment(redact.redact(body))

    def get_comment(self, issue: Issue, comment_id: int) -> IssueComment | None:
        """The comment as it is now; None when it was deleted (a withdrawn command)."""
        from github import GithubException

        comment = issue.get_comment(comment_id)
        self._count()
        try:
            _ = comment.body  # PyGithub's comment may be lazy: fetch it, so a deletion shows
        except GithubException as exc:
            if exc.status in (404, 410):
                return None
            raise
        return comment

    def react(self, target: Issue | IssueComment, content: str) -> None:
        self._count()
        target.create_reaction(content)

    # -- history -----------------------------------------------------------------------------
    def compare(self, base: str, head: str, limit: int) -> tuple[list[CommitInfo], int, list[str]]:
        """Commits from ``base`` to ``head`` (newest first, at most ``limit``), how many in
        all, and the files they change — one request (GitHub's first page: 250 commits)."""
        self._count()
        data = self.repo.compare(base, head).raw_data
        commits = [
            CommitInfo(
                sha=str(c.get("sha", "")),
                author=str(
                    (c.get("author") or {}).get("login")
                    or ((c.get("commit") or {}).get("author") or {}).get("name")
                    or ""
                ),
                title=str((c.get("commit") or {}).get("message", "")).split("\n", 1)[0],
                url=str(c.get("html_url", "")),
            )
            for c in data.get("commits") or []
        ]
        files = [str(f.get("filename", "")) for f in data.get("files") or []]
        return commits[::-1][:limit], int(data.get("total_commits") or len(commits)), files

    def commit_files(self, sha: str) -> list[str]:
        """The files one commit changes (one request)."""
        self._count()
        return [f.filename for f in self.repo.get_commit(sha).files]

    def permission(self, login: str) -> str:
        """The user's role name: admin, maintain, write, triage, read or none."""
        from github import GithubException

        self._count()
        try:
            return str(self.repo.get_collaborator_role_name(login) or "none")
        except GithubException as exc:
            if exc.status == 404:
                return "none"
            raise
