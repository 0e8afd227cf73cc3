"""``golden-path demo --story``: a short scripted history, to see root-cause evidence at work.

Five commits in a throwaway git repository, five iterations against the bundled sample target,
one ``/why`` from a teammate — all local (a git repository instead of GitHub's compare API, a
file instead of the tracking issue, a log file instead of the backend's logging service):

1. @A green.
2. B and C land; C changes ``auth/settings.py``; @C every socket is refused (1008): blocker
   B1. Its regression window is A..C with C highlighted, the log excerpt shows the backend's
   JWT error, and the built-in analyzer proposes C as the cause.
3. ``/why 2 accept`` confirms the analyzer's WHY 2.
4. @D green: B1 is resolved, with its time to resolve and its answers kept.
5. @E (a notifier change) drops ``agent_thinking``: blocker B2 starts a fresh Five Whys.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot import commands
from bot.config import Config, parse_config
from bot.pipeline import RunOptions
from bot.publish import Report
from bot.publish.local import LocalTracker
from bot.runner import Run
from bot.runtime import Console, RunLog
from bot.session import SessionState, read_state
from bot.settings import Settings
from bot.trigger import parse_commands


@dataclass(frozen=True, slots=True)
class Step:
    message: str
    files: tuple[str, ...]
    faults: tuple[str, ...] = ()  # None of the steps' faults: the commit is only pushed
    run: bool = True
    logs: tuple[str, ...] = ()  # what the "backend" logged around this iteration
    comment: str = ""  # a teammate's comment after the iteration


STEPS: tuple[Step, ...] = (
    Step(
        "Initial agent backend",
        ("app/main.py", "auth/settings.py", "websocket/notifier.py"),
        logs=("INFO app: started revision r1", "INFO ws: 100 sessions served"),
    ),
    Step("Tune the agent's prompts (#41)", ("agent/prompts.py",), run=False),
    Step(
        "Rotate the backend's JWT settings (#42)",
        ("auth/settings.py",),
        faults=("auth",),
        logs=(
            "INFO app: started revision r3",
            "INFO ws: connection accepted from 10.0.0.7",
            "ERROR auth.middleware: JWT signature verification failed "
            "(iss=auth-service aud=backend) -> close 1008 'SSOT Auth failed'",
            "ERROR auth.middleware: JWT signature verification failed "
            "(iss=auth-service aud=backend) -> close 1008 'SSOT Auth failed'",
            "INFO ws: connection closed (1008)",
        ),
        comment="/why 2 accept",
    ),
    Step(
        "Restore the JWT secret the auth service signs with (#43)",
        ("auth/settings.py",),
        logs=("INFO app: started revision r4", "INFO ws: 100 sessions served"),
    ),
    Step(
        "Batch agent events in the notifier (#44)",
        ("websocket/notifier.py",),
        faults=("drop:agent_thinking",),
        logs=(
            "INFO app: started revision r5",
            "WARNING notifier: batch full, dropping agent_thinking for run r-17",
            "ERROR notifier: agent_thinking never delivered for 100 runs",
        ),
    ),
)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Story Teller", "-c", "user.email=story@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


def _commit(repo: Path, step: Step) -> str:
    for name in step.files:
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"# {step.message}\n")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "-m", step.message)
    return _git(repo, "rev-parse", "HEAD")


@dataclass(slots=True)
class LocalCommands:
    """A comment's command against the local tracking file (:class:`bot.commands.CommandRun`)."""

    run: Run
    tracker: LocalTracker
    author: str
    state: SessionState
    failed: bool = False
    replies: list[str] = field(default_factory=list)

    @property
    def cfg(self) -> Config:
        return self.run.cfg

    def reply(self, body: str) -> None:
        self.replies.append(body)

    def rerender(self, mutate: Callable[[SessionState], None] | None = None) -> None:
        self.tracker.publish(Report(None, None, self.run.log.entries, mutate=mutate))

    def iterate(self, opts: RunOptions, *, carry_from: SessionState | None, cmd: object) -> None:
        raise NotImplementedError("the story's comments only answer WHYs")


def story_config(base_url: str, auth_url: str, log_file: Path, secret_env: str) -> Config:
    from bot.demo import demo_config

    data = demo_config(base_url=base_url, auth_url=auth_url, sessions=20, secret_env=secret_env)
    data["evidence"] = {
        "paths": ["auth/**", "**/websocket/**"],
        "logs": {"command": f"cat {shlex.quote(str(log_file))}", "timeout": "5s"},
    }
    return parse_config(data, source="<story>")


def play(out_dir: Path, settings: Settings, *, steps: Sequence[Step] = STEPS) -> int:
    """Play the story into ``out_dir``; returns the last iteration's exit code."""
    import secrets

    from bot.demo import DEMO_SECRET_ENV
    from bot.sample import SampleTarget

    repo = out_dir / "story-repo"
    issue = out_dir / "tracking-issue.md"
    log_file = out_dir / "story-backend.log"
    shutil.rmtree(repo, ignore_errors=True)
    for stale in (issue, issue.with_name(issue.stem + ".log-archive.md")):
        stale.unlink(missing_ok=True)
    repo.mkdir(parents=True)
    _git(repo, "init", "--quiet")
    console = Console()
    code = 0
    with SampleTarget(secret=secrets.token_urlsafe(32)) as target:
        cfg = story_config(target.base_url, target.auth_url, log_file, DEMO_SECRET_ENV)
        for step in steps:
            sha = _commit(repo, step)
            if not step.run:
                console.line(f"story: {sha[:7]} {step.message} (pushed, no run)")
                continue
            target.set_faults(*step.faults)
            log_file.write_text("\n".join(step.logs) + "\n", encoding="utf-8")
            console.line(f"story: {sha[:7]} {step.message}")
            log = RunLog(in_actions=settings.in_actions)
            run = Run(
                cfg,
                settings.but(
                    env={**settings.env, DEMO_SECRET_ENV: target.secret},
                    results=out_dir / "results.json",
                    sha=sha,
                    state_secret=settings.state_secret or "golden-path demo (local file only)",
                    progress="off",
                ),
                log,
                console,
                tracker_name=f"local:{issue}",
                git_dir=str(repo),
            )
            code = run.iterate(RunOptions(trigger=f"push {sha[:7]}"))
            if step.comment:
                code_ = _comment(run, issue, step.comment, console)
                code = code or code_
    return code


def _comment(run: Run, issue: Path, text: str, console: Console) -> int:
    """A teammate ("alice") comments on the tracking issue; the command runs on the file."""
    tracker = run.tracker(f"local:{issue}")
    assert isinstance(tracker, LocalTracker)
    state = read_state(issue.read_text(encoding="utf-8"), run.state_key) or SessionState()
    ctx = LocalCommands(run, tracker, "alice", state)
    for cmd in parse_commands(text):
        handler = commands.handler(cmd.name)
        if handler is not None:
            console.line(f"story: alice comments {cmd.raw}")
            handler(ctx, cmd)
    for reply in ctx.replies:
        console.line(f"story: the bot replies: {reply}")
    return 1 if ctx.failed else 0
