"""Shared fixtures: real servers on loopback, started per test and stopped after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.redact import REDACTOR
from bot.sample import SampleTarget

pytest_plugins = ["tests.support.github_fixtures"]


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
