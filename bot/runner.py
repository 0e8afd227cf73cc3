"""The ``run`` and ``merge`` verbs: one iteration from config to published report."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot import pipeline, report, tracking
from bot.config import Config, ConfigError, load_config
from bot.diagnosis import PASSING, Diagnosis
from bot.progress import Progress
from bot.redact import redact
from bot.results import Iteration
from bot.runtime import DEFAULT_OUT, EXIT_FAILED, EXIT_OK, RunLog, default_tracker, run_async


@dataclass(slots=True)
class Outcome:
    iteration: Iteration
    dx: Diagnosis
    body: str
    tracker_ref: str
    exit_code: int


def publish(
    cfg: Config,
    it: Iteration | None,
    *,
    tracker: str,
    dry_run: bool,
    log: RunLog,
    out: TextIO,
    gh: Any = None,
) -> tuple[Diagnosis, str, str]:
    """Fold the iteration into the tracking issue; returns (diagnosis, body, where)."""
    if tracker == "github":
        from bot.publish.github import publish_github

        return publish_github(cfg, it, dry_run=dry_run, log=log, out=out, gh=gh)
    if tracker == "none" or dry_run:
        body = ""
        if tracker.startswith("local:"):
            body = _read(Path(tracker[6:]))
        upd = tracking.apply(body, cfg, iteration=it, run_log=log.entries)
        if dry_run:
            out.write(upd.body + "\n")
        return upd.dx, upd.body, "(dry run)" if dry_run else "(no tracker)"
    if tracker.startswith("local:"):
        from bot.publish.local import LocalTracker

        local = LocalTracker(tracker[6:])
        upd = tracking.apply(local.read(), cfg, iteration=it, run_log=log.entries)
        for w in upd.warnings:
            log(w, "warning")
        if upd.identical:
            log("same result as the last iteration: tracking file unchanged", "info")
        local.archive(upd.state, upd.to_archive)
        if upd.to_archive:  # the archive list is part of the state: render again
            upd.body = tracking.rerender(cfg, upd)
        if upd.changed:
            local.write(upd.body)
        return upd.dx, upd.body, local.ref
    raise ConfigError(f"--tracker {tracker!r}: use github, local:PATH or none")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def summarize(it: Iteration, dx: Diagnosis, where: str, out: TextIO) -> None:
    def mark(ok: bool) -> str:
        return "✅" if ok else "❌"

    lines = [f"golden-path: {it.environment} — {dx.headline}"]
    if it.deploy is not None:
        d = it.deploy
        detail = (
            f"{d.url} (health {d.health_latency_s:.3f}s)"
            if d.ok and d.health_latency_s is not None
            else "skipped"
            if not d.ran
            else d.error
        )
        lines.append(f"  deploy      {mark(d.ok)} {detail}")
    for group, checks in (("health", it.health), ("endpoints", it.endpoints)):
        if checks:
            ok = sum(c.ok for c in checks)
            lines.append(f"  {group:<11} {mark(ok == len(checks))} {ok}/{len(checks)}")
    if it.flow and not it.flow.skipped:
        f = it.flow
        kinds = ", ".join(f"{k} ×{n}" for k, n in f.kinds.items())
        lines.append(
            f"  agent flow  {mark(not f.failed)} {f.passed + f.flaky}/{f.total} passed"
            + (f", {f.flaky} flaky" if f.flaky else "")
            + f" in {f.wall_s:.2f}s ({f.sessions_per_s:.0f}/s)"
            + (f" — {kinds}" if kinds else "")
        )
    for s in it.suites:
        lines.append(
            f"  suite       {mark(not (s.failed or s.errors))} {s.name}: "
            f"{s.passed + s.flaky}/{s.total}"
        )
    if dx.blocker:
        lines.append(f"  blocker     {dx.blocker.root_issue}")
        if dx.whys[1:] and dx.whys[1].hints:
            lines.append(f"  likely      {dx.whys[1].hints[0]}")
    lines.append(f"  status      {dx.golden_path_status} ({it.duration_s:.2f}s)")
    lines.append(f"  report      {where}")
    out.write(redact("\n".join(lines)) + "\n")


def execute(
    cfg: Config,
    opts: pipeline.RunOptions,
    *,
    tracker: str,
    dry_run: bool,
    results: Path,
    log: RunLog,
    out: TextIO,
) -> Outcome:
    it = run_async(pipeline.run_iteration(cfg, opts, log))
    return finish(cfg, it, tracker=tracker, dry_run=dry_run, results=results, log=log, out=out)


def finish(
    cfg: Config,
    it: Iteration,
    *,
    tracker: str,
    dry_run: bool,
    results: Path,
    log: RunLog,
    out: TextIO,
    gh: Any = None,
) -> Outcome:
    """Publish, then write results.json/junit.xml and the summary — even if publishing fails."""
    from bot.publish.github import PublishError
    from bot.session import SessionState

    failure: PublishError | None = None
    try:
        dx, body, where = publish(
            cfg, it, tracker=tracker, dry_run=dry_run, log=log, out=out, gh=gh
        )
    except PublishError as exc:
        failure = exc
        dx, body, where = report.diagnose_iteration(cfg, it, SessionState()), "", "(not published)"
    report.write_results(results, it, dx)
    report.write_junit(results.with_name("junit.xml"), it)
    _publish_actions(it, dx, body=body, where=where, results=results)
    if not dry_run:
        summarize(it, dx, f"{where}, {results}, {results.with_name('junit.xml')}", out)
    if failure is not None:
        out.write(f"golden-path: {failure}\n")
        return Outcome(it, dx, body, where, EXIT_FAILED)
    return Outcome(it, dx, body, where, EXIT_OK if dx.status == PASSING else EXIT_FAILED)


def _publish_actions(it: Iteration, dx: Diagnosis, *, body: str, where: str, results: Path) -> None:
    """Job summary, annotations and outputs; writes nothing outside Actions."""
    from bot.publish.actions import GitHubActions, publish_run

    number = None
    url = where if where.startswith("http") else None
    if url and url.rstrip("/").rsplit("/", 1)[-1].isdigit():
        number = int(url.rstrip("/").rsplit("/", 1)[-1])
    publish_run(
        GitHubActions.from_env(),
        it,
        dx,
        body=body,
        issue_number=number,
        issue_url=url,
        results_path=results,
    )


def run_command(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    log = RunLog(verbose=args.debug)
    opts = pipeline.RunOptions(
        deploy=not args.no_deploy,
        suites=args.suite,
        sessions=args.sessions,
        shard=args.shard,
        trigger=os.environ.get("GITHUB_EVENT_NAME", "manual"),
        progress=Progress("golden path"),
    )
    results = Path(args.results or Path(DEFAULT_OUT) / "results.json")
    tracker = args.tracker or default_tracker()
    if args.shard:
        tracker = "none"  # shards publish once, through `golden-path merge`
    return execute(
        cfg,
        opts,
        tracker=tracker,
        dry_run=args.dry_run,
        results=results,
        log=log,
        out=sys.stdout,
    ).exit_code


def merge_command(args: argparse.Namespace) -> int:
    from bot.merge import merge_iterations

    cfg = load_config(args.config)
    log = RunLog(verbose=args.debug)
    parts = [report.read_results(Path(p)) for p in args.results]
    it = merge_iterations(parts)
    log(f"merged {len(parts)} shard results", "info")
    return finish(
        cfg,
        it,
        tracker=args.tracker or default_tracker(),
        dry_run=args.dry_run,
        results=Path(args.out or Path(DEFAULT_OUT) / "results.json"),
        log=log,
        out=sys.stdout,
    ).exit_code
