"""The baseline: the obvious hand-written asyncio + websockets golden-path client.

connect (the JWT in the Authorization header, or for the realistic profile in the
``jwt.<base64url>`` subprotocol beside ``jwt-auth``) → send the message → read until the
run's final event arrived → close; one task per session under a semaphore. This is what a
team writes first; the agent-flow runner must beat it (bench/bench_cpu.py).

Two settings, both measured by bench_cpu.py:
- defaults: websockets' defaults (permessage-deflate on), asyncio's default event loop;
- ``--fast``: compression off and uvloop — the fairer reference, what a team that
  cares about CPU would write.

    python bench/reference_client.py WS_URL TOKEN [SESSIONS] [CONCURRENCY] [--realistic] [--fast]
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time

from websockets.asyncio.client import connect

EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
MESSAGE = {"type": "user_message", "payload": {"content": "What is 2 + 2?"}}


async def one_session(url: str, token: str, *, realistic: bool = False, fast: bool = False) -> bool:
    """One golden-path session; True when every event of our run arrived."""
    seen: set[str] = set()
    kwargs: dict = {"compression": None} if fast else {}
    if realistic:  # the token travels in a subprotocol; the server selects jwt-auth
        encoded = base64.urlsafe_b64encode(token.encode()).rstrip(b"=").decode()
        kwargs["subprotocols"] = ["jwt-auth", f"jwt.{encoded}"]
    else:
        kwargs["additional_headers"] = {"Authorization": f"Bearer {token}"}
    run = None
    async with connect(url, **kwargs) as ws:
        await ws.send(json.dumps(MESSAGE))
        async for raw in ws:
            msg = json.loads(raw)
            event = msg.get("type")
            if event not in EVENTS:
                continue
            if not realistic:
                seen.add(event)
                if event == EVENTS[-1]:
                    break
                continue
            data = msg.get("data") or {}
            top = "parent_agent" not in data  # sub-agents name their parent
            if run is None and event == EVENTS[0] and top:
                run = data.get("run_id")  # our run: the one that started after our message
            if run is None or data.get("run_id") != run:
                continue  # another run's frame
            seen.add(event)
            if event == EVENTS[-1] and top:
                break
    return len(seen) == len(EVENTS)


async def run_reference(
    url: str,
    token: str,
    sessions: int,
    concurrency: int = 200,
    *,
    realistic: bool = False,
    fast: bool = False,
) -> int:
    """Run ``sessions`` sessions, ``concurrency`` at a time; returns how many passed."""
    sem = asyncio.Semaphore(concurrency)

    async def bounded() -> bool:
        async with sem:
            try:
                return await one_session(url, token, realistic=realistic, fast=fast)
            except Exception:
                return False

    results = await asyncio.gather(*(bounded() for _ in range(sessions)))
    return sum(results)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    flags = {a for a in args if a.startswith("--")}
    args = [a for a in args if not a.startswith("--")]
    if len(args) < 2:
        print(__doc__)
        return 2
    url, token = args[0], args[1]
    sessions = int(args[2]) if len(args) > 2 else 1000
    concurrency = int(args[3]) if len(args) > 3 else 200
    realistic, fast = "--realistic" in flags, "--fast" in flags
    coro = run_reference(url, token, sessions, concurrency, realistic=realistic, fast=fast)
    started, cpu = time.perf_counter(), time.process_time()
    if fast:
        import uvloop

        passed = uvloop.run(coro)
    else:
        passed = asyncio.run(coro)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"reference: {passed}/{sessions} passed in {wall:.3f}s ({sessions / wall:.0f} sessions/s); "
        f"run CPU {cpu:.3f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
