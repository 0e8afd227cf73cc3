"""The deploy step: the user's command (streamed, redacted, timed out) and waiting for health."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import redact
from bot.config import Deploy
from bot.deploy import MAX_LINE, deploy, run_command
from bot.redact import MASK
from bot.results import DeployResult, Kind
from bot.sample import SampleTarget

SECRET = "hunter2-deploy-secret"


class LogSink:
    """Collects (text, level) pairs as the pipeline's log callback would."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, text: str, level: str) -> None:
        self.lines.append((text, level))

    def text(self) -> str:
        return "\n".join(t for t, _ in self.lines)


def run(command: str, **kwargs: object) -> tuple[DeployResult, LogSink]:
    sink = LogSink()
    kwargs.setdefault("timeout_s", 10.0)
    result = asyncio.run(run_command(command, log=sink, **kwargs))  # type: ignore[arg-type]
    return result, sink


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie waiting for its reaper counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    """Poll the OS until ``pid`` has ended: SIGKILL is delivered asynchronously."""
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def strays() -> Iterator[list[int]]:
    """Pids a test's command left running on purpose; killed afterwards."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_output_is_streamed_into_the_log_and_redacted() -> None:
    """Every output line (stdout and stderr) reaches the log; a registered secret never does."""
    redact.register(SECRET)
    result, sink = run(f"echo 'pushing with {SECRET}'; echo 'to stderr' >&2; echo done")
    assert result.ok and result.exit_code == 0 and result.kind is None
    assert result.log == [f"pushing with {MASK}", "to stderr", "done"]
    assert [t for t, _ in sink.lines] == [f"deploy: {line}" for line in result.log]
    assert SECRET not in sink.text()


def test_credential_shaped_output_is_redacted_without_registration() -> None:
    """A token the command prints is masked by pattern even if nobody registered it."""
    result, sink = run("echo 'export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123'")
    assert result.log == [f"export GITHUB_TOKEN={MASK}"]
    assert "ghp_" not in sink.text()


def test_url_is_the_first_match_of_the_pattern() -> None:
    """The deployed URL is the first match of url_from_output in the output."""
    result, _ = run(
        "echo 'Deploying...'; echo 'Service URL: https://svc-abc.a.run.app ready';"
        " echo 'https://svc-old.a.run.app'",
        url_pattern=r"https://\S+\.run\.app",
    )
    assert result.url == "https://svc-abc.a.run.app"


def test_no_match_leaves_the_url_empty() -> None:
    """Output without a match gives no URL, and the command still succeeds."""
    result, _ = run("echo nothing here", url_pattern=r"https://\S+")
    assert result.ok and result.url == ""


def test_nonzero_exit_is_deploy_failed_with_the_code() -> None:
    """A failing command is deploy_failed with its exit code; its output is kept."""
    result, _ = run("echo 'quota exceeded'; exit 3")
    assert not result.ok and result.kind is Kind.DEPLOY_FAILED
    assert result.exit_code == 3 and result.error == "deploy command exited with 3"
    assert result.log == ["quota exceeded"]


def test_env_and_cwd_reach_the_command(tmp_path: Path) -> None:
    """Extra environment and the working directory are the command's."""
    result, _ = run(
        'echo "$DEPLOY_TARGET $(pwd)"', env={"DEPLOY_TARGET": "staging"}, cwd=str(tmp_path)
    )
    assert result.log == [f"staging {tmp_path.resolve()}"]


def test_timeout_kills_the_whole_process_group() -> None:
    """A hung command and its background child are killed at the timeout, promptly."""
    started = time.perf_counter()
    result, _ = run("sleep 30 & echo $!; sleep 30; wait", timeout_s=0.5)
    elapsed = time.perf_counter() - started
    assert elapsed < 5
    assert not result.ok and result.kind is Kind.DEPLOY_FAILED
    assert result.error == "deploy command timed out after 0.5s"
    background = int(result.log[0])
    assert gone_within(background, 2.0), f"background child {background} survived"


def test_background_process_holding_the_output_does_not_hang_the_deploy(
    strays: list[int],
) -> None:
    """A command that exits while its background child keeps stdout open still succeeds."""
    started = time.perf_counter()
    result, sink = run(
        "sleep 30 & echo $!; echo 'url https://svc.a.run.app'",
        url_pattern=r"https://\S+",
        drain_s=0.1,
    )
    strays.append(int(result.log[0]))
    assert time.perf_counter() - started < 5
    assert result.ok and result.exit_code == 0 and result.url == "https://svc.a.run.app"
    assert ("warning" in {level for _, level in sink.lines}) and "still holds" in sink.text()


def test_a_huge_output_line_is_truncated_not_fatal() -> None:
    """A line far over 64 KiB neither crashes the reader nor floods the log."""
    result, _ = run(
        f"{sys.executable} -c \"print('x' * 200000); print('https://svc.a.run.app')\"",
        url_pattern=r"https://\S+",
    )
    assert result.ok and result.url == "https://svc.a.run.app"
    first, second = result.log
    assert first.startswith("x" * MAX_LINE) and first.endswith("(198000 more characters)")
    assert second == "https://svc.a.run.app"


def test_log_keeps_only_the_tail() -> None:
    """DeployResult.log keeps the last 40 lines; the callback saw them all."""
    result, sink = run("for i in $(seq 1 100); do echo line $i; done")
    assert len(result.log) == 40 and result.log[-1] == "line 100" and result.log[0] == "line 61"
    assert len(sink.lines) == 100


def _join(path: str, base: str | None) -> str:
    return f"{base}{path}"


def test_deploy_waits_for_health_and_records_latency(sample: SampleTarget) -> None:
    """deploy() runs the command, takes the URL from it and records health latency."""
    cfg = Deploy(
        command=f"echo 'Service URL: {sample.base_url}'",
        url_from_output=r"http://127\.0\.0\.1:\d+",
        health_timeout="2s",
        health_interval="50ms",
    )
    sink = LogSink()
    result = asyncio.run(deploy(cfg, log=sink, resolve=_join))
    assert result.ok and result.url == sample.base_url and result.error == ""
    assert result.health_latency_s is not None and 0 < result.health_latency_s < 2
    assert ("success" in {level for _, level in sink.lines}) and "health answered" in sink.text()


def test_deploy_without_command_uses_the_configured_url(sample: SampleTarget) -> None:
    """With only deploy.url, nothing runs and health is still awaited."""
    cfg = Deploy(url=sample.base_url, health_timeout="2s", health_interval="50ms")
    result = asyncio.run(deploy(cfg, log=LogSink(), resolve=_join))
    assert result.ok and result.url == sample.base_url and result.health_latency_s is not None
    assert result.exit_code is None


def test_deploy_that_never_gets_healthy_still_counts_as_deployed(sample: SampleTarget) -> None:
    """health-down: ok stays True, latency None, the error says it never became healthy."""
    sample.set_faults("health-down")
    # long enough that a busy machine (pytest -n 2) still answers a poll before the deadline
    cfg = Deploy(url=sample.base_url, health_timeout="1s", health_interval="50ms")
    sink = LogSink()
    started = time.perf_counter()
    result = asyncio.run(deploy(cfg, log=sink, resolve=_join))
    assert time.perf_counter() - started < 3
    assert result.ok and result.kind is None and result.health_latency_s is None
    assert "never became healthy (HTTP 503)" in result.error
    assert f"{sample.base_url}/health" in result.error


def test_deploy_without_any_url_fails() -> None:
    """No URL configured nor a pattern to find one: deploy_failed, before any health poll."""
    cfg = Deploy(command="echo deployed")
    result = asyncio.run(deploy(cfg, log=LogSink(), resolve=_join))
    assert not result.ok and result.kind is Kind.DEPLOY_FAILED
    assert result.error.startswith("no deployed URL")


def test_deploy_command_failure_skips_the_health_wait(sample: SampleTarget) -> None:
    """A failing command is returned as is; health is not polled."""
    cfg = Deploy(command="exit 7", url=sample.base_url, health_timeout="5s")
    sink = LogSink()
    result = asyncio.run(deploy(cfg, log=sink, resolve=_join))
    assert result.kind is Kind.DEPLOY_FAILED and result.exit_code == 7
    assert result.health_latency_s is None
    assert "waiting for health" not in sink.text()
