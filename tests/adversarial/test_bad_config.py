"""Property 6: bad config and bad invocations get one clear screen, the right exit code.

Each hazard goes through the real entry point (`golden-path run`); none may print a
traceback (unless --debug), leak a secret value, or exit with anything but 2 — except a
failing deploy, which is a finding (exit 1) reported in the tracking file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.sample import SampleTarget

SECRET_VALUE = "hunter2-hunter2-hunter2"


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOLDEN_PATH_PROGRESS", "off")
    return tmp_path


HAZARDS = [
    ("missing file", None, "config file not found"),
    ("yaml syntax", "checks: [\n", "invalid YAML"),
    ("tab indentation", "checks:\n\thealth: []\n", "invalid YAML"),
    ("top level list", "- a\n- b\n", "mapping"),
    ("wrong type", "target_tests: many\n", 'target_tests: expected an integer, got "many"'),
    (
        "bare number duration",
        "checks:\n  agent_flow:\n    timeout: 30\n",
        '"30" is not a duration — write 30s',
    ),
    ("unknown key", "checks:\n  helth: []\n", "did you mean health?"),
    ("inline secret", f"auth:\n  jwt:\n    secret: {SECRET_VALUE}\n", "secret_env"),
    ("inline token", f"auth:\n  token: {SECRET_VALUE}\n", "token_env"),
    (
        "impossible timeouts",
        "checks:\n  agent_flow:\n    timeout: 5s\n    connect_timeout: 1m\n",
        "impossible timeouts",
    ),
    (
        "order names an unknown event",
        "checks:\n  agent_flow:\n    order: [[agent_started, agent_finished]]\n",
        "agent_finished",
    ),
    (
        "bad regex",
        "deploy:\n  command: 'true'\n  url_from_output: '(unclosed'\n",
        "url_from_output",
    ),
    (
        "missing secret env var",
        "target: {base_url: 'http://127.0.0.1:9'}\nauth:\n  jwt: {secret_env: NOPE_NOT_SET}\n",
        "NOPE_NOT_SET is not set",
    ),
    ("negative sessions", "checks:\n  agent_flow:\n    sessions: -5\n", "sessions"),
]


@pytest.mark.parametrize(("name", "text", "needle"), HAZARDS, ids=[h[0] for h in HAZARDS])
def test_bad_config_is_one_clear_screen(
    cwd: Path, capsys: pytest.CaptureFixture[str], name: str, text: str | None, needle: str
) -> None:
    """Exit 2, a short message naming the problem and the fix, no traceback, no secret."""
    if text is not None:
        (cwd / "gp.yml").write_text(text, encoding="utf-8")
    code = main(["run", "--config", "gp.yml", "--tracker", "none"])
    out, err = capsys.readouterr()
    assert code == 2
    assert needle in err
    assert "Traceback" not in out + err
    assert SECRET_VALUE not in out + err
    assert len(err.strip().splitlines()) <= 25


def test_usage_errors_exit_2(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """argparse usage errors (bad --shard, unknown verb) exit 2 with a usage line."""
    for argv in (["run", "--shard", "5/2"], ["frobnicate"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err
    assert main(["demo", "--tests", "0"]) == 2
    assert "--tests must be at least 1" in capsys.readouterr().err


def _deploy_config(cwd: Path, sample: SampleTarget, command: str, timeout: str) -> None:
    (cwd / "gp.yml").write_text(
        f"deploy:\n  command: {command!r}\n  url: '{sample.base_url}'\n  timeout: {timeout}\n"
        "checks:\n  agent_flow: null\n",
        encoding="utf-8",
    )


def test_failing_deploy_is_a_finding_not_a_crash(
    cwd: Path, sample: SampleTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deploy command exiting 3 → exit 1, "deploy failed" blocker in the tracking file."""
    _deploy_config(cwd, sample, "echo building; echo DEPLOY_TOKEN=abc123secret; exit 3", "30s")
    assert main(["run", "--config", "gp.yml", "--tracker", "local:issue.md"]) == 1
    body = (cwd / "issue.md").read_text()
    assert "DEPLOY FAILED" in body and "deploy command exited with 3" in body
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "abc123secret" not in out + err + body


def test_hung_deploy_is_stopped_at_its_timeout(
    cwd: Path, sample: SampleTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deploy that never ends is killed at deploy.timeout and reported, not waited on."""
    _deploy_config(cwd, sample, "sleep 60", "500ms")
    assert main(["run", "--config", "gp.yml", "--tracker", "local:issue.md"]) == 1
    assert "timed out after 0.5s" in (cwd / "issue.md").read_text()


def test_unexpected_errors_show_a_traceback_only_with_debug(
    cwd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable results path is reported in one line; --debug adds the traceback."""
    (cwd / "gp.yml").write_text(
        "target: {base_url: 'http://127.0.0.1:9'}\nchecks: {agent_flow: null, health: []}\n"
    )
    (cwd / "results.json").mkdir()
    args = ["run", "--config", "gp.yml", "--tracker", "none", "--results", "results.json"]
    assert main(args) == 1
    _, err = capsys.readouterr()
    assert "Traceback" not in err and "--debug" in err
    assert main(["--debug", *args]) == 1
    assert "Traceback" in capsys.readouterr().err
