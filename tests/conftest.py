"""Shared fixtures: real servers on loopback, started per test and stopped after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.redact import REDACTOR
from bot.sample import SampleTarget
from tests.support.github_server import GitHubServer

pytest_plugins = ["tests.support.github_fixtures"]


_ACTIONS_VARS = (
    "GITHUB_ACTIONS",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_ENV",
    "GITHUB_EVENT_NAME",
    "GITHUB_EVENT_PATH",
    "GITHUB_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
    "CI",
)


@pytest.fixture(autouse=True)
def _outside_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run in CI too: never write into the real job summary or outputs."""
    for name in _ACTIONS_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    """Secrets registered by one test must not mask (or hide leaks in) another."""
    REDACTOR.clear()
    yield
    REDACTOR.clear()


@pytest.fixture
def sample() -> Iterator[SampleTarget]:
    """The bundled sample target, healthy; tests switch faults with ``set_faults``."""
    with SampleTarget(secret="s" * 40) as target:
        yield target


@pytest.fixture
def workdir(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    github_env: dict[str, str],
    github_server: GitHubServer,
    sample: SampleTarget,
) -> Path:
    """A checkout-like directory with a config for the sample target and the Actions env."""
    monkeypatch.chdir(tmp_path)
    for key, value in github_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TEST_JWT_SECRET", sample.secret)
    monkeypatch.setenv("GOLDEN_PATH_RETRY_BACKOFF", "0.01")
    monkeypatch.setenv("GOLDEN_PATH_PROGRESS", "off")
    monkeypatch.setenv("GOLDEN_PATH_SETTLE", "0.3")
    # the stand-in's token belongs to this bot login, as GITHUB_TOKEN's to github-actions[bot]
    monkeypatch.setenv("GOLDEN_PATH_BOT_LOGIN", github_server.login)
    (tmp_path / "golden-path.yml").write_text(
        f"""
environment: staging
target_tests: 20
target: {{base_url: "{sample.base_url}"}}
auth:
  jwt: {{secret_env: TEST_JWT_SECRET, claims: {{sub: e2e, iss: auth-service, aud: backend}}}}
  verify_url: "{sample.auth_url}/auth/validate"
checks:
  health:
    - {{name: Infrastructure Health, url: /health}}
    - {{name: Auth Service Health, url: "{sample.auth_url}/health"}}
  endpoints:
    - {{name: threads, url: /api/threads, auth: true}}
  agent_flow: {{sessions: 20, concurrency: 20, timeout: 5s, connect_timeout: 2s}}
tracking: {{labels: [golden-path]}}
""",
        encoding="utf-8",
    )
    return tmp_path
