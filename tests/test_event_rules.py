"""Event rules against backends shaped like the real platform: many thoughts and tool calls,
nested sub-agents, envelopes, noise and other runs' frames, subprotocol tokens, error frames.

A scripted WebSocket server on a free loopback port plays, for each message it receives, the
frames a test gives it; the real checker (``run_connection`` / ``run_agent_flow``) judges them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bot.checks.agent_flow import (
    DEFAULT_ERROR_CODE_PATHS,
    DEFAULT_ERROR_MESSAGE_PATHS,
    DEFAULT_ERROR_TYPES,
    FlowSpec,
    run_agent_flow,
    run_connection,
)
from bot.config import AgentFlow, parse_config
from bot.config.models import ErrorFrames as ErrorFramesConfig
from bot.redact import MASK
from bot.results import FlowSession, FlowSummary, Kind

_quiet = logging.getLogger("tests.event_rules.server")
_quiet.setLevel(logging.CRITICAL)

Frame = dict[str, Any] | str | bytes
Script = Callable[[int], Sequence[Frame]]  # run number on this server → frames to play

#: The agent_flow section for a backend like the real platform (the README's example).
REALISTIC: dict[str, Any] = {
    "rules": {
        "agent_started": {"exactly_once": True},
        "agent_completed": {"exactly_once": True},
        "agent_thinking": {"min": 1},
        "tool_executing": {"pair": "tool_completed", "by": "data.call_id"},
    },
    "agent_key": "data.agent_name",
    "parent_key": "data.parent_agent",
    "timeout": "3s",
    "connect_timeout": "2s",
}


def flow(**overrides: Any) -> AgentFlow:
    """A validated checks.agent_flow section: REALISTIC plus overrides."""
    data = {**REALISTIC, **overrides}
    cfg = parse_config({"checks": {"agent_flow": data}}).checks.agent_flow
    assert cfg is not None
    return cfg


def spec_for(url: str, cfg: AgentFlow, token: str | None = None) -> FlowSpec:
    return FlowSpec.from_config(cfg, url, token)


# -- frames --------------------------------------------------------------------------------------


def ev(name: str, run: str, agent: str = "supervisor", parent: str | None = None, **data: Any):
    """One event in the platform's envelope; sub-agents carry their parent's name."""
    body: dict[str, Any] = {"run_id": run, "agent_name": agent, **data}
    if parent is not None:
        body["parent_agent"] = parent
    return {"type": name, "data": body, "timestamp": time.time()}


HEARTBEAT = {"type": "heartbeat"}
WELCOME = {"type": "connection_established", "data": {"connection_id": "c-1"}}


def realistic(
    run: str, *, rng: random.Random | None = None, subs: int | None = None, drop: str = ""
) -> list[Frame]:
    """A healthy run: two or more thoughts, several tool calls (one open across the nested
    sub-agents' whole lives), progress and heartbeats, and another run's frames in between.
    ``subs`` sub-agents (default: 0-2 at random); ``drop`` removes our run's frames of that
    type, or with that call id and type ``tool_completed``, to break exactly one thing."""
    rng = rng or random.Random(0)
    other = f"{run}-other"
    frames: list[Frame] = [
        ev("agent_started", run),
        HEARTBEAT,
        ev("agent_thinking", run, thought="plan"),
        {"type": "agent_progress", "data": {"run_id": run, "progress": 0.1}},
        ev("tool_executing", run, tool_name="search", call_id=f"{run}-c1"),
        ev("agent_started", other),
        ev("tool_executing", other, tool_name="x", call_id="other-c9"),  # never closed: not ours
    ]
    for k in range(rng.randint(0, 2) if subs is None else subs):
        sub = f"researcher-{k}"
        frames += [
            ev("agent_started", run, sub, "supervisor"),
            ev("agent_thinking", run, sub, "supervisor"),
        ]
        if rng.random() < 0.5:
            frames += [
                ev("tool_executing", run, sub, "supervisor", call_id=f"{run}-s{k}"),
                ev("tool_completed", run, sub, "supervisor", call_id=f"{run}-s{k}"),
            ]
        frames.append(ev("agent_completed", run, sub, "supervisor"))
    frames.append(ev("tool_completed", run, tool_name="search", call_id=f"{run}-c1"))
    for n in range(2, 2 + rng.randint(1, 3)):
        frames.append(ev("agent_thinking", run, thought=f"step {n}"))
        frames.append(ev("tool_executing", run, tool_name="calc", call_id=f"{run}-c{n}"))
        frames.append(HEARTBEAT)
        frames.append(ev("tool_completed", run, tool_name="calc", call_id=f"{run}-c{n}"))
    frames += [ev("agent_completed", other), ev("agent_completed", run, result="4")]
    return [f for f in frames if not (drop and _ours(f, run) and _matches(f, drop))]


def _ours(frame: Frame, run: str) -> bool:
    return isinstance(frame, dict) and frame.get("data", {}).get("run_id") == run


def _matches(frame: Frame, drop: str) -> bool:
    assert isinstance(frame, dict)
    if frame["type"] == drop:
        return True
    return frame["type"] == "tool_completed" and frame["data"].get("call_id") == drop


# -- the scripted server -------------------------------------------------------------------------


@asynccontextmanager
async def scripted(
    script: Script,
    *,
    welcome: bool = True,
    close: tuple[int, str] | None = None,
    **kwargs: Any,
) -> AsyncIterator[str]:
    """A WebSocket server playing ``script(n)`` for the n-th message it receives; yields its URL.

    Frames are sent as JSON (str and bytes as they are); ``close`` ends the connection after
    the frames of each run.
    """
    runs = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal runs
        try:
            if welcome:
                await ws.send(json.dumps(WELCOME))
            async for _ in ws:
                runs += 1
                for frame in script(runs):
                    await ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))
                if close is not None:
                    await ws.close(*close)
                    return
        except ConnectionClosed:
            pass

    kwargs.setdefault("compression", None)
    async with serve(
        handler, "127.0.0.1", 0, ping_interval=None, logger=_quiet, **kwargs
    ) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws"


def run_one(script: Script, cfg: AgentFlow, token: str | None = None, **server: Any) -> FlowSession:
    async def main() -> FlowSession:
        async with scripted(script, **server) as url:
            (s,) = await run_connection(spec_for(url, cfg, token), [0])
            return s

    return asyncio.run(main())


# -- healthy runs pass ---------------------------------------------------------------------------


def test_realistic_run_with_sub_agents_noise_and_other_runs_passes() -> None:
    """Two+ thoughts, several paired tool calls, a nested sub-agent, noise, another run: pass."""
    frames = realistic("run-1", rng=random.Random(3), subs=2)
    assert sum(1 for f in frames if isinstance(f, dict) and "parent_agent" in f.get("data", {}))
    s = run_one(lambda n: frames, flow())
    assert s.ok, s.error
    assert s.kind is None and s.missing == [] and s.unpaired == [] and s.order_violations == []
    assert s.counts["agent_started"] == 1 and s.counts["agent_completed"] == 1  # top-level only
    assert s.counts["agent_thinking"] >= 2 and s.counts["tool_executing"] >= 2
    assert s.counts["tool_executing"] == s.counts["tool_completed"]


def test_sub_agent_completing_first_does_not_end_the_run() -> None:
    """A sub-agent's agent_completed before the top-level's tools: the run goes on to the end."""
    frames: list[Frame] = [
        ev("agent_started", "r"),
        ev("agent_thinking", "r"),
        ev("agent_started", "r", "helper", "supervisor"),
        ev("agent_completed", "r", "helper", "supervisor"),
        ev("tool_executing", "r", call_id="c1"),
        ev("tool_completed", "r", call_id="c1"),
        ev("agent_completed", "r"),
    ]
    s = run_one(lambda n: frames, flow())
    assert s.ok, s.error
    naive = run_one(lambda n: frames, flow(agent_key=None, parent_key=None, rules={}))
    assert naive.kind is Kind.MISSING_EVENT  # what a checker without the keys concluded
    assert naive.missing == ["tool_executing", "tool_completed"]


def test_agent_key_alone_tells_sub_agents_by_name() -> None:
    """Without a parent field, a differently named agent's start/end is a sub-agent's."""
    frames: list[Frame] = [
        ev("agent_started", "r"),
        ev("agent_thinking", "r"),
        ev("agent_started", "r", "helper"),
        ev("agent_completed", "r", "helper"),
        ev("tool_executing", "r", call_id="c1"),
        ev("tool_completed", "r", call_id="c1"),
        ev("agent_completed", "r"),
    ]
    s = run_one(lambda n: frames, flow(parent_key=None))
    assert s.ok, s.error
    assert s.counts["agent_started"] == 1


def test_three_runs_on_one_connection_each_pass() -> None:
    """Reuse: every run's frames are judged apart, even with another run's leftovers around."""

    async def main() -> list[FlowSession]:
        script = lambda n: realistic(f"run-{n}", rng=random.Random(n))  # noqa: E731
        async with scripted(script) as url:
            spec = replace(spec_for(url, flow()), runs_per_connection=3)
            return await run_connection(spec, [0, 1, 2])

    sessions = asyncio.run(main())
    assert [(s.ok, s.run) for s in sessions] == [(True, 0), (True, 1), (True, 2)]


def test_a_thousand_realistic_sessions_raise_no_false_alarm() -> None:
    """1,000 healthy sessions of varied realistic shapes, 100 in flight: zero failures."""

    async def main() -> FlowSummary:
        script = lambda n: realistic(f"run-{n}", rng=random.Random(n))  # noqa: E731
        async with scripted(script) as url:
            return await run_agent_flow(spec_for(url, flow()), 1000, concurrency=100)

    summary = asyncio.run(main())
    assert summary.failures == [] and summary.kinds == {}
    assert summary.passed == 1000 and summary.total == 1000


def test_odd_values_where_names_and_ids_belong_are_ignored_not_fatal() -> None:
    """An object as event name, run id or call id: skipped or kept as text, never a crash."""
    frames: list[Frame] = [
        {"type": {"nested": "object"}, "data": {"run_id": "r"}},
        {"type": ["list"], "data": {"run_id": "r"}},
        {"type": "agent_progress", "data": {"run_id": {"odd": 1}}},
        *realistic("r"),
    ]
    frames.insert(4, ev("tool_executing", "r", call_id={"composite": [1, 2]}))
    frames.insert(5, ev("tool_completed", "r", call_id={"composite": [1, 2]}))
    s = run_one(lambda n: frames, flow())
    assert s.ok, s.error


# -- each broken rule has its own kind -----------------------------------------------------------


def test_unpaired_tool_call_is_its_own_kind() -> None:
    """A tool call whose tool_completed never comes: unpaired_event, naming the call id."""
    frames = realistic("r", rng=random.Random(1), drop="r-c2")
    s = run_one(lambda n: frames, flow())
    assert s.kind is Kind.UNPAIRED_EVENT, s.error
    assert s.unpaired == ["tool_executing r-c2 without tool_completed"]
    assert s.error == "unpaired tool_executing r-c2 without tool_completed"


def test_pairing_by_arrival_order_without_an_id() -> None:
    """pair without by: counts must match in arrival order; an extra closer is an orphan."""
    frames: list[Frame] = [
        ev("agent_started", "r"),
        ev("agent_thinking", "r"),
        ev("tool_executing", "r"),
        ev("tool_completed", "r"),
        ev("tool_completed", "r"),
        ev("agent_completed", "r"),
    ]
    s = run_one(lambda n: frames, flow(rules={"tool_executing": {"pair": "tool_completed"}}))
    assert s.kind is Kind.UNPAIRED_EVENT
    assert s.unpaired == ["tool_completed without tool_executing before it"]


def test_missing_event_is_missing_event() -> None:
    """No agent_thinking at all: missing_event, naming it."""
    frames = realistic("r", drop="agent_thinking")
    s = run_one(lambda n: frames, flow())
    assert s.kind is Kind.MISSING_EVENT and s.missing == ["agent_thinking"]


def test_too_few_of_an_event_is_missing_with_the_count() -> None:
    """min: 2 with one thought: missing_event, saying how many arrived."""
    frames: list[Frame] = [
        ev("agent_started", "r"),
        ev("agent_thinking", "r"),
        ev("tool_executing", "r", call_id="c"),
        ev("tool_completed", "r", call_id="c"),
        ev("agent_completed", "r"),
    ]
    rules = {**REALISTIC["rules"], "agent_thinking": {"min": 2}}
    s = run_one(lambda n: frames, flow(rules=rules))
    assert s.kind is Kind.MISSING_EVENT
    assert s.error == "missing agent_thinking (1 of at least 2)"


def test_top_level_agent_never_completing_is_agent_incomplete_within_the_timeout() -> None:
    """The sub-agent completes, the top-level agent never does: agent_incomplete at the timeout."""
    frames = realistic("r", subs=1)
    frames = [f for f in frames if f != frames[-1]]  # the top-level agent_completed
    assert any(isinstance(f, dict) and f["type"] == "agent_completed" for f in frames)
    started = time.perf_counter()
    s = run_one(lambda n: frames, flow(timeout="300ms", connect_timeout="200ms"))
    took = time.perf_counter() - started
    assert s.kind is Kind.AGENT_INCOMPLETE, s.error
    assert s.error == (
        "the top-level agent sent no agent_completed within 0.3s; sub-agent researcher-0 did"
    )
    assert "agent_completed" in s.missing
    assert took < 0.3 + 1.0


def test_exactly_once_violated_is_a_duplicate() -> None:
    """exactly_once: a second top-level agent_started is duplicate_event."""
    frames = realistic("r")
    frames.insert(3, ev("agent_started", "r"))
    s = run_one(lambda n: frames, flow())
    assert s.kind is Kind.DUPLICATE_EVENT
    assert s.error == "duplicate agent_started (2 arrived, at most 1)"


def test_max_exceeded_is_too_many_events() -> None:
    """max: 2 tool calls with three made: too_many_events, with the count."""
    frames = realistic("r", rng=random.Random(7))
    calls = sum(
        1
        for f in frames
        if isinstance(f, dict) and f["type"] == "tool_executing" and f["data"]["run_id"] == "r"
    )
    assert calls >= 3
    rules = {**REALISTIC["rules"], "tool_executing": {"max": 2}}
    s = run_one(lambda n: frames, flow(rules=rules))
    assert s.kind is Kind.TOO_MANY_EVENTS
    assert s.error == f"too many tool_executing ({calls} arrived, at most 2)"


def test_optional_event_may_be_absent() -> None:
    """min: 0 makes an event optional: a run without tool calls passes."""
    frames: list[Frame] = [
        ev("agent_started", "r"),
        ev("agent_thinking", "r"),
        ev("agent_completed", "r"),
    ]
    rules = {"tool_executing": {"min": 0}, "tool_completed": {"min": 0}}
    s = run_one(lambda n: frames, flow(rules=rules))
    assert s.ok, s.error


# -- the token on the wire -----------------------------------------------------------------------


TOKEN = "header.payload-with_chars.signature"


def _select(choice: str | None) -> Callable[[ServerConnection, Sequence[str]], str | None]:
    def select(connection: ServerConnection, offered: Sequence[str]) -> str | None:
        seen_offers.append(list(offered))
        if choice == "token":
            return next(p for p in offered if p.startswith("jwt."))
        return choice

    return select


seen_offers: list[list[str]] = []

B64 = {
    "token_transport": {
        "subprotocol": "jwt.{token}",
        "encoding": "base64url",
        "extra_subprotocols": ["jwt-auth"],
        "expect_selected": "jwt-auth",
    }
}


def test_base64url_subprotocol_with_the_server_selecting_jwt_auth_passes() -> None:
    """jwt.<base64url(token)> plus jwt-auth offered; the server selects jwt-auth: pass."""
    seen_offers.clear()
    s = run_one(
        lambda n: realistic("r"), flow(**B64), TOKEN, select_subprotocol=_select("jwt-auth")
    )
    assert s.ok, s.error
    assert s.subprotocol == "jwt-auth"
    (offered,) = seen_offers
    encoded = base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("=")
    assert offered == ["jwt-auth", f"jwt.{encoded}"]
    assert "=" not in offered[1]


@pytest.mark.parametrize(
    ("choice", "kind", "text"),
    [
        (None, Kind.SUBPROTOCOL_REFUSED, "without selecting any offered subprotocol"),
        ("token", Kind.SUBPROTOCOL_UNEXPECTED, f"selected the subprotocol jwt.{MASK}, expected"),
    ],
    ids=["nothing", "the-token-one"],
)
def test_server_selecting_nothing_or_another_subprotocol_fails(
    choice: str | None, kind: Kind, text: str
) -> None:
    """Nothing selected → subprotocol_refused; an offered but unexpected one → its own kind."""
    s = run_one(lambda n: realistic("r"), flow(**B64), TOKEN, select_subprotocol=_select(choice))
    assert s.kind is kind and text in s.error
    encoded = base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("=")
    assert encoded not in s.error and TOKEN not in s.error
    assert s.subprotocol in (None, f"jwt.{MASK}")


def test_header_name_and_scheme_are_configurable() -> None:
    """token_transport.header/scheme: the token arrives as X-Auth-Token: Token <jwt>."""
    headers: list[str | None] = []

    def capture(connection: ServerConnection, request: Request) -> Response | None:
        headers.append(request.headers.get("X-Auth-Token"))
        return None

    cfg = flow(token_transport={"header": "X-Auth-Token", "scheme": "Token"})
    s = run_one(lambda n: realistic("r"), cfg, TOKEN, process_request=capture)
    assert s.ok, s.error
    assert headers == [f"Token {TOKEN}"]


# -- the server's own words ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code", "message"),
    [
        ({"type": "error", "message": "Token invalid"}, "", "Token invalid"),
        (
            {"type": "error_message", "error_code": "AUTH_FAILED", "error_message": "Bad token"},
            "AUTH_FAILED",
            "Bad token",
        ),
        ({"detail": "Not authenticated"}, "", "Not authenticated"),
    ],
    ids=["error", "error_message", "detail"],
)
def test_each_error_frame_shape_is_captured(frame: Frame, code: str, message: str) -> None:
    """The three common error-frame shapes, then 1008: code and text are kept."""
    s = run_one(lambda n: [frame], flow(), close=(1008, ""))
    assert s.kind is Kind.AUTH_REJECTED
    assert s.error_frame is not None
    assert (s.error_frame["error_code"], s.error_frame["message"]) == (code, message)
    assert s.error == f"closed 1008 before agent_completed; the server said: {message}"


def test_close_reason_is_kept_when_there_is_no_frame() -> None:
    """No error frame, just a reason on the close: the reason is the evidence."""
    s = run_one(lambda n: [], flow(), close=(1008, "SSOT Auth failed"))
    assert s.error_frame is None and s.close_reason == "SSOT Auth failed"
    assert s.error == "closed 1008 'SSOT Auth failed' before agent_completed"


def test_custom_error_frame_shape_from_config() -> None:
    """error_frames: a platform's own type and paths find its code and text."""
    frame = {"type": "agent_error", "payload": {"err": {"id": "E42", "text": "quota exceeded"}}}
    cfg = flow(
        error_frames={
            "types": ["agent_error"],
            "code_paths": ["payload.err.id"],
            "message_paths": ["payload.err.text"],
        }
    )
    s = run_one(lambda n: [frame], cfg, close=(1011, ""))
    assert s.kind is Kind.SERVER_ERROR
    assert s.error_frame == {
        "type": "agent_error",
        "error_code": "E42",
        "message": "quota exceeded",
    }
    default = run_one(lambda n: [frame], flow(), close=(1011, ""))
    assert default.error_frame is None  # not an error shape the defaults know


def test_welcome_and_progress_frames_are_not_mistaken_for_errors() -> None:
    """Typed frames that are not error types never fill the error frame, whatever they carry."""
    frames: list[Frame] = [
        {"type": "agent_progress", "data": {"run_id": "r", "message": "working", "code": 1}},
        {"type": "error", "message": "the real one"},
    ]
    s = run_one(lambda n: frames, flow(), close=(1011, ""))
    assert s.error_frame is not None and s.error_frame["message"] == "the real one"


def test_http_refusal_body_is_the_evidence() -> None:
    """An upgrade refused with 401 and a JSON body: its detail becomes the error frame."""

    def refuse(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(401, '{"detail": "Not authenticated"}')
        return response

    s = run_one(lambda n: [], flow(), process_request=refuse)
    assert s.kind is Kind.AUTH_REJECTED and s.handshake_status == 401
    assert s.error_frame is not None and s.error_frame["message"] == "Not authenticated"


def test_error_text_is_redacted() -> None:
    """A server echoing our token in its error frame: only the mask reaches the session."""
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    frame = {"type": "error", "message": f"bad token {token}"}
    s = run_one(lambda n: [frame], flow(), token, close=(1008, ""))
    assert s.error_frame is not None and token not in s.error_frame["message"]
    assert MASK in s.error_frame["message"] and token not in s.error


# -- the config and the checker agree ------------------------------------------------------------


def test_checker_defaults_mirror_the_config_defaults() -> None:
    """FlowSpec's own defaults equal what an empty agent_flow section builds."""
    built = FlowSpec.from_config(AgentFlow(), "ws://h/ws", "t")
    plain = FlowSpec(url="ws://h/ws", token="t")
    assert built.error_frames == plain.error_frames
    defaults = ErrorFramesConfig()
    assert tuple(defaults.types) == DEFAULT_ERROR_TYPES
    assert tuple(defaults.code_paths) == DEFAULT_ERROR_CODE_PATHS
    assert tuple(defaults.message_paths) == DEFAULT_ERROR_MESSAGE_PATHS
    assert built.rules == () and built.agent_key is None and built.parent_key is None
    assert built.subprotocol == "jwt.{token}" and built.encoding == plain.encoding == "raw"


def test_rules_reach_the_spec_resolved() -> None:
    """exactly_once becomes min 1 / max 1; by becomes a path; keys become paths."""
    spec = spec_for("ws://h/ws", flow())
    rules = {r.event: r for r in spec.rules}
    assert (rules["agent_started"].min, rules["agent_started"].max) == (1, 1)
    assert rules["tool_executing"].pair == "tool_completed"
    assert rules["tool_executing"].by == ("data", "call_id")
    assert spec.parent_key == ("data", "parent_agent")
    assert spec.agent_key == ("data", "agent_name")


def test_the_readme_backend_example_is_valid_config() -> None:
    """README's "Configuring for your backend" example loads and is what REALISTIC tests."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Configuring for your backend", 1)[1].split("<!--", 1)[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    cfg = parse_config(yaml.safe_load(block))
    example = cfg.checks.agent_flow
    assert example is not None and example.token_in == "subprotocol"
    assert example.rules == flow().rules
    assert (example.agent_key, example.parent_key) == (flow().agent_key, flow().parent_key)
    verify = cfg.auth.verification()
    assert verify is not None and (verify.method, verify.token_in) == ("POST", "json")
