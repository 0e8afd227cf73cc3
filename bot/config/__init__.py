"""``.github/golden-path.yml``: frozen models, YAML loading with clear errors, JSON Schema.

The package is split along its seams: :mod:`~bot.config.errors` (what a problem is),
:mod:`~bot.config.models` (the sections and their defaults), :mod:`~bot.config.messages`
(pydantic's errors in the file's own words), :mod:`~bot.config.loading` (safe YAML with line
numbers) and :mod:`~bot.config.schema`. Callers import from here.
"""

from bot.config.errors import ConfigError
from bot.config.loading import DEFAULT_PATH, load_config, parse_config
from bot.config.models import (
    AgentFlow,
    Auth,
    Checks,
    Commands,
    Config,
    Deploy,
    Endpoint,
    HealthCheck,
    Impact,
    Jwt,
    PytestSuite,
    Retries,
    Target,
    Tracking,
)
from bot.config.schema import config_schema
from bot.duration import Duration, format_duration, parse_duration

__all__ = [
    "DEFAULT_PATH",
    "AgentFlow",
    "Auth",
    "Checks",
    "Commands",
    "Config",
    "ConfigError",
    "Deploy",
    "Duration",
    "Endpoint",
    "HealthCheck",
    "Impact",
    "Jwt",
    "PytestSuite",
    "Retries",
    "Target",
    "Tracking",
    "config_schema",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
]
