"""bot.publish.actions: workflow commands, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY, masks.

The runner's formats are parsed back here with small parsers written from GitHub's
documentation, so a test fails when a value would be cut, split or misread by the runner.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.publish import Report
from bot.publish.actions import (
    ANNOTATIONS_PER_LEVEL,
    OUTPUTS,
    SUMMARY_LIMIT,
    ActionsPublisher,
    GitHubActions,
    install_masks,
    summary_markdown,
    trim_markdown,
)
from bot.redact import register
from bot.results import FlowSession, FlowSummary, HttpCheck, Iteration, Kind, SuiteResult
from bot.results import TestCase as Case
from bot.verdict import BLOCKED, DEGRADED, Verdict, judge

EVENTS = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
SECRET = "hunter2-jwt-signing-secret-0123456789"


# -- parsers of the runner's formats --------------------------------------------------------
def parse_outputs(text: str) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` as the runner reads it: ``k=v`` lines and ``k<<DELIM`` heredocs."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    assert lines[-1] == "", "the file must end with a newline"
    i = 0
    while i < len(lines) - 1:
        line = lines[i]
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            out[line[:eq]] = line[eq + 1 :]
            i += 1
            continue
        assert heredoc > 0, f"malformed line {line!r}"
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        end = lines.index(delimiter, i + 1)
        out[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return out


_COMMAND = re.compile(r"^::(?P<name>[\w-]+)(?: (?P<props>[^:]*))?::(?P<data>.*)$")


def _unescape(value: str) -> str:
    for code, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        value = value.replace(code, char)
    return value


def parse_commands(stdout: str) -> list[tuple[str, dict[str, str], str]]:
    """Workflow commands on stdout, each unescaped: (name, properties, data)."""
    found = []
    for line in stdout.splitlines():
        m = _COMMAND.match(line)
        if not m:
            continue
        props = {}
        for pair in filter(None, (m["props"] or "").split(",")):
            key, _, value = pair.partition("=")
            props[key] = _unescape(value)
        found.append((m["name"], props, _unescape(m["data"])))
    return found


# -- fixtures ---------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {"output": tmp_path / "output.txt", "summary": tmp_path / "summary.md"}


def make(files: dict[str, Path], *, in_actions: bool = True) -> tuple[GitHubActions, io.StringIO]:
    env = {"GITHUB_OUTPUT": str(files["output"]), "GITHUB_STEP_SUMMARY": str(files["summary"])}
    if in_actions:
        env["GITHUB_ACTIONS"] = "true"
    stdout = io.StringIO()
    return GitHubActions(env, stdout), stdout


def auth_iteration() -> Iteration:
    """The seed report's situation: healthy backend, every session closed 1008, one flaky test."""
    failures = [
        FlowSession(
            index=i,
            ok=False,
            kind=Kind.AUTH_REJECTED,
            close_code=1008,
            close_reason="SSOT Auth failed",
            error="closed 1008 SSOT Auth failed\nafter 0 events",
            events_seen={},
            missing=list(EVENTS),
        )
        for i in range(12)
    ]
    it = Iteration(
        environment="staging",
        started_at="2025-01-01T10:00:00Z",
        finished_at="2025-01-01T10:00:05Z",
        duration_s=5.0,
    )
    it.http = [
        HttpCheck("Infrastructure Health", "/health", True, status=200, latency_s=0.12),
        HttpCheck(
            "threads",
            "/api/threads",
            True,
            status=200,
            latency_s=0.05,
            group="endpoint",
        ),
    ]
    it.flow = FlowSummary(
        url="/ws",
        total=12,
        failed=12,
        failures=failures,
        kinds={"auth_rejected": 12},
        wall_s=1.0,
    )
    it.suites = [
        SuiteResult(
            name="golden path e2e",
            passed=3,
            failed=1,
            flaky=1,
            cases=[
                Case("tests/e2e/test_chat.py::test_reply", "failed", message="boom\nline 2"),
                Case("tests/e2e/test_chat.py::test_retry", "passed", flaky=True, attempts=2),
            ],
        )
    ]
    return it


def verdict_of(it: Iteration) -> Verdict:
    cfg = parse_config({"environment": "staging", "checks": {"agent_flow": {"events": EVENTS}}})
    return judge(it, cfg)


# -- $GITHUB_OUTPUT ---------------------------------------------------------------------------
def test_multiline_output_parses_back_whole(files: dict[str, Path]) -> None:
    """A multi-line value goes through a heredoc and comes back with every line."""
    gha, _ = make(files)
    value = "first line\nsecond = with equals\n\nname<<EOF\nlast"
    gha.output("report", value)
    gha.output("status", "blocked")
    gha.output("url", "https://example.com/a?b=c")
    parsed = parse_outputs(files["output"].read_text())
    assert parsed == {"report": value, "status": "blocked", "url": "https://example.com/a?b=c"}
    assert re.search(r"^report<<ghadelimiter_[0-9a-f-]{36}$", files["output"].read_text(), re.M)


def test_output_name_is_validated(files: dict[str, Path]) -> None:
    """A name the runner would misread (newline, '=') is refused, not written."""
    gha, _ = make(files)
    for bad in ("a\nb", "a=b", "", "a<<b"):
        with pytest.raises(ValueError):
            gha.output(bad, "x")
    assert not files["output"].exists()


def test_output_without_file_is_a_no_op(tmp_path: Path) -> None:
    """No $GITHUB_OUTPUT (a local run): nothing is written anywhere, nothing raised."""
    gha = GitHubActions({}, io.StringIO())
    gha.output("status", "passing")
    assert gha.summary("# hi") is False
    assert list(tmp_path.iterdir()) == []


# -- workflow commands -----------------------------------------------------------------------
def test_annotation_keeps_every_line_and_escapes_properties(files: dict[str, Path]) -> None:
    """CR, LF and % in data, and also : and , in properties, survive the round trip."""
    gha, stdout = make(files)
    message = "closed 1008\r\nSSOT Auth failed: 100% of sessions\nthird, line"
    gha.annotate("error", message, title="agent flow: auth_rejected, 12x", file="a:b.py", line=3)
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 1, "one command, one line"
    ((name, props, data),) = parse_commands(stdout.getvalue())
    assert name == "error"
    assert data == message
    assert props == {"title": "agent flow: auth_rejected, 12x", "file": "a:b.py", "line": "3"}


def test_annotation_level_is_checked(files: dict[str, Path]) -> None:
    """Only error, warning and notice exist."""
    gha, _ = make(files)
    with pytest.raises(ValueError):
        gha.annotate("fatal", "x")


def test_group_wraps_output(files: dict[str, Path]) -> None:
    """::group:: and ::endgroup:: around whatever is printed inside, even on error."""
    gha, stdout = make(files)
    with pytest.raises(RuntimeError), gha.group("Deploy: ./deploy.sh staging"):
        gha.stream.write("log line\n")
        raise RuntimeError
    assert stdout.getvalue().splitlines() == [
        "::group::Deploy: ./deploy.sh staging",
        "log line",
        "::endgroup::",
    ]


def test_outside_actions_no_workflow_command_is_printed(files: dict[str, Path]) -> None:
    """Without GITHUB_ACTIONS=true: no ::commands::, but requested files are still written."""
    gha, stdout = make(files, in_actions=False)
    install_masks(gha)
    register(SECRET)
    gha.mask("another-secret-value")
    gha.annotate("error", "bad")
    with gha.group("g"):
        pass
    assert not gha.in_actions
    assert stdout.getvalue() == ""
    gha.output("status", "passing")
    assert parse_outputs(files["output"].read_text()) == {"status": "passing"}


# -- masks and redaction ------------------------------------------------------------------------
def test_secrets_are_masked_and_never_written(files: dict[str, Path]) -> None:
    """Secrets registered before and after install_masks get ::add-mask:: and appear nowhere."""
    register(SECRET)
    gha, stdout = make(files)
    install_masks(gha)
    late = "deploy-credential-XYZ-987654"
    register(late)
    key_line = "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu"
    multi = f"-----BEGIN KEY-----\n{key_line}\n"
    register(multi)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnb2xkZW4ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    for text in (f"secret {SECRET}", f"late {late}", f"jwt {jwt}", f"multi {multi}"):
        gha.annotate("error", text, title=text)
        gha.output("out", text)
        gha.summary(text)
    masks = [data for name, _, data in parse_commands(stdout.getvalue()) if name == "add-mask"]
    assert SECRET in masks and late in masks
    assert key_line in masks
    assert "" not in masks
    annotations = "".join(
        d + str(p) for n, p, d in parse_commands(stdout.getvalue()) if n == "error"
    )
    written = annotations + files["output"].read_text() + files["summary"].read_text()
    for secret in (
        SECRET,
        late,
        jwt,
        "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu",
    ):
        assert secret not in written
    assert "***" in written


# -- $GITHUB_STEP_SUMMARY ------------------------------------------------------------------------
def test_summary_is_trimmed_at_a_line_under_one_mib(files: dict[str, Path]) -> None:
    """2 MiB of report → at most 1 MiB, whole lines only, the open fence closed, and a note."""
    gha, _ = make(files)
    lines = [f"| row {i} | ✅ passing | {'x' * 40} |" for i in range(30_000)]
    markdown = "# Report\n\n```text\n" + "\n".join(lines) + "\n```\n"
    assert len(markdown.encode()) > 2 * SUMMARY_LIMIT
    assert gha.summary(markdown)
    data = files["summary"].read_bytes()
    assert len(data) <= SUMMARY_LIMIT
    text = data.decode("utf-8")
    assert "trimmed to GitHub's 1 MiB" in text
    body, note = text[: text.rindex("\n```\n")], text[text.rindex("\n```\n") :]
    assert "row" not in note
    kept = body.split("\n")[3:]
    assert kept and all(line in lines for line in kept), "only whole lines are kept"
    assert text.count("```") % 2 == 0


def test_summary_counts_what_the_step_already_wrote(files: dict[str, Path]) -> None:
    """The 1 MiB is per step: a second append only gets what is left."""
    gha, _ = make(files)
    gha.summary("a" * (SUMMARY_LIMIT - 1000))
    gha.summary("\n".join("b" * 99 for _ in range(100)))
    assert files["summary"].stat().st_size <= SUMMARY_LIMIT
    assert "trimmed" in files["summary"].read_text()


def test_trim_markdown_closes_open_details() -> None:
    """A cut inside <details> closes it, so the note is visible."""
    text = "<details><summary>log</summary>\n\n" + "line\n" * 1000 + "</details>\n"
    out = trim_markdown(text, 800)
    assert len(out.encode()) <= 800
    assert out.count("<details") == out.count("</details>")
    assert trim_markdown("short\n", 800) == "short\n"
    assert trim_markdown(text, 10) == ""


def test_summary_markdown_strips_markers_and_state() -> None:
    """Only the bot's rendered section: no markers, no state block, no people's text."""
    body = (
        "people wrote this\n\n<!-- golden-path:begin -->\n"
        "<!-- golden-path:environment=staging -->\n"
        "# Golden Path: staging\n\nreport\n\n"
        '<!-- golden-path-state:v1\n{"iterations":[]}\n-->\n<!-- golden-path:end -->\n'
    )
    md = summary_markdown(body, issue_number=7, issue_url="https://github.com/o/r/issues/7")
    assert "<!--" not in md
    assert "golden-path-state" not in md and "iterations" not in md
    assert "people wrote this" not in md
    assert md.startswith("# Golden Path: staging")
    assert "[#7](https://github.com/o/r/issues/7)" in md


# -- ActionsPublisher -----------------------------------------------------------------------------
def test_publish_run_writes_summary_annotations_and_outputs(
    files: dict[str, Path], tmp_path: Path
) -> None:
    """The seed situation: blocked; outputs, one ::error per finding, ::warning for flaky."""
    from bot import tracking

    register(SECRET)
    it = auth_iteration()
    it.flow.failures[0].error = f"closed 1008 with token {SECRET}"  # type: ignore[union-attr]
    cfg = parse_config({"environment": "staging", "target": {"base_url": "http://127.0.0.1:9"}})
    upd = tracking.apply("", cfg, iteration=it)
    verdict = upd.verdict
    assert verdict.status == BLOCKED
    gha, stdout = make(files)
    results = tmp_path / ".golden-path" / "results.json"
    report = Report(it, verdict, results_path=results, body=upd.body, issue_number=42)
    report.issue_url = "https://github.com/acme/chat/issues/42"
    ActionsPublisher(gha).publish(report)

    outputs = parse_outputs(files["output"].read_text())
    assert set(outputs) == set(OUTPUTS)
    assert outputs["status"] == "blocked"
    c = verdict.counts
    assert (outputs["passed"], outputs["failed"], outputs["total"]) == (
        str(c.passed),
        str(c.failed),
        str(c.total),
    )
    assert int(outputs["total"]) == int(outputs["passed"]) + int(outputs["failed"])
    assert outputs["issue-number"] == "42"
    assert outputs["issue-url"] == "https://github.com/acme/chat/issues/42"
    assert outputs["results-path"] == str(results)

    commands = parse_commands(stdout.getvalue())
    errors = [(p, d) for n, p, d in commands if n == "error"]
    warnings = [(p, d) for n, p, d in commands if n == "warning"]
    assert len(errors) == len(verdict.findings)
    titles = [p["title"] for p, _ in errors]
    assert "agent flow: auth_rejected" in titles
    assert "tests/e2e/test_chat.py::test_reply: test_failed" in titles
    reply = next(
        p for p, _ in errors if p["title"].startswith("tests/e2e/test_chat.py::test_reply")
    )
    assert reply["file"] == "tests/e2e/test_chat.py"
    assert any(d == "boom\nline 2" for _, d in errors), "multi-line messages keep every line"
    assert [p["title"] for p, _ in warnings] == ["tests/e2e/test_chat.py::test_retry: flaky"]

    summary = files["summary"].read_text()
    assert "<!-- golden-path" not in summary, "markers and the state block are stripped"
    assert "[#42](https://github.com/acme/chat/issues/42)" in summary
    everything = stdout.getvalue() + summary + files["output"].read_text()
    assert SECRET not in everything.replace(f"::add-mask::{SECRET}", "")
    (tmp_path / "sample-job-summary.md").write_text(summary)


def test_publish_run_caps_annotations_per_level(files: dict[str, Path]) -> None:
    """GitHub shows 10 per level per step: the 10th annotation says how many more there are."""
    it = auth_iteration()
    it.flow = None
    it.suites[0].cases = [
        Case(f"tests/test_{i}.py::test_x", "failed", message=f"failure {i}") for i in range(25)
    ]
    it.suites[0].failed = 25
    verdict = verdict_of(it)
    assert verdict.status == DEGRADED
    gha, stdout = make(files)
    ActionsPublisher(gha).publish(
        Report(it, verdict, results_path=Path("results.json"), body="# report\n")
    )
    errors = [(p, d) for n, p, d in parse_commands(stdout.getvalue()) if n == "error"]
    assert len(errors) == ANNOTATIONS_PER_LEVEL
    assert errors[-1][1].startswith(f"{25 - ANNOTATIONS_PER_LEVEL + 1} more errors")
    outputs = parse_outputs(files["output"].read_text())
    assert outputs["issue-number"] == "" and outputs["issue-url"] == ""
