"""The pytest plugin: fixtures, and the prefetch that runs every test's session at once.

Each test here runs a small generated suite in a pytest subprocess (the plugin is loaded
from the installed entry point, as in a user's environment) against a real server on
loopback, and reads the results back from JUnit XML.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bot.cli import main
from bot.plugin import (
    ENV_BASE_URL,
    ENV_CONCURRENCY,
    ENV_CONFIG,
    ENV_PREFETCH,
    ENV_TOKEN,
    ENV_WS_URL,
)
from bot.sample import RealisticTarget, SampleTarget, realistic_config

EVENTS = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]

RECORDING_TEST = """
import json, os

def record(request, session):
    path = os.path.join(os.environ["RESULTS_DIR"], request.node.name + ".json")
    with open(path, "w") as f:
        json.dump({"index": session.index, "ok": session.ok, "kind": session.kind}, f)
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, body in files.items():
        (root / name).write_text(textwrap.dedent(body).lstrip())
    return root


@dataclass
class Run:
    code: int
    outcomes: dict[str, str]
    messages: dict[str, str]
    output: str
    records: dict[str, dict] = field(default_factory=dict)
    wall_s: float = 0.0


def run_pytest(
    root: Path,
    *args: str,
    ws_url: str | None = None,
    token: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Run:
    """pytest in a subprocess, GOLDEN_PATH_* set only when given; outcomes by test name."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDEN_PATH_")}
    results = root / "results"
    results.mkdir(exist_ok=True)
    full_env["RESULTS_DIR"] = str(results)
    if ws_url is not None:
        full_env.update({ENV_WS_URL: ws_url, ENV_BASE_URL: ws_url.replace("ws", "http", 1)})
    if token is not None:
        full_env[ENV_TOKEN] = token
    full_env.update(env or {})
    junit = root / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    cmd += [f"--junitxml={junit}", *args]
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=root, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - started
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            outcome, message = "passed", ""
            for tag in ("failure", "error", "skipped"):
                el = case.find(tag)
                if el is not None:
                    outcome, message = tag, el.get("message", "")
                    break
            outcomes[case.get("name", "")] = outcome
            messages[case.get("name", "")] = message
    records = {p.stem: json.loads(p.read_text()) for p in results.glob("*.json")}
    return Run(proc.returncode, outcomes, messages, proc.stdout + proc.stderr, records, wall)


# -- a server that fails chosen connections, to pin which test gets which session --------


@contextlib.contextmanager
def scripted_server(fail: set[int], event_delay: float = 0.0) -> Iterator[tuple[str, list[int]]]:
    """The five events per message; connection k (1-based) in ``fail`` gets a 1011 after
    agent_started. Yields the ws URL and a list that counts connections."""
    counter = [0]
    ready = threading.Event()
    state: dict[str, object] = {}

    async def handler(ws: ServerConnection) -> None:
        counter[0] += 1
        number = counter[0]
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                for n, event in enumerate(EVENTS):
                    if event_delay:
                        await asyncio.sleep(event_delay)
                    await ws.send(json.dumps({"type": event, "data": {"run_id": f"r{number}"}}))
                    if n == 0 and number in fail:
                        await ws.close(1011, "planted crash")
                        return

    async def main() -> None:
        stop = asyncio.Event()
        async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None) as srv:
            state["url"] = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/ws"
            state["stop"] = stop
            state["loop"] = asyncio.get_running_loop()
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield str(state["url"]), counter
    finally:
        loop = state["loop"]
        loop.call_soon_threadsafe(state["stop"].set)  # type: ignore[attr-defined]
        thread.join(10)


SUITE = {
    "test_flow.py": RECORDING_TEST
    + """
EVENTS = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]

def test_a(request, golden_path_session):
    s = golden_path_session()
    record(request, s)
    assert s.ok, s.error
    assert list(s.events_seen) == EVENTS

def test_b(request, golden_path_session):
    s = golden_path_session()
    record(request, s)
    assert s.ok, s.error

def test_no_fixture():
    pass

def test_c(request, golden_path_session):
    s = golden_path_session()
    record(request, s)
    assert s.ok, s.error

def test_d(request, golden_path_session):
    s = golden_path_session()
    record(request, s)
    assert s.ok, s.error

def test_e(request, golden_path_session):
    s = golden_path_session()
    record(request, s)
    assert s.ok, s.error

def test_f(request, golden_path_session):
    s = golden_path_session()
    record(request, s)
    assert "agent_exploded" in s.events_seen, "planted: an event the agent never sends"
""",
}


def test_each_test_gets_its_own_prefetched_session_and_a_failure_fails_only_its_test(
    tmp_path: Path,
) -> None:
    write(tmp_path, SUITE)
    # concurrency 1: sessions run in test order, so connection k is test k's session
    with scripted_server(fail={2, 5}) as (url, connections):
        run = run_pytest(tmp_path, ws_url=url, token="t0k", env={ENV_CONCURRENCY: "1"})
    assert run.outcomes == {
        "test_a": "passed",
        "test_b": "failure",  # 2nd session: planted crash
        "test_no_fixture": "passed",
        "test_c": "passed",
        "test_d": "passed",
        "test_e": "failure",  # 5th session: planted crash
        "test_f": "failure",  # its session passed; its assertion is wrong
    }, run.output
    assert "server_error" in run.messages["test_b"] or "1011" in run.messages["test_b"]
    assert "planted: an event" in run.messages["test_f"]
    # one session per test that uses the fixture, handed out in order, none run twice
    assert connections[0] == 6
    assert {name: r["index"] for name, r in run.records.items()} == {
        "test_a": 0,
        "test_b": 1,
        "test_c": 2,
        "test_d": 3,
        "test_e": 4,
        "test_f": 5,
    }
    assert run.records["test_b"]["kind"] == "server_error"


def test_prefetch_against_the_sample_target_runs_sessions_concurrently(tmp_path: Path) -> None:
    n = 30
    body = RECORDING_TEST + "".join(
        f"""
def test_{i:02d}(request, golden_path_session):
    s = golden_path_session()
    record(request, s)
    assert s.ok, s.error
"""
        for i in range(n)
    )
    write(tmp_path, {"test_many.py": body})
    with SampleTarget(secret="s" * 40, event_delay=0.1) as sample:
        run = run_pytest(tmp_path, ws_url=sample.ws_url, token=sample.mint_token())
        connections = sample.stats["connections"]
    assert set(run.outcomes.values()) == {"passed"}, run.output
    assert len(run.outcomes) == n
    assert sorted(r["index"] for r in run.records.values()) == list(range(n))
    assert connections == n
    # 30 sessions of ~0.5 s each, one after another, would take 15 s
    assert run.wall_s < 10, run.wall_s


def test_calls_with_arguments_and_second_calls_run_live_sessions(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "test_custom.py": RECORDING_TEST
            + """
def test_custom_events(request, golden_path_session):
    s = golden_path_session(events=("agent_started", "agent_exploded", "agent_completed"))
    record(request, s)
    assert s.kind == "missing_event" and s.missing == ["agent_exploded"], s.error

def test_custom_message(golden_path_session):
    s = golden_path_session(message={"type": "user_message", "payload": {"content": "hi"}})
    assert s.ok, s.error

def test_twice(golden_path_session):
    first, second = golden_path_session(), golden_path_session()
    assert first.ok and second.ok
    assert first is not second
""",
        },
    )
    with scripted_server(fail=set()) as (url, connections):
        run = run_pytest(tmp_path, ws_url=url, token="t0k")
    assert set(run.outcomes.values()) == {"passed"}, run.output
    # 3 prefetched (one per test using the fixture) + 2 custom live + 1 second call
    assert connections[0] == 6


def test_nothing_happens_without_the_golden_path_environment(tmp_path: Path) -> None:
    write(tmp_path, SUITE)
    with scripted_server(fail=set()) as (_url, connections):
        run = run_pytest(tmp_path)
    assert run.outcomes["test_no_fixture"] == "passed"
    assert {o for name, o in run.outcomes.items() if name != "test_no_fixture"} == {"skipped"}
    assert "GOLDEN_PATH_WS_URL is not set" in run.messages["test_a"]
    assert connections[0] == 0


def test_prefetch_off_and_collect_only_open_no_extra_connections(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "test_unused.py": """
def test_requests_but_never_calls(golden_path_session):
    pass
""",
        },
    )
    with scripted_server(fail=set()) as (url, connections):
        run = run_pytest(tmp_path, "--collect-only", ws_url=url, token="t0k")
        assert run.code == 0 and connections[0] == 0
        run = run_pytest(tmp_path, ws_url=url, token="t0k", env={ENV_PREFETCH: "0"})
        assert run.outcomes == {"test_requests_but_never_calls": "passed"}
        assert connections[0] == 0
        run = run_pytest(tmp_path, ws_url=url, token="t0k")
        assert run.outcomes == {"test_requests_but_never_calls": "passed"}
        assert connections[0] == 1  # prefetched, never taken: harmless


def test_only_the_selected_tests_get_sessions(tmp_path: Path) -> None:
    """-k, -m, --lf, --deselect: the count is taken after selection, not at collection."""
    body = RECORDING_TEST + "".join(
        f"\ndef test_{i:02d}(request, golden_path_session):\n"
        "    s = golden_path_session()\n    record(request, s)\n    assert s.ok\n"
        for i in range(20)
    )
    write(tmp_path, {"test_select.py": body})
    with scripted_server(fail=set()) as (url, connections):
        run = run_pytest(tmp_path, "-k", "test_03 or test_17", ws_url=url, token="t0k")
    assert run.outcomes == {"test_03": "passed", "test_17": "passed"}, run.output
    assert connections[0] == 2
    assert sorted(r["index"] for r in run.records.values()) == [0, 1]


def test_retries_rerun_only_the_failed_test_with_a_fresh_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """golden-path's ``--lf`` rerun collects everything but selects one test: one session."""
    from bot.checks.pytest_suite import run_suite
    from bot.config import PytestSuite

    write(tmp_path, SUITE)
    (tmp_path / "results").mkdir()
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv(ENV_CONCURRENCY, "1")  # sessions in test order: connection 2 is test_b's
    suite = PytestSuite(name="flow", args=[str(tmp_path)], cwd=str(tmp_path), timeout=60)
    with scripted_server(fail={2}) as (url, connections):
        result = asyncio.run(
            run_suite(
                suite,
                base_url=url.replace("ws", "http", 1),
                ws_url=url,
                token="t0k",
                retries=1,
                log=lambda text, level="info": None,
            )
        )
    outcomes = {c.nodeid.rsplit("::", 1)[1]: (c.outcome, c.flaky) for c in result.cases}
    assert outcomes["test_b"] == ("passed", True)  # its rerun got a fresh, passing session
    assert outcomes["test_f"] == ("failed", False)  # a wrong assertion stays wrong
    assert result.flaky == 1 and result.failed == 1 and result.passed == 5
    assert connections[0] == 6 + 2  # first run: 6; the rerun of test_b and test_f: 2


def test_the_plugin_imports_nothing_heavy() -> None:
    """Every pytest run in the venv loads it (our own suite included)."""
    code = (
        "import sys, bot.plugin\n"
        "heavy = ['websockets', 'asyncio', 'bot.checks.agent_flow', 'jwt', 'httpx',"
        " 'pydantic', 'yaml', 'bot.config']\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(("value", "expected"), [("", 200), ("7", 7), ("0", 1), ("lots", 200)])
def test_concurrency_setting(monkeypatch: pytest.MonkeyPatch, value: str, expected: int) -> None:
    from bot.plugin import _concurrency

    monkeypatch.setenv(ENV_CONCURRENCY, value)
    assert _concurrency() == expected


# -- one flow definition: the plugin's sessions follow the bot's config ---------------------

REALISTIC_SUITE = {
    "test_realistic.py": RECORDING_TEST
    + "".join(
        f"""
def test_{i}(request, golden_path_session):
    s = golden_path_session()
    record(request, s)
    assert s.ok, s.error
"""
        for i in range(8)
    )
}


def _realistic_flow(target: RealisticTarget) -> dict:
    cfg = realistic_config(base_url=target.base_url, auth_url=target.auth_url, sessions=1)
    return cfg["checks"]["agent_flow"]


def _write_config(root: Path, data: dict) -> Path:
    path = root / "golden-path.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_sessions_follow_the_configured_flow_definition(tmp_path: Path) -> None:
    """Against the realistic backend (subprotocol token, envelopes, sub-agents, call ids) the
    prefetched sessions pass with GOLDEN_PATH_CONFIG and are refused without it."""
    write(tmp_path, REALISTIC_SUITE)
    with RealisticTarget(secret="s" * 40) as target:
        config = _write_config(tmp_path, {"checks": {"agent_flow": _realistic_flow(target)}})
        token = target.mint_token()
        bare = run_pytest(tmp_path, ws_url=target.ws_url, token=token)
        configured = run_pytest(
            tmp_path, ws_url=target.ws_url, token=token, env={ENV_CONFIG: str(config)}
        )
    assert set(bare.outcomes.values()) == {"failure"}, bare.output
    assert {r["kind"] for r in bare.records.values()} == {"auth_rejected"}
    assert set(configured.outcomes.values()) == {"passed"}, configured.output
    assert "8 sessions prefetched" in configured.output
    assert sorted(r["index"] for r in configured.records.values()) == list(range(8))


def test_config_alone_gives_the_urls_and_the_config_fixture(tmp_path: Path) -> None:
    """With only GOLDEN_PATH_CONFIG and a token (pytest run by hand), the base and ws URLs
    come from the config, golden_path_config is it, and live sessions start from its flow."""
    write(
        tmp_path,
        {
            "test_fixtures.py": """
import os
import re

def test_urls_and_config(golden_path_config, golden_path_base_url, golden_path_ws_url):
    assert golden_path_config.environment == "by-hand"
    assert golden_path_base_url == os.environ["EXPECTED_BASE"]
    assert golden_path_ws_url == os.environ["EXPECTED_BASE"].replace("http", "ws", 1) + "/ws"

def test_live_session_with_overrides(golden_path_session):
    two = golden_path_session(events=("agent_started", "agent_completed"))
    assert two.ok and list(two.events_seen) == ["agent_started", "agent_completed"], two.error
    hi = golden_path_session(message={"type": "user_message", "payload": {"content": "hi"}})
    assert hi.ok and hi.counts["agent_thinking"] >= 2, hi.error
""",
        },
    )
    with RealisticTarget(secret="s" * 40) as target:
        config = _write_config(
            tmp_path,
            {
                "environment": "by-hand",
                "target": {"base_url": target.base_url},
                "checks": {"agent_flow": _realistic_flow(target)},
            },
        )
        env = {ENV_CONFIG: str(config), "EXPECTED_BASE": target.base_url}
        run = run_pytest(tmp_path, token=target.mint_token(), env=env)
    assert run.outcomes == {
        "test_urls_and_config": "passed",
        "test_live_session_with_overrides": "passed",
    }, run.output


def test_a_broken_config_stops_the_suite_with_its_message(tmp_path: Path) -> None:
    """GOLDEN_PATH_CONFIG naming a bad file: pytest's usage error, naming the key."""
    write(tmp_path, SUITE)
    bad = tmp_path / "bad.yml"
    bad.write_text("checks:\n  agent_flow:\n    evnts: [a]\n", encoding="utf-8")
    with scripted_server(fail=set()) as (url, connections):
        run = run_pytest(tmp_path, ws_url=url, token="t0k", env={ENV_CONFIG: str(bad)})
    assert run.code == 4, run.output
    assert "GOLDEN_PATH_CONFIG" in run.output and "evnts" in run.output
    assert connections[0] == 0


def test_golden_path_run_hands_its_flow_definition_to_the_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`golden-path run` with a pytest suite against the realistic backend: the suite's
    sessions use the config's transport, keys and rules, so every test passes."""
    suite = tmp_path / "suite"
    suite.mkdir()
    write(suite, REALISTIC_SUITE)
    (suite / "results").mkdir()
    monkeypatch.setenv("RESULTS_DIR", str(suite / "results"))
    monkeypatch.setenv("GOLDEN_PATH_PROGRESS", "off")
    with RealisticTarget(secret="s" * 40) as target:
        cfg = realistic_config(base_url=target.base_url, auth_url=target.auth_url, sessions=5)
        del cfg["deploy"]
        cfg["target"] = {"base_url": target.base_url}
        cfg["auth"]["jwt"]["secret_env"] = "PLUGIN_TEST_SECRET"
        cfg["checks"]["pytest"] = [{"name": "e2e", "args": [str(suite)], "cwd": str(suite)}]
        monkeypatch.setenv("PLUGIN_TEST_SECRET", target.secret)
        path = _write_config(tmp_path, cfg)
        results_path = tmp_path / "results.json"
        code = main(
            ["run", "--config", str(path), "--tracker", "none", "--results", str(results_path)]
        )
    results = json.loads(results_path.read_text(encoding="utf-8"))
    (e2e,) = results["suites"]
    assert (e2e["passed"], e2e["failed"], e2e["errors"], e2e["error"]) == (8, 0, 0, ""), e2e
    assert code == 0


def test_the_readme_example_test_file_passes_through_golden_path_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's "Your own golden-path tests" file, run by `golden-path run` against the
    realistic backend with the README's kind of config: every test passes."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your own golden-path tests", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    suite = tmp_path / "tests" / "e2e"
    suite.mkdir(parents=True)
    (suite / "test_golden_path.py").write_text(example, encoding="utf-8")
    monkeypatch.setenv("GOLDEN_PATH_PROGRESS", "off")
    with RealisticTarget(secret="s" * 40) as target:
        cfg = realistic_config(base_url=target.base_url, auth_url=target.auth_url, sessions=3)
        del cfg["deploy"]
        cfg["target"] = {"base_url": target.base_url}
        cfg["auth"]["jwt"]["secret_env"] = "PLUGIN_TEST_SECRET"
        cfg["checks"]["pytest"] = [
            {"name": "golden path e2e", "args": ["tests/e2e"], "cwd": str(tmp_path)}
        ]
        monkeypatch.setenv("PLUGIN_TEST_SECRET", target.secret)
        path = _write_config(tmp_path, cfg)
        results_path = tmp_path / "results.json"
        code = main(
            ["run", "--config", str(path), "--tracker", "none", "--results", str(results_path)]
        )
    (e2e,) = json.loads(results_path.read_text(encoding="utf-8"))["suites"]
    assert (e2e["passed"], e2e["failed"], e2e["errors"], e2e["error"]) == (5, 0, 0, ""), e2e
    assert code == 0
