"""``golden-path serve-sample`` / ``python -m bot.sample``: serve a sample target until stopped.

Both profiles are served from here, so neither profile's module needs to know the other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any

import jwt

from bot.sample.base import TargetBase, describe_faults
from bot.sample.realistic import FAULTS as REALISTIC_FAULTS
from bot.sample.realistic import RealisticTarget
from bot.sample.server import DEMO_SECRET, FAULTS, SampleTarget


def main(argv: list[str] | None = None) -> int:
    """Serve the sample target until SIGINT/SIGTERM (``python -m bot.sample``)."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.sample",
        description="Serve the bundled sample agent-chat backend and its auth service.",
    )
    parser.add_argument(
        "--profile",
        choices=("default", "realistic"),
        default="default",
        help="default: five events, once each; realistic: a real platform's envelopes, "
        "repeated events, sub-agents, noise, jwt-auth subprotocol (see bot/sample/realistic.py)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="backend port (0: any free port)")
    parser.add_argument("--auth-port", type=int, default=0, help="auth service port (0: any)")
    parser.add_argument(
        "--secret",
        default=os.environ.get("JWT_SECRET_KEY") or DEMO_SECRET,
        help="HS256 secret (default: $JWT_SECRET_KEY or the demo secret)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help=f"repeatable; default profile: {describe_faults(FAULTS)}; realistic profile: "
        f"{describe_faults(REALISTIC_FAULTS)}",
    )
    parser.add_argument("--event-delay", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--issuer", default="auth-service")
    parser.add_argument("--audience", default="backend")
    args = parser.parse_args(argv)
    profile: type[TargetBase[Any]] = SampleTarget
    if args.profile == "realistic":
        profile = RealisticTarget
    try:
        target = profile(
            secret=args.secret,
            faults=args.fault,
            event_delay=args.event_delay,
            host=args.host,
            port=args.port,
            auth_port=args.auth_port,
            issuer=args.issuer,
            audience=args.audience,
        )
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2

    if target.secret == DEMO_SECRET:
        # The demo secret is public and short on purpose; pyjwt's key-length warning is noise here.
        warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)

    def ready() -> None:
        print(f"backend {target.base_url} ws {target.ws_url} auth {target.auth_url}", flush=True)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, target.stop)
        await target.serve(on_ready=ready)

    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop
    except ImportError:
        pass
    else:
        loop_factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
