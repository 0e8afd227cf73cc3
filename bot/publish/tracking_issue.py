"""The tracking issue on GitHub: find it, fold a run in, write it, verify, archive old log.

Rules this module keeps (GitHub itself is reached only through :class:`~bot.publish.github.GitHub`):

- The tracking issue is found by a hidden per-environment marker among issues carrying the
  tracking label (open *and* closed), never by title, and never through search (GitHub's
  search index lags, so a just-created issue would be created again).
- One update is three REST calls in the common case: list (find, with the body), PATCH
  (body, state and labels at once), GET (verify). Every run is recorded, so every run writes.
- GitHub has no compare-and-swap for issue bodies, so concurrent runs are reconciled by
  entry id and verified after each write; whoever finds its entries missing reconciles and
  writes again.
- A 422 "body is too long" shrinks the body; anything that still fails leaves the state in a
  local pending file that the next run merges back.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import redact, render, tracking
from bot.config import Config, ConfigError
from bot.issue_format import ARCHIVE_CHUNK, STATUS_LABEL, archive_marker, check_body, env_marker
from bot.publish import PublishError, Report
from bot.publish.github import GitHub, is_pull_request
from bot.result_files import atomic_write
from bot.runtime import DEFAULT_OUT, Console
from bot.session import Archive, LogEntry, SessionState, read_state, reconcile
from bot.settings import DEFAULT_BOT_LOGIN
from bot.verdict import PASSING

if TYPE_CHECKING:
    from github.Issue import Issue

PENDING_DIR = Path(DEFAULT_OUT)
MAX_VERIFY_ROUNDS = 12

Log = Callable[[str, str], None]


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
    atomic_write(path, state.to_json())
    atomic_write(path.with_suffix(".md"), redact.redact(body))
    return path


def _issue_ref(issue: Issue | None) -> dict[str, Any] | None:
    return {"number": issue.number, "url": issue.html_url} if issue is not None else None


def _contains(fresh: SessionState | None, ours: SessionState) -> bool:
    """Everything this run wrote (its runs and log entries) is in ``fresh``."""
    if fresh is None:
        return False
    have_logs = {e.id for e in fresh.log} | {i for a in fresh.archives for i in a.ids}
    return ours.run_ids <= fresh.run_ids and {e.id for e in ours.log} <= have_logs


def _state_of(body: str, key: bytes | None) -> SessionState | None:
    try:
        return read_state(body, key)
    except Exception:
        return None


class GitHubTracker:
    """Publishes a run to the environment's tracking issue (a :class:`Publisher`)."""

    def __init__(
        self,
        cfg: Config,
        gh: GitHub,
        *,
        log: Log,
        out: Console,
        settle_s: float = 3.0,
        dry_run: bool = False,
        pending_dir: Path = PENDING_DIR,
        bot_login: str = DEFAULT_BOT_LOGIN,
        key: bytes | None = None,
        docs_url: str = "",
    ) -> None:
        self.cfg = cfg
        self.key = key
        self.docs_url = docs_url
        self._me = {bot_login.casefold()}
        self._asked = False
        self._number = 0
        self.gh = gh
        self.log = log
        self.out = out
        self.settle_s = settle_s
        self.dry_run = dry_run
        self.pending_dir = pending_dir

    # -- finding ---------------------------------------------------------------------------
    def _ours(self, issue: Issue) -> bool:
        """Opened by the bot itself: the configured bot login, or the token's own user.

        Anyone can put the marker and (with triage) the label on an issue; only the bot's
        own identity can open the issue it adopts, so an outsider's issue never becomes the
        tracking issue (whose state steers ``/retest`` and where tokens go).
        """
        author = (issue.user.login if issue.user else "").casefold()
        if author not in self._me and not self._asked:
            self._asked = True
            me = self.gh.whoami()  # one call, only when an author is not the bot login
            if me:
                self._me.add(me.casefold())
        return author in self._me

    def _is_tracking(self, issue: Issue) -> bool:
        return (
            not is_pull_request(issue)
            and env_marker(self.cfg.environment) in (issue.body or "")
            and self._ours(issue)
        )

    def find(self) -> Issue | None:
        """The environment's tracking issue: pinned by number, or the oldest one the bot
        opened that carries the marker (with the label; without it if a person took it off)."""
        cfg = self.cfg
        if cfg.tracking.issue or self._number:  # pinned, or found earlier in this run
            return self.gh.get_issue(cfg.tracking.issue or self._number)
        # no tracking label configured: search every issue (a label that was never put on
        # the issue would find nothing, and every run would open a new one)
        label = cfg.tracking.labels[0] if cfg.tracking.labels else None
        found = next((i for i in self.gh.issues(label) if self._is_tracking(i)), None)
        if found is None and label:
            for creator in sorted(self._me):
                mine = self.gh.issues(None, creator=creator)
                found = next((i for i in mine if self._is_tracking(i)), None)
                if found is not None:
                    self.log(
                        f"the tracking issue #{found.number} had lost its {label!r} label; "
                        "putting it back",
                        "warning",
                    )
                    break
        if found is not None:
            self._number = found.number  # one issue per run, whatever labels do meanwhile
        return found

    # -- publishing ------------------------------------------------------------------------
    def publish(self, report: Report) -> None:
        """Fold ``report`` into the tracking issue; raises :class:`PublishError` after saving."""
        cfg = self.cfg
        run_log = list(report.log)
        pending = load_pending(cfg.environment, self.pending_dir)
        upd: tracking.Update | None = None
        try:
            issue = self.find()
            body = issue.body or "" if issue is not None else ""
            read_at = time.monotonic()
            upd = tracking.apply(
                body,
                cfg,
                iteration=report.iteration,
                verdict=report.verdict,
                run_log=run_log,
                issue=_issue_ref(issue),
                pending=pending,
                mutate=report.mutate,
                gather=report.gather,
                key=self.key,
                docs_url=self.docs_url,
            )
            self._fill(report, upd, issue)
            for w in upd.warnings:
                self.log(w, "warning")
            if self.dry_run:
                calls = ["GET issues (find)"] if issue is None or cfg.tracking.issue else []
                calls.append(
                    "POST issue (create)" if issue is None else "PATCH issue (body, state, labels)"
                )
                self.out.block(upd.body)
                self.out.line(f"<!-- dry run: would call {', '.join(calls)} -->")
                report.where = "(dry run)"
                return
            status = upd.verdict.status
            want_state = "closed" if status == PASSING and cfg.tracking.close_on_green else "open"
            labels = [*cfg.tracking.labels, STATUS_LABEL.format(status=status)]
            if issue is None:
                issue, upd = self._create(upd, labels)
                read_at = time.monotonic()
            if upd.to_archive:
                self._archive(issue, upd.state, upd.to_archive)
                upd.body = tracking.rerender(cfg, upd, issue=_issue_ref(issue))
            current = sorted(lbl.name for lbl in issue.labels)
            prefix = STATUS_LABEL.format(status="")
            # people's labels stay; only our status label changes
            labels = sorted({lbl for lbl in current if not lbl.startswith(prefix)} | set(labels))
            if upd.changed or issue.state != want_state or current != labels:
                self._write_verified(issue, upd, want_state, labels, read_at)
            else:
                self.log("tracking issue unchanged: nothing written", "info")
            if pending is not None:
                pending_path(cfg.environment, self.pending_dir).unlink(missing_ok=True)
                pending_path(cfg.environment, self.pending_dir).with_suffix(".md").unlink(
                    missing_ok=True
                )
            self._fill(report, upd, issue)
        except ConfigError:
            raise
        except Exception as exc:  # PublishError included: the state is saved on every failure
            message = redact.redact(self._describe(exc))
            state = upd.state if upd is not None else self._offline_state(report, pending)
            path = save_pending(state, upd.body if upd else "", cfg.environment, self.pending_dir)
            self.log(f"publishing to GitHub failed ({message}); state saved to {path}", "error")
            raise PublishError(
                f"could not update the tracking issue: {message}. The session state was saved "
                f"to {path}; the next run merges it back."
            ) from exc

    def _fill(self, report: Report, upd: tracking.Update, issue: Issue | None) -> None:
        report.verdict = upd.verdict
        report.shown = tracking.shown_iteration(upd.state, self.cfg.environment)
        report.body = upd.body
        if issue is not None:
            report.where = report.issue_url = issue.html_url
            report.issue_number = issue.number

    def _describe(self, exc: Exception) -> str:
        """One line for the log: what failed, and for a pinned issue that is gone, what to do."""
        status = getattr(exc, "status", None)
        pinned = self.cfg.tracking.issue
        if pinned and status in (404, 410):
            what = "was deleted" if status == 410 else "does not exist (or the token cannot see it)"
            return (
                f"tracking issue #{pinned} {what} ({status}) — point tracking.issue at a live "
                "issue, or remove it to let the bot find or open one"
            )
        return f"{type(exc).__name__}: {exc}"

    def _offline_state(self, report: Report, pending: SessionState | None) -> SessionState:
        """This run's iteration, log and command, folded into what was already pending.

        Without the issue the session's identity is unknown; an empty ``session_id`` tells
        :func:`bot.session.reconcile` to keep the issue's when this is merged back.
        """
        from bot import history

        state = pending or SessionState(environment=self.cfg.environment, session_id="")
        known = {e.id for e in state.log}
        state.log.extend(e for e in report.log if e.id not in known)
        if report.mutate is not None:
            report.mutate(state)
        if report.iteration is not None and report.verdict is not None:
            history.record(
                state,
                report.iteration,
                report.verdict,
                close_on_green=self.cfg.tracking.close_on_green,
            )
        return state

    def _create(self, upd: tracking.Update, labels: list[str]) -> tuple[Issue, tracking.Update]:
        """Create the issue; if a concurrent run created one too, the oldest wins.

        The loser closes its own copy as a duplicate and carries its state over, so a race
        on the very first run costs two extra calls and loses nothing.
        """
        cfg, gh = self.cfg, self.gh
        issue = gh.create_issue(cfg.title(), upd.body, labels)
        label = cfg.tracking.labels[0] if cfg.tracking.labels else None
        winner = next((i for i in gh.issues(label) if self._is_tracking(i)), None)
        if winner is not None and winner.number != issue.number:
            gh.edit_issue(
                issue,
                body=f"Duplicate of #{winner.number}: created by a concurrent golden-path run.",
                state="closed",
                state_reason="not_planned",
            )
            self.log(f"a concurrent run created #{winner.number} first; using it", "warning")
            issue = winner
        else:
            self.log(f"created tracking issue #{issue.number}", "info")
        # the body names its own issue number once it has one
        merged = tracking.apply(
            issue.body or "",
            cfg,
            iteration=None,
            issue=_issue_ref(issue),
            pending=upd.state,
            key=self.key,
            docs_url=self.docs_url,
        )
        merged.verdict = upd.verdict
        return issue, merged

    def _archive(self, issue: Issue, state: SessionState, entries: Sequence[LogEntry]) -> None:
        """Older log entries move into comments marked as the bot's; nothing is dropped."""
        from github import GithubException

        chunks: list[list[LogEntry]] = []
        chunk: list[LogEntry] = []
        size = 0
        for e in entries:
            line = len(e.text) + 64
            if chunk and size + line > ARCHIVE_CHUNK:
                chunks.append(chunk)
                chunk, size = [], 0
            chunk.append(e)
            size += line
        if chunk:
            chunks.append(chunk)
        for n, part in enumerate(chunks):
            lines = [
                archive_marker(self.cfg.environment),
                f"### Session log archive — {len(part)} entries, "
                f"{render.fmt_time(part[0].at)} – {render.fmt_time(part[-1].at)}",
                "",
                *(
                    f"- `{render.fmt_time(e.at)}` {e.level}: {render.md_inline(e.text, 400)}"
                    for e in part
                ),
            ]
            try:
                comment = self.gh.comment(issue, "\n".join(lines))
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

    def _write_verified(
        self,
        issue: Issue,
        upd: tracking.Update,
        want_state: str,
        labels: list[str],
        read_at: float,
    ) -> None:
        """PATCH, let concurrent writes land, re-read; reconcile and write again if ours was lost.

        GitHub offers no compare-and-swap on issue bodies, so this relies on one bound that
        every run of this bot keeps: it never PATCHes a body it read more than ``settle/2``
        seconds earlier (it re-reads first). Any run that read before our write therefore
        lands its write within ``settle`` of ours, and the verify read after ``settle`` sees
        it — and reconciles — instead of silently losing it.
        """
        from github import GithubException

        cfg, gh, settle = self.cfg, self.gh, self.settle_s
        ours = upd.state
        body = upd.body
        shrink = 0
        for _ in range(MAX_VERIFY_ROUNDS):
            if time.monotonic() - read_at > settle / 2:
                fresh_issue = gh.get_issue(issue.number)
                read_at = time.monotonic()
                fresh = _state_of(fresh_issue.body or "", self.key)
                if fresh is not None and not _contains(ours, fresh):
                    ours = upd.state = reconcile(ours, fresh)
                    body = tracking.rerender(
                        cfg,
                        upd,
                        issue=_issue_ref(fresh_issue),
                        base_body=fresh_issue.body or "",
                        shrink=shrink,
                    )
            problem = check_body(body)
            if problem:  # never write what the next run could not read back
                raise PublishError(f"refusing to write the tracking issue: {problem}")
            try:
                gh.edit_issue(
                    issue,
                    body=body,
                    state=want_state,
                    labels=labels,
                    state_reason="completed" if want_state == "closed" else None,
                )
            except GithubException as exc:
                if exc.status == 422 and "too long" in json.dumps(exc.data).lower():
                    shrink += 1
                    body = tracking.rerender(cfg, upd, issue=_issue_ref(issue), shrink=shrink)
                    self.log(
                        f"GitHub refused the body as too long; shrunk it (round {shrink})",
                        "warning",
                    )
                    continue
                raise
            upd.body = body
            written = time.monotonic()
            if written - read_at > settle:
                self.log(
                    "the write took longer than the settle window; verifying anyway", "warning"
                )
            time.sleep(settle)  # let writes that started before ours land, then look
            fresh = _state_of(gh.get_issue(issue.number).body or "", self.key)
            read_at = time.monotonic()
            if _contains(fresh, ours):
                return
            self.log("another run updated the tracking issue at the same time: merging", "warning")
            # Everyone who lost the round retries at once; a random pause spreads them out so
            # each one reads (and reconciles) what the others wrote before writing again.
            time.sleep(random.uniform(0, settle))
            fresh_issue = gh.get_issue(issue.number)
            read_at = time.monotonic()
            fresh_body = fresh_issue.body or ""
            fresh = _state_of(fresh_body, self.key)
            ours = upd.state = reconcile(ours, fresh) if fresh is not None else ours
            body = tracking.rerender(
                cfg, upd, issue=_issue_ref(fresh_issue), base_body=fresh_body, shrink=shrink
            )
        raise PublishError(f"tracking issue kept changing under us for {MAX_VERIFY_ROUNDS} rounds")
