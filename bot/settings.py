"""Every environment variable the bot reads, parsed and validated once, at the edge.

``cli`` builds one :class:`Settings` from ``os.environ`` and the command's flags and hands it
down; nothing deeper reads the environment, so every stage can be tested with a plain dict,
and a bad value fails before any work starts, as an exit-2 error naming the variable.

The action's inputs arrive as command-line flags (``bot/action.py`` builds them), and flags
map onto this object with :meth:`Settings.but` — never into a fake environment.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from bot.config.errors import ConfigError
from bot.runtime import DEFAULT_OUT

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_BOT_LOGIN = "github-actions[bot]"
PROGRESS_MODES = ("off", "bar", "lines")


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


def _number(
    env: Mapping[str, str], name: str, default: float, low: float, high: float, *, whole: bool
) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = math.nan
    if not (low <= value <= high):  # NaN fails too
        kind = "a whole number" if whole else "a number"
        raise ConfigError(
            f"{name}={text!r} is not {kind} from {low:g} to {high:g} — e.g. {name}={default:g} "
            f"(or unset it for the default, {default:g})"
        )
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """The bot's view of its environment: GitHub's ``GITHUB_*`` and our ``GOLDEN_PATH_*``."""

    env: Mapping[str, str] = field(default_factory=dict)
    """The environment as read: config-named secrets and the deploy command's inheritance."""
    in_actions: bool = False
    """``GITHUB_ACTIONS=true``: workflow commands are understood by the runner."""
    ci: bool = False
    """``CI`` is set (any CI): progress prints lines instead of a bar."""
    github_token: str = ""
    repository: str = ""
    api_url: str = DEFAULT_API_URL
    server_url: str = ""
    run_id: str = ""
    sha: str = ""
    event_name: str = ""
    event_path: str = ""
    step_summary: str = ""
    output: str = ""
    bot_login: str = DEFAULT_BOT_LOGIN
    """``GOLDEN_PATH_BOT_LOGIN``: the bot's own login; its comments are ignored."""
    settle_s: float = 3.0
    """``GOLDEN_PATH_SETTLE``: seconds for concurrent writes to land before verifying."""
    retry_backoff: float = 0.5
    """``GOLDEN_PATH_RETRY_BACKOFF``: PyGithub's retry back-off factor."""
    github_retries: int = 5
    """``GOLDEN_PATH_GITHUB_RETRIES``: retries of a failed GitHub request."""
    github_timeout: int = 30
    """``GOLDEN_PATH_GITHUB_TIMEOUT``: whole seconds PyGithub waits per request."""
    progress: str | None = None
    """``GOLDEN_PATH_PROGRESS``: off, bar or lines; None decides from the terminal."""
    state_secret: str = ""
    """``GOLDEN_PATH_STATE_KEY``: signs the issue's state block (default: the JWT secret)."""
    action_repository: str = ""
    """``GITHUB_ACTION_REPOSITORY``: where the action lives (its README explains the issue)."""
    deploy: bool = True
    """Run the deploy step (``--no-deploy`` / the action's ``deploy: false`` turn it off)."""
    results: Path = Path(DEFAULT_OUT) / "results.json"
    """Where results.json goes (``--results``); junit.xml lands next to it."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Parse ``env`` (usually ``os.environ``); a bad value is a :class:`ConfigError`."""
        progress = env.get("GOLDEN_PATH_PROGRESS", "").strip().lower() or None
        if progress is not None and progress not in PROGRESS_MODES:
            raise ConfigError(
                f"GOLDEN_PATH_PROGRESS={progress!r}: use one of {', '.join(PROGRESS_MODES)} "
                "(or unset it: a bar on a terminal, lines in CI)"
            )
        return cls(
            env=MappingProxyType(dict(env)),
            in_actions=env.get("GITHUB_ACTIONS") == "true",
            ci=_truthy(env.get("GITHUB_ACTIONS")) or _truthy(env.get("CI")),
            github_token=env.get("GITHUB_TOKEN", ""),
            repository=env.get("GITHUB_REPOSITORY", ""),
            api_url=env.get("GITHUB_API_URL") or DEFAULT_API_URL,
            server_url=env.get("GITHUB_SERVER_URL", ""),
            run_id=env.get("GITHUB_RUN_ID", ""),
            sha=env.get("GITHUB_SHA", ""),
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event_path=env.get("GITHUB_EVENT_PATH", ""),
            step_summary=env.get("GITHUB_STEP_SUMMARY", ""),
            output=env.get("GITHUB_OUTPUT", ""),
            bot_login=env.get("GOLDEN_PATH_BOT_LOGIN", "").strip() or DEFAULT_BOT_LOGIN,
            settle_s=_number(env, "GOLDEN_PATH_SETTLE", 3.0, 0, 600, whole=False),
            retry_backoff=_number(env, "GOLDEN_PATH_RETRY_BACKOFF", 0.5, 0, 60, whole=False),
            github_retries=int(_number(env, "GOLDEN_PATH_GITHUB_RETRIES", 5, 0, 20, whole=True)),
            github_timeout=int(_number(env, "GOLDEN_PATH_GITHUB_TIMEOUT", 30, 1, 600, whole=True)),
            progress=progress,
            state_secret=env.get("GOLDEN_PATH_STATE_KEY", ""),
            action_repository=env.get("GOLDEN_PATH_ACTION_REPOSITORY", "")
            or env.get("GITHUB_ACTION_REPOSITORY", ""),
        )

    def but(self, **changes: object) -> Settings:
        """A copy with some values replaced (command-line flags win over the environment)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def run_url(self) -> str:
        """This workflow run's page, when Actions says where it is."""
        if self.server_url and self.repository and self.run_id:
            return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"
        return ""

    @property
    def docs_url(self) -> str:
        """The README section that explains the tracking issue, when the action's home is known."""
        if not self.action_repository or "/" not in self.action_repository:
            return ""
        server = self.server_url or "https://github.com"
        return f"{server}/{self.action_repository}#how-the-tracking-issue-looks"

    @property
    def default_tracker(self) -> str:
        """GitHub inside Actions with a token; else the local file next to the results."""
        if self.in_actions and self.github_token:
            return "github"
        return f"local:{Path(DEFAULT_OUT) / 'tracking-issue.md'}"
