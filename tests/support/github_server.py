"""A small, real GitHub REST stand-in for tests.

Why a real server: the bot talks to GitHub only through PyGithub, and PyGithub's behaviour that
matters in production (following ``url`` fields, ``Link`` pagination, ``GithubRetry`` on 5xx /
rate limits / dropped connections) only happens on the wire. Patching PyGithub would test our
guesses about it; this server lets the tests exercise the real library.

It speaks GitHub's response shapes and status codes for what the bot's seam
(``bot/publish/github.py``) and the tests use, and nothing more: the repository (with
``permissions`` as a user token sees it), issues (list, create, get, edit), issue comments
(create, get, delete), reactions (create), collaborator permission, the compare of two
commits, and ``/user`` and ``/app`` as they answer installation and user tokens. It records
every request and can inject faults. Every ``url``-like field is built from the server's own
base URL, so PyGithub follows them back here.

Deliberate choices where GitHub's docs are vague (each mirrors the observed GitHub behaviour):

* ``GET .../collaborators/{user}/permission``: the docs list 200 and 404 only. A user without
  any grant gets 200 with ``permission``/``role_name`` ``"read"`` on a public repository (every
  account can read it) and ``"none"`` on a private one; an account that does not exist (see
  :meth:`GitHubServer.delete_user`) gets 404 ``Not Found``. The caller needs push access,
  otherwise 403 ``Must have push access to view collaborator permission.``.
* A private repository is invisible (404) to a user without any grant. Repositories are
  private by default, so an unknown user's permission is ``"none"`` unless the test says
  ``add_repo(..., private=False)``.
* Commenting on a locked issue: 403 ``Unable to create comment because issue is locked.`` for
  bots (GitHub Apps, ``GITHUB_TOKEN``) and for users below ``write``; people with push access
  may still comment.
* Bots whose role is below ``triage`` get 403 ``Resource not accessible by integration`` on
  writes (a workflow without ``issues: write``).
* Tokens: a ``[bot]`` identity is an installation token (``GITHUB_TOKEN``, a GitHub App's);
  any other is a user's token. ``GET /user`` answers an installation token 403 ``Resource not
  accessible by integration``; ``GET /app`` takes only an app's JWT, which the stand-in does
  not issue, so it answers every token 401 ``A JSON web token could not be decoded``.
  ``GET /repos/{owner}/{repo}`` carries ``permissions`` for user tokens only.
* Compare (``GET .../compare/{base}...{head}``, see :meth:`GitHubServer.add_commit`): refs are
  branch names or (abbreviated, 7+ characters) commit SHAs of that repository; an unknown one
  is 404 ``Not Found``, unrelated histories 404 ``No common ancestor between {base} and
  {head}.``. ``files`` is the union of the files the head's new commits touched (GitHub diffs
  the merge base against the head, which differs only when a commit undoes another) and is
  only sent with page 1; ``commits`` are oldest first, 250 per page unless ``per_page`` says
  otherwise (at most 1000).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = [
    "DEFAULT_LOGIN",
    "DEFAULT_REPO",
    "DEFAULT_TOKEN",
    "MAX_BODY_CHARS",
    "REACTION_CONTENTS",
    "ROLES",
    "Fault",
    "GitHubServer",
    "Recorded",
    "Repo",
]

DEFAULT_TOKEN = "test-token"
DEFAULT_LOGIN = "golden-path-bot[bot]"
DEFAULT_REPO = "octo/app"
MAX_BODY_CHARS = 65_536  # GitHub's limit for issue and comment bodies
MAX_TITLE_CHARS = 256
REACTION_CONTENTS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
ROLES = ("none", "read", "triage", "write", "maintain", "admin")
# The legacy ``permission`` field folds the fine roles: maintain -> write, triage -> read.
LEGACY_PERMISSION = {
    "none": "none",
    "read": "read",
    "triage": "read",
    "write": "write",
    "maintain": "write",
    "admin": "admin",
}
DOCS = "https://docs.github.com/rest"
SECONDARY_RATE_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
_ISSUE_SORTS = {"created", "updated"}


def _rank(role: str) -> int:
    return ROLES.index(role)


def _node_id(prefix: str, kind: str, ident: int) -> str:
    raw = base64.b64encode(f"{kind}:{ident}".encode()).decode().rstrip("=")
    return f"{prefix}_{raw}"


def _sha(text: str) -> str:
    """A git-like 40-hex object name (an identifier, not a security measure)."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- public records


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it (``status`` 0 means the connection was dropped).

    ``path`` is relative to the API root (any ``api_prefix`` removed, query stripped);
    ``headers`` keys are lower-case; ``body`` is the decoded JSON, None without a body, or
    the raw text when it was not JSON.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int
    injected: bool = False


@dataclass
class Fault:
    """A fault applied to the next ``times`` requests matching ``method`` and ``path``.

    ``path`` is a regular expression matched with ``re.fullmatch`` against the request path
    relative to the API root (no query), e.g. ``r"/repos/.*/issues/\\d+"``. ``times=None``
    means "every matching request". ``hits`` counts how often it fired. With
    ``after_processing`` the request takes effect first and only its response is replaced
    (or dropped): the "write succeeded but the client never heard" case.
    """

    method: str | None
    path: re.Pattern[str]
    status: int | None
    times: int | None
    headers: dict[str, str] | Callable[[], dict[str, str]] | None = None
    body: Any = None
    delay: float = 0.0
    drop: bool = False
    after_processing: bool = False
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str) -> bool:
        if self.exhausted:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path.fullmatch(path) is not None


@dataclass
class _User:
    login: str
    id: int
    type: str  # "User" | "Bot" | "Organization"


@dataclass
class Repo:
    """A repository's live state. Mutate it only through :class:`GitHubServer` hooks, or
    while holding ``server.lock``, because request threads read it concurrently."""

    owner: str
    name: str
    id: int
    private: bool = True
    has_issues: bool = True
    archived: bool = False
    owner_type: str = "Organization"
    created_at: str = ""
    roles: dict[str, str] = field(default_factory=dict)  # lower login -> role
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower name -> label
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # comment id -> comment
    next_number: int = 1
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha -> commit, in order
    branches: dict[str, str] = field(default_factory=dict)  # branch -> head sha

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


# --------------------------------------------------------------------------- internals


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        doc: str = DOCS,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": doc}
        if errors is not None:
            self.body["errors"] = errors
        self.body["status"] = str(status)
        self.headers = headers or {}


def _not_found(doc: str = DOCS) -> _ApiError:
    return _ApiError(404, "Not Found", doc=doc)


def _validation(resource: str, code: str, field_name: str, message: str | None = None) -> _ApiError:
    error: dict[str, Any] = {"resource": resource, "code": code, "field": field_name}
    if message is not None:
        error["message"] = message
    return _ApiError(422, "Validation Failed", errors=[error])


@dataclass
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Ctx:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    user: _User


_Handler = Callable[..., _Response]


class _HTTPServer(ThreadingHTTPServer):
    """Tracks handler threads and their sockets so ``stop()`` can close keep-alive
    connections and join every thread instead of leaving them to the interpreter."""

    daemon_threads = True

    def __init__(self, app: GitHubServer) -> None:
        self.app = app
        self.live_lock = threading.Lock()
        self.live_threads: set[threading.Thread] = set()
        self.live_sockets: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="github-stand-in-conn",
            daemon=True,
        )
        with self.live_lock:
            self.live_threads.add(thread)
            self.live_sockets.add(request)
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.live_lock:
                self.live_threads.discard(threading.current_thread())
                self.live_sockets.discard(request)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like api.github.com; needs Content-Length
    server_version = "GitHub.com"
    sys_version = ""
    timeout = 30  # a stuck client must not pin a thread forever
    # Headers and body go out as two writes; without TCP_NODELAY the second waits for the
    # client's delayed ACK (~40 ms per request on Linux).
    disable_nagle_algorithm = True
    server: _HTTPServer

    def _dispatch(self) -> None:
        self.server.app._handle(self)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: ``gh.requests`` is the log."""


# --------------------------------------------------------------------------- the server


class GitHubServer:
    """A GitHub REST stand-in on ``127.0.0.1`` (free port). Use as a context manager or call
    :meth:`start`/:meth:`stop`. All hooks are thread-safe."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        login: str = DEFAULT_LOGIN,
        *,
        default_repo: str | None = DEFAULT_REPO,
        api_prefix: str = "",
        rate_limit: int = 5000,
    ) -> None:
        """
        :param token: accepted token, identity ``login`` (more via :meth:`add_token`); a
            ``[bot]`` login is an installation token (``GITHUB_TOKEN``), any other a user's.
        :param api_prefix: e.g. ``"/api/v3"`` to look like GitHub Enterprise Server.
        :param rate_limit: core requests per hour per identity (GitHub: 5000; 1000 for
            ``GITHUB_TOKEN`` per repository). Exhausting it yields GitHub's primary 403.
        """
        if api_prefix and (not api_prefix.startswith("/") or api_prefix.endswith("/")):
            raise ValueError("api_prefix must look like '/api/v3'")
        self.lock = threading.RLock()
        self.api_prefix = api_prefix
        self.rate_limit = rate_limit
        self.token = token
        self.login = login
        self._ids = 1000
        self._users: dict[str, _User] = {}
        self._deleted_users: set[str] = set()
        self._tokens: dict[str, tuple[str, str]] = {}  # token -> (login, default role)
        self._repos: dict[str, Repo] = {}
        self._faults: list[Fault] = []
        self._requests: list[Recorded] = []
        # lower login -> [limit, used, reset epoch] of the core budget
        self._rate: dict[str, list[int]] = {}
        self._request_ids = 0
        self.errors: list[str] = []  # tracebacks of stand-in bugs (answered with 500)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.add_token(token, login)
        if default_repo:
            self.add_repo(default_repo)
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Bind a free loopback port and serve from a daemon thread. The socket listens
        before this returns, so the first request cannot race the start-up."""
        if self._httpd is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        httpd = _HTTPServer(self)
        serving = threading.Event()

        def serve() -> None:
            serving.set()
            httpd.serve_forever(poll_interval=0.05)

        self._httpd = httpd
        self._thread = threading.Thread(target=serve, name="github-stand-in", daemon=True)
        self._thread.start()
        serving.wait()
        return self

    def stop(self) -> None:
        """Stop accepting, close open keep-alive connections, join every thread."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()  # wakes injected delays
        httpd.shutdown()
        with httpd.live_lock:
            sockets = list(httpd.live_sockets)
            threads = list(httpd.live_threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for handler in threads:
            handler.join(timeout=5)
        httpd.server_close()
        thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def web_url(self) -> str:
        """``GITHUB_SERVER_URL``: where ``html_url`` fields point."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``GITHUB_API_URL`` / PyGithub's ``base_url``."""
        return f"{self.web_url}{self.api_prefix}"

    # ------------------------------------------------------------------ identities

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _user(self, login: str, type: str | None = None) -> _User:
        key = login.lower()
        user = self._users.get(key)
        if user is None:
            kind = type or ("Bot" if login.endswith("[bot]") else "User")
            user = _User(login=login, id=self._next_id(), type=kind)
            self._users[key] = user
        elif type is not None:
            user.type = type
        return user

    def add_token(
        self, token: str, login: str, *, type: str | None = None, role: str = "write"
    ) -> None:
        """Accept ``token`` as ``login``; ``role`` applies in repositories where the identity
        has no explicit grant (a workflow token usually has ``write`` on its repository)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        with self.lock:
            self._user(login, type)
            self._tokens[token] = (login, role)

    def delete_user(self, login: str) -> None:
        """Make ``login`` a non-existent account (404 on ``/users/{login}`` and permission)."""
        with self.lock:
            self._deleted_users.add(login.lower())

    # ------------------------------------------------------------------ repositories

    def add_repo(
        self,
        full_name: str,
        *,
        private: bool = True,
        has_issues: bool = True,
        archived: bool = False,
        owner_type: str = "Organization",
    ) -> Repo:
        """Create (or return the existing) repository ``owner/name``."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"expected owner/name, got {full_name!r}")
        with self.lock:
            existing = self._repos.get(full_name.lower())
            if existing is not None:
                return existing
            self._user(owner, owner_type)
            repo = Repo(
                owner=owner,
                name=name,
                id=self._next_id(),
                private=private,
                has_issues=has_issues,
                archived=archived,
                owner_type=owner_type,
                created_at=self._now(),
            )
            self._repos[full_name.lower()] = repo
            return repo

    def repo(self, full_name: str) -> Repo:
        with self.lock:
            try:
                return self._repos[full_name.lower()]
            except KeyError:
                raise KeyError(f"no repository {full_name!r}") from None

    def set_permission(self, repo: str, login: str, role: str) -> None:
        """Grant ``login`` a role (none/read/triage/write/maintain/admin) in ``repo``."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        with self.lock:
            self._user(login)
            self.repo(repo).roles[login.lower()] = role

    def _role(self, repo: Repo, login: str) -> str | None:
        """The effective role, or None for "no grant at all"."""
        key = login.lower()
        if key in repo.roles:
            return repo.roles[key]
        if key == repo.owner.lower() and repo.owner_type != "Organization":
            return "admin"
        for token_login, default_role in self._tokens.values():
            if token_login.lower() == key:
                return default_role
        return None

    def _effective_role(self, repo: Repo, login: str) -> str:
        role = self._role(repo, login)
        if role is None:
            return "none" if repo.private else "read"
        return role

    # ------------------------------------------------------------------ seeding hooks

    def _now(self) -> str:
        return _iso(datetime.now(UTC))

    def _ensure_label(
        self, repo: Repo, name: str, color: str = "ededed", description: str | None = None
    ) -> dict[str, Any]:
        label = repo.labels.get(name.lower())
        if label is None:
            ident = self._next_id()
            label = {
                "id": ident,
                "node_id": _node_id("LA", "Label", ident),
                "name": name,
                "color": color.lstrip("#").lower(),
                "default": False,
                "description": description,
            }
            repo.labels[name.lower()] = label
        return label

    def add_issue(
        self,
        repo: str,
        title: str,
        body: str | None = None,
        labels: Iterable[str] = (),
        state: str = "open",
        user: str | None = None,
        *,
        state_reason: str | None = None,
        locked: bool = False,
        pull_request: bool = False,
    ) -> int:
        """Seed an issue as if it already existed; returns its number. Not recorded.

        ``pull_request=True`` seeds a pull request: GitHub lists those among issues too,
        marked by a ``pull_request`` object.
        """
        with self.lock:
            record = self._new_issue(self.repo(repo), title, body, labels, user or self.login)
            record["locked"] = locked
            record["pull_request"] = pull_request
            if state == "closed":
                record.update(
                    state="closed",
                    state_reason=state_reason or "completed",
                    closed_at=record["created_at"],
                )
            elif state != "open":
                raise ValueError("state must be open or closed")
            return int(record["number"])

    def _new_issue(
        self, repo: Repo, title: str, body: str | None, labels: Iterable[str], login: str
    ) -> dict[str, Any]:
        now = self._now()
        ident = self._next_id()
        number = repo.next_number
        repo.next_number += 1
        self._user(login)
        names = []
        for name in labels:
            names.append(self._ensure_label(repo, name)["name"])
        record: dict[str, Any] = {
            "number": number,
            "id": ident,
            "node_id": _node_id("I", "Issue", ident),
            "title": title,
            "body": body,
            "state": "open",
            "state_reason": None,
            "locked": False,
            "active_lock_reason": None,
            "labels": list(dict.fromkeys(names)),
            "user": login,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "closed_by": None,
            "deleted": False,
            "reactions": [],
        }
        repo.issues[number] = record
        return record

    def add_comment(self, repo: str, number: int, body: str, user: str | None = None) -> int:
        """Seed a comment on an issue; returns the comment id. Not recorded."""
        with self.lock:
            r = self.repo(repo)
            issue = self._issue_record(r, number)
            comment = self._new_comment(r, issue, body, user or self.login)
            return int(comment["id"])

    def edit_comment(self, repo: str, comment_id: int, body: str) -> None:
        """A person edits a comment in the web UI (not recorded)."""
        with self.lock:
            comment = self._live_comment(self.repo(repo), comment_id)
            comment["body"] = body
            comment["updated_at"] = self._now()

    def _new_comment(
        self, repo: Repo, issue: dict[str, Any], body: str, login: str
    ) -> dict[str, Any]:
        now = self._now()
        ident = self._next_id()
        self._user(login)
        comment: dict[str, Any] = {
            "id": ident,
            "node_id": _node_id("IC", "IssueComment", ident),
            "issue": issue["number"],
            "body": body,
            "user": login,
            "created_at": now,
            "updated_at": now,
            "reactions": [],
        }
        repo.comments[ident] = comment
        issue["updated_at"] = now
        return comment

    def _issue_record(self, repo: Repo, number: int) -> dict[str, Any]:
        try:
            return repo.issues[number]
        except KeyError:
            raise KeyError(f"no issue #{number} in {repo.full_name}") from None

    def issue(self, repo: str, number: int) -> dict[str, Any]:
        """The live issue record (labels are names, user is a login). Edits to it are what
        the API serves next (e.g. a human editing the body); make them under ``lock`` if
        a client may be mid-request."""
        with self.lock:
            return self._issue_record(self.repo(repo), number)

    def issues(self, repo: str) -> list[dict[str, Any]]:
        with self.lock:
            return [i for i in self.repo(repo).issues.values() if not i["deleted"]]

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        """Live comment records of an issue, oldest first."""
        with self.lock:
            r = self.repo(repo)
            return sorted(
                (c for c in r.comments.values() if c["issue"] == number), key=lambda c: c["id"]
            )

    def reactions(
        self, repo: str, number: int | None = None, *, comment_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Reactions (``{"id", "content", "user", "created_at"}``) of an issue or comment."""
        with self.lock:
            r = self.repo(repo)
            if comment_id is not None:
                return list(r.comments[comment_id]["reactions"])
            if number is None:
                raise ValueError("give an issue number or comment_id")
            return list(self._issue_record(r, number)["reactions"])

    def delete_issue(self, repo: str, number: int) -> None:
        """Delete an issue: its endpoints answer 410 ``This issue was deleted``."""
        with self.lock:
            self._issue_record(self.repo(repo), number)["deleted"] = True

    def lock_issue(self, repo: str, number: int, reason: str | None = None) -> None:
        with self.lock:
            issue = self._issue_record(self.repo(repo), number)
            issue.update(locked=True, active_lock_reason=reason)

    def unlock_issue(self, repo: str, number: int) -> None:
        with self.lock:
            issue = self._issue_record(self.repo(repo), number)
            issue.update(locked=False, active_lock_reason=None)

    def add_branch(self, repo: str, name: str, at: str) -> None:
        """Create branch ``name`` pointing at ``at`` (a branch or a commit SHA)."""
        with self.lock:
            r = self.repo(repo)
            r.branches[name] = self._resolve_ref(r, at)

    def add_commit(
        self,
        repo: str,
        message: str,
        files: Iterable[str | tuple[str, str]] = (),
        *,
        branch: str = "main",
        author: str | None = "octocat",
        author_name: str | None = None,
    ) -> str:
        """Commit on ``branch`` (created on first use, as a root commit); returns the SHA.

        ``files`` are paths (status ``modified``) or ``(path, status)`` pairs, status one of
        added/removed/modified/renamed. ``author`` is the GitHub login the commit is linked
        to (None: an e-mail GitHub knows no account for, so ``author`` is null).
        """
        name = author_name or author
        if not name:
            raise ValueError("give author (a login) or author_name")
        changes = [(f, "modified") if isinstance(f, str) else f for f in files]
        for _, status in changes:
            if status not in ("added", "removed", "modified", "renamed"):
                raise ValueError(f"file status must be added/removed/modified/renamed: {status}")
        with self.lock:
            r = self.repo(repo)
            parent = r.branches.get(branch)
            ident = self._next_id()
            sha = _sha(f"{r.full_name}:{ident}:{message}")
            if author:
                self._user(author)
            email = f"{author}@users.noreply.github.com" if author else f"{ident}@example.com"
            r.commits[sha] = {
                "sha": sha,
                "message": message,
                "author": author,
                "name": name,
                "email": email,
                "date": self._now(),
                "parents": [parent] if parent else [],
                "files": changes,
            }
            r.branches[branch] = sha
            return sha

    def _resolve_ref(self, repo: Repo, ref: str) -> str:
        """A branch name or a (7+ character) SHA prefix → the full SHA; 404 otherwise."""
        if ref in repo.branches:
            return repo.branches[ref]
        if len(ref) >= 7:
            found = [sha for sha in repo.commits if sha.startswith(ref.lower())]
            if len(found) == 1:
                return found[0]
        raise _not_found(f"{DOCS}/commits/commits#compare-two-commits")

    def _ancestry(self, repo: Repo, sha: str) -> set[str]:
        """``sha`` and every commit reachable from it."""
        seen: set[str] = set()
        todo = [sha]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(repo.commits[current]["parents"])
        return seen

    # ------------------------------------------------------------------ requests & faults

    @property
    def requests(self) -> list[Recorded]:
        """A snapshot of every request so far, in arrival order."""
        with self.lock:
            return list(self._requests)

    def writes(self) -> list[Recorded]:
        """The requests that may change state (everything but GET/HEAD)."""
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    def clear_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    def inject(
        self,
        method: str | None = None,
        path: str = ".*",
        status: int | None = 500,
        times: int | None = 1,
        headers: dict[str, str] | Callable[[], dict[str, str]] | None = None,
        body: Any = None,
        delay: float = 0.0,
        *,
        drop: bool = False,
        after_processing: bool = False,
    ) -> Fault:
        """Apply a fault to the next ``times`` matching requests (see :class:`Fault`).

        ``status=None`` with ``delay`` only adds latency before the normal answer;
        ``drop=True`` closes the connection without any response (a network error);
        ``after_processing=True`` applies the request before failing its response.
        The default body is GitHub-like ``{"message": ..., "documentation_url": ...}``.
        """
        fault = Fault(
            method=method.upper() if method else None,
            path=re.compile(path),
            status=status,
            times=times,
            headers=headers,
            body=body,
            delay=delay,
            drop=drop,
            after_processing=after_processing,
        )
        with self.lock:
            self._faults.append(fault)
        return fault

    def inject_rate_limit(
        self,
        method: str | None = None,
        path: str = ".*",
        retry_after: int | None = 1,
        times: int = 1,
        *,
        status: int = 403,
    ) -> Fault:
        """GitHub's secondary rate limit (403, or 429), with ``Retry-After`` unless None.

        PyGithub's ``GithubRetry`` sleeps exactly ``Retry-After`` seconds (urllib3 accepts
        whole seconds only, and ``0`` means "no header"), so 1 is the fastest honoured value.
        """
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {
            "message": SECONDARY_RATE_MESSAGE.format(request_id="0000:0000:0000000:0000000:0"),
            "documentation_url": (
                "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
                "#about-secondary-rate-limits"
            ),
            "status": str(status),
        }
        return self.inject(method, path, status, times, headers, body)

    def inject_primary_rate_limit(
        self, method: str | None = None, path: str = ".*", reset_in: int = 1, times: int = 1
    ) -> Fault:
        """GitHub's primary rate limit: 403, ``x-ratelimit-remaining: 0`` and a reset
        ``reset_in`` seconds from the response (``GithubRetry`` waits until reset + 1 s)."""
        limit = self.rate_limit

        def headers() -> dict[str, str]:
            return {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": str(limit),
                "x-ratelimit-reset": str(int(time.time()) + reset_in),
                "x-ratelimit-resource": "core",
            }

        body = {
            "message": "API rate limit exceeded for installation ID 1.",
            "documentation_url": (
                "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
            ),
            "status": "403",
        }
        return self.inject(method, path, 403, times, headers, body)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def set_rate_limit(self, remaining: int, *, login: str | None = None) -> None:
        """Set the remaining core budget of an identity (default: the main token's)."""
        with self.lock:
            bucket = self._bucket(login or self.login)
            bucket[1] = max(0, bucket[0] - remaining)

    # ------------------------------------------------------------------ rate limits

    def _bucket(self, login: str) -> list[int]:
        """The core budget of ``login`` ("" for unauthenticated) as ``[limit, used, reset]``."""
        key = login.lower()
        now = int(time.time())
        bucket = self._rate.get(key)
        if bucket is None or bucket[2] <= now:
            limit = self.rate_limit if login else 60  # GitHub: 60/h for anonymous clients
            bucket = [limit, 0, now + 3600]
            self._rate[key] = bucket
        return bucket

    def _rate_headers(self, login: str) -> dict[str, str]:
        limit, used, reset = self._bucket(login)
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - used)),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-used": str(used),
            "x-ratelimit-resource": "core",
        }

    # ------------------------------------------------------------------ HTTP plumbing

    def _handle(self, handler: _RequestHandler) -> None:
        method = handler.command
        split = urllib.parse.urlsplit(handler.path)
        raw_path = split.path
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        length = int(headers.get("content-length") or 0)
        raw_body = handler.rfile.read(length) if length else b""
        body: Any = None
        bad_json = False
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                bad_json = True
                body = raw_body.decode("utf-8", "replace")
        path = raw_path
        if self.api_prefix:
            path = raw_path[len(self.api_prefix) :] if raw_path.startswith(self.api_prefix) else ""
        path = path.rstrip("/") or "/"

        with self.lock:
            self._request_ids += 1
            request_id = f"STAND-IN:{self._request_ids:08X}"
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None:
                fault.hits += 1

        if fault is not None and fault.delay > 0:
            self._stopping.wait(fault.delay)
        if fault is not None and fault.after_processing:
            with self.lock:
                self._serve(method, path, query, headers, body, bad_json)
        if fault is not None and fault.drop:
            self._record(method, path, query, headers, body, 0, injected=True)
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.status is not None:
            response = self._fault_response(fault, headers)
            injected = True
        else:
            injected = False
            with self.lock:
                response = self._serve(method, path, query, headers, body, bad_json)
        self._record(method, path, query, headers, body, response.status, injected=injected)
        self._write(handler, response, request_id, head=method == "HEAD")

    def _record(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
        status: int,
        *,
        injected: bool,
    ) -> None:
        with self.lock:
            self._requests.append(Recorded(method, path, query, headers, body, status, injected))

    def _fault_response(self, fault: Fault, request_headers: dict[str, str]) -> _Response:
        status = int(fault.status or 500)
        body = fault.body
        if body is None:
            try:
                message = "Server Error" if status >= 500 else HTTPStatus(status).phrase
            except ValueError:
                message = f"HTTP {status}"
            body = {"message": message, "documentation_url": DOCS, "status": str(status)}
        with self.lock:
            login = self._identity(request_headers)
            headers = self._rate_headers(login.login if login else "")
        extra = fault.headers() if callable(fault.headers) else (fault.headers or {})
        lowered = {k.lower() for k in extra}
        headers = {k: v for k, v in headers.items() if k not in lowered}
        headers.update(extra)
        return _Response(status, body, headers)

    def _write(
        self, handler: _RequestHandler, response: _Response, request_id: str, *, head: bool
    ) -> None:
        payload = b""
        if response.body is not None and response.status not in (204, 304):
            payload = json.dumps(response.body, ensure_ascii=False).encode()
        try:
            handler.send_response(response.status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            handler.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
            handler.send_header("X-GitHub-Request-Id", request_id)
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(0 if head else len(payload)))
            handler.end_headers()
            if payload and not head:
                handler.wfile.write(payload)
        except OSError:  # client went away; nothing to report to it
            handler.close_connection = True

    def _identity(self, headers: dict[str, str]) -> _User | None:
        value = headers.get("authorization", "")
        scheme, _, credential = value.partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return None
        entry = self._tokens.get(credential.strip())
        return self._users[entry[0].lower()] if entry else None

    def _serve(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
        bad_json: bool,
    ) -> _Response:
        """Authenticate, rate-limit, route, add rate headers (lock held)."""
        user = self._identity(headers)
        counts = user is not None
        try:
            if user is None:
                if "authorization" in headers:
                    raise _ApiError(401, "Bad credentials")
                raise _ApiError(401, "Requires authentication")
            bucket = self._bucket(user.login)
            if counts and bucket[1] >= bucket[0]:
                counts = False  # the refusal itself costs nothing
                who = "installation ID 1" if user.type == "Bot" else f"user ID {user.id}"
                raise _ApiError(
                    403,
                    f"API rate limit exceeded for {who}.",
                    doc=f"{DOCS}/overview/resources-in-the-rest-api#rate-limiting",
                )
            if bad_json:
                raise _ApiError(400, "Problems parsing JSON")
            response = self._route(_Ctx(method, path, query, body, user))
        except _ApiError as error:
            response = _Response(error.status, error.body, dict(error.headers))
        except Exception as error:  # a bug in the stand-in: make it loud, not a hang
            self.errors.append(traceback.format_exc())
            response = _Response(500, {"message": f"stand-in error: {error!r}", "status": "500"})
        who = user.login if user is not None else ""
        if counts or user is None:
            bucket = self._bucket(who)
            bucket[1] = min(bucket[0], bucket[1] + 1)
        response.headers.update(self._rate_headers(who))
        return response

    # ------------------------------------------------------------------ routing

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], _Handler]]:
        repo = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
        issue = repo + r"/issues/(?P<number>\d+)"
        comment = repo + r"/issues/comments/(?P<comment_id>\d+)"
        table: list[tuple[str, str, _Handler]] = [
            ("GET", r"/user", self._get_authenticated_user),
            ("GET", r"/app", self._get_authenticated_app),
            ("GET", repo, self._get_repo),
            ("GET", repo + r"/compare/(?P<basehead>.+)", self._compare),
            ("GET", repo + r"/commits/(?P<ref>[^/]+)", self._get_commit),
            ("GET", repo + r"/issues", self._list_issues),
            ("POST", repo + r"/issues", self._create_issue),
            ("GET", comment, self._get_comment),
            ("DELETE", comment, self._delete_comment),
            ("POST", comment + r"/reactions", self._react_comment),
            ("GET", issue, self._get_issue),
            ("PATCH", issue, self._edit_issue),
            ("POST", issue + r"/comments", self._create_comment),
            ("POST", issue + r"/reactions", self._react_issue),
            ("GET", repo + r"/collaborators/(?P<login>[^/]+)/permission", self._permission),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    def _route(self, ctx: _Ctx) -> _Response:
        method = "GET" if ctx.method == "HEAD" else ctx.method
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(ctx.path)
            if match is not None and route_method == method:
                params = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
                return handler(ctx, **params)
        raise _not_found()

    # ------------------------------------------------------------------ JSON shapes

    def _user_json(self, login: str) -> dict[str, Any]:
        user = self._user(login)
        api = f"{self.url}/users/{urllib.parse.quote(user.login, safe='')}"
        slug = user.login.removesuffix("[bot]")
        html = f"{self.web_url}/apps/{slug}" if user.type == "Bot" else f"{self.web_url}/{slug}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": _node_id("BOT" if user.type == "Bot" else "U", user.type, user.id),
            "avatar_url": f"{self.web_url}/avatars/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": html,
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def _repo_api(self, repo: Repo) -> str:
        return f"{self.url}/repos/{repo.owner}/{repo.name}"

    def _permissions_hash(self, role: str) -> dict[str, bool]:
        rank = _rank(role)
        return {
            "admin": rank >= _rank("admin"),
            "maintain": rank >= _rank("maintain"),
            "push": rank >= _rank("write"),
            "triage": rank >= _rank("triage"),
            "pull": rank >= _rank("read"),
        }

    def _repo_json(self, repo: Repo, viewer: _User) -> dict[str, Any]:
        api = self._repo_api(repo)
        open_issues = sum(
            1 for i in repo.issues.values() if i["state"] == "open" and not i["deleted"]
        )
        body: dict[str, Any] = {
            "id": repo.id,
            "node_id": _node_id("R", "Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "owner": self._user_json(repo.owner),
            "html_url": f"{self.web_url}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": api,
            "issues_url": f"{api}/issues{{/number}}",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "labels_url": f"{api}/labels{{/name}}",
            "collaborators_url": f"{api}/collaborators{{/collaborator}}",
            "comments_url": f"{api}/comments{{/number}}",
            "created_at": repo.created_at,
            "updated_at": repo.created_at,
            "pushed_at": repo.created_at,
            "default_branch": "main",
            "has_issues": repo.has_issues,
            "archived": repo.archived,
            "disabled": False,
            "open_issues_count": open_issues,
            "open_issues": open_issues,
        }
        if viewer.type != "Bot":  # GitHub reports them to user tokens, not installation tokens
            body["permissions"] = self._permissions_hash(self._effective_role(repo, viewer.login))
        return body

    def _label_json(self, repo: Repo, label: dict[str, Any]) -> dict[str, Any]:
        quoted = urllib.parse.quote(label["name"], safe="")
        return {
            "id": label["id"],
            "node_id": label["node_id"],
            "url": f"{self._repo_api(repo)}/labels/{quoted}",
            "name": label["name"],
            "color": label["color"],
            "default": label["default"],
            "description": label["description"],
        }

    def _reaction_rollup(self, url: str, reactions: list[dict[str, Any]]) -> dict[str, Any]:
        rollup: dict[str, Any] = {"url": url, "total_count": len(reactions)}
        for content in REACTION_CONTENTS:
            rollup[content] = sum(1 for r in reactions if r["content"] == content)
        return rollup

    def _association(self, repo: Repo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        role = repo.roles.get(login.lower())
        if role is not None and role != "none":
            return "COLLABORATOR"
        return "NONE"

    def _comments_of(self, repo: Repo, number: int) -> list[dict[str, Any]]:
        return sorted(
            (c for c in repo.comments.values() if c["issue"] == number), key=lambda c: c["id"]
        )

    def _issue_json(self, repo: Repo, issue: dict[str, Any]) -> dict[str, Any]:
        api = f"{self._repo_api(repo)}/issues/{issue['number']}"
        labels = [
            self._label_json(repo, self._ensure_label(repo, name)) for name in issue["labels"]
        ]
        closed_by = issue.get("closed_by")
        return {
            "url": api,
            "repository_url": self._repo_api(repo),
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "timeline_url": f"{api}/timeline",
            "html_url": f"{self.web_url}/{repo.full_name}/"
            f"{'pull' if issue.get('pull_request') else 'issues'}/{issue['number']}",
            "id": issue["id"],
            "node_id": issue["node_id"],
            "number": issue["number"],
            "title": issue["title"],
            "user": self._user_json(issue["user"]),
            "labels": labels,
            "state": issue["state"],
            "locked": issue["locked"],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": len(self._comments_of(repo, issue["number"])),
            "created_at": issue["created_at"],
            "updated_at": issue["updated_at"],
            "closed_at": issue["closed_at"],
            "author_association": self._association(repo, issue["user"]),
            "active_lock_reason": issue["active_lock_reason"],
            "body": issue["body"],
            "closed_by": self._user_json(closed_by) if closed_by else None,
            "reactions": self._reaction_rollup(f"{api}/reactions", issue["reactions"]),
            "performed_via_github_app": None,
            "state_reason": issue["state_reason"],
        } | (
            {
                "pull_request": {
                    "url": f"{self._repo_api(repo)}/pulls/{issue['number']}",
                    "html_url": f"{self.web_url}/{repo.full_name}/pull/{issue['number']}",
                    "merged_at": None,
                }
            }
            if issue.get("pull_request")
            else {}
        )

    def _comment_json(self, repo: Repo, comment: dict[str, Any]) -> dict[str, Any]:
        api = f"{self._repo_api(repo)}/issues/comments/{comment['id']}"
        number = comment["issue"]
        return {
            "url": api,
            "html_url": (
                f"{self.web_url}/{repo.full_name}/issues/{number}#issuecomment-{comment['id']}"
            ),
            "issue_url": f"{self._repo_api(repo)}/issues/{number}",
            "id": comment["id"],
            "node_id": comment["node_id"],
            "user": self._user_json(comment["user"]),
            "created_at": comment["created_at"],
            "updated_at": comment["updated_at"],
            "author_association": self._association(repo, comment["user"]),
            "body": comment["body"],
            "reactions": self._reaction_rollup(f"{api}/reactions", comment["reactions"]),
            "performed_via_github_app": None,
        }

    def _commit_json(self, repo: Repo, commit: dict[str, Any]) -> dict[str, Any]:
        api = f"{self._repo_api(repo)}/commits/{commit['sha']}"
        html = f"{self.web_url}/{repo.full_name}/commit/{commit['sha']}"
        person = {"name": commit["name"], "email": commit["email"], "date": commit["date"]}
        user = self._user_json(commit["author"]) if commit["author"] else None
        return {
            "url": api,
            "sha": commit["sha"],
            "node_id": _node_id("C", "Commit", int(commit["sha"][:8], 16)),
            "html_url": html,
            "comments_url": f"{api}/comments",
            "commit": {
                "url": f"{self._repo_api(repo)}/git/commits/{commit['sha']}",
                "author": person,
                "committer": dict(person),
                "message": commit["message"],
                "tree": {
                    "sha": _sha(commit["sha"]),
                    "url": f"{self._repo_api(repo)}/git/trees/{commit['sha']}",
                },
                "comment_count": 0,
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            "author": user,
            "committer": user,
            "parents": [
                {
                    "sha": p,
                    "url": f"{self._repo_api(repo)}/commits/{p}",
                    "html_url": f"{self.web_url}/{repo.full_name}/commit/{p}",
                }
                for p in commit["parents"]
            ],
        }

    def _file_json(self, repo: Repo, head: str, path: str, status: str) -> dict[str, Any]:
        quoted = urllib.parse.quote(path)
        return {
            "sha": _sha(f"{head}:{path}"),
            "filename": path,
            "status": status,
            "additions": 0,
            "deletions": 0,
            "changes": 0,
            "blob_url": f"{self.web_url}/{repo.full_name}/blob/{head}/{quoted}",
            "raw_url": f"{self.web_url}/{repo.full_name}/raw/{head}/{quoted}",
            "contents_url": f"{self._repo_api(repo)}/contents/{quoted}?ref={head}",
        }

    def _reaction_json(self, reaction: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": reaction["id"],
            "node_id": reaction["node_id"],
            "user": self._user_json(reaction["user"]),
            "content": reaction["content"],
            "created_at": reaction["created_at"],
        }

    # ------------------------------------------------------------------ helpers for handlers

    def _paginate(
        self, ctx: _Ctx, items: list[Any], *, default: int = 30, maximum: int = 100
    ) -> tuple[list[Any], dict[str, str]]:
        """GitHub pagination: ``per_page`` (default 30, max 100), ``page`` (from 1) and an
        RFC 8288 ``Link`` header with absolute URLs (PyGithub follows ``next`` and reads
        ``last`` for ``totalCount``)."""

        def number(name: str, default: int) -> int:
            try:
                return max(1, int(ctx.query.get(name, default)))
            except ValueError:
                return default

        per_page = min(number("per_page", default), maximum)
        page = number("page", 1)
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(target: int) -> str:
            query = dict(ctx.query, page=str(target))
            return f"<{self.url}{ctx.path}?{urllib.parse.urlencode(query)}>"

        parts = []
        if page > 1:
            parts.append(f'{link(min(page - 1, last))}; rel="prev"')
        if page < last:
            parts.append(f'{link(page + 1)}; rel="next"')
            parts.append(f'{link(last)}; rel="last"')
        if page > 1:
            parts.append(f'{link(1)}; rel="first"')
        return chunk, ({"Link": ", ".join(parts)} if parts else {})

    def _find_repo(self, ctx: _Ctx, owner: str, name: str) -> Repo:
        full = f"{owner}/{name}"
        repo = self._repos.get(full.lower())
        if repo is None:
            raise _not_found(f"{DOCS}/repos/repos#get-a-repository")
        if repo.private and self._effective_role(repo, ctx.user.login) == "none":
            raise _not_found(f"{DOCS}/repos/repos#get-a-repository")
        return repo

    def _issues_repo(self, ctx: _Ctx, owner: str, name: str) -> Repo:
        repo = self._find_repo(ctx, owner, name)
        if not repo.has_issues:
            raise _ApiError(410, "Issues are disabled for this repo")
        return repo

    def _require_write(self, ctx: _Ctx, repo: Repo, *, minimum: str = "triage") -> None:
        """Writes by integrations need a grant; archived repositories are read-only."""
        if repo.archived:
            raise _ApiError(403, "Repository was archived so is read-only.")
        role = self._effective_role(repo, ctx.user.login)
        if ctx.user.type == "Bot" and _rank(role) < _rank(minimum):
            raise _ApiError(403, "Resource not accessible by integration")

    def _live_issue(self, repo: Repo, number: str | int) -> dict[str, Any]:
        issue = repo.issues.get(int(number))
        if issue is None:
            raise _not_found(f"{DOCS}/issues/issues#get-an-issue")
        if issue["deleted"]:
            raise _ApiError(410, "This issue was deleted", doc=f"{DOCS}/issues/issues")
        return issue

    def _live_comment(self, repo: Repo, comment_id: str | int) -> dict[str, Any]:
        comment = repo.comments.get(int(comment_id))
        if comment is None or repo.issues[comment["issue"]]["deleted"]:
            raise _not_found(f"{DOCS}/issues/comments#get-an-issue-comment")
        return comment

    @staticmethod
    def _payload(ctx: _Ctx) -> dict[str, Any]:
        if ctx.body is None:
            return {}
        if not isinstance(ctx.body, dict):
            raise _ApiError(400, "Problems parsing JSON")
        return ctx.body

    @staticmethod
    def _check_body(resource: str, body: Any) -> None:
        if body is not None and not isinstance(body, str):
            raise _validation(resource, "invalid", "body")
        if isinstance(body, str) and len(body) > MAX_BODY_CHARS:
            raise _validation(
                resource,
                "custom",
                "body",
                f"body is too long (maximum is {MAX_BODY_CHARS} characters)",
            )

    @staticmethod
    def _label_names(value: Any) -> list[str]:
        """Accept ``["a"]``, ``{"labels": ["a"]}`` and ``[{"name": "a"}]`` like GitHub."""
        if isinstance(value, dict):
            value = value.get("labels", [])
        if not isinstance(value, list):
            raise _validation("Label", "invalid", "labels")
        names = []
        for item in value:
            name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name:
                raise _validation("Label", "invalid", "labels")
            names.append(name)
        return names

    def _apply_labels(self, repo: Repo, names: list[str]) -> list[str]:
        # Unknown labels are created on the fly, as GitHub does for callers with push access.
        return list(dict.fromkeys(self._ensure_label(repo, n)["name"] for n in names))

    def _touch(self, repo: Repo, issue: dict[str, Any]) -> None:
        issue["updated_at"] = self._now()

    # ------------------------------------------------------------------ handlers: meta

    def _get_authenticated_user(self, ctx: _Ctx) -> _Response:
        if ctx.user.type == "Bot":  # an installation token acts for an app, not a user
            raise _ApiError(
                403,
                "Resource not accessible by integration",
                doc=f"{DOCS}/users/users#get-the-authenticated-user",
            )
        return _Response(200, self._user_json(ctx.user.login))

    def _get_authenticated_app(self, ctx: _Ctx) -> _Response:
        """Only an app's JWT may ask; installation and user tokens are not JWTs."""
        raise _ApiError(401, "A JSON web token could not be decoded")

    def _get_repo(self, ctx: _Ctx, owner: str, name: str) -> _Response:
        repo = self._find_repo(ctx, owner, name)
        return _Response(200, self._repo_json(repo, ctx.user))

    def _permission(self, ctx: _Ctx, owner: str, name: str, login: str) -> _Response:
        repo = self._find_repo(ctx, owner, name)
        if _rank(self._effective_role(repo, ctx.user.login)) < _rank("write"):
            raise _ApiError(
                403,
                "Must have push access to view collaborator permission.",
                doc=f"{DOCS}/collaborators/collaborators#get-repository-permissions-for-a-user",
            )
        if login.lower() in self._deleted_users:
            raise _not_found(
                f"{DOCS}/collaborators/collaborators#get-repository-permissions-for-a-user"
            )
        role = self._effective_role(repo, login)
        user = self._user_json(login)
        user["permissions"] = self._permissions_hash(role)
        user["role_name"] = role
        return _Response(
            200, {"permission": LEGACY_PERMISSION[role], "role_name": role, "user": user}
        )

    # ------------------------------------------------------------------ handlers: compare

    def _compare(self, ctx: _Ctx, owner: str, name: str, basehead: str) -> _Response:
        repo = self._find_repo(ctx, owner, name)
        base_ref, dots, head_ref = basehead.partition("...")
        if not dots or not base_ref or not head_ref:
            raise _not_found(f"{DOCS}/commits/commits#compare-two-commits")
        base, head = self._resolve_ref(repo, base_ref), self._resolve_ref(repo, head_ref)
        behind_set, ahead_set = self._ancestry(repo, base), self._ancestry(repo, head)
        common = behind_set & ahead_set
        if not common:
            raise _ApiError(
                404,
                f"No common ancestor between {base_ref} and {head_ref}.",
                doc=f"{DOCS}/commits/commits#compare-two-commits",
            )
        order = list(repo.commits)  # insertion order is commit order
        merge_base = max(common, key=order.index)
        ahead = [repo.commits[sha] for sha in order if sha in ahead_set - behind_set]
        behind = len(behind_set - ahead_set)
        status = {
            (False, False): "identical",
            (True, False): "ahead",
            (False, True): "behind",
            (True, True): "diverged",
        }[(bool(ahead), bool(behind))]
        page, headers = self._paginate(ctx, ahead, default=250, maximum=1000)
        api = f"{self._repo_api(repo)}/compare/{basehead}"
        html = f"{self.web_url}/{repo.full_name}/compare/{basehead}"
        body: dict[str, Any] = {
            "url": api,
            "html_url": html,
            "permalink_url": f"{self.web_url}/{repo.full_name}/compare/"
            f"{repo.owner}:{base}...{repo.owner}:{head}",
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": self._commit_json(repo, repo.commits[base]),
            "merge_base_commit": self._commit_json(repo, repo.commits[merge_base]),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": behind,
            "total_commits": len(ahead),
            "commits": [self._commit_json(repo, c) for c in page],
        }
        if ctx.query.get("page", "1") == "1":  # GitHub sends the files with page 1 only
            files: dict[str, str] = {}
            for commit in ahead:
                for path, change in commit["files"]:
                    files[path] = change
            body["files"] = [self._file_json(repo, head, p, st) for p, st in files.items()][:300]
        return _Response(200, body, headers)

    def _get_commit(self, ctx: _Ctx, owner: str, name: str, ref: str) -> _Response:
        """``GET /repos/{o}/{r}/commits/{ref}``: one commit with the files it changes."""
        repo = self._find_repo(ctx, owner, name)
        sha = self._resolve_ref(repo, ref)
        commit = repo.commits[sha]
        body = self._commit_json(repo, commit)
        body["files"] = [self._file_json(repo, sha, p, st) for p, st in commit["files"]][:300]
        body["stats"] = {"total": len(commit["files"]), "additions": 0, "deletions": 0}
        return _Response(200, body)

    # ------------------------------------------------------------------ handlers: issues

    def _list_issues(self, ctx: _Ctx, owner: str, name: str) -> _Response:
        repo = self._issues_repo(ctx, owner, name)
        q = ctx.query
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _validation("Issue", "invalid", "state")
        wanted = [n.strip().lower() for n in q.get("labels", "").split(",") if n.strip()]
        creator = q.get("creator", "").lower()
        items = []
        for issue in repo.issues.values():
            if issue["deleted"] or (state != "all" and issue["state"] != state):
                continue
            have = {n.lower() for n in issue["labels"]}
            if any(w not in have for w in wanted):
                continue
            if creator and issue["user"].lower() != creator:
                continue
            items.append(issue)
        items = self._sorted(items, q.get("sort", "created"), q.get("direction", "desc"))
        page, headers = self._paginate(ctx, items)
        return _Response(200, [self._issue_json(repo, i) for i in page], headers)

    @staticmethod
    def _sorted(items: list[dict[str, Any]], sort: str, direction: str) -> list[dict[str, Any]]:
        if sort not in _ISSUE_SORTS:
            raise _validation("Issue", "invalid", "sort")
        if direction not in ("asc", "desc"):
            raise _validation("Issue", "invalid", "direction")
        return sorted(
            items, key=lambda i: (i[f"{sort}_at"], i["number"]), reverse=direction == "desc"
        )

    def _create_issue(self, ctx: _Ctx, owner: str, name: str) -> _Response:
        repo = self._issues_repo(ctx, owner, name)
        self._require_write(ctx, repo)
        data = self._payload(ctx)
        title = data.get("title")
        if title is None or title == "":
            raise _validation("Issue", "missing_field", "title")
        if not isinstance(title, str):
            raise _validation("Issue", "invalid", "title")
        if len(title) > MAX_TITLE_CHARS:
            raise _validation(
                "Issue",
                "custom",
                "title",
                f"title is too long (maximum is {MAX_TITLE_CHARS} characters)",
            )
        self._check_body("Issue", data.get("body"))
        labels = self._label_names(data.get("labels", []))
        issue = self._new_issue(repo, title, data.get("body"), labels, ctx.user.login)
        body = self._issue_json(repo, issue)
        return _Response(201, body, {"Location": body["url"]})

    def _get_issue(self, ctx: _Ctx, owner: str, name: str, number: str) -> _Response:
        repo = self._issues_repo(ctx, owner, name)
        return _Response(200, self._issue_json(repo, self._live_issue(repo, number)))

    def _edit_issue(self, ctx: _Ctx, owner: str, name: str, number: str) -> _Response:
        repo = self._issues_repo(ctx, owner, name)
        self._require_write(ctx, repo)
        issue = self._live_issue(repo, number)
        data = self._payload(ctx)
        changes: dict[str, Any] = {}
        if "title" in data:
            title = data["title"]
            if not isinstance(title, str) or not title:
                raise _validation("Issue", "missing_field", "title")
            if len(title) > MAX_TITLE_CHARS:
                raise _validation(
                    "Issue",
                    "custom",
                    "title",
                    f"title is too long (maximum is {MAX_TITLE_CHARS} characters)",
                )
            changes["title"] = title
        if "body" in data:
            self._check_body("Issue", data["body"])
            changes["body"] = data["body"]
        if "labels" in data:
            changes["labels"] = self._apply_labels(repo, self._label_names(data["labels"]))
        reason = data.get("state_reason")
        if reason not in (None, "completed", "not_planned", "reopened", "duplicate"):
            raise _validation("Issue", "invalid", "state_reason")
        state = data.get("state")
        if state is not None:
            if state not in ("open", "closed"):
                raise _validation("Issue", "invalid", "state")
            if state == "closed" and issue["state"] != "closed":
                changes.update(
                    state="closed",
                    closed_at=self._now(),
                    closed_by=ctx.user.login,
                    state_reason=reason or "completed",
                )
            elif state == "open" and issue["state"] != "open":
                changes.update(
                    state="open", closed_at=None, closed_by=None, state_reason="reopened"
                )
            elif reason is not None:
                changes["state_reason"] = reason
        changed = {k: v for k, v in changes.items() if issue.get(k) != v}
        if changed:
            issue.update(changed)
            self._touch(repo, issue)
        return _Response(200, self._issue_json(repo, issue))

    # ------------------------------------------------------------------ handlers: comments

    def _create_comment(self, ctx: _Ctx, owner: str, name: str, number: str) -> _Response:
        repo = self._issues_repo(ctx, owner, name)
        issue = self._live_issue(repo, number)
        self._require_write(ctx, repo)
        body = self._payload(ctx).get("body")
        if body is None or body == "":
            raise _validation("IssueComment", "missing_field", "body")
        self._check_body("IssueComment", body)
        if issue["locked"]:
            role = self._effective_role(repo, ctx.user.login)
            if ctx.user.type == "Bot" or _rank(role) < _rank("write"):
                raise _ApiError(
                    403,
                    "Unable to create comment because issue is locked.",
                    doc="https://docs.github.com/articles/locking-conversations/",
                )
        comment = self._new_comment(repo, issue, body, ctx.user.login)
        out = self._comment_json(repo, comment)
        return _Response(201, out, {"Location": out["url"]})

    def _get_comment(self, ctx: _Ctx, owner: str, name: str, comment_id: str) -> _Response:
        repo = self._issues_repo(ctx, owner, name)
        return _Response(200, self._comment_json(repo, self._live_comment(repo, comment_id)))

    def _delete_comment(self, ctx: _Ctx, owner: str, name: str, comment_id: str) -> _Response:
        repo = self._issues_repo(ctx, owner, name)
        self._require_write(ctx, repo)
        comment = self._live_comment(repo, comment_id)
        del repo.comments[comment["id"]]
        return _Response(204)

    # ------------------------------------------------------------------ handlers: reactions

    def _react(self, ctx: _Ctx, repo: Repo, reactions: list[dict[str, Any]]) -> _Response:
        """201 for a new reaction, 200 with the existing one for the same user + content."""
        self._require_write(ctx, repo, minimum="read")
        content = self._payload(ctx).get("content")
        if content not in REACTION_CONTENTS:
            raise _validation(
                "Reaction", "custom", "content", "content is not included in the list"
            )
        for reaction in reactions:
            if (
                reaction["user"].lower() == ctx.user.login.lower()
                and reaction["content"] == content
            ):
                return _Response(200, self._reaction_json(reaction))
        ident = self._next_id()
        reaction = {
            "id": ident,
            "node_id": _node_id("REA", "Reaction", ident),
            "user": ctx.user.login,
            "content": content,
            "created_at": self._now(),
        }
        reactions.append(reaction)
        return _Response(201, self._reaction_json(reaction))

    def _react_issue(self, ctx: _Ctx, owner: str, name: str, number: str) -> _Response:
        repo = self._issues_repo(ctx, owner, name)
        return self._react(ctx, repo, self._live_issue(repo, number)["reactions"])

    def _react_comment(self, ctx: _Ctx, owner: str, name: str, comment_id: str) -> _Response:
        repo = self._issues_repo(ctx, owner, name)
        return self._react(ctx, repo, self._live_comment(repo, comment_id)["reactions"])
