"""The one seam to GitHub (PyGithub), and publishing the tracking issue through it.

Rules this module keeps:

- The tracking issue is found by a hidden per-environment marker among issues carrying the
  tracking label (open *and* closed), never by title, and never through search (GitHub's
  search index lags, so a just-created issue would be created again).
- One update is three REST calls in the common case: list (find, with the body), PATCH
  (body, state and labels at once), GET (verify). Nothing is written when nothing changed.
- GitHub has no compare-and-swap for issue bodies, so concurrent runs are reconciled by
  merging state by entry id and verifying after each write; whoever finds its entries
  missing merges and writes again.
- Transient failures are retried by PyGithub's ``GithubRetry`` (PATCH included: editing a
  body is idempotent); a 422 "body is too long" shrinks the body; anything that still
  fails leaves the state in a local pending file that the next run merges back.

Environment knobs (besides the standard ``GITHUB_*`` variables):

- ``GOLDEN_PATH_GITHUB_TIMEOUT`` — whole seconds PyGithub waits for each GitHub response
  before giving up on it (default 30, 1–600). A timed-out request is retried like a 5xx,
  so a hung GitHub costs at most ``(retries + 1) × timeout`` per call.
- ``GOLDEN_PATH_GITHUB_RETRIES`` — how often a failed request (5xx, timeout, dropped
  connection, rate limit) is retried (default 5, 0–20).
- ``GOLDEN_PATH_RETRY_BACKOFF`` — the retry back-off factor in seconds (default 0.5).
- ``GOLDEN_PATH_SETTLE`` — seconds to let concurrent writes land before verifying (default 3).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse

from bot import redact, render, tracking
from bot.config import Config, ConfigError
from bot.diagnosis import PASSING, Diagnosis
from bot.results import Iteration
from bot.session import (
    Archive,
    LogEntry,
    SessionState,
    env_marker,
    read_state,
)

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_TIMEOUT = 30  # seconds per request
DEFAULT_RETRIES = 5
PENDING_DIR = Path(".golden-path")
MAX_VERIFY_ROUNDS = 12
STATUS_LABEL = "golden-path: {status}"


class PublishError(RuntimeError):
    """GitHub could not be updated; the state was saved locally (see ``pending_path``)."""


def archive_marker(environment: str) -> str:
    return f"<!-- golden-path:archive environment={environment} -->"


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def github_timeout(env: Mapping[str, str]) -> int:
    """``GOLDEN_PATH_GITHUB_TIMEOUT``: whole seconds per GitHub request (PyGithub takes ints)."""
    return _int_knob(env, "GOLDEN_PATH_GITHUB_TIMEOUT", DEFAULT_TIMEOUT, 1, 600, "30")


def github_retries(env: Mapping[str, str]) -> int:
    """``GOLDEN_PATH_GITHUB_RETRIES``: retries of a failed GitHub request."""
    return _int_knob(env, "GOLDEN_PATH_GITHUB_RETRIES", DEFAULT_RETRIES, 0, 20, "5")


def _int_knob(
    env: Mapping[str, str], name: str, default: int, low: int, high: int, example: str
) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(
            f"{name}={text!r} is not a whole number from {low} to {high} — e.g. "
            f"{name}={example} (or unset it for the default, {default})"
        )
    return value


def make_retry(total: int = 5) -> Any:
    """PyGithub's retry, with PATCH allowed (an issue edit is idempotent)."""
    from github import GithubRetry
    from urllib3 import Retry

    return GithubRetry(
        total=total,
        backoff_factor=float(os.environ.get("GOLDEN_PATH_RETRY_BACKOFF", "0.5")),
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS.union({"GET", "POST", "PATCH"}),
        max_rate_limit_wait=120,
    )


class GitHub:
    """The bot's whole vocabulary of GitHub calls. Handlers receive it; nobody builds one."""

    def __init__(self, client: Any, repository: str) -> None:
        self.client = client
        self.repository = repository
        self.repo = client.get_repo(repository)  # lazy when the client is (from_env)
        self.calls = 0  # REST requests issued through this seam (for tests and the note)

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, retry: Any = None) -> GitHub:
        from github import Auth, Github

        token = env.get("GITHUB_TOKEN", "")
        repository = env.get("GITHUB_REPOSITORY", "")
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
        redact.register(token)
        api = env.get("GITHUB_API_URL") or DEFAULT_API_URL
        local = _is_loopback(api)
        client = Github(
            base_url=api,
            lazy=True,
            auth=Auth.Token(token),
            retry=retry if retry is not None else make_retry(github_retries(env)),
            per_page=100,
            timeout=github_timeout(env),
            # keep GitHub's etiquette against github.com; a local test server needs none
            seconds_between_requests=0 if local else 0.25,
            seconds_between_writes=0 if local else 1.0,
        )
        return cls(client, repository)

    def _count(self, n: int = 1) -> None:
        self.calls += n

    # -- issues ----------------------------------------------------------------------------
    def find_issue(self, marker: str, label: str | None) -> Any | None:
        """The oldest issue with ``label`` (None: any) whose body holds ``marker``."""
        by_label: dict[str, Any] = {"labels": [label]} if label else {}
        issues = self.repo.get_issues(state="all", sort="created", direction="asc", **by_label)
        self._count()
        for n, issue in enumerate(issues):
            if n and n % 100 == 0:
                self._count()
            if marker in (issue.body or ""):
                return issue
        return None

    def get_issue(self, number: int) -> Any:
        issue = self.repo.get_issue(number)
        _ = issue.body  # lazy object: fetch now, so errors surface here
        self._count()
        return issue

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> Any:
        self._count()
        return self.repo.create_issue(title=title, body=body, labels=list(labels))

    def edit_issue(self, issue: Any, **fields: Any) -> None:
        self._count()
        issue.edit(**fields)

    def comment(self, issue: Any, body: str) -> Any:
        self._count()
        return issue.create_comment(redact.redact(body))

    def react(self, target: Any, content: str) -> None:
        self._count()
        target.create_reaction(content)

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


# -- publishing the tracking issue -----------------------------------------------------------


def pending_path(environment: str, base: Path = PENDING_DIR) -> Path:
    return base / f"pending-state-{environment}.json"


def load_pending(environment: str, base: Path = PENDING_DIR) -> SessionState | None:
    path = pending_path(environment, base)
    try:
        return SessionState.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return None


def save_pending(
    state: SessionState, body: str, environment: str, base: Path = PENDING_DIR
) -> Path:
    path = pending_path(environment, base)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(state.to_json(), encoding="utf-8")
    path.with_suffix(".md").write_text(redact.redact(body), encoding="utf-8")
    return path


def _status_labels(cfg: Config, status: str) -> list[str]:
    labels = list(cfg.tracking.labels)
    labels.append(STATUS_LABEL.format(status=status))
    return labels


def _contains(fresh: SessionState | None, ours: SessionState) -> bool:
    if fresh is None:
        return False
    have_its = {r.id for r in fresh.iterations}
    have_logs = {e.id for e in fresh.log} | {i for a in fresh.archives for i in a.ids}
    return {r.id for r in ours.iterations} <= have_its and {e.id for e in ours.log} <= have_logs


def _archive_comments(
    gh: GitHub, issue: Any, cfg: Config, state: SessionState, entries: Sequence[LogEntry]
) -> None:
    """Older log entries move into comments marked as the bot's; nothing is dropped."""
    chunk: list[LogEntry] = []
    size = 0
    chunks: list[list[LogEntry]] = []
    for e in entries:
        line = len(e.text) + 64
        if chunk and size + line > 60_000:
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(e)
        size += line
    if chunk:
        chunks.append(chunk)
    from github import GithubException

    for n, part in enumerate(chunks):
        lines = [
            archive_marker(cfg.environment),
            f"### Session log archive — {len(part)} entries, "
            f"{render.fmt_time(part[0].at)} – {render.fmt_time(part[-1].at)}",
            "",
            *(
                f"- `{render.fmt_time(e.at)}` {e.level}: {render.md_inline(e.text, 400)}"
                for e in part
            ),
        ]
        try:
            comment = gh.comment(issue, "\n".join(lines))
        except GithubException as exc:
            # e.g. 403 on a locked issue: the entries stay in the state block, where the
            # next run (once comments work again) archives them; nothing is dropped
            kept = [e for rest in chunks[n:] for e in rest]
            state.log = sorted([*kept, *state.log], key=lambda e: e.at)
            reason = exc.data.get("message") if isinstance(exc.data, dict) else ""
            state.add_log(
                f"could not move {len(kept)} old log entries to a comment "
                f"({exc.status} {reason or 'error'}); they stay in this issue's state",
                "warning",
            )
            return
        state.archives.append(Archive.of(comment.html_url, part))


def _issue_ref(issue: Any) -> dict[str, Any] | None:
    return {"number": issue.number, "url": issue.html_url} if issue is not None else None


def publish_github(
    cfg: Config,
    it: Iteration | None,
    *,
    dry_run: bool,
    log: Callable[..., None],
    out: TextIO,
    env: Mapping[str, str] | None = None,
    gh: GitHub | None = None,
    mutate: Callable[[SessionState], None] | None = None,
    pending_dir: Path = PENDING_DIR,
) -> tuple[Diagnosis, str, str]:
    """Fold ``it`` (None: re-render only) into the environment's tracking issue."""
    env = dict(os.environ) if env is None else env
    gh = gh or GitHub.from_env(env)
    run_log: list[LogEntry] = list(getattr(log, "entries", []))
    pending = load_pending(cfg.environment, pending_dir)
    marker = env_marker(cfg.environment)
    # no tracking label configured: search every issue (a label that was never put on
    # the issue would find nothing, and every run would open a new one)
    label = cfg.tracking.labels[0] if cfg.tracking.labels else None
    state_for_failure: SessionState | None = None
    body_for_failure = ""
    try:
        issue = (
            gh.get_issue(cfg.tracking.issue) if cfg.tracking.issue else gh.find_issue(marker, label)
        )
        body = issue.body or "" if issue is not None else ""
        read_at = time.monotonic()
        upd = tracking.apply(
            body,
            cfg,
            iteration=it,
            run_log=run_log,
            issue=_issue_ref(issue),
            pending=pending,
            mutate=mutate,
        )
        state_for_failure, body_for_failure = upd.state, upd.body
        for w in upd.warnings:
            log(w, "warning")
        status = upd.dx.status
        want_state = "closed" if status == PASSING and cfg.tracking.close_on_green else "open"
        labels = _status_labels(cfg, status)
        if dry_run:
            calls = ["GET issues (find)"] if issue is None or cfg.tracking.issue else []
            calls.append(
                "POST issue (create)" if issue is None else "PATCH issue (body, state, labels)"
            )
            out.write(upd.body + "\n")
            out.write(f"\n<!-- dry run: would call {', '.join(calls)} -->\n")
            return upd.dx, upd.body, "(dry run)"
        if issue is None:
            issue, upd = _create(gh, cfg, upd, labels, marker, label, log)
            read_at = time.monotonic()
        if upd.to_archive:
            _archive_comments(gh, issue, cfg, upd.state, upd.to_archive)
            upd.body = tracking.rerender(cfg, upd, issue=_issue_ref(issue))
        current_labels = sorted(lbl.name for lbl in issue.labels)
        status_prefix = STATUS_LABEL.format(status="")
        # people's labels stay; only our status label changes
        labels = sorted(
            {lbl for lbl in current_labels if not lbl.startswith(status_prefix)} | set(labels)
        )
        if upd.changed or issue.state != want_state or current_labels != labels:
            _write_verified(gh, issue, cfg, upd, want_state, labels, log, read_at)
        else:
            log("tracking issue unchanged: nothing written", "info")
        if pending is not None:
            pending_path(cfg.environment, pending_dir).unlink(missing_ok=True)
            pending_path(cfg.environment, pending_dir).with_suffix(".md").unlink(missing_ok=True)
        return upd.dx, upd.body, issue.html_url
    except (ConfigError, PublishError):
        raise
    except Exception as exc:
        message = redact.redact(_describe(exc, cfg))
        if state_for_failure is None:
            # GitHub failed before the issue could be read: keep what this run knows
            state_for_failure = _offline_state(cfg, it, run_log, pending, mutate)
        path = save_pending(state_for_failure, body_for_failure, cfg.environment, pending_dir)
        log(f"publishing to GitHub failed ({message}); state saved to {path}", "error")
        raise PublishError(
            f"could not update the tracking issue: {message}. The session state was saved to "
            f"{path}; the next run merges it back."
        ) from exc


def _describe(exc: Exception, cfg: Config) -> str:
    """One line for the log: what failed, and for a pinned issue that is gone, what to do."""
    status = getattr(exc, "status", None)
    if cfg.tracking.issue and status in (404, 410):
        what = "was deleted" if status == 410 else "does not exist (or the token cannot see it)"
        return (
            f"tracking issue #{cfg.tracking.issue} {what} ({status}) — point "
            "tracking.issue at a live issue, or remove it to let the bot find or open one"
        )
    return f"{type(exc).__name__}: {exc}"


def _offline_state(
    cfg: Config,
    it: Iteration | None,
    run_log: Sequence[LogEntry],
    pending: SessionState | None,
    mutate: Callable[[SessionState], None] | None,
) -> SessionState:
    """This run's iteration, log and command, folded into what was already pending.

    Without the issue the session's identity is unknown; an empty ``session_id`` tells
    :func:`bot.session.merge` to keep the issue's when this is merged back.
    """
    from bot import report

    state = pending or SessionState(environment=cfg.environment, session_id="")
    known = {e.id for e in state.log}
    state.log.extend(e for e in run_log if e.id not in known)
    if mutate is not None:
        mutate(state)
    if it is not None:
        dx = report.diagnose_iteration(cfg, it, state)
        report.record(state, it, dx, close_on_green=cfg.tracking.close_on_green)
    return state


def _create(
    gh: GitHub,
    cfg: Config,
    upd: tracking.Update,
    labels: list[str],
    marker: str,
    label: str | None,
    log: Callable[..., None],
) -> tuple[Any, tracking.Update]:
    """Create the issue; if a concurrent run created one too, the oldest wins.

    The loser closes its own copy as a duplicate and carries its state over, so a race
    on the very first run costs two extra calls and loses nothing.
    """
    issue = gh.create_issue(cfg.title(), upd.body, labels)
    winner = gh.find_issue(marker, label)
    if winner is not None and winner.number != issue.number:
        gh.edit_issue(
            issue,
            body=f"Duplicate of #{winner.number}: created by a concurrent golden-path run.",
            state="closed",
            state_reason="not_planned",
        )
        log(f"a concurrent run created #{winner.number} first; using it", "warning")
        issue = winner
    else:
        log(f"created tracking issue #{issue.number}", "info")
    # the body names its own issue number once it has one
    merged = tracking.apply(
        issue.body or "", cfg, iteration=None, issue=_issue_ref(issue), pending=upd.state
    )
    return issue, merged


def settle_seconds(env: Mapping[str, str] | None = None) -> float:
    return float((env or os.environ).get("GOLDEN_PATH_SETTLE", "3"))


def _write_verified(
    gh: GitHub,
    issue: Any,
    cfg: Config,
    upd: tracking.Update,
    want_state: str,
    labels: list[str],
    log: Callable[..., None],
    read_at: float,
) -> None:
    """PATCH, let concurrent writes land, re-read; merge and write again if ours was lost.

    GitHub offers no compare-and-swap on issue bodies, so this relies on one bound that
    every run of this bot keeps: it never PATCHes a body it read more than ``settle/2``
    seconds earlier (it re-reads first). Any run that read before our write therefore
    lands its write within ``settle`` of ours, and the verify read after ``settle`` sees
    it — and merges — instead of silently losing it.
    """
    from github import GithubException

    from bot.session import merge

    settle = settle_seconds()
    ours = upd.state
    body = upd.body
    shrink = 0
    for _ in range(MAX_VERIFY_ROUNDS):
        if time.monotonic() - read_at > settle / 2:
            fresh_issue = gh.get_issue(issue.number)
            read_at = time.monotonic()
            fresh = _state_of(fresh_issue.body or "")
            if not _contains_all(ours, fresh):
                ours = merge(ours, fresh) if fresh is not None else ours
                upd.state = ours
                body = tracking.rerender(
                    cfg,
                    upd,
                    issue=_issue_ref(fresh_issue),
                    base_body=fresh_issue.body or "",
                    budget_cut=shrink,
                )
        fields: dict[str, Any] = {"body": body, "state": want_state, "labels": labels}
        if want_state == "closed":
            fields["state_reason"] = "completed"
        try:
            gh.edit_issue(issue, **fields)
        except GithubException as exc:
            if exc.status == 422 and "too long" in json.dumps(exc.data).lower():
                shrink += 1
                body = tracking.rerender(cfg, upd, issue=_issue_ref(issue), budget_cut=shrink)
                log(f"GitHub refused the body as too long; shrunk it (round {shrink})", "warning")
                continue
            raise
        written = time.monotonic()
        if written - read_at > settle:
            log("the write took longer than the settle window; verifying anyway", "warning")
        time.sleep(settle)  # let writes that started before ours land, then look
        fresh_issue = gh.get_issue(issue.number)
        read_at = time.monotonic()
        fresh_body = fresh_issue.body or ""
        fresh = _state_of(fresh_body)
        if _contains(fresh, ours):
            return
        log("another run updated the tracking issue at the same time: merging", "warning")
        # Everyone who lost the round retries at once; a random pause spreads them out so
        # each one reads (and merges) what the others wrote before writing again.
        time.sleep(random.uniform(0, settle))
        fresh_issue = gh.get_issue(issue.number)
        read_at = time.monotonic()
        fresh_body = fresh_issue.body or ""
        fresh = _state_of(fresh_body)
        ours = merge(ours, fresh) if fresh is not None else ours
        upd.state = ours
        body = tracking.rerender(
            cfg, upd, issue=_issue_ref(fresh_issue), base_body=fresh_body, budget_cut=shrink
        )
    raise PublishError(f"tracking issue kept changing under us for {MAX_VERIFY_ROUNDS} rounds")


def _state_of(body: str) -> SessionState | None:
    try:
        return read_state(body)
    except Exception:
        return None


def _contains_all(ours: SessionState, fresh: SessionState | None) -> bool:
    """Everything in ``fresh`` is already in ``ours`` (nothing to merge)."""
    return fresh is None or _contains(ours, fresh)
