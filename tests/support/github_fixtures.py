"""Pytest fixtures for the GitHub REST stand-in (load with ``pytest_plugins``).

``github_server`` gives each test a fresh server so recorded requests, injected faults and rate
budgets never leak between tests; ``github_env`` is the set of Actions variables through which
the bot finds GitHub, so code under test reaches the stand-in exactly as it reaches
api.github.com in a workflow. ``make_github`` builds a PyGithub client with production-shaped
retry logic but no request spacing and tiny back-off, so fault tests stay fast without
pretending PyGithub behaves differently.

PYTEST_DONT_REWRITE: this module has no asserts, and test modules import ``make_github`` from
it before pytest loads it as a plugin; opting out avoids a spurious "already imported" warning.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from github import Auth, Github, GithubRetry

from tests.support.github_server import DEFAULT_REPO, GitHubServer

__all__ = ["github_env", "github_server", "make_github", "make_retry"]

RUN_ID = "4242424242"
SHA = "0123456789abcdef0123456789abcdef01234567"


def make_retry(total: int = 3, **kwargs: object) -> GithubRetry:
    """PyGithub's own retry policy with test-sized waits.

    ``backoff_factor`` and ``secondary_rate_wait`` are tiny and ``max_rate_limit_wait`` is a
    few seconds, so a rate-limit test cannot stall the suite for an hour. ``Retry-After``
    is still honoured to the second (urllib3 takes it verbatim).
    """
    options: dict[str, object] = {
        "backoff_factor": 0.01,
        "secondary_rate_wait": 0.05,
        "max_rate_limit_wait": 5,
    }
    options.update(kwargs)
    return GithubRetry(total=total, **options)  # type: ignore[arg-type]


def make_github(
    server: GitHubServer,
    *,
    token: str | None = None,
    retry: GithubRetry | int | None = None,
    per_page: int = 30,
    timeout: int = 10,
) -> Github:
    """A PyGithub client for ``server``: zero request spacing, fast ``GithubRetry``.

    Close it (``with make_github(server) as g:`` or ``g.close()``) so its pooled keep-alive
    connection does not outlive the test.
    """
    return Github(
        base_url=server.url,
        auth=Auth.Token(token or server.token),
        per_page=per_page,
        timeout=timeout,
        seconds_between_requests=0,
        seconds_between_writes=0,
        retry=make_retry() if retry is None else retry,
    )


@pytest.fixture
def github_server() -> Iterator[GitHubServer]:
    """A started GitHub stand-in (default repo ``octo/app``), stopped after the test."""
    with GitHubServer() as server:
        yield server


@pytest.fixture
def github_env(github_server: GitHubServer) -> dict[str, str]:
    """The standard Actions variables pointing at ``github_server``."""
    return {
        "GITHUB_API_URL": github_server.url,
        "GITHUB_TOKEN": github_server.token,
        "GITHUB_REPOSITORY": DEFAULT_REPO,
        "GITHUB_SERVER_URL": github_server.web_url,
        "GITHUB_RUN_ID": RUN_ID,
        "GITHUB_SHA": SHA,
    }
