"""The agent-flow runner alone, as a process of its own (bench_cpu.py measures its CPU).

Runs ``run_agent_flow`` the way the bot calls it, with the spec a team would configure for
the target's profile; prints one JSON line: sessions passed, the CPU the run itself took
(after imports), and the transport used.

    python bench/flow_client.py WS_URL TOKEN SESSIONS [CONCURRENCY] [--realistic]
        [--transport auto|lean|websockets]
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("sessions", type=int)
    parser.add_argument("concurrency", type=int, nargs="?", default=200)
    parser.add_argument("--realistic", action="store_true")
    parser.add_argument("--transport", default="auto", choices=("auto", "lean", "websockets"))
    args = parser.parse_args(argv)

    from dataclasses import replace

    from bot.checks.agent_flow import FlowSpec, run_agent_flow, transport_for
    from bot.runtime import run_async

    if args.realistic:
        from bot.config import AgentFlow
        from bot.sample.realistic import realistic_config

        cfg = realistic_config(base_url="http://unused", auth_url="http://unused", sessions=1)
        flow = AgentFlow.model_validate(cfg["checks"]["agent_flow"])
        spec = FlowSpec.from_config(flow, args.url, args.token)
    else:
        spec = FlowSpec(url=args.url, token=args.token)
    spec = replace(spec, transport=args.transport)
    before = time.process_time()
    summary = run_async(run_agent_flow(spec, args.sessions, concurrency=args.concurrency))
    run_cpu = time.process_time() - before
    print(
        json.dumps(
            {
                "passed": summary.passed + summary.flaky,
                "failed": summary.failed,
                "kinds": summary.kinds,
                "run_cpu_s": run_cpu,
                "transport": transport_for(spec),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
