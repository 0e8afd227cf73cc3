"""The ``golden-path`` command: wiring only.

Heavy libraries (PyGithub, websockets, httpx, jinja2, pydantic) are imported inside the
subcommands, so ``golden-path --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import __version__
from bot.runtime import (
    DEFAULT_CONFIG,
    DEFAULT_OUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    hold_gc,
    register_env_secrets,
    release_gc,
)

if TYPE_CHECKING:
    from bot.runner import Run
    from bot.settings import Settings


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: write K/N, e.g. 1/4") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard {text}: K must be between 1 and N")
    return k, n


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: write a number of seconds above 0, e.g. 10")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="golden-path",
        description="Deploy, check the golden path of an agent chat backend, and keep one "
        "tracking issue current.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug lines")
    parser.add_argument("--version", action="version", version=f"golden-path {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run one iteration against the bundled sample target")
    demo.add_argument(
        "--profile",
        choices=("default", "realistic"),
        default="default",
        help="default: five events, once each; realistic: a real platform's envelopes, "
        "repeated events, sub-agents, noise, jwt-auth subprotocol (its config: "
        "bot/sample/realistic.py, realistic_config)",
    )
    demo.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="sample target fault (repeatable): auth, expired, auth-down, "
        "drop:<event>, reorder, slow:<s>, crash, health-down, ...; realistic profile: "
        "auth, expired, auth-down, not-ready, drop:<event>, no-final, strict-subprotocol, "
        "no-subprotocol, health-down, slow:<s>",
    )
    demo.add_argument(
        "--tests",
        type=int,
        default=100,
        metavar="N",
        help="golden-path sessions to run (default 100)",
    )
    demo.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"where the report files go (default {DEFAULT_OUT}/)",
    )
    demo.add_argument(
        "--event-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="sample agent latency per event, seconds",
    )
    demo.add_argument(
        "--fresh",
        action="store_true",
        help="start a new tracking file instead of continuing the session",
    )
    demo.add_argument(
        "--story",
        action="store_true",
        help="play a scripted history (commits, a blocker, a fix, another blocker) to show "
        "the regression window, log excerpt, proposed answers and blocker history",
    )

    run = sub.add_parser("run", help="run one iteration with a config file")
    run.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE")
    run.add_argument(
        "--tracker",
        default=None,
        metavar="github|local:PATH|none",
        help="where the tracking issue lives (default: local:.golden-path/"
        "tracking-issue.md, or github inside Actions)",
    )
    run.add_argument("--dry-run", action="store_true", help="print the body, touch nothing")
    run.add_argument(
        "--suite",
        action="append",
        default=None,
        metavar="NAME",
        help="run only this pytest suite (repeatable)",
    )
    run.add_argument("--no-deploy", action="store_true", help="skip the deploy step")
    run.add_argument("--shard", type=_parse_shard, default=None, metavar="K/N")
    run.add_argument(
        "--results",
        default=None,
        metavar="FILE",
        help="results.json path (default .golden-path/results.json)",
    )
    run.add_argument(
        "--sessions",
        type=int,
        default=None,
        metavar="N",
        help="override checks.agent_flow.sessions",
    )

    check = sub.add_parser(
        "check", help="pre-flight in seconds: config, secrets, GitHub token, URLs (exit 0/1/2)"
    )
    check.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE")
    check.add_argument(
        "--tracker",
        default=None,
        metavar="github|local:PATH|none",
        help="the tracker to check (default: the one `run` would use)",
    )
    check.add_argument(
        "--sample-line",
        default=None,
        metavar="TEXT",
        help="a line of deploy output: does deploy.url_from_output find the URL in it?",
    )

    doctor = sub.add_parser(
        "doctor",
        help="first contact with a backend: one session, recorded; prints what its frames look "
        "like and a checks.agent_flow block that passes on them (exit 0/1/2)",
    )
    doctor.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE")
    doctor.add_argument(
        "--url",
        default=None,
        metavar="URL",
        help="the WebSocket URL (ws:// or wss://), or the base URL (http[s]://) the config's "
        "checks.agent_flow.url is put under (default: target.base_url or deploy.url)",
    )
    doctor.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=None,
        metavar="S",
        help="seconds to wait for the run to complete (default: checks.agent_flow.timeout)",
    )
    doctor.add_argument(
        "--frames",
        action="store_true",
        help="print every recorded frame (redacted), not one of each type",
    )

    sub.add_parser(
        "serve-sample",
        help="serve the bundled sample target (--profile, --port, --fault, --event-delay; see -h)",
    )

    sub.add_parser("schema", help="print the config file's JSON Schema")

    handle = sub.add_parser("handle-event", help="act on the GitHub event of this workflow run")
    handle.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE")
    handle.add_argument("--dry-run", action="store_true")
    handle.add_argument(
        "--suite",
        action="append",
        default=None,
        metavar="NAME",
        help="for push/dispatch iterations: run only this pytest suite",
    )
    handle.add_argument(
        "--no-deploy",
        action="store_true",
        help="for push/dispatch iterations: skip the deploy step",
    )
    handle.add_argument("--results", default=None, metavar="FILE")

    merge = sub.add_parser("merge", help="merge shard results and publish once")
    merge.add_argument("results", nargs="+", metavar="RESULTS")
    merge.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE")
    merge.add_argument("--tracker", default=None, metavar="github|local:PATH|none")
    merge.add_argument("--dry-run", action="store_true")
    merge.add_argument("--out", default=None, metavar="FILE", help="merged results.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve-sample"]:  # its own parser takes every option after the verb
        from bot.sample.serve import main as serve_main

        return serve_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    hold_gc()  # until the loop starts (or the command ends): see bot.runtime.hold_gc
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from bot.config import ConfigError
        from bot.redact import redact

        if isinstance(exc, ConfigError):
            sys.stderr.write(f"golden-path: configuration error\n{redact(str(exc))}\n")
            return EXIT_USAGE
        if args.debug:
            import traceback

            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        else:
            sys.stderr.write(
                f"golden-path: {redact(f'{type(exc).__name__}: {exc}')}\n"
                "(run with --debug for a traceback)\n"
            )
        return EXIT_FAILED
    finally:
        release_gc()


def _settings(args: argparse.Namespace) -> Settings:
    """The environment, read once; command-line flags win."""
    from pathlib import Path

    from bot.settings import Settings

    settings = Settings.from_env(os.environ)
    register_env_secrets(settings.env)
    if settings.in_actions:
        from bot.publish.actions import GitHubActions, install_masks

        install_masks(GitHubActions(settings.env))  # every secret we learn is masked in the log
    changes: dict[str, object] = {}
    if getattr(args, "no_deploy", False):
        changes["deploy"] = False
    results = getattr(args, "results", None) if args.command != "merge" else args.out
    if results:
        changes["results"] = Path(results)
    return settings.but(**changes) if changes else settings


def _run(args: argparse.Namespace, settings: Settings) -> Run:
    from bot.config import load_config
    from bot.preflight import require

    cfg = load_config(args.config)
    if args.command in ("run", "merge"):
        # Before the pipeline is even imported: a missing token or secret fails in the
        # first second. (handle-event checks per iteration: most events run none.)
        require(
            cfg,
            settings,
            tracker_choice="none" if getattr(args, "shard", None) else args.tracker,
            needs_secrets=args.command == "run",
        )
    from bot.runner import Run
    from bot.runtime import Console, RunLog

    return Run(
        cfg,
        settings,
        RunLog(verbose=args.debug, in_actions=settings.in_actions),
        Console(),
        tracker_name=getattr(args, "tracker", None) or "",
        dry_run=args.dry_run,
    )


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "schema":
        import json

        from bot.config import config_schema

        print(json.dumps(config_schema(), indent=2))
        return EXIT_OK
    settings = _settings(args)
    if args.command == "check":
        from bot.preflight import check
        from bot.runtime import Console

        return check(
            args.config,
            settings,
            Console(),
            tracker_choice=args.tracker,
            sample=args.sample_line,
        )
    if args.command == "demo" and args.story:
        from pathlib import Path

        from bot.story import play

        return play(Path(args.out), settings)
    if args.command == "demo":
        from bot.demo import demo

        return demo(args, settings)
    if args.command == "doctor":
        from bot.doctor import doctor
        from bot.runtime import Console

        return doctor(args, settings, Console())
    run = _run(args, settings)
    if args.command == "run":
        from bot.pipeline import RunOptions
        from bot.runner import select_suites

        if args.shard:
            run.tracker_name = "none"  # shards publish once, through `golden-path merge`
        opts = RunOptions(
            deploy=settings.deploy,
            only=select_suites(args.suite),
            sessions=args.sessions,
            shard=args.shard,
            trigger=settings.event_name or "manual",
        )
        return run.iterate(opts)
    if args.command == "merge":
        from pathlib import Path

        from bot.result_files import read_results
        from bot.shards import combine

        parts = [read_results(Path(p)) for p in args.results]
        run.log(f"merged {len(parts)} shard results", "info")
        return run.finish(combine(parts))
    if args.command == "handle-event":
        from bot.events import handle_event

        return handle_event(run, suites=args.suite)
    raise AssertionError(args.command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
