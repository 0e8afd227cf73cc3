"""`golden-path doctor`: one recorded session against an unknown backend, what it learned,
and a checks.agent_flow block with which `golden-path run` then passes.

Every backend here is a real WebSocket server on loopback: the two bundled sample
profiles, and a server written below whose frames look like neither (another event key,
run id, agent and parent fields, call ids) — the case the doctor exists for.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bot.cli import main
from bot.sample import RealisticTarget, SampleTarget

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

SECRET_ENV = "DOCTOR_JWT_SECRET"
SECRET = "doctor-test-secret-" + "x" * 24
CLAIMS = {"sub": "golden-path-e2e", "iss": "auth-service", "aud": "backend"}
SUBPROTOCOL = {
    "subprotocol": "jwt.{token}",
    "encoding": "base64url",
    "extra_subprotocols": ["jwt-auth"],
}


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv("GOLDEN_PATH_PROGRESS", "off")


def config(base_url: str, agent_flow: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """What a team writes before it knows the backend: where it is and how to get a token."""
    return {
        "target": {"base_url": base_url},
        "auth": {"jwt": {"secret_env": SECRET_ENV, "claims": CLAIMS}},
        "checks": {"agent_flow": {"timeout": "3s", "connect_timeout": "2s", **(agent_flow or {})}},
        **more,
    }


def write(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def doctor(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["doctor", "--config", str(path), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def doctor_on_realistic(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    faults: Sequence[str] = (),
    *args: str,
) -> tuple[int, str]:
    """The doctor against the realistic backend, configured with its subprotocol token."""
    with RealisticTarget(secret=SECRET, faults=list(faults)) as target:
        path = write(tmp_path, "cfg.yml", config(target.base_url, {"token_transport": SUBPROTOCOL}))
        return doctor(capsys, path, *args)


def proposed_block(output: str) -> dict[str, Any]:
    """The YAML the doctor printed: from its `checks:` line to the next blank line."""
    lines = output.splitlines()
    start = lines.index("checks:")
    end = lines.index("", start)
    parsed = yaml.safe_load("\n".join(lines[start:end]))
    block = parsed["checks"]["agent_flow"]
    assert isinstance(block, dict)
    return block


def run(tmp_path: Path, cfg: dict[str, Any], sessions: int) -> dict[str, Any]:
    """`golden-path run` with ``cfg``; the results.json it wrote."""
    cfg["checks"]["agent_flow"]["sessions"] = sessions
    path = write(tmp_path, f"run-{len(list(tmp_path.iterdir()))}.yml", cfg)
    results = tmp_path / f"{path.stem}-results.json"
    main(["run", "--config", str(path), "--tracker", "none", "--results", str(results)])
    return json.loads(results.read_text(encoding="utf-8"))


# -- the bundled profiles -------------------------------------------------------------------


def test_realistic_backend_proposal_makes_run_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Healthy realistic target: exit 0, sub-agents and call ids learned, and `run` with the
    proposed block passes where the config written beforehand fails."""
    with RealisticTarget(secret=SECRET) as target:
        before = config(
            target.base_url,
            {"token_transport": SUBPROTOCOL, "rules": {"agent_thinking": {"exactly_once": True}}},
        )
        code, out = doctor(capsys, write(tmp_path, "before.yml", before))
        assert code == 0, out
        assert "parent         data.parent_agent" in out
        assert "pairs          tool_executing → tool_completed by data.call_id" in out
        assert "run id         data.run_id" in out
        assert "your checks.agent_flow on this run: ❌ duplicate_event" in out
        block = proposed_block(out)
        assert block["parent_key"] == "data.parent_agent"
        assert block["rules"]["tool_executing"] == {"pair": "tool_completed", "by": "data.call_id"}
        assert "agent_thinking" not in block["rules"]  # repeats: the exactly_once is relaxed
        assert block["token_transport"]["expect_selected"] == "jwt-auth"

        failing = run(tmp_path, before, 30)
        after = config(target.base_url, block)
        passing = run(tmp_path, after, 200)
    assert failing["flow"]["failed"] > 0
    assert passing["verdict"]["status"] == "passing", passing["verdict"]["headline"]
    assert (passing["flow"]["passed"], passing["flow"]["failed"]) == (200, 0)


def test_default_sample_target_passes_with_its_proposal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default profile needs nothing new: exit 0, and the proposal passes `run`."""
    with SampleTarget(secret=SECRET) as target:
        code, out = doctor(capsys, write(tmp_path, "cfg.yml", config(target.base_url)))
        assert code == 0, out
        assert "your checks.agent_flow on this run: ✅ passes" in out
        block = proposed_block(out)
        assert block["events"] == [
            "agent_started",
            "agent_thinking",
            "tool_executing",
            "tool_completed",
            "agent_completed",
        ]
        assert "parent_key" not in block and "run_key" not in block
        results = run(tmp_path, config(target.base_url, block), 20)
    assert results["verdict"]["status"] == "passing"


def test_auth_fault_exits_1_naming_the_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Backend with another secret: exit 1, its error frame and close said, no proposal."""
    code, out = doctor_on_realistic(tmp_path, capsys, ("auth",))
    assert code == 1
    (last,) = [line for line in out.splitlines() if line.startswith("❌")]
    assert "the backend refused our token" in last
    assert "AUTH_FAILED: Invalid token: Signature verification failed" in last
    assert "closed 1008 'Authentication failed'" in last
    assert "Proposed checks.agent_flow" not in out


def test_a_token_in_the_wrong_place_is_a_refusal_with_the_servers_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Default transport (header) against the subprotocol backend: its own reason is shown."""
    with RealisticTarget(secret=SECRET) as target:
        code, out = doctor(capsys, write(tmp_path, "cfg.yml", config(target.base_url)))
    assert code == 1
    assert "token in the Authorization header (scheme Bearer)" in out
    assert "The jwt-auth subprotocol is required" in out


def test_no_final_event_says_which_events_arrived(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The top-level agent never completes: exit 1 with the events seen and the sub-agents."""
    code, out = doctor_on_realistic(tmp_path, capsys, ("no-final",), "--timeout", "0.5")
    assert code == 1
    (last,) = [line for line in out.splitlines() if line.startswith("❌")]
    assert "the top-level agent's agent_completed did not arrive within the timeout" in last
    assert "agent_started ×1" in last and "tool_completed ×" in last
    assert "sub-agents started or ended 2 time(s)" in last


def test_not_ready_names_the_close_and_the_error_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Service not ready: exit 1 with 1011 and the server's error frame text."""
    code, out = doctor_on_realistic(tmp_path, capsys, ("not-ready",))
    assert code == 1
    assert "closed the connection (1011 'service not ready')" in out
    assert "it said: service not ready" in out


def test_a_server_that_selects_no_subprotocol_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """no-subprotocol: the bot's own subprotocol_refused rule, in the doctor's words."""
    code, out = doctor_on_realistic(tmp_path, capsys, ("no-subprotocol",))
    assert code == 1
    assert "without selecting any offered subprotocol (jwt-auth, jwt.***)" in out


# -- a backend shaped like neither profile --------------------------------------------------


def _turn(n: int) -> list[dict[str, Any]]:
    """One run: another event key, turn ids, agent/parent fields and invocation ids."""
    t = f"turn-{n}"
    top = {"turn_id": t, "agent": "planner"}
    sub = {"turn_id": t, "agent": "critic", "parent": "planner"}
    frames = [
        ("agent_started", top),
        ("agent_thinking", top),
        ("tool_executing", {**top, "tool": "search", "invocation_id": f"{t}-a"}),
        ("agent_started", sub),
        ("agent_thinking", sub),
        ("agent_completed", sub),
        ("tool_executing", {**top, "tool": "search", "invocation_id": f"{t}-b"}),
        ("tool_completed", {**top, "tool": "search", "invocation_id": f"{t}-b"}),
        ("agent_thinking", top),
        ("tool_completed", {**top, "tool": "search", "invocation_id": f"{t}-a"}),
        ("agent_completed", {**top, "parent": None}),
    ]
    return [{"event": e, "payload": p, "kind": "agent_event"} for e, p in frames]


@contextlib.contextmanager
def unknown_backend() -> Iterator[str]:
    """A WebSocket backend unlike the bundled ones; it echoes the credential it was given in
    its welcome frame (as some debug builds do), which the doctor must never print."""
    ready = threading.Event()
    state: dict[str, Any] = {}
    turns = iter(range(10**9))

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        auth = ws.request.headers.get("Authorization", "")
        with contextlib.suppress(ConnectionClosed):
            if not auth.startswith("Bearer "):
                await ws.send(json.dumps({"kind": "failure", "reason": "missing bearer"}))
                await ws.close(4401, "unauthorized")
                return
            await ws.send(json.dumps({"event": "session.ready", "payload": {"credential": auth}}))
            async for _ in ws:
                for frame in _turn(next(turns)):
                    await ws.send(json.dumps(frame))

    async def serve_forever() -> None:
        stop = asyncio.Event()
        async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None) as srv:
            state["url"] = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
            state["stop"], state["loop"] = stop, asyncio.get_running_loop()
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve_forever()), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield str(state["url"])
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)


def test_an_unknown_backends_shape_is_learned_and_run_passes_with_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Event key, run id, agent, parent and pairing id are read off the frames; with the
    proposal `run` passes, with the defaults it does not."""
    no_health: dict[str, Any] = {"health": []}
    with unknown_backend() as base:
        cfg = config(base)
        cfg["checks"].update(no_health)
        code, out = doctor(capsys, write(tmp_path, "cfg.yml", cfg))
        assert code == 0, out
        block = proposed_block(out)
        assert block["event_key"] == "event"
        assert block["run_key"] == "payload.turn_id"
        assert block["agent_key"] == "payload.agent"
        assert block["parent_key"] == "payload.parent"
        assert block["rules"] == {
            "tool_executing": {"pair": "tool_completed", "by": "payload.invocation_id"}
        }
        assert "repeats: agent_thinking, tool_executing, tool_completed" in out
        assert "your checks.agent_flow on this run: ❌ timeout" in out

        defaults = config(base)
        defaults["checks"].update(no_health)
        failing = run(tmp_path, defaults, 5)
        proposed = config(base, block)
        proposed["checks"].update(no_health)
        passing = run(tmp_path, proposed, 50)
    assert failing["flow"]["passed"] == 0
    assert (passing["flow"]["passed"], passing["flow"]["failed"]) == (50, 0)


def test_frames_are_redacted_the_token_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--frames prints every frame; the echoed credential shows as *** and nowhere in clear."""
    with unknown_backend() as base:
        code, out = doctor(capsys, write(tmp_path, "cfg.yml", config(base)), "--frames")
    assert code == 0, out
    (welcome,) = [line for line in out.splitlines() if line.startswith('  {"event": "session.')]
    assert "***" in welcome and "eyJ" not in welcome
    assert "eyJ" not in out  # no JWT (header, claims) anywhere in the output


def test_frames_are_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A backend that never stops talking: recording stops at the frame limit, exit 1."""
    from bot.doctor import MAX_FRAMES

    async def chatty(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.recv()
            for n in range(MAX_FRAMES * 3):
                await ws.send(json.dumps({"type": "heartbeat", "data": {"seq": n}}))

    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve_forever() -> None:
        stop = asyncio.Event()
        async with serve(chatty, "127.0.0.1", 0, compression=None) as srv:
            state["url"] = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
            state["stop"], state["loop"] = stop, asyncio.get_running_loop()
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve_forever()), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        code, out = doctor(capsys, write(tmp_path, "cfg.yml", config(state["url"])))
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)
    assert code == 1
    assert f"recorded {MAX_FRAMES} frames" in out and f"the {MAX_FRAMES}-frame limit" in out
    assert "none of the configured events" in out and "heartbeat ×500" in out


# -- usage ----------------------------------------------------------------------------------


def test_no_url_is_a_usage_error_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No base URL and no --url: exit 2, and the message says to pass --url."""
    path = write(tmp_path, "cfg.yml", {"auth": {"jwt": {"secret_env": SECRET_ENV}}})
    code, out = doctor(capsys, path)
    assert code == 2
    assert "target.base_url" in out and "--url" in out


def test_url_option_takes_a_ws_url_or_a_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--url ws://… is used as is (and proposed); --url http://… is a base for the path."""
    with SampleTarget(secret=SECRET) as target:
        path = write(
            tmp_path, "cfg.yml", {"auth": {"jwt": {"secret_env": SECRET_ENV, "claims": CLAIMS}}}
        )
        code, out = doctor(capsys, path, "--url", target.ws_url)
        assert code == 0, out
        assert proposed_block(out)["url"] == target.ws_url
        code, out = doctor(capsys, path, "--url", target.base_url)
        assert code == 0, out
        assert "url" not in proposed_block(out)


def test_config_errors_and_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing config file, a missing secret and a bad --timeout are usage errors."""
    code, out = doctor(capsys, tmp_path / "missing.yml")
    assert code == 2 and "config file not found" in out
    path = write(
        tmp_path,
        "cfg.yml",
        config("http://127.0.0.1:9", auth={"jwt": {"secret_env": "DOCTOR_UNSET_SECRET"}}),
    )
    code, out = doctor(capsys, path)
    assert code == 2 and "DOCTOR_UNSET_SECRET" in out
    with pytest.raises(SystemExit) as exc:
        main(["doctor", "--timeout", "-1"])
    assert exc.value.code == 2


def test_subprotocol_token_is_sent_encoded_and_shown_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The base64url token rides in the subprotocol; the output shows jwt.*** only."""
    code, out = doctor_on_realistic(tmp_path, capsys, (), "--frames")
    assert code == 0, out
    assert "offered: jwt-auth, jwt.***" in out
    encoded_prefix = base64.urlsafe_b64encode(b'{"alg"').decode()[:6]
    assert encoded_prefix not in out and "eyJ" not in out
