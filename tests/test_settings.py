"""Settings: every environment variable parsed once, bad values named with the fix."""

from __future__ import annotations

import pytest

from bot.cli import main
from bot.config import ConfigError
from bot.settings import DEFAULT_API_URL, DEFAULT_BOT_LOGIN, Settings


def test_defaults_from_an_empty_environment() -> None:
    """Nothing set: github.com, 3 s settle, 5 retries, the Actions bot's login, no token."""
    s = Settings.from_env({})
    assert (s.api_url, s.settle_s, s.github_retries, s.github_timeout) == (
        DEFAULT_API_URL,
        3.0,
        5,
        30,
    )
    assert s.bot_login == DEFAULT_BOT_LOGIN and not s.github_token and not s.in_actions
    assert s.default_tracker.startswith("local:")


def test_actions_variables_are_read() -> None:
    """The standard GITHUB_* variables land in their fields; the run URL is built from them."""
    s = Settings.from_env(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_TOKEN": "t0ken-value",
            "GITHUB_REPOSITORY": "octo/app",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "42",
            "GITHUB_SHA": "abc",
            "GOLDEN_PATH_SETTLE": "0.5",
            "GOLDEN_PATH_BOT_LOGIN": "my-bot[bot]",
        }
    )
    assert s.in_actions and s.ci and s.default_tracker == "github"
    assert s.run_url == "https://github.com/octo/app/actions/runs/42"
    assert (s.settle_s, s.bot_login, s.sha) == (0.5, "my-bot[bot]", "abc")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GOLDEN_PATH_SETTLE", "soon"),
        ("GOLDEN_PATH_SETTLE", "-1"),
        ("GOLDEN_PATH_SETTLE", "nan"),
        ("GOLDEN_PATH_GITHUB_RETRIES", "2.5"),
        ("GOLDEN_PATH_GITHUB_TIMEOUT", "0"),
        ("GOLDEN_PATH_RETRY_BACKOFF", "fast"),
        ("GOLDEN_PATH_PROGRESS", "loud"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    """A value that cannot work is a ConfigError naming the variable and the fix."""
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert str(info.value).startswith(f"{name}=")


def test_a_bad_value_is_an_exit_2_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    """golden-path run with GOLDEN_PATH_SETTLE=soon: exit 2 naming it, nothing deployed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOLDEN_PATH_SETTLE", "soon")
    (tmp_path / "c.yml").write_text(
        "deploy: {command: touch deployed, url: 'http://127.0.0.1:9'}\n"
    )
    assert main(["run", "--config", "c.yml"]) == 2
    assert "GOLDEN_PATH_SETTLE='soon'" in capsys.readouterr().err
    assert not (tmp_path / "deployed").exists()


def test_flags_win_over_the_environment() -> None:
    """but(): a copy with flags applied; the original is unchanged (settings are frozen)."""
    s = Settings.from_env({})
    t = s.but(deploy=False)
    assert s.deploy and not t.deploy
    with pytest.raises(AttributeError):
        s.deploy = False  # type: ignore[misc]


def test_the_issue_links_the_readme_of_the_action_that_wrote_it() -> None:
    """In Actions the action's repository is known: the issue's footer links its README."""
    s = Settings.from_env(
        {"GITHUB_ACTION_REPOSITORY": "acme/golden-path-bot", "GITHUB_SERVER_URL": "https://ghe.io"}
    )
    assert s.docs_url == "https://ghe.io/acme/golden-path-bot#how-the-tracking-issue-looks"
    assert Settings.from_env({}).docs_url == ""


def test_the_footer_link_reaches_the_issue(tmp_path, monkeypatch) -> None:
    """A local run with the action's repository set writes the README link into the issue."""
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTION_REPOSITORY", "acme/golden-path-bot")
    monkeypatch.setenv("GOLDEN_PATH_PROGRESS", "off")
    main(["demo", "--tests", "2", "--out", str(tmp_path)])
    body = (tmp_path / "tracking-issue.md").read_text()
    assert "[README](https://github.com/acme/golden-path-bot#how-the-tracking-issue-looks)" in body
