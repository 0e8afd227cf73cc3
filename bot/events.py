"""``golden-path handle-event``: act on the GitHub event this workflow run was started by.

push / workflow_dispatch / schedule → a full iteration. A comment on the tracking issue →
its commands, after the permission check (the only gate: ``issue_comment`` workflows
run with the repository's secrets for any commenter). Acknowledged with reactions:
👀 accepted, 🚀 the iteration finished green, 😕 failure or refusal.

Before the permission check, two quiet exits (no reaction, no reply): the issue must be
the environment's real tracking issue — found as publishing finds it, because a copied
marker and label are easy to fake and the issue's state steers ``/retest`` — and the
comment must still exist (a command deleted before its run started is withdrawn).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from bot import pipeline, trigger
from bot.config import Config, ConfigError, load_config
from bot.progress import Progress
from bot.render import code_span
from bot.results import Iteration, iteration_from_dict
from bot.runtime import DEFAULT_OUT, EXIT_FAILED, EXIT_OK, RunLog, run_async
from bot.session import SessionState, StateError, env_marker, read_state

FLOW_NAMES = {"agent-flow", "agent_flow", "websocket", "ws", "flow"}
HTTP_NAMES = {"health", "endpoints", "api", "http"}


def handle_event(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    name = env.get("GITHUB_EVENT_NAME", "")
    path = env.get("GITHUB_EVENT_PATH", "")
    if not name or not path:
        raise ConfigError(
            "handle-event: GITHUB_EVENT_NAME and GITHUB_EVENT_PATH are not set — this "
            "command runs inside GitHub Actions (use `golden-path run` elsewhere)"
        )
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"GITHUB_EVENT_PATH {path!r}: cannot read the event payload ({exc})"
        ) from None
    cfg = load_config(args.config)
    log = RunLog(verbose=args.debug)
    if args.no_deploy:
        env["GOLDEN_PATH_DEPLOY"] = "false"
    if args.results:
        env["GOLDEN_PATH_RESULTS"] = args.results
    return handle(
        cfg,
        name,
        payload,
        env=env,
        log=log,
        out=sys.stdout,
        dry_run=args.dry_run,
        suites=args.suite,
    )


def handle(
    cfg: Config,
    name: str,
    payload: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    log: RunLog,
    out: TextIO,
    dry_run: bool = False,
    gh: Any = None,
    suites: list[str] | None = None,
) -> int:
    decision = trigger.from_event(
        name,
        payload,
        tracking_labels=cfg.tracking.labels,
        marker=env_marker(cfg.environment),
        bot_login=env.get("GOLDEN_PATH_BOT_LOGIN", trigger.DEFAULT_BOT_LOGIN),
    )
    out.write(f"golden-path: {name}: {decision.reason}\n")
    if decision.action == "ignore":
        return EXIT_OK
    if decision.action == "run":
        opts = pipeline.RunOptions(
            deploy=decision.deploy and env.get("GOLDEN_PATH_DEPLOY", "true") != "false",
            suites=decision.suites or suites,
            trigger=name,
            progress=Progress("golden path"),
            env=env,
        )
        return _iterate(cfg, opts, env=env, log=log, out=out, dry_run=dry_run, gh=gh)
    return _commands(cfg, decision, env=env, log=log, out=out, dry_run=dry_run, gh=gh)


def _iterate(
    cfg: Config,
    opts: pipeline.RunOptions,
    *,
    env: Mapping[str, str],
    log: RunLog,
    out: TextIO,
    dry_run: bool,
    gh: Any,
    carry_from: Iteration | None = None,
) -> int:
    from bot.runner import finish

    it = run_async(pipeline.run_iteration(cfg, opts, log))
    if carry_from is not None:
        it = carry_over(carry_from, it, opts)
    results = Path(env.get("GOLDEN_PATH_RESULTS") or Path(DEFAULT_OUT) / "results.json")
    return finish(
        cfg, it, tracker="github", dry_run=dry_run, results=results, log=log, out=out, gh=gh
    ).exit_code


def carry_over(prev: Iteration, new: Iteration, opts: pipeline.RunOptions) -> Iteration:
    """A partial /retest, completed with what passed before, so counts stay whole.

    Sessions that passed last time saw every event, so per-event counts are exact.
    """
    merged = dataclasses.replace(new)
    if not opts.http:
        merged.http = prev.http
    if not opts.agent_flow:
        merged.flow = prev.flow
    elif opts.only_sessions is not None and prev.flow is not None and new.flow is not None:
        kept = prev.flow.passed + prev.flow.flaky
        flow = dataclasses.replace(new.flow)
        flow.total = kept + new.flow.total
        flow.passed = prev.flow.passed + new.flow.passed
        flow.flaky = prev.flow.flaky + new.flow.flaky
        flow.event_seen = {e: kept + n for e, n in new.flow.event_seen.items()}
        merged.flow = flow
    rerun = set(opts.suites) if opts.suites is not None else None
    if rerun is not None:
        merged.suites = [s for s in prev.suites if s.name not in rerun] + new.suites
    return merged


def _reply(gh: Any, log: RunLog, issue: Any, body: str) -> None:
    """Answer on the issue; a refused reply (locked issue, rate limit) is logged, not fatal."""
    try:
        gh.comment(issue, body)
    except Exception as exc:
        log(f"could not reply on the issue: {type(exc).__name__}", "warning")


def _react(gh: Any, target: Any, content: str, log: RunLog) -> None:
    try:
        gh.react(target, content)
    except Exception as exc:  # an acknowledgement must never stop the work
        log(f"could not add the {content} reaction: {type(exc).__name__}", "warning")


def _commands(
    cfg: Config,
    decision: trigger.Trigger,
    *,
    env: Mapping[str, str],
    log: RunLog,
    out: TextIO,
    dry_run: bool,
    gh: Any,
) -> int:
    from bot.publish.github import GitHub, publish_github

    gh = gh or GitHub.from_env(env)
    issue = _tracking_issue(gh, cfg)
    if issue is None or issue.number != decision.issue_number:
        # The webhook said the issue carries our marker and label, but anyone can copy
        # those: only the environment's real tracking issue takes commands (its state
        # steers /retest, so a look-alike's state must never be read).
        out.write(
            f"golden-path: ignored: #{decision.issue_number} is not the {cfg.environment} "
            "tracking issue\n"
        )
        return EXIT_OK
    comment = _live_comment(gh, issue, decision.comment_id)
    if comment is None:
        out.write("golden-path: ignored: the comment was deleted before it was handled\n")
        return EXIT_OK
    minimum = cfg.commands.min_permission
    try:
        role = gh.permission(decision.author)
    except Exception as exc:  # fail closed: no permission answer, no command
        log(f"permission check failed ({type(exc).__name__}); refusing", "warning")
        role = "unknown"
    who = code_span(decision.author)
    if not trigger.role_allows(role, minimum):
        _react(gh, comment, "confused", log)
        _reply(
            gh,
            log,
            issue,
            f"Commands are for collaborators with {code_span(minimum)} permission or more; "
            f"{who} has {code_span(role)}. Nothing was run.",
        )
        out.write(f"golden-path: refused {decision.author} ({role} < {minimum})\n")
        return EXIT_OK
    _react(gh, comment, "eyes", log)
    try:
        state = read_state(issue.body or "") or SessionState(environment=cfg.environment)
    except StateError:
        state = SessionState(environment=cfg.environment)

    def refresh(mutate: Callable[[SessionState], None] | None = None) -> None:
        publish_github(cfg, None, dry_run=dry_run, log=log, out=out, env=env, gh=gh, mutate=mutate)

    results: list[int] = []
    failed = False
    for cmd in decision.commands:
        log(f"command {cmd.raw} from {decision.author}", "info")
        if cmd.name == "help":
            _reply(gh, log, issue, trigger.HELP.format(minimum=code_span(minimum)))
        elif cmd.name == "unknown":
            failed = True
            _reply(
                gh,
                log,
                issue,
                f"Unknown command {code_span(cmd.raw)}.\n\n"
                + trigger.HELP.format(minimum=code_span(minimum)),
            )
        elif cmd.name == "status":
            refresh()
        elif cmd.name == "why":
            n, answer = _why_args(cmd)
            if n is None:
                failed = True
                _reply(
                    gh,
                    log,
                    issue,
                    f"Usage: {code_span('/why <2-5> <answer>')} — e.g. "
                    f"{code_span('/why 2 the backend reads JWT_SECRET from a stale secret')}",
                )
                continue

            def record(
                s: SessionState, n: int = n, answer: str = answer, author: str = decision.author
            ) -> None:
                s.set_why(n, answer[:1000], author)
                s.add_log(f"WHY {n} answered by {author}", "info")

            refresh(record)
        elif cmd.name in ("retest", "deploy"):
            plan = _plan(cmd, state, cfg)
            if isinstance(plan, str):
                failed = True
                _reply(gh, log, issue, plan)
                continue
            opts, carry = plan
            opts.env = env
            opts.trigger = f"/{cmd.name} by {decision.author}"
            log.entries.clear()
            log(f"{cmd.raw} requested by {decision.author}", "info")
            results.append(
                _iterate(
                    cfg, opts, env=env, log=log, out=out, dry_run=dry_run, gh=gh, carry_from=carry
                )
            )
    if results:
        green = all(code == EXIT_OK for code in results)
        _react(gh, comment, "rocket" if green and not failed else "confused", log)
        return EXIT_OK if green else EXIT_FAILED
    if failed:
        _react(gh, comment, "confused", log)
    return EXIT_OK


def _tracking_issue(gh: Any, cfg: Config) -> Any | None:
    """The environment's tracking issue, found exactly as publishing finds it."""
    if cfg.tracking.issue:
        return gh.get_issue(cfg.tracking.issue)
    label = cfg.tracking.labels[0] if cfg.tracking.labels else None
    return gh.find_issue(env_marker(cfg.environment), label)


def _live_comment(gh: Any, issue: Any, comment_id: int | None) -> Any | None:
    """The comment, fetched now; None when it was deleted (a withdrawn command)."""
    from github import GithubException

    comment = issue.get_comment(comment_id)
    gh.calls += 1
    try:
        _ = comment.body  # PyGithub's comment is lazy: fetch it, so a deletion shows here
    except GithubException as exc:
        if exc.status in (404, 410):
            return None
        raise
    return comment


def _why_args(cmd: trigger.Command) -> tuple[int | None, str]:
    if len(cmd.args) < 2 or not cmd.args[0].isdigit():
        return None, ""
    n = int(cmd.args[0])
    if not 2 <= n <= 5:
        return None, ""
    return n, cmd.text.split(None, 1)[1].strip()


def _plan(
    cmd: trigger.Command, state: SessionState, cfg: Config
) -> tuple[pipeline.RunOptions, Iteration | None] | str:
    """Options for /retest and /deploy; a string is the reply explaining a bad request."""
    last = state.last_iteration
    prev = iteration_from_dict(last) if last else None
    deployed = prev.deploy.url if prev and prev.deploy and prev.deploy.url else None
    if cmd.name == "deploy":
        return pipeline.RunOptions(deploy=True), None
    opts = pipeline.RunOptions(deploy=False, deployed_url=deployed)
    args = [a.lower() for a in cmd.args]
    if args == ["all"]:
        return opts, None
    if args:
        suite_names = {s.name for s in cfg.checks.pytest}
        unknown = [a for a in cmd.args if a.lower() not in FLOW_NAMES | HTTP_NAMES | suite_names]
        if unknown:
            names = sorted({"agent-flow", "health", "endpoints"} | suite_names)
            return (
                f"Nothing to retest named {', '.join(code_span(u) for u in unknown)}. "
                f"Known: {', '.join(code_span(n) for n in names)}."
            )
        opts.agent_flow = any(a in FLOW_NAMES for a in args)
        opts.http = any(a in HTTP_NAMES for a in args)
        opts.suites = [a for a in cmd.args if a in suite_names]
        return opts, prev
    failed = state.last_failed or {}
    if prev is None or not any(failed.get(k) for k in ("http", "sessions", "suites", "deploy")):
        return opts, None  # nothing known to have failed: rerun everything
    if failed.get("deploy"):
        return pipeline.RunOptions(deploy=True), None
    opts.http = bool(failed.get("http"))
    sessions = failed.get("sessions") or []
    opts.agent_flow = bool(sessions)
    opts.only_sessions = list(sessions) if sessions else None
    opts.suites = list(failed.get("suites") or [])
    return opts, prev
