"""The commands' common path: run an iteration, judge it once, publish it everywhere.

pipeline → verdict → tracker (session state, issue body) → results files → Actions outputs
→ console summary. :class:`Run` holds what one command needs for that (config, settings,
run log, console) so the verbs (``run``, ``merge``, ``demo``, ``handle-event``) only say what
differs between them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import pipeline, redact
from bot.checks import check_types, iteration_from_dict
from bot.config import Config, ConfigError
from bot.progress import Progress
from bot.publish import Publisher, PublishError, Report
from bot.results import Iteration
from bot.runtime import EXIT_FAILED, Console, RunLog, run_async
from bot.session import SessionState, state_key
from bot.settings import Settings

# Judging, the results files and the Actions outputs come after the iteration: they are
# imported where they are used, so they cost nothing before the first session.
if TYPE_CHECKING:
    from github.Issue import Issue

    from bot.evidence import Gatherer
    from bot.publish.actions import ActionsPublisher
    from bot.publish.github import GitHub
    from bot.verdict import Verdict


def select_suites(names: Sequence[str] | None) -> dict[str, Any] | None:
    """``--suite``/dispatch input: every check, but only these pytest suites."""
    if names is None:
        return None
    return {ct.key: True for ct in check_types() if ct.key != "suites"} | {"suites": list(names)}


def carry_over(state: SessionState, new: Iteration, only: Any) -> Iteration:
    """A partial ``/retest`` completed with what passed before, so counts stay whole."""
    if not state.last_iteration or only is None:
        return new
    prev = iteration_from_dict(state.last_iteration)
    for ct in check_types():
        before, after = prev.checks.get(ct.key), new.checks.get(ct.key)
        if ct.key not in only:
            if before is not None:
                new.checks[ct.key] = before
        elif before is not None and after is not None:
            part = only[ct.key]
            new.checks[ct.key] = ct.carry_over(before, after, None if part is True else part)
    return new


def summary_lines(report: Report) -> list[str]:
    """The console summary: the verdict's own words and numbers, one line per check."""
    verdict = report.verdict
    assert verdict is not None
    shown = report.shown or report.iteration
    env = shown.environment if shown else ""
    lines = [f"golden-path: {env} — {verdict.headline}"]
    for o in verdict.outcomes:
        mark = "⏭️ " if o.state == "skipped" else "✅" if o.ok else "❌"
        detail = o.detail or o.sample
        if o.component == "deploy" and shown and shown.deploy and shown.deploy.ok:
            d = shown.deploy
            health = d.health_latency_s
            detail = f"{d.url}" + (f" (health {health:.3f}s)" if health is not None else "")
        lines.append(f"  {mark} {o.name:<24} {detail}")
    if verdict.blocker:
        lines.append(f"  blocker     {verdict.blocker.root_issue}")
        hints = verdict.whys[1].hints if len(verdict.whys) > 1 else []
        if hints:
            lines.append(f"  likely      {hints[0]}")
    c, g = verdict.counts, verdict.golden
    lines.append(
        f"  status      {verdict.status} — {verdict.golden_path_status}; passed {c.passed}, "
        f"failed {c.failed}, total {c.total} (golden-path tests {g.passed}/{g.total})"
    )
    if shown is not None:
        lines.append(f"  took        {shown.duration_s:.2f}s")
    lines.append(f"  report      {report.where}")
    return lines


@dataclass(slots=True)
class Run:
    """One command's wiring: what every iteration of it needs, built once at the edge."""

    cfg: Config
    settings: Settings
    log: RunLog
    console: Console = field(default_factory=Console)
    tracker_name: str = ""  # default for iterations: github | local:PATH | none
    dry_run: bool = False
    git_dir: str = "."  # where a local git history answers "what changed" (no GitHub)

    @property
    def state_key(self) -> bytes | None:
        """Signs the issue's state: ``GOLDEN_PATH_STATE_KEY``, else the JWT signing secret.

        Either is a secret only the bot's runs hold, stable across runs (``GITHUB_TOKEN``
        changes every run); without one the state is kept unsigned and never trusted for
        where a token may be sent.
        """
        jwt_cfg = self.cfg.auth.jwt
        material = self.settings.state_secret or (
            self.settings.env.get(jwt_cfg.secret_env, "") if jwt_cfg else ""
        )
        redact.register(material)
        return state_key(material)

    def tracker(
        self, name: str | Publisher | None = None, *, gh: GitHub | None = None
    ) -> Publisher:
        """The tracker named ``name`` (default: this run's), built for this run."""
        from bot.publish.local import LocalTracker, NoTracker

        if name is not None and not isinstance(name, str):
            return name  # already built (a command's tracker, which knows its issue)
        name = name or self.tracker_name or self.settings.default_tracker
        if name == "github":
            from bot.publish.github import GitHub
            from bot.publish.tracking_issue import GitHubTracker

            return GitHubTracker(
                self.cfg,
                gh or GitHub.from_settings(self.settings),
                log=self.log,
                out=self.console,
                settle_s=self.settings.settle_s,
                dry_run=self.dry_run,
                bot_login=self.settings.bot_login,
                key=self.state_key,
                docs_url=self.settings.docs_url,
            )
        if name == "none" or self.dry_run:
            base = name[6:] if name.startswith("local:") else None
            return NoTracker(
                self.cfg,
                out=self.console,
                dry_run=self.dry_run,
                base=base,
                key=self.state_key,
                docs_url=self.settings.docs_url,
                summary=bool(self.settings.step_summary),
            )
        if name.startswith("local:"):
            return LocalTracker(
                self.cfg,
                name[6:],
                log=self.log,
                key=self.state_key,
                docs_url=self.settings.docs_url,
            )
        raise ConfigError(f"--tracker {name!r}: use github, local:PATH or none")

    def _gather_lazily(
        self, publisher: Publisher
    ) -> Callable[[SessionState, Iteration, Verdict], None]:
        """:meth:`gatherer`, built at its first use: only a new blocker gathers evidence, and
        building it probes for a git checkout (a subprocess) and loads the evidence module."""
        built: list[Gatherer] = []

        def gather(state: SessionState, it: Iteration, verdict: Verdict) -> None:
            if not built:
                built.append(self.gatherer(publisher))
            built[0](state, it, verdict)

        return gather

    def gatherer(self, publisher: Publisher) -> Gatherer:
        """Evidence for new blockers: commits from GitHub (or a local git), logs, analyzers."""
        from bot.evidence import Changes, Gatherer, GitChanges, in_git_repository
        from bot.publish.github import GitHub

        changes: Changes | None = None
        server = ""
        gh = getattr(publisher, "gh", None)  # the GitHub tracker's seam, if that is the tracker
        if isinstance(gh, GitHub):
            changes = gh
            server = f"{self.settings.server_url}/{self.settings.repository}"
        elif in_git_repository(self.git_dir):
            changes = GitChanges(self.git_dir)
        return Gatherer(
            self.cfg, changes=changes, env=self.settings.env, server_url=server, log=self.log
        )

    def preflight(self, *, tracker: str | None = None, gh: GitHub | None = None) -> None:
        """The cheap checks before an iteration (:func:`bot.preflight.require`): a missing
        token or secret ends the command now, as a config error, not after a deploy."""
        from bot.preflight import require

        require(
            self.cfg,
            self.settings,
            tracker_choice=tracker or self.tracker_name or None,
            github_ready=gh is not None,
            log=self.log,
        )

    def progress(self) -> Progress:
        """A bar on a terminal, lines in CI, or what ``GOLDEN_PATH_PROGRESS`` says."""
        s = self.settings
        return Progress("golden path", mode=s.progress or ("lines" if s.ci else None))

    def iterate(
        self,
        opts: pipeline.RunOptions,
        *,
        tracker: str | Publisher | None = None,
        gh: GitHub | None = None,
        carry_from: SessionState | None = None,
    ) -> int:
        """Run one iteration, then :meth:`finish` it; returns the exit code."""
        if isinstance(tracker, str | None):
            self.preflight(tracker=tracker, gh=gh)
        else:  # a command's tracker: GitHub answered already in this run
            self.preflight(tracker="github", gh=getattr(tracker, "gh", None))
        opts.progress = opts.progress or self.progress()
        it = run_async(
            pipeline.run_iteration(self.cfg, opts, self.settings, self.log, group=self.log.group)
        )
        if carry_from is not None:
            it = carry_over(carry_from, it, opts.only)
        return self.finish(it, tracker=tracker, gh=gh)

    def finish(
        self, it: Iteration, *, tracker: str | Publisher | None = None, gh: GitHub | None = None
    ) -> int:
        """Judge once; publish to the tracker, the files and Actions — even if a tracker fails."""
        from bot.result_files import write_junit, write_results
        from bot.verdict import judge

        verdict = judge(it, self.cfg)
        publisher = self.tracker(tracker, gh=gh)
        report = Report(
            it,
            verdict,
            self.log.entries,
            results_path=self.settings.results,
            gather=self._gather_lazily(publisher),
        )
        failure: PublishError | None = None
        try:
            publisher.publish(report)
        except PublishError as exc:
            failure = exc
            report.where = "(not published)"
        report.verdict, report.shown = verdict, report.shown or it
        write_results(self.settings.results, it, verdict)
        write_junit(self.settings.results.with_name("junit.xml"), it)
        self.actions().publish(report)
        if not self.dry_run:
            report.where += (
                f", {self.settings.results}, {self.settings.results.with_name('junit.xml')}"
            )
            for line in summary_lines(report):
                self.console.line(line)
        if failure is not None:
            self.console.line(f"golden-path: {failure}")
            return EXIT_FAILED
        return verdict.exit_code

    def actions(self) -> ActionsPublisher:
        from bot.publish.actions import ActionsPublisher, GitHubActions

        return ActionsPublisher(GitHubActions(self.settings.env, self.console.stream))

    def refused(self, issue: Issue) -> None:
        """A refused command still leaves its trace: job summary and ``status=refused``."""
        from bot.publish.actions import GitHubActions
        from bot.verdict import REFUSED, STATUSES

        actions = GitHubActions(self.settings.env, self.console.stream)
        info = STATUSES[REFUSED]
        actions.summary(f"### {info.headline}\n\n{info.meaning}.\n")
        actions.output("status", REFUSED)
        actions.output("issue-number", issue.number)
        actions.output("issue-url", issue.html_url)
