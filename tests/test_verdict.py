"""One verdict per iteration: every output shows the same status and the same numbers."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bot import tracking
from bot.cli import main
from bot.config import load_config
from bot.results import FlowSummary, Iteration, SuiteResult
from bot.sample import SampleTarget
from bot.verdict import BLOCKED, COMPLETELY_BLOCKED, DEGRADED, judge
from tests.test_actions import parse_commands, parse_outputs

SUITE = """
def test_one(): pass
def test_two(): pass
def test_three(): assert 1 == 2, "three is wrong"
"""


@pytest.fixture
def mixed(tmp_path: Path, sample: SampleTarget, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose run fails in several ways: an endpoint, every session, a test, a suite."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEST_JWT_SECRET", sample.secret)
    monkeypatch.setenv("GOLDEN_PATH_PROGRESS", "off")
    (tmp_path / "e2e").mkdir()
    (tmp_path / "e2e" / "test_chat.py").write_text(SUITE)
    (tmp_path / "golden-path.yml").write_text(
        f"""
environment: staging
target: {{base_url: "{sample.base_url}"}}
auth:
  jwt: {{secret_env: TEST_JWT_SECRET, claims: {{sub: e2e, iss: auth-service, aud: backend}}}}
checks:
  health: [{{name: Infrastructure Health, url: /health}}]
  endpoints:
    - {{name: status, url: /api/status}}
    - {{name: threads, url: /api/threads, auth: true}}
  agent_flow: {{sessions: 12, concurrency: 12, timeout: 5s, connect_timeout: 2s}}
  pytest:
    - {{name: e2e, args: [e2e, -p, no:cacheprovider]}}
    - {{name: broken, args: [does/not/exist]}}
"""
    )
    sample.set_faults("api-error", "drop:tool_completed")
    return tmp_path


def _actions_env(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    files = {"output": tmp / "output.txt", "summary": tmp / "summary.md"}
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    return files


def _table_counts(body: str) -> int:
    """Sum of the 'count' column of the failure table in an issue body."""
    table = body.split("| check | kind | count | message |", 1)[1].split("</details>", 1)[0]
    return sum(int(row.split("|")[3]) for row in table.strip().splitlines()[1:])


def test_every_output_shows_the_same_numbers(
    mixed: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Console, issue, job summary, outputs, annotations, junit.xml and results.json agree."""
    files = _actions_env(mixed, monkeypatch)
    code = main(["run", "--config", "golden-path.yml", "--no-deploy"])
    stdout = capsys.readouterr().out
    assert code == 1
    results = json.loads((mixed / ".golden-path" / "results.json").read_text())
    verdict = results["verdict"]
    counts = verdict["counts"]
    passed, failed, total = counts["passed"], counts["failed"], counts["total"]
    # health 1 + endpoints 1 + e2e 2 = 4 passed; threads 1 + 12 sessions + 1 test + 1 suite
    assert (passed, failed, total) == (4, 15, 19)
    assert results["summary"] == {**counts, "flaky": 0}
    assert verdict["status"] == BLOCKED and verdict["golden_path_status"] == COMPLETELY_BLOCKED

    outputs = parse_outputs(files["output"].read_text())
    assert (outputs["passed"], outputs["failed"], outputs["total"]) == tuple(
        map(str, (passed, failed, total))
    )
    assert outputs["status"] == verdict["status"]

    line = next(ln for ln in stdout.splitlines() if ln.strip().startswith("status "))
    assert f"{verdict['status']} — {verdict['golden_path_status']}" in line
    assert f"passed {passed}, failed {failed}, total {total}" in line
    assert re.search(r"❌ broken\s+could not run", stdout), "a suite that cannot run is ❌"

    errors = [p for name, p, d in parse_commands(stdout) if name == "error"]
    annotated = 0
    for name, _, data in parse_commands(stdout):
        if name == "error":
            m = re.search(r"\((\d+) occurrences\)$", data)
            annotated += int(m[1]) if m else 1
    assert annotated == failed and len(errors) <= 10

    junit = ET.parse(mixed / ".golden-path" / "junit.xml").getroot()
    suites = list(junit.iter("testsuite"))
    junit_failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    junit_run = sum(int(s.get("tests", 0)) - int(s.get("skipped", 0)) for s in suites)
    # junit.xml also lists the deploy (skipped here) — everything else is one case per unit
    assert (junit_failed, junit_run) == (failed, total)

    body = (mixed / ".golden-path" / "tracking-issue.md").read_text()
    assert _table_counts(body) == failed
    flow = results["flow"]
    assert f"**AFFECTED**: {flow['failed']}/{flow['total']}" in body
    golden = verdict["golden"]
    assert f"**Progress:** {golden['passed']}/1000 golden-path tests passing" in body
    summary = files["summary"].read_text()
    assert f"**AFFECTED**: {flow['failed']}/{flow['total']}" in summary
    assert _table_counts(summary) == failed

    # /status re-renders from the stored (capped) state: the same numbers, not kept records
    again = tracking.apply(body, load_config("golden-path.yml"), iteration=None)
    assert _table_counts(again.body) == failed
    assert f"**AFFECTED**: {flow['failed']}/{flow['total']}" in again.body
    assert again.verdict.counts.failed == failed and again.verdict.counts.total == total


def test_no_tracker_in_actions_still_writes_the_whole_report_to_the_job_summary(
    mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--tracker none renders the report only where it is shown: the job summary, in Actions."""
    files = _actions_env(mixed, monkeypatch)
    code = main(["run", "--config", "golden-path.yml", "--no-deploy", "--tracker", "none"])
    assert code == 1
    results = json.loads((mixed / ".golden-path" / "results.json").read_text())
    summary = files["summary"].read_text()
    assert _table_counts(summary) == results["verdict"]["counts"]["failed"]
    assert "Five Whys" in summary


def test_a_suite_that_cannot_run_is_a_failure_everywhere() -> None:
    """A suite with a collection error counts one failure: never ✅ 0/0 or failed=0."""
    it = Iteration(environment="staging", started_at="2026-01-01T00:00:00Z")
    it.suites = [SuiteResult(name="e2e", error="pytest exited with 4: file not found")]
    cfg = load_config_text("checks: {agent_flow: null, health: []}")
    verdict = judge(it, cfg)
    (outcome,) = verdict.outcomes
    assert outcome.state == "errored" and outcome.failed == 1
    assert verdict.counts.failed == 1 and verdict.status != "passing"
    assert [f.count for f in verdict.findings] == [1]


def test_failure_counts_are_counts_not_kept_records() -> None:
    """The table's counts come from the kinds, even when only ten failures are kept."""
    flow = FlowSummary(total=500, failed=500, kinds={"auth_rejected": 400, "timeout": 100})
    it = Iteration(environment="staging", started_at="2026-01-01T00:00:00Z")
    it.flow = flow
    verdict = judge(it, load_config_text(""))
    assert sorted((f.kind, f.count) for f in verdict.findings) == [
        ("auth_rejected", 400),
        ("timeout", 100),
    ]
    assert verdict.counts.failed == 500


@pytest.mark.parametrize(
    ("sessions_passed", "endpoint_ok", "status", "golden_path"),
    [
        (10, False, DEGRADED, "AT RISK"),  # an endpoint fails, every session passes
        (7, True, DEGRADED, "PARTIALLY BLOCKED (3/10 failing)"),
        (0, True, BLOCKED, COMPLETELY_BLOCKED),
        (10, True, "passing", "OPERATIONAL"),
    ],
)
def test_status_and_golden_path_status_never_contradict(
    sessions_passed: int, endpoint_ok: bool, status: str, golden_path: str
) -> None:
    """No "PARTIALLY BLOCKED (0/10 failing)", no "COMPLETELY BLOCKED" while sessions pass."""
    from bot.results import HttpCheck, Kind

    it = Iteration(environment="staging", started_at="2026-01-01T00:00:00Z")
    failed = 10 - sessions_passed
    it.flow = FlowSummary(
        total=10,
        passed=sessions_passed,
        failed=failed,
        kinds={"missing_event": failed} if failed else {},
    )
    it.http = [
        HttpCheck(
            "threads",
            "/api/threads",
            endpoint_ok,
            group="endpoint",
            kind=None if endpoint_ok else Kind.SERVER_ERROR,
            error="" if endpoint_ok else "HTTP 500",
        )
    ]
    verdict = judge(it, load_config_text(""))
    assert (verdict.status, verdict.golden_path_status) == (status, golden_path)


@pytest.mark.parametrize(
    ("group", "sessions_failed", "users_see"),
    [
        ("health", 0, "every golden-path session passed"),
        ("endpoint", 0, "chats themselves work"),
        ("health", 10, "the agent crashes before answering"),  # then chats do break
    ],
)
def test_users_see_what_happens_to_chats_when_a_supporting_check_fails(
    group: str, sessions_failed: int, users_see: str
) -> None:
    """A 503 from health while every session passes: USERS SEE never says the agent crashes."""
    from bot.results import HttpCheck, Kind

    it = Iteration(environment="staging", started_at="2026-01-01T00:00:00Z")
    it.flow = FlowSummary(
        total=10,
        passed=10 - sessions_failed,
        failed=sessions_failed,
        kinds={"server_error": sessions_failed} if sessions_failed else {},
    )
    it.http = [
        HttpCheck(
            "Infrastructure Health",
            "/health",
            False,
            group=group,
            kind=Kind.SERVER_ERROR,
            error="HTTP 503, expected 200",
        )
    ]
    verdict = judge(it, load_config_text(""))
    assert verdict.blocker is not None
    assert users_see in verdict.blocker.impact
    if not sessions_failed:
        assert "crash" not in verdict.blocker.impact
        hints = " ".join(h for w in verdict.whys for h in w.hints)
        assert "before any golden-path test can pass" not in hints


@pytest.mark.parametrize(
    ("group", "kind", "error"),
    [
        ("health", "server_error", "HTTP 503, expected 200"),
        ("health", "timeout", "no answer within 2s"),
        ("endpoint", "http_status", "HTTP 401, expected 200"),
        ("endpoint", "slow", "answered in 3.1s, over max_latency 1s"),
    ],
)
def test_a_failing_http_check_gets_http_hints_not_websocket_ones(
    group: str, kind: str, error: str
) -> None:
    """Health and endpoint blockers: no hint about sockets, upgrades or agent events."""
    from bot.results import HttpCheck, Kind

    it = Iteration(environment="staging", started_at="2026-01-01T00:00:00Z")
    it.flow = FlowSummary(total=10, passed=10)
    it.http = [HttpCheck("probe", "/x", False, group=group, kind=Kind(kind), error=error)]
    verdict = judge(it, load_config_text(""))
    assert verdict.blocker is not None and verdict.blocker.kind == kind
    hints = " ".join(h for w in verdict.whys for h in w.hints)
    assert hints
    (fix,) = [s.detail for s in verdict.next_steps if s.title == "Fix the Blocker"]
    for websocket_word in ("socket", "upgrade", "Upgrade", "event", "agent_flow", "flow"):
        assert websocket_word not in hints, (websocket_word, hints)
        assert websocket_word not in fix, (websocket_word, fix)


def load_config_text(text: str):
    import yaml

    from bot.config import parse_config

    return parse_config(yaml.safe_load(text) or {})


@pytest.mark.parametrize(
    ("faults", "status"),
    [((), "passing"), (("health-down",), "degraded"), (("auth",), "blocked")],
)
def test_every_output_uses_the_status_words(
    workdir: Path,
    sample: SampleTarget,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    faults: tuple[str, ...],
    status: str,
) -> None:
    """Body, job summary, console and outputs name the status with the README table's words."""
    from bot.verdict import STATUSES

    sample.set_faults(*faults)
    files = _actions_env(workdir, monkeypatch)
    tracker = f"local:{workdir / 'issue.md'}"
    main(["run", "--config", "golden-path.yml", "--tracker", tracker, "--no-deploy"])
    console = capsys.readouterr().out
    headline = STATUSES[status].headline
    others = [info.headline for key, info in STATUSES.items() if key != status]
    body = (workdir / "issue.md").read_text()
    summary = files["summary"].read_text()
    for text in (body, summary, console):
        assert headline in text
        assert not any(other in text for other in others)
    assert f"status      {status} — " in console
    assert parse_outputs(files["output"].read_text())["status"] == status
    assert f"**Current Status:** {headline}" in body
