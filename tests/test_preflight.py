"""`golden-path check` and the run's pre-flight: each failure message, pinned exactly.

Real parts only: the sample target for reachable URLs, a just-closed loopback port for an
unreachable one, the GitHub stand-in through PyGithub for the token's reach, and `main()` for
the commands, with the environment set as Actions would set it.
"""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.preflight import NO_TOKEN
from bot.sample import SampleTarget
from tests.support.github_server import GitHubServer

OK, WARN, FAIL, SKIP = "✅", "⚠️ ", "❌", "⏭️ "
REPO = "octo/app"
EVENTS = Path(__file__).parent / "data" / "events"
SECRET_VALUE = "preflight-secret-value-1234567890"


def _line(mark: str, name: str, text: str) -> str:
    return f"{mark} {name:<24} {text}"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "golden-path.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _check(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, list[str]]:
    code = main(["check", "--config", str(config), *args])
    return code, capsys.readouterr().out.splitlines()


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, github_server: GitHubServer) -> GitHubServer:
    """The Actions variables that point the bot at the GitHub stand-in."""
    monkeypatch.setenv("GITHUB_API_URL", github_server.url)
    monkeypatch.setenv("GITHUB_TOKEN", github_server.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GOLDEN_PATH_RETRY_BACKOFF", "0.01")
    return github_server


def _github_config(tmp_path: Path, server: GitHubServer) -> Path:
    return _config(
        tmp_path,
        f"target: {{base_url: '{server.web_url}'}}\nchecks: {{agent_flow: null}}\n",
    )


# ---------------------------------------------------------------------------- config and env


def test_missing_config_is_exit_2_with_the_configs_own_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No file: exit 2, the config loader's message, nothing else checked."""
    code, lines = _check(capsys, tmp_path / "absent.yml")
    assert code == 2
    assert lines[1] == _line(FAIL, "config", "not valid, nothing else was checked")
    assert lines[2] == (
        f"{tmp_path / 'absent.yml'}: config file not found — create it (every key is "
        "optional; an empty file uses the defaults), or pass --config PATH"
    )
    assert len(lines) == 3


def test_invalid_config_is_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad value: exit 2 with the line, key and fix the config loader gives."""
    path = _config(tmp_path, "checks:\n  agent_flow:\n    token_in: cookie\n")
    code, lines = _check(capsys, path)
    assert code == 2
    assert (
        f"  {path}:3: checks.agent_flow.token_in: expected one of header, subprotocol, query, "
        'none, got "cookie"'
    ) in lines


def test_all_good_is_exit_0_and_secrets_are_named_never_shown(
    workdir: Path, sample: SampleTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample target's config: every line ✅, exit 0, the secret's value never printed."""
    code, lines = _check(capsys, workdir / "golden-path.yml")
    out = "\n".join(lines)
    assert code == 0, out
    assert lines[1:4] == [
        _line(OK, "config", "environment staging"),
        _line(OK, "auth.jwt.secret_env", "TEST_JWT_SECRET is set"),
        _line(OK, "tracker", "local:.golden-path/tracking-issue.md: no GitHub access needed"),
    ]
    answered = r"answered HTTP \d{3} in \d+\.\d\ds"
    assert re.fullmatch(rf"✅ target\.base_url +{re.escape(sample.base_url)} {answered}", lines[4])
    health = re.escape(f"{sample.auth_url}/health")
    assert re.fullmatch(rf"✅ checks\.health\[1\]\.url +{health} {answered}", lines[5])
    assert lines[6].startswith(_line(OK, "auth.verify_url", f"{sample.auth_url}/auth/validate"))
    assert lines[-1] == "golden-path check: 6 ok, 0 warnings, 0 failed"
    assert sample.secret not in out


def test_missing_jwt_secret_fails_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], github_server: GitHubServer
) -> None:
    """auth.jwt.secret_env unset: ❌ with the run's own message, exit 1."""
    path = _config(
        tmp_path,
        f"target: {{base_url: '{github_server.web_url}'}}\n"
        "auth: {jwt: {secret_env: PREFLIGHT_SECRET}}\n",
    )
    code, lines = _check(capsys, path)
    assert code == 1
    assert (
        _line(
            FAIL,
            "auth.jwt.secret_env",
            "environment variable PREFLIGHT_SECRET is not set — export it, or pass it to the step "
            "with env:",
        )
        in lines
    )


def test_missing_token_env_fails_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], github_server: GitHubServer
) -> None:
    """auth.token_env unset: ❌ naming the key and the variable, exit 1."""
    path = _config(
        tmp_path,
        f"target: {{base_url: '{github_server.web_url}'}}\nauth: {{token_env: E2E_TOKEN}}\n",
    )
    code, lines = _check(capsys, path)
    assert code == 1
    assert (
        _line(
            FAIL,
            "auth.token_env",
            "environment variable E2E_TOKEN is not set — export it, or pass it to the step "
            "with env:",
        )
        in lines
    )


def test_a_set_token_env_is_named_not_shown(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    github_server: GitHubServer,
) -> None:
    """auth.token_env set: ✅ by name; the value appears nowhere in the output."""
    monkeypatch.setenv("E2E_TOKEN", SECRET_VALUE)
    path = _config(
        tmp_path,
        f"target: {{base_url: '{github_server.web_url}'}}\nauth: {{token_env: E2E_TOKEN}}\n",
    )
    code, lines = _check(capsys, path)
    assert code == 0
    assert _line(OK, "auth.token_env", "E2E_TOKEN is set") in lines
    assert SECRET_VALUE not in "\n".join(lines)


def test_on_pull_requests_a_missing_secret_is_a_warning(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    github_server: GitHubServer,
) -> None:
    """GITHUB_EVENT_NAME=pull_request: forks get no secrets, so ⚠️ and exit 0."""
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    path = _config(
        tmp_path,
        f"target: {{base_url: '{github_server.web_url}'}}\n"
        "auth: {jwt: {secret_env: PREFLIGHT_SECRET}}\n",
    )
    code, lines = _check(capsys, path)
    assert code == 0
    assert (
        _line(
            WARN,
            "auth.jwt.secret_env",
            "environment variable PREFLIGHT_SECRET is not set — export it, or pass it to the step "
            "with env: (expected on a pull request from a fork, which gets no secrets and a "
            "read-only token; the run needs it)",
        )
        in lines
    )


def test_a_config_that_sends_no_token_says_which_section_to_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], github_server: GitHubServer
) -> None:
    """Agent flow on, no auth: section: ⚠️ naming auth.jwt / auth.token_env; still exit 0."""
    path = _config(tmp_path, f"target: {{base_url: '{github_server.web_url}'}}\n")
    code, lines = _check(capsys, path)
    assert code == 0
    assert (
        _line(
            WARN,
            "auth",
            "checks.agent_flow sends no token: add an auth: section (auth.jwt or auth.token_env) — "
            "or set checks.agent_flow.token_in: none if the backend needs none",
        )
        in lines
    )


def test_token_in_none_silences_the_no_token_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], github_server: GitHubServer
) -> None:
    """A backend that needs no auth says so with token_in: none, and nothing is flagged."""
    path = _config(
        tmp_path,
        f"target: {{base_url: '{github_server.web_url}'}}\n"
        "checks: {agent_flow: {token_in: none}}\n",
    )
    code, lines = _check(capsys, path)
    assert code == 0
    assert not [line for line in lines if line.startswith(WARN)]


# ------------------------------------------------------------------------------ GitHub


def test_github_tracker_without_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], github_server: GitHubServer
) -> None:
    """--tracker github and no GITHUB_TOKEN: ❌ with the fix, exit 1, no request made."""
    code, lines = _check(capsys, _github_config(tmp_path, github_server), "--tracker", "github")
    assert code == 1
    assert (
        _line(
            FAIL,
            "tracker",
            "GITHUB_TOKEN is not set — pass it to the step (env: GITHUB_TOKEN: "
            "${{ github.token }}), or use --tracker local:PATH",
        )
        in lines
    )
    assert [r for r in github_server.requests if r.path.startswith("/repos")] == []


def test_github_repository_must_be_owner_name(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    github: GitHubServer,
) -> None:
    """GITHUB_REPOSITORY without a slash: ❌ naming the variable and the value."""
    monkeypatch.setenv("GITHUB_REPOSITORY", "app")
    code, lines = _check(capsys, _github_config(tmp_path, github), "--tracker", "github")
    assert code == 1
    assert (
        _line(
            FAIL,
            "tracker",
            "GITHUB_REPOSITORY 'app' is not owner/name — Actions sets it; set it by hand outside "
            "Actions",
        )
        in lines
    )


def test_installation_token_read_proven_write_not_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], github: GitHubServer
) -> None:
    """GITHUB_TOKEN-like: one GET /repos proves read; write is ⚠️ not verified, exit 0."""
    config = _github_config(tmp_path, github)
    github.clear_requests()
    code, lines = _check(capsys, config, "--tracker", "github")
    assert code == 0
    assert lines[2:5] == [
        _line(OK, "tracker", f"github: GITHUB_TOKEN is set, repository {REPO}"),
        _line(OK, "github read", f"{REPO}: this token can read it"),
        _line(
            WARN,
            "github issues",
            "write access not verified: GitHub reports no permissions for an installation "
            "token (GITHUB_TOKEN, a GitHub App's) — the workflow needs permissions: issues: "
            "write",
        ),
    ]
    api = [(r.method, r.path) for r in github.requests if r.path != "/"]  # "/": the URL probe
    assert api == [("GET", f"/repos/{REPO}")]
    assert github.token not in "\n".join(lines)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            "triage",
            _line(
                OK,
                "github issues",
                "GitHub reports triage for this token's account: it may edit and label issues",
            ),
        ),
        (
            "read",
            _line(
                FAIL,
                "github issues",
                f"this token's account has read only on {REPO}: it cannot label or edit the "
                "tracking issue — grant it triage or write, or use another token",
            ),
        ),
    ],
)
def test_user_token_write_access_is_what_github_reports(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    github: GitHubServer,
    role: str,
    expected: str,
) -> None:
    """A person's token: GitHub reports the role, so issue write is verified either way."""
    github.add_token("rita-token", "rita")
    github.set_permission(REPO, "rita", role)
    monkeypatch.setenv("GITHUB_TOKEN", "rita-token")
    code, lines = _check(capsys, _github_config(tmp_path, github), "--tracker", "github")
    assert expected in lines
    assert code == (0 if role == "triage" else 1)


def test_bad_token_is_named_as_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    github: GitHubServer,
) -> None:
    """401: the token is wrong or expired, and the API URL that refused it is named."""
    monkeypatch.setenv("GITHUB_TOKEN", "not-a-valid-token")
    code, lines = _check(capsys, _github_config(tmp_path, github), "--tracker", "github")
    assert code == 1
    assert (
        _line(
            FAIL,
            "github read",
            f"GITHUB_TOKEN was refused by {github.url} (401 Bad credentials) — the token is wrong "
            "or expired",
        )
        in lines
    )


def test_unknown_repository_is_404_with_the_fix(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    github: GitHubServer,
) -> None:
    """404: the repository is missing or invisible to this token."""
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/missing")
    code, lines = _check(capsys, _github_config(tmp_path, github), "--tracker", "github")
    assert code == 1
    assert (
        _line(
            FAIL,
            "github read",
            "octo/missing: not found, or this token cannot see it (404) — check GITHUB_REPOSITORY, "
            "and that the token has access to the repository",
        )
        in lines
    )


@pytest.mark.parametrize(
    ("repo", "options", "message"),
    [
        (
            "octo/quiet",
            {"has_issues": False},
            "octo/quiet has issues turned off — turn them on (Settings → General → Features → "
            "Issues), or use --tracker local:PATH",
        ),
        (
            "octo/old",
            {"archived": True},
            "octo/old is archived (read-only) — unarchive it, or use --tracker local:PATH",
        ),
    ],
)
def test_a_repository_that_cannot_take_the_issue(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    github: GitHubServer,
    repo: str,
    options: dict[str, bool],
    message: str,
) -> None:
    """Issues off or archived: readable, but the tracker could never write there."""
    github.add_repo(repo, **options)
    monkeypatch.setenv("GITHUB_REPOSITORY", repo)
    code, lines = _check(capsys, _github_config(tmp_path, github), "--tracker", "github")
    assert code == 1
    assert _line(FAIL, "github issues", message) in lines


# ---------------------------------------------------------------------------------- URLs


def test_unreachable_base_url_names_the_url_and_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listens at target.base_url and nothing deploys: ❌ with URL and key, exit 1."""
    url = f"http://127.0.0.1:{_closed_port()}"
    code, lines = _check(capsys, _config(tmp_path, f"target: {{base_url: '{url}'}}\n"))
    assert code == 1
    assert (
        _line(
            FAIL,
            "target.base_url",
            f"{url} is unreachable (ConnectError: All connection attempts failed) — check the URL "
            "and that the service is up",
        )
        in lines
    )


def test_unreachable_deploy_url_before_a_deploy_is_only_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """deploy.url down while deploy.command would run first: ⚠️, the deploy may bring it up."""
    url = f"http://127.0.0.1:{_closed_port()}"
    path = _config(tmp_path, f"deploy: {{command: ./deploy.sh, url: '{url}'}}\n")
    code, lines = _check(capsys, path)
    assert code == 0
    assert (
        _line(
            WARN,
            "deploy.url",
            f"{url} is unreachable (ConnectError: All connection attempts failed) — check the URL "
            "and that the service is up (deploy.command runs first and may bring it up)",
        )
        in lines
    )


def test_other_services_are_named_by_their_own_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sample: SampleTarget
) -> None:
    """An absolute health URL and auth.verify_url that point nowhere: each names its key."""
    down = f"http://127.0.0.1:{_closed_port()}"
    path = _config(
        tmp_path,
        f"target: {{base_url: '{sample.base_url}'}}\n"
        f"auth: {{token_env: E2E_TOKEN, verify_url: '{down}/auth/validate'}}\n"
        "checks:\n"
        "  health:\n"
        "    - {name: Infrastructure Health, url: /health}\n"
        f"    - {{name: Auth Service Health, url: '{down}/health'}}\n",
    )
    code, lines = _check(capsys, path)
    assert code == 1
    refused = "is unreachable (ConnectError: All connection attempts failed)"
    fix = "— check the URL and that the service is up"
    assert _line(FAIL, "checks.health[1].url", f"{down}/health {refused} {fix}") in lines
    assert _line(FAIL, "auth.verify_url", f"{down}/auth/validate {refused} {fix}") in lines
    assert any(line.startswith(_line(OK, "target.base_url", sample.base_url)) for line in lines)


def test_no_base_url_and_no_deploy_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty config: the checks' paths have no base URL; the message names the keys."""
    code, lines = _check(capsys, _config(tmp_path, "{}\n"))
    assert code == 1
    assert (
        _line(
            FAIL,
            "target.base_url",
            "not set, and there is no deploy: to find one — checks.health[0].url (/health) is a "
            "path and needs a base URL: set target.base_url, or deploy.url",
        )
        in lines
    )


# ------------------------------------------------------------------------ the deploy's URL

PATTERN = r"https://(\S+)\.run\.app"
DEPLOY = f"deploy: {{command: ./deploy.sh, url_from_output: '{PATTERN}'}}\n"


def test_sample_line_that_matches_shows_the_url_and_group_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--sample-line: the URL the deploy would take, and group 1 when the pattern has one."""
    path = _config(tmp_path, DEPLOY)
    code, lines = _check(capsys, path, "--sample-line", "Service URL: https://api-7x.run.app ok")
    assert code == 0
    assert (
        _line(
            OK,
            "deploy.url_from_output",
            "matches: the deployed URL would be 'https://api-7x.run.app' (the whole match; group 1 "
            "is 'api-7x')",
        )
        in lines
    )
    assert _line(SKIP, "urls", "none known before the deploy finds one") in lines


def test_sample_line_that_does_not_match_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No match: ❌ with the pattern, the line, and the YAML quoting hint."""
    path = _config(tmp_path, DEPLOY)
    code, lines = _check(capsys, path, "--sample-line", "Deployed to http://10.0.0.7:8080")
    assert code == 1
    assert (
        _line(
            FAIL,
            "deploy.url_from_output",
            f"{PATTERN!r} does not match the sample line 'Deployed to http://10.0.0.7:8080' — the "
            "deploy would find no URL there; fix the pattern (single-quoted in YAML, so "
            "backslashes survive)",
        )
        in lines
    )


def test_sample_line_without_a_pattern_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], github_server: GitHubServer
) -> None:
    """--sample-line with no deploy.url_from_output: exit 2, saying what to add."""
    path = _config(tmp_path, f"target: {{base_url: '{github_server.web_url}'}}\n")
    code, lines = _check(capsys, path, "--sample-line", "anything")
    assert code == 2
    assert lines[-1] == _line(
        FAIL,
        "--sample-line",
        "the config sets no deploy.url_from_output to test — add one, or drop --sample-line",
    )


# ------------------------------------------------------------------- the run's pre-flight


def _deploying(tmp_path: Path, extra: str = "") -> Path:
    return _config(
        tmp_path,
        f"deploy: {{command: 'touch {tmp_path / 'deployed'}', url: 'http://127.0.0.1:9'}}\n"
        + extra,
    )


def test_run_without_the_secret_fails_before_deploying_within_a_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing JWT secret: exit 2 at once, the deploy command never ran."""
    path = _deploying(tmp_path, "auth: {jwt: {secret_env: PREFLIGHT_SECRET}}\n")
    started = time.perf_counter()
    code = main(["run", "--config", str(path)])
    elapsed = time.perf_counter() - started
    assert code == 2
    assert not (tmp_path / "deployed").exists()
    assert elapsed < 1.0
    assert capsys.readouterr().err == (
        "golden-path: configuration error\nauth.jwt.secret_env: environment variable "
        "PREFLIGHT_SECRET is not set — export it, or pass it to the step with env:\n"
    )


def test_run_with_github_tracker_and_no_token_fails_before_deploying(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--tracker github without GITHUB_TOKEN: exit 2 within a second, nothing deployed."""
    monkeypatch.setenv("E2E_TOKEN", SECRET_VALUE)
    path = _deploying(tmp_path, "auth: {token_env: E2E_TOKEN}\n")
    started = time.perf_counter()
    code = main(["run", "--config", str(path), "--tracker", "github"])
    assert time.perf_counter() - started < 1.0
    assert code == 2
    assert not (tmp_path / "deployed").exists()
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().err


def test_merge_without_token_fails_before_reading_the_shards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """merge → GitHub without a token: the config error, not a missing-file crash later."""
    path = _config(tmp_path, "{}\n")
    shard = str(tmp_path / "no-such-shard.json")
    code = main(["merge", shard, "--config", str(path), "--tracker", "github"])
    assert code == 2
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().err


def _event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, payload: dict) -> None:
    event = tmp_path / f"{name}.json"
    event.write_text(json.dumps(payload), encoding="utf-8")
    monkeypatch.setenv("GITHUB_EVENT_NAME", name)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))


def test_handle_event_push_without_the_secret_deploys_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github: GitHubServer
) -> None:
    """A push iteration checks the secret first: exit 2, no deploy, no GitHub write."""
    path = _deploying(tmp_path, "auth: {jwt: {secret_env: PREFLIGHT_SECRET}}\n")
    _event(tmp_path, monkeypatch, "push", json.loads((EVENTS / "push.json").read_text()))
    assert main(["handle-event", "--config", str(path)]) == 2
    assert not (tmp_path / "deployed").exists()
    assert github.writes() == []


def test_handle_event_that_runs_nothing_needs_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github: GitHubServer
) -> None:
    """An ignored comment exits 0 even without the secret: only iterations need it."""
    path = _deploying(tmp_path, "auth: {jwt: {secret_env: PREFLIGHT_SECRET}}\n")
    payload = json.loads((EVENTS / "issue_comment.json").read_text())
    payload["issue"]["labels"] = []
    _event(tmp_path, monkeypatch, "issue_comment", payload)
    assert main(["handle-event", "--config", str(path)]) == 0


def test_run_without_auth_section_warns_and_still_runs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sample: SampleTarget,
) -> None:
    """No auth: section: a warning in the run log, the checks still run, and the report's
    likely cause names the section to add."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOLDEN_PATH_PROGRESS", "off")
    path = _config(
        tmp_path,
        f"target: {{base_url: '{sample.base_url}'}}\n"
        "checks: {agent_flow: {sessions: 2, timeout: 5s, connect_timeout: 2s}}\n",
    )
    code = main(["run", "--config", str(path)])
    captured = capsys.readouterr()
    assert code == 1  # the sample backend refuses anonymous sockets
    assert f"⚠️  {NO_TOKEN}" in captured.err
    likely = [line for line in captured.out.splitlines() if line.startswith("  likely")]
    assert likely == [
        "  likely      No token was sent with the WebSocket connection: the auth section "
        "configures neither jwt nor token_env — add auth.jwt (the signing secret's variable in "
        "secret_env) or auth.token_env, so the bot has a token to send."
    ]
