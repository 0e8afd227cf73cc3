"""``golden-path demo``: the whole loop against the bundled sample target, no token needed.

The demo is the embedded default configuration: a real HTTP/WebSocket backend and auth
service on free loopback ports, a real deploy command whose output names the URL, every
check, and the tracking issue written to a local file.

Two profiles, as ``serve-sample`` has: ``default`` (five events, once each: every failure
kind on its own) and ``realistic`` (a real platform's envelopes, repeated events,
sub-agents, noise, subprotocol auth and a JSON-body auth service), each with the config a
team would write for it, so the realistic one proves the bot on a target not shaped like it.
"""

from __future__ import annotations

import argparse
import secrets
import shlex
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import parse_config
from bot.runtime import EXIT_USAGE, Console, RunLog
from bot.settings import Settings

DEMO_SECRET_ENV = "GOLDEN_PATH_DEMO_JWT_SECRET"


def demo_config(
    *, base_url: str, auth_url: str, sessions: int, secret_env: str = DEMO_SECRET_ENV
) -> dict[str, Any]:
    """The config a team would write for the sample target (see README)."""
    announce = (
        "echo 'Deploying golden-path sample backend (revision demo)...'; "
        f"echo 'Service URL: {base_url}'"
    )
    return {
        "environment": "staging",
        "mission": "Execute comprehensive golden path e2e tests on {environment} until ALL "
        "{target_tests} tests pass",
        "target_tests": sessions,
        "deploy": {
            "command": announce,
            "url_from_output": r"http://127\.0\.0\.1:\d+",
            "timeout": "30s",
            "health_timeout": "3s",
            "health_interval": "100ms",
        },
        "auth": {
            "jwt": {
                "secret_env": secret_env,
                "ttl": "15m",
                "claims": {"sub": "golden-path-e2e", "iss": "auth-service", "aud": "backend"},
            },
            "verify_url": f"{auth_url}/auth/validate",
        },
        "checks": {
            "health": [
                {"name": "Infrastructure Health", "url": "/health", "max_latency": "1s"},
                {"name": "Auth Service Health", "url": f"{auth_url}/health", "timeout": "2s"},
            ],
            "endpoints": [
                {"name": "status", "url": "/api/status"},
                {"name": "threads", "url": "/api/threads", "auth": True},
            ],
            "agent_flow": {
                "url": "/ws",
                "token_in": "header",
                "sessions": sessions,
                "concurrency": min(200, max(1, sessions)),
                "timeout": "5s",
                "connect_timeout": "2s",
                # the sample thinks once per run; repeats are healthy by default, so say it
                # here to keep --fault duplicate (a second agent_thinking) a finding
                "rules": {"agent_thinking": {"exactly_once": True}},
            },
        },
        "tracking": {"title": "ULTIMATE TEST DEPLOY LOOP: Golden Path {environment}"},
    }


PROFILES = ("default", "realistic")


@dataclass(frozen=True, slots=True)
class _Profile:
    """A bundled target and the config a team would write for it."""

    target: Callable[..., Any]
    parse_faults: Callable[[Iterable[str]], tuple[str, ...]]
    config: Callable[..., dict[str, Any]]


def _profile(name: str) -> _Profile:
    if name == "realistic":
        from bot.sample import RealisticTarget, parse_realistic_faults, realistic_config

        return _Profile(RealisticTarget, parse_realistic_faults, realistic_config)
    from bot.sample import SampleTarget, parse_faults

    return _Profile(SampleTarget, parse_faults, demo_config)


def demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.pipeline import RunOptions
    from bot.runner import Run

    if args.tests < 1:
        sys.stderr.write("golden-path demo: --tests must be at least 1\n")
        return EXIT_USAGE
    name = getattr(args, "profile", "default")
    profile = _profile(name)
    try:
        faults = profile.parse_faults(args.fault)
    except ValueError as exc:
        sys.stderr.write(f"golden-path demo: {exc} (profile {name})\n")
        return EXIT_USAGE
    out_dir = Path(args.out)
    issue = out_dir / "tracking-issue.md"
    if args.fresh:
        for stale in (issue, issue.with_name(issue.stem + ".log-archive.md")):
            stale.unlink(missing_ok=True)
    log = RunLog(verbose=args.debug, in_actions=settings.in_actions)
    secret = secrets.token_urlsafe(32)  # fresh per run, and long enough for HS256
    with profile.target(secret=secret, faults=faults, event_delay=args.event_delay) as target:
        cfg = parse_config(
            profile.config(base_url=target.base_url, auth_url=target.auth_url, sessions=args.tests),
            source=f"<demo {name}>",
        )
        log(
            f"{name} sample target on {target.base_url} (auth {target.auth_url}); faults: "
            + (", ".join(faults) or "none"),
            "info",
        )
        run = Run(
            cfg,
            settings.but(
                env={**settings.env, DEMO_SECRET_ENV: target.secret},
                results=out_dir / "results.json",
                # the JWT secret is new every demo run; the local file's state is signed with
                # a key that is not (a real run signs with its stable secret)
                state_secret=settings.state_secret or "golden-path demo (local file only)",
            ),
            log,
            Console(),
            tracker_name=f"local:{issue}",
        )
        words = ["demo", *(["--profile", name] if name != "default" else [])]
        words += [w for f in faults for w in ("--fault", f)]
        return run.iterate(RunOptions(trigger=shlex.join(words)))
