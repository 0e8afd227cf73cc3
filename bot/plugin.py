"""pytest plugin (entry point ``golden_path``): fixtures for user golden-path suites.

The bot runs a user's suite with the target's URLs and a minted token in the
environment; these fixtures hand them to tests, plus ``golden_path_session`` which runs
one full agent-flow session with the same checker the bot uses, so a user test asserts
on the same evidence the report shows. Imports stay lazy: this module is loaded by
every pytest run in an environment where the bot is installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

ENV_BASE_URL = "GOLDEN_PATH_BASE_URL"
ENV_WS_URL = "GOLDEN_PATH_WS_URL"
ENV_TOKEN = "GOLDEN_PATH_TOKEN"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "golden_path: a golden-path end-to-end test")


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.skip(f"{name} is not set: run this suite through golden-path")
    return value


@pytest.fixture(scope="session")
def golden_path_base_url() -> str:
    return _env(ENV_BASE_URL)


@pytest.fixture(scope="session")
def golden_path_ws_url() -> str:
    return _env(ENV_WS_URL)


@pytest.fixture(scope="session")
def golden_path_token() -> str:
    return _env(ENV_TOKEN)


@pytest.fixture
def golden_path_session(golden_path_ws_url: str, golden_path_token: str) -> Callable[..., Any]:
    """Run one golden-path session; returns a :class:`bot.results.FlowSession`."""
    import asyncio

    from bot.checks.agent_flow import FlowSpec, run_connection

    def run(message: dict[str, Any] | None = None, **overrides: Any) -> Any:
        import json

        spec = FlowSpec(url=golden_path_ws_url, token=golden_path_token, **overrides)
        if message is not None:
            spec = FlowSpec(**{**_fields(spec), "message": json.dumps(message)})
        return asyncio.run(run_connection(spec, [0]))[0]

    return run


def _fields(spec: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
