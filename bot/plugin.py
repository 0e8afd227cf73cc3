"""pytest plugin (entry point ``golden_path``): fixtures for user golden-path suites.

The bot runs a user's suite with the target's URLs, a minted token and its own config
(``GOLDEN_PATH_CONFIG``: the effective config as a file) in the environment; these fixtures
hand them to tests, plus ``golden_path_session`` which runs one full agent-flow session with
the same checker *and the same flow definition* the bot uses (events, rules, key paths,
token transport, message), so a user test asserts on the same evidence the report shows.
Without ``GOLDEN_PATH_CONFIG`` the checker's defaults apply.

**Prefetching.** Golden-path sessions are latency-bound (an agent thinks, calls tools,
answers: ~250 ms each), so 1,000 tests that each run one session back to back take
minutes. When the suite runs through golden-path (``GOLDEN_PATH_WS_URL`` and
``GOLDEN_PATH_TOKEN`` set), the plugin counts, once collection is final, the tests that
use ``golden_path_session`` and runs that many sessions concurrently before the first
test (one event loop, bounded concurrency, uvloop when installed, one connection per
session, the bot's own checker). ``golden_path_session()`` then hands each test its
*own* pre-run :class:`bot.results.FlowSession`, so a failing session fails exactly its
test. A call with arguments (another message, other events, ...) or a second call in the
same test runs a live session, as without the plugin; so do xdist workers, which each run
an unknown share of the suite. ``GOLDEN_PATH_PREFETCH=0`` turns prefetching off;
``GOLDEN_PATH_CONCURRENCY`` bounds the sessions in flight (default 200).

Imports stay lazy: this module is loaded by every pytest run in an environment where
the bot is installed, so it imports nothing beyond pytest until a suite asks for a
session or the config (then the config's own libraries, pydantic and PyYAML).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from bot.suite_env import (
    ENV_BASE_URL,
    ENV_CONCURRENCY,
    ENV_CONFIG,
    ENV_PREFETCH,
    ENV_TOKEN,
    ENV_WS_URL,
)

FIXTURE = "golden_path_session"
DEFAULT_CONCURRENCY = 200

_PREFETCHED = pytest.StashKey[dict[str, Any]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "golden_path: a golden-path end-to-end test")


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.skip(f"{name} is not set: run this suite through golden-path")
    return value


@functools.cache
def _config(path: str) -> Any:
    """The bot's config, loaded once per process; a bad file is a clear ConfigError."""
    from bot.config import load_config

    return load_config(path)


def _flow() -> Any:
    """``checks.agent_flow`` of ``GOLDEN_PATH_CONFIG`` (its defaults when null); None
    without a config, which means the checker's own defaults."""
    path = os.environ.get(ENV_CONFIG, "")
    if not path:
        return None
    from bot.config import AgentFlow

    return _config(path).checks.agent_flow or AgentFlow()


def _base_url() -> str:
    """``GOLDEN_PATH_BASE_URL``, else the config's target.base_url (or deploy.url)."""
    base = os.environ.get(ENV_BASE_URL, "")
    path = os.environ.get(ENV_CONFIG, "")
    if not base and path:
        base = _config(path).base_url() or ""
    return base


def _ws_url() -> str:
    """``GOLDEN_PATH_WS_URL``, else the configured agent-flow URL under the base URL."""
    url = os.environ.get(ENV_WS_URL, "")
    flow = _flow()
    if url or flow is None:
        return url
    base = _base_url()
    if not base and not flow.url.startswith(("ws:", "wss:")):
        return ""
    return str(_config(os.environ[ENV_CONFIG]).resolve_url(flow.url, base, websocket=True))


def _token() -> str | None:
    """The token to send; None when the config says none is sent. Skips when one is needed
    and missing."""
    flow = _flow()
    if flow is not None and flow.token_in == "none":
        return None
    return _env(ENV_TOKEN)


@functools.lru_cache(maxsize=4)
def _spec(ws_url: str, token: str | None, config_path: str) -> Any:
    """The session the bot runs: ``FlowSpec.from_config`` with the bot's config, exactly as
    ``bot.checks.agent_flow`` builds it, or the checker's defaults without a config."""
    from bot.checks.agent_flow import FlowSpec

    flow = _flow() if config_path else None
    if flow is None:
        return FlowSpec(url=ws_url, token=token)
    return FlowSpec.from_config(flow, ws_url, token)


def session_spec() -> Any:
    """This suite's :class:`~bot.checks.agent_flow.FlowSpec` (skips outside golden-path)."""
    url = _ws_url()
    if not url:
        pytest.skip(f"{ENV_WS_URL} is not set: run this suite through golden-path")
    return _spec(url, _token(), os.environ.get(ENV_CONFIG, ""))


def _prefetch_enabled(config: pytest.Config) -> bool:
    if not (os.environ.get(ENV_WS_URL) or os.environ.get(ENV_CONFIG)):
        return False  # not run by golden-path: decided without importing anything
    if os.environ.get(ENV_PREFETCH, "").strip().lower() in ("0", "off", "false", "no"):
        return False
    # an xdist worker runs an unknown share of the collection: it gets live sessions
    return not hasattr(config, "workerinput")


def _prefetch_spec() -> Any:
    """The spec to prefetch with, or None when a session could not run (no URL, no token)."""
    url = _ws_url()
    flow = _flow()
    token = os.environ.get(ENV_TOKEN, "") or None
    if not url or (token is None and (flow is None or flow.token_in != "none")):
        return None
    if flow is not None and flow.token_in == "none":
        token = None
    return _spec(url, token, os.environ.get(ENV_CONFIG, ""))


def _concurrency() -> int:
    try:
        return max(1, int(os.environ.get(ENV_CONCURRENCY, "") or DEFAULT_CONCURRENCY))
    except ValueError:
        return DEFAULT_CONCURRENCY


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    """Prefetch once the run order is final (after -k/-m, --lf, reordering plugins)."""
    config = session.config
    sessions: dict[str, Any] = {}
    collection_failed = session.testsfailed and not config.option.continue_on_collection_errors
    if not config.option.collectonly and not collection_failed and _prefetch_enabled(config):
        nodeids = [
            item.nodeid for item in session.items if FIXTURE in getattr(item, "fixturenames", ())
        ]
        spec = _prefetch_spec_or_usage_error() if nodeids else None
        if spec is not None:
            import time

            started = time.perf_counter()
            sessions = prefetch(spec, nodeids)
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                passed = sum(1 for s in sessions.values() if s.ok)
                reporter.write_line(
                    f"golden-path: {len(sessions)} sessions prefetched in "
                    f"{time.perf_counter() - started:.2f}s ({passed} passed), "
                    f"{_concurrency()} in flight"
                )
    config.stash[_PREFETCHED] = sessions
    try:
        return (yield)
    finally:
        config.stash[_PREFETCHED] = {}


def _prefetch_spec_or_usage_error() -> Any:
    from bot.config import ConfigError

    try:
        return _prefetch_spec()
    except ConfigError as exc:  # the suite cannot run as the bot would: say why, once
        raise pytest.UsageError(f"golden-path: {ENV_CONFIG}: {exc}") from None


def prefetch(spec: Any, nodeids: Sequence[str], concurrency: int | None = None) -> dict[str, Any]:
    """One session of ``spec`` per node id, ``concurrency`` in flight: node id → FlowSession.

    Run in the main thread, before the first test: a session running in a thread beside
    the tests would share the GIL with them (no faster) and read ``os.environ`` (proxy
    settings) while pytest rewrites ``PYTEST_CURRENT_TEST`` in it, a race that fails
    sessions at random.
    """
    from bot.runtime import run_async

    unique = list(dict.fromkeys(nodeids))  # a node id twice (duplicate args): one session
    n = concurrency if concurrency is not None else _concurrency()
    results = run_async(_run_sessions(spec, len(unique), n))
    return dict(zip(unique, results, strict=True))


async def _run_sessions(spec: Any, count: int, concurrency: int) -> list[Any]:
    """``count`` sessions, one connection each, by a pool of ``concurrency`` workers."""
    import asyncio

    from bot.checks.agent_flow import run_connection

    results: list[Any] = [None] * count
    work = iter(range(count))

    async def worker() -> None:
        for index in work:  # shared: each worker takes the next test's session
            (results[index],) = await run_connection(spec, [index])

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))
    return results


@pytest.fixture(scope="session")
def golden_path_config() -> Any:
    """The bot's config (:class:`bot.config.Config`), as the bot ran with it."""
    path = os.environ.get(ENV_CONFIG, "")
    if not path:
        pytest.skip(f"{ENV_CONFIG} is not set: run this suite through golden-path")
    return _config(path)


@pytest.fixture(scope="session")
def golden_path_base_url() -> str:
    """The target's base URL (the deployed one when the bot deployed)."""
    base = _base_url()
    if not base:
        pytest.skip(f"{ENV_BASE_URL} is not set: run this suite through golden-path")
    return base


@pytest.fixture(scope="session")
def golden_path_ws_url() -> str:
    """The agent flow's WebSocket URL."""
    url = _ws_url()
    if not url:
        pytest.skip(f"{ENV_WS_URL} is not set: run this suite through golden-path")
    return url


@pytest.fixture(scope="session")
def golden_path_token() -> str:
    """The test token the bot minted (or read from auth.token_env); a secret."""
    return _env(ENV_TOKEN)


@pytest.fixture
def golden_path_session(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run one golden-path session; returns a :class:`bot.results.FlowSession`.

    ``golden_path_session()`` returns this test's prefetched session when the suite runs
    through golden-path; with arguments (``message={...}``, or any ``FlowSpec`` field such
    as ``events=...``, ``timeout=...``) it always runs a live one, starting from the bot's
    flow definition.
    """
    spec = session_spec()
    prefetched = request.config.stash.get(_PREFETCHED, {})
    nodeid = request.node.nodeid
    first = [True]

    def run(message: dict[str, Any] | None = None, **overrides: Any) -> Any:
        if first[0] and message is None and not overrides:
            first[0] = False
            session = prefetched.pop(nodeid, None)  # taken once: a rerun goes live
            if session is not None:
                return session
        first[0] = False
        return _live_session(spec, message, overrides)

    return run


def _live_session(spec: Any, message: dict[str, Any] | None, overrides: dict[str, Any]) -> Any:
    import asyncio
    import dataclasses
    import json

    from bot.checks.agent_flow import run_connection

    if message is not None:
        overrides = {**overrides, "message": json.dumps(message)}
    if "events" in overrides and "rules" not in overrides:
        # the configured rules name events this call may have left out
        events = set(overrides["events"])
        overrides["rules"] = tuple(
            r for r in spec.rules if r.event in events and (r.pair is None or r.pair in events)
        )
    spec = dataclasses.replace(spec, **overrides)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_connection(spec, [0]))[0]
    # called from inside a running loop (an async test): run beside it, not in it
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run_connection(spec, [0])).result()[0]
