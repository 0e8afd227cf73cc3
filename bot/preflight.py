"""Pre-flight: what can be known in seconds, before a deploy spends minutes.

``golden-path check`` runs every check here and prints one line each: the config, the
environment variables it names (by name; values never leave), the GitHub token's reach (one
REST call), the reachability of the URLs known before a deploy, and the deploy's URL pattern
against a sample line. ``run``, ``merge`` and ``handle-event`` iterations run the local ones
first (:func:`before_run`), so a missing ``GITHUB_TOKEN`` or secret fails in the first second,
not after a deploy and a full iteration.

On ``pull_request`` events, missing secrets and a token that may not write are warnings, not
failures: GitHub gives pull requests from forks no secrets and a read-only token, and the
check must still be usable there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

from bot.config import Config, ConfigError
from bot.runtime import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Console
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.publish.github import GitHub

State = Literal["ok", "warn", "fail", "skip"]
MARKS: Mapping[State, str] = {"ok": "✅", "warn": "⚠️ ", "fail": "❌", "skip": "⏭️ "}
URL_TIMEOUT_S = 3.0
GITHUB_TIMEOUT_S = 10
NO_TOKEN = (
    "checks.agent_flow sends no token: add an auth: section (auth.jwt or auth.token_env) — "
    "or set checks.agent_flow.token_in: none if the backend needs none"
)
FORK_NOTE = (
    " (expected on a pull request from a fork, which gets no secrets and a read-only token; "
    "the run needs it)"
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One pre-flight check: its name (a config key or a subject), state and message."""

    name: str
    state: State
    message: str

    def line(self) -> str:
        """The console line; a message that starts with the name does not repeat it."""
        message = self.message.removeprefix(f"{self.name}: ")
        return f"{MARKS[self.state]} {self.name:<24} {message}"


def _lenient(settings: Settings) -> bool:
    """A pull request may lack secrets and write access without anything being wrong."""
    return settings.event_name == "pull_request"


def _missing(name: str, message: str, lenient: bool) -> Finding:
    if lenient:
        return Finding(name, "warn", message + FORK_NOTE)
    return Finding(name, "fail", message)


# ------------------------------------------------------------------------- local (no network)


def secrets(cfg: Config, env: Mapping[str, str], *, lenient: bool = False) -> list[Finding]:
    """The environment variables the config names for the test token, by name only.

    The messages are the run's own: :func:`bot.pipeline.mint` reads the same variables the
    same way (``token_env`` wins over ``jwt``), so passing here means minting will not fail.
    """
    if cfg.auth.token_env:
        name = cfg.auth.token_env
        if not env.get(name):
            message = (
                f"auth.token_env: environment variable {name} is not set — export it, or pass "
                "it to the step with env:"
            )
            return [_missing("auth.token_env", message, lenient)]
        return [Finding("auth.token_env", "ok", f"{name} is set")]
    if cfg.auth.jwt is not None:
        try:
            cfg.auth.jwt.secret(env)
        except ConfigError as exc:
            return [_missing("auth.jwt.secret_env", str(exc), lenient)]
        return [Finding("auth.jwt.secret_env", "ok", f"{cfg.auth.jwt.secret_env} is set")]
    return []


def token_source(cfg: Config) -> list[Finding]:
    """An agent flow that would send a token, with nowhere to get one from.

    A warning, not an error: a backend that needs no auth works with this config, but one
    that does would refuse every session and the report would blame the backend.
    """
    flow = cfg.checks.agent_flow
    if flow is None or flow.token_in == "none":
        return []
    if cfg.auth.jwt is None and cfg.auth.token_env is None:
        return [Finding("auth", "warn", NO_TOKEN)]
    return []


def tracker_name(settings: Settings, chosen: str | None) -> str:
    """The tracker a run would use: ``--tracker``, else GitHub in Actions with a token."""
    return chosen or settings.default_tracker


def tracker(settings: Settings, name: str, *, lenient: bool = False) -> list[Finding]:
    """The GitHub tracker's credentials (present, well-formed); other trackers need none."""
    if name != "github":
        return [Finding("tracker", "ok", f"{name}: no GitHub access needed")]
    from bot.publish.github import credentials

    try:
        _, repository = credentials(settings)
    except ConfigError as exc:
        return [_missing("tracker", str(exc), lenient)]
    return [Finding("tracker", "ok", f"github: GITHUB_TOKEN is set, repository {repository}")]


def before_run(
    cfg: Config,
    settings: Settings,
    *,
    tracker_choice: str | None,
    github_ready: bool = False,
    needs_secrets: bool = True,
) -> list[Finding]:
    """The cheap checks ``run``/``merge``/``handle-event`` make before any work.

    ``github_ready``: the caller already holds a GitHub seam (its credentials were checked
    when it was built). ``needs_secrets``: the pipeline will run (``merge`` only publishes).
    """
    found: list[Finding] = []
    if needs_secrets:
        found += secrets(cfg, settings.env)
        found += token_source(cfg)
    name = tracker_name(settings, tracker_choice)
    if name == "github" and not github_ready:
        found += tracker(settings, name)
    return found


def require(
    cfg: Config,
    settings: Settings,
    *,
    tracker_choice: str | None,
    github_ready: bool = False,
    needs_secrets: bool = True,
    log: Callable[[str, str], None] | None = None,
) -> None:
    """:func:`before_run`, enforced: failures raise one :class:`ConfigError` (exit 2, before
    any deploy); warnings go to ``log`` (the run log, and so the session log)."""
    findings = before_run(
        cfg,
        settings,
        tracker_choice=tracker_choice,
        github_ready=github_ready,
        needs_secrets=needs_secrets,
    )
    if log is not None:
        for finding in findings:
            if finding.state == "warn":
                log(finding.message, "warning")
    failed = [finding.message for finding in findings if finding.state == "fail"]
    if failed:
        raise ConfigError("\n".join(failed))


# ----------------------------------------------------------------------------- the network


def github_access(gh: GitHub, settings: Settings, *, lenient: bool = False) -> list[Finding]:
    """One ``GET /repos/{owner}/{repo}``: read access proven, write access as far as told."""
    from github import GithubException

    repo = gh.repository
    try:
        access = gh.access()
    except GithubException as exc:
        return [Finding("github read", "fail", _refusal(repo, settings.api_url, exc))]
    except Exception as exc:  # connection refused, DNS, timeouts: requests' own errors
        return [
            Finding(
                "github read",
                "fail",
                f"GITHUB_API_URL {settings.api_url} is unreachable ({type(exc).__name__}: {exc})",
            )
        ]
    found = [Finding("github read", "ok", f"{repo}: this token can read it")]
    if not access.has_issues:
        found.append(
            Finding(
                "github issues",
                "fail",
                f"{repo} has issues turned off — turn them on (Settings → General → "
                "Features → Issues), or use --tracker local:PATH",
            )
        )
    elif access.archived:
        found.append(
            Finding(
                "github issues",
                "fail",
                f"{repo} is archived (read-only) — unarchive it, or use --tracker local:PATH",
            )
        )
    elif access.issue_write is None:
        found.append(
            Finding(
                "github issues",
                "warn",
                "write access not verified: GitHub reports no permissions for an "
                "installation token (GITHUB_TOKEN, a GitHub App's) — the workflow needs "
                "permissions: issues: write",
            )
        )
    elif access.issue_write:
        perms = access.permissions or {}
        role = next(k for k in ("admin", "maintain", "push", "triage") if perms.get(k))
        found.append(
            Finding(
                "github issues",
                "ok",
                f"GitHub reports {role} for this token's account: it may edit and label issues",
            )
        )
    else:
        found.append(
            _missing(
                "github issues",
                f"this token's account has read only on {repo}: it cannot label or edit the "
                "tracking issue — grant it triage or write, or use another token",
                lenient,
            )
        )
    return found


def _refusal(repo: str, api_url: str, exc: Exception) -> str:
    status = getattr(exc, "status", None)
    data = getattr(exc, "data", None)
    said = data.get("message", "") if isinstance(data, dict) else ""
    if status == 401:
        return (
            f"GITHUB_TOKEN was refused by {api_url} (401 {said or 'Bad credentials'}) — the "
            "token is wrong or expired"
        )
    if status == 404:
        return (
            f"{repo}: not found, or this token cannot see it (404) — check "
            "GITHUB_REPOSITORY, and that the token has access to the repository"
        )
    return f"{repo}: GitHub answered {status} {said}".rstrip()


def _http(url: str) -> str:
    """The HTTP form of a base URL (``target.base_url`` may be ws:// or wss://)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit(parts._replace(scheme=scheme))


def paths(cfg: Config) -> list[tuple[str, str]]:
    """(config key, path) of every check that names a path under the base URL."""
    found = [(f"checks.health[{i}].url", h.url) for i, h in enumerate(cfg.checks.health)]
    found += [(f"checks.endpoints[{i}].url", e.url) for i, e in enumerate(cfg.checks.endpoints)]
    if cfg.checks.agent_flow is not None:
        found.append(("checks.agent_flow.url", cfg.checks.agent_flow.url))
    return [(key, url) for key, url in found if url.startswith("/")]


def base_url(cfg: Config) -> list[Finding]:
    """Paths need a base URL: from target.base_url, deploy.url, or the deploy's output."""
    used = paths(cfg)
    if not used or cfg.base_url() is not None or cfg.deploy is not None:
        return []
    key, path = used[0]
    return [
        Finding(
            "target.base_url",
            "fail",
            f"target.base_url: not set, and there is no deploy: to find one — {key} ({path}) "
            "is a path and needs a base URL: set target.base_url, or deploy.url",
        )
    ]


def url_targets(cfg: Config) -> list[tuple[str, str]]:
    """(config key, URL) for every URL known before a deploy."""
    targets: list[tuple[str, str]] = []
    if cfg.target.base_url:
        targets.append(("target.base_url", _http(cfg.target.base_url)))
    elif cfg.deploy is not None and cfg.deploy.url:
        targets.append(("deploy.url", _http(cfg.deploy.url)))
    for index, health in enumerate(cfg.checks.health):
        if not health.url.startswith("/"):
            targets.append((f"checks.health[{index}].url", health.url))
    if cfg.auth.verify_url:
        targets.append(("auth.verify_url", cfg.auth.verify_url))
    return targets


async def reachability(cfg: Config, *, timeout_s: float = URL_TIMEOUT_S) -> list[Finding]:
    """Does something answer at each URL? Any HTTP status counts: the checks judge it."""
    import asyncio

    import httpx

    from bot.checks.http import USER_AGENT, probe, tls_for

    targets = url_targets(cfg)
    if not targets:
        if cfg.deploy is None:
            return []  # base_url() says what is missing
        return [Finding("urls", "skip", "none known before the deploy finds one")]
    deploys = cfg.deploy is not None and cfg.deploy.command is not None
    verify = tls_for(*(url for _, url in targets))
    async with httpx.AsyncClient(headers={"User-Agent": USER_AGENT}, verify=verify) as client:
        results = await asyncio.gather(
            *(
                probe(client, name=key, url=url, group="preflight", timeout_s=timeout_s)
                for key, url in targets
            )
        )
    found = []
    for (key, url), result in zip(targets, results, strict=True):
        if result.status is not None:
            latency = result.latency_s or 0.0
            found.append(
                Finding(key, "ok", f"{url} answered HTTP {result.status} in {latency:.2f}s")
            )
            continue
        said = result.error.removeprefix(f"{result.url} is unreachable (").removesuffix(")")
        message = f"{key}: {url} is unreachable ({said}) — check the URL and that the service is up"
        if deploys and key in ("target.base_url", "deploy.url"):
            found.append(
                Finding(key, "warn", message + " (deploy.command runs first and may bring it up)")
            )
        else:
            found.append(Finding(key, "fail", message))
    return found


# --------------------------------------------------------------------------- the deploy URL


def sample_line(cfg: Config, line: str) -> Finding:
    """``deploy.url_from_output`` against one line of deploy output, as the deploy reads it."""
    pattern = cfg.deploy.url_from_output if cfg.deploy is not None else None
    if pattern is None:
        raise ConfigError(
            "--sample-line: the config sets no deploy.url_from_output to test — add one, or "
            "drop --sample-line"
        )
    match = re.search(pattern, line)
    if match is None:
        return Finding(
            "deploy.url_from_output",
            "fail",
            f"{pattern!r} does not match the sample line {line!r} — the deploy would find no "
            "URL there; fix the pattern (single-quoted in YAML, so backslashes survive)",
        )
    found = f"matches: the deployed URL would be {match.group(0)!r}"
    if match.re.groups:
        found += f" (the whole match; group 1 is {match.group(1)!r})"
    return Finding("deploy.url_from_output", "ok", found)


# ----------------------------------------------------------------------------- the command


def check(
    config: str,
    settings: Settings,
    console: Console,
    *,
    tracker_choice: str | None = None,
    sample: str | None = None,
    gh: GitHub | None = None,
) -> int:
    """``golden-path check``: every pre-flight check, one line each; exit 0, 1 or 2."""
    from bot.config import load_config
    from bot.runtime import run_async

    console.line(f"golden-path check: {config}")
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        console.line(Finding("config", "fail", "not valid, nothing else was checked").line())
        console.block(str(exc))
        return EXIT_USAGE
    lenient = _lenient(settings)
    found = [Finding("config", "ok", f"environment {cfg.environment}")]
    found += secrets(cfg, settings.env, lenient=lenient)
    found += token_source(cfg)
    name = tracker_name(settings, tracker_choice)
    found += tracker(settings, name, lenient=lenient)
    if name == "github" and found[-1].state == "ok":
        if gh is None:
            from bot.publish.github import GitHub, make_retry

            quick = settings.but(github_timeout=min(settings.github_timeout, GITHUB_TIMEOUT_S))
            gh = GitHub.from_settings(quick, retry=make_retry(1, settings.retry_backoff))
        found += github_access(gh, settings, lenient=lenient)
    found += base_url(cfg)
    found += run_async(reachability(cfg))
    if sample is not None:
        try:
            found.append(sample_line(cfg, sample))
        except ConfigError as exc:
            _show(console, found)
            console.line(Finding("--sample-line", "fail", str(exc)).line())
            return EXIT_USAGE
    _show(console, found)
    counts = {state: sum(f.state == state for f in found) for state in MARKS}
    warnings = f"{counts['warn']} warning" + ("" if counts["warn"] == 1 else "s")
    console.line(f"golden-path check: {counts['ok']} ok, {warnings}, {counts['fail']} failed")
    return EXIT_FAILED if counts["fail"] else EXIT_OK


def _show(console: Console, found: Sequence[Finding]) -> None:
    for finding in found:
        console.line(finding.line())


__all__ = [
    "NO_TOKEN",
    "Finding",
    "before_run",
    "check",
    "github_access",
    "reachability",
    "require",
    "sample_line",
    "secrets",
    "token_source",
    "tracker",
    "url_targets",
]
