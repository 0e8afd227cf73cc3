"""The baseline: the obvious hand-written asyncio + websockets golden-path client.

connect (JWT in the Authorization header) → send the message → read until the five
events arrived → close; default event loop, default (permessage-deflate) compression,
one task per session under a semaphore. This is what a team writes first; the agent-flow
runner must beat it (bench/bench_cpu.py).

    python bench/reference_client.py ws://127.0.0.1:PORT/ws TOKEN [SESSIONS] [CONCURRENCY]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect

EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
MESSAGE = {"type": "user_message", "payload": {"content": "What is 2 + 2?"}}


async def one_session(url: str, token: str) -> bool:
    """One golden-path session; True when all five events arrived."""
    seen: set[str] = set()
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(json.dumps(MESSAGE))
        async for raw in ws:
            event = json.loads(raw).get("type")
            if event in EVENTS:
                seen.add(event)
                if event == EVENTS[-1]:
                    break
    return len(seen) == len(EVENTS)


async def run_reference(url: str, token: str, sessions: int, concurrency: int = 200) -> int:
    """Run ``sessions`` sessions, ``concurrency`` at a time; returns how many passed."""
    sem = asyncio.Semaphore(concurrency)

    async def bounded() -> bool:
        async with sem:
            try:
                return await one_session(url, token)
            except Exception:
                return False

    results = await asyncio.gather(*(bounded() for _ in range(sessions)))
    return sum(results)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(__doc__)
        return 2
    url, token = args[0], args[1]
    sessions = int(args[2]) if len(args) > 2 else 1000
    concurrency = int(args[3]) if len(args) > 3 else 200
    started = time.perf_counter()
    passed = asyncio.run(run_reference(url, token, sessions, concurrency))
    wall = time.perf_counter() - started
    print(
        f"reference: {passed}/{sessions} passed in {wall:.3f}s ({sessions / wall:.0f} sessions/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
