"""Rendering: golden files pin the tracking issue; untrusted text stays text.

Regenerate the golden files on purpose with ``make golden`` (GOLDEN_PATH_REGEN=1), then
read the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot import render, report
from bot.config import parse_config
from bot.history import record
from bot.issue_format import GITHUB_BODY_LIMIT
from bot.results import AuthEvidence, FlowSession, FlowSummary, HttpCheck, Iteration, Kind
from bot.session import LogEntry, SessionState, read_state
from bot.verdict import Verdict, judge

GOLDEN = Path(__file__).parent / "golden"
EVENTS = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
CFG = parse_config(
    {
        "environment": "staging",
        "target_tests": 1000,
        "tracking": {"title": "Golden Path: {environment}"},
    }
)


def _iteration(n: int, *, failing: bool, at: str) -> Iteration:
    it = Iteration(
        environment="staging",
        started_at=f"{at}.000Z",
        finished_at=f"{at}.500Z",
        duration_s=3.5,
        trigger="push",
        sha="0123456789ab",
    )
    it.http = [
        HttpCheck(
            "Infrastructure Health",
            "https://backend.example/health",
            True,
            status=200,
            latency_s=0.166,
        ),
        HttpCheck(
            "Auth Service Health", "https://auth.example/health", True, status=200, latency_s=0.052
        ),
        HttpCheck(
            "threads",
            "https://backend.example/api/threads",
            True,
            group="endpoint",
            status=200,
            latency_s=0.08,
        ),
        HttpCheck(
            "status",
            "https://backend.example/api/status",
            True,
            group="endpoint",
            status=200,
            latency_s=0.07,
        ),
    ]
    flow = FlowSummary(url="wss://backend.example/ws", total=n, wall_s=1.25, concurrency=200)
    if failing:
        flow.failed = n
        flow.event_seen = dict.fromkeys(EVENTS, 0)
        flow.kinds = {"auth_rejected": n}
        flow.failures = [
            FlowSession(
                i,
                False,
                Kind.AUTH_REJECTED,
                missing=list(EVENTS),
                close_code=1008,
                close_reason="SSOT Auth failed",
                error_frame={
                    "type": "error_message",
                    "error_code": "AUTH_FAILED",
                    "message": "SSOT Auth failed",
                },
                error="closed 1008 'SSOT Auth failed' before agent_completed",
            )
            for i in range(3)
        ]
        it.auth = AuthEvidence(
            claims={"sub": "e2e", "iss": "auth-service", "aud": "backend", "iat": 100, "exp": 1000},
            checked_at=200,
            verify_valid=True,
            verify_status=200,
            auth_health_ok=True,
            error_codes={"AUTH_FAILED": n},
        )
    else:
        flow.passed = n
        flow.event_seen = dict.fromkeys(EVENTS, n)
        flow.latency_p50_s, flow.latency_p95_s = 0.25, 0.31
    it.flow = flow
    return it


def _render(state: SessionState, it: Iteration) -> tuple[str, Verdict]:
    verdict = judge(it, CFG)
    record(state, it, verdict)
    ctx = report.context(
        CFG,
        state,
        it,
        verdict,
        issue={"number": 125, "url": "https://github.com/octo/app/issues/125"},
    )
    return render.render("issue.md.j2", ctx).body, verdict


def _check_golden(name: str, body: str) -> None:
    path = GOLDEN / name
    if os.environ.get("GOLDEN_PATH_REGEN"):
        path.write_text(body, encoding="utf-8")
    assert body == path.read_text(encoding="utf-8"), f"{name} changed: make golden, then review"


def _session() -> SessionState:
    state = SessionState(environment="staging", session_id="s1", started_at="2025-09-09T22:10:00Z")
    state.log.append(LogEntry("l1", "2025-09-09T22:10:01.000Z", "deployed backend", "success"))
    return state


def test_golden_first_iteration_blocked() -> None:
    """Iteration 1 with every session refused (1008): the seed's report, section by section."""
    body, dx = _render(_session(), _iteration(1000, failing=True, at="2025-09-09T22:15:00"))
    assert dx.status == "blocked"
    _check_golden("first-iteration-blocked.md", body)


def test_golden_later_iteration_passing_closed() -> None:
    """Iteration 2 passing: blocker resolved with its timestamps, chart of the trend."""
    state = _session()
    _render(state, _iteration(1000, failing=True, at="2025-09-09T22:15:00"))
    body, dx = _render(state, _iteration(1000, failing=False, at="2025-09-09T23:40:00"))
    assert dx.status == "passing" and state.closed_at
    _check_golden("later-iteration-passing.md", body)


def test_golden_regression_reopened() -> None:
    """A failure after a green, closed iteration starts a new session and says so."""
    state = _session()
    _render(state, _iteration(1000, failing=True, at="2025-09-09T22:15:00"))
    _render(state, _iteration(1000, failing=False, at="2025-09-09T23:40:00"))
    body, _ = _render(state, _iteration(1000, failing=True, at="2025-09-10T08:00:00"))
    assert state.sessions == 2 and not state.closed_at
    _check_golden("regression-reopened.md", body)


HOSTILE = [
    "{{ 7*7 }}",
    "{% for x in range(3) %}boom{% endfor %}",
    "@octo-org/admins please look",
    "ping @alice",
    "see #123",
    "```\nunclosed fence",
    "| a | b |\n|---|---|",
    "<details><summary>x</summary>",
    "<!-- golden-path:end -->",
    '<!-- golden-path-state:v1\n{"iterations": []}\n-->',
    "[click](javascript:alert(1))",
    "x" * 100_000,
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_untrusted_close_reasons_stay_text(text: str) -> None:
    """A hostile server close reason renders as inert text: no eval, ping, link or spoof."""
    it = _iteration(10, failing=True, at="2025-09-09T22:15:00")
    for f in it.flow.failures:  # type: ignore[union-attr]
        f.close_reason = text
        f.error = text
    state = _session()
    owned = report.owned_section(CFG, state, it, judge(it, CFG))
    if text == "{{ 7*7 }}":
        assert "{{ 7\\*7 }}" in owned  # shown, escaped, never evaluated
    assert "boomboomboom" not in owned
    assert "@octo-org" not in owned and "@alice" not in owned
    assert "#123" not in owned
    assert owned.count("<!-- golden-path:end -->") == 1
    assert owned.count("<!-- golden-path-state:v1") == 1
    assert "<details><summary>x" not in owned
    assert "[click](" not in owned
    assert len(owned) < GITHUB_BODY_LIMIT
    assert read_state(owned) is not None  # the real state block is intact


def test_md_inline_escapes_and_neutralises() -> None:
    """md_inline: Markdown specials escaped, mentions and references broken, one line."""
    out = render.md_inline("**bold** _x_ `code` @bob #7 <b>\nnext")
    assert "\n" not in out
    assert "\\*\\*bold\\*\\*" in out and "\\`code\\`" in out
    assert "@bob" not in out and "#7" not in out
    assert "&lt;b&gt;" in out


def test_code_span_survives_backticks() -> None:
    """code spans use a fence longer than any backtick run inside."""
    assert render.code_span("a`b") == "``a`b``"
    assert render.code_span("`x`") == "`` `x` ``"


def test_packaged_templates_use_only_documented_names() -> None:
    """Every name the packaged templates read is in the README's template-context table."""
    import jinja2.meta
    import jinja2.nodes

    env = render.environment()
    names: set[str] = set()
    for path in render.template_dir().glob("*.j2"):
        tree = env.parse(path.read_text())
        local = {n.target.name for n in tree.find_all(jinja2.nodes.Assign)}  # {% set %}
        names |= jinja2.meta.find_undeclared_variables(tree) - local
    assert names <= set(report.CONTEXT_DOCS), names - set(report.CONTEXT_DOCS)


def test_a_user_template_with_the_documented_names_renders(tmp_path: Path) -> None:
    """An override that reads every documented name renders (the context is a stable API)."""
    overrides = tmp_path / "tpl"
    overrides.mkdir()
    lines = [f"{name}: {{{{ {name} is defined }}}}" for name in report.CONTEXT_DOCS]
    lines += [
        "status={{ verdict.status }} failed={{ verdict.counts.failed }}",
        "{% for w in whys %}WHY {{ w.n }}{% endfor %}",
        "{% for r in rows %}row {{ r.iterations }} {{ r.status }}{% endfor %}",
        "{% for t in trend %}{{ t.share }}%{% endfor %}",
        "since={{ session.started_at | time }} progress={{ progress.passing }}/{{ progress.run }}",
    ]
    (overrides / "issue.md.j2").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = parse_config({"environment": "staging", "tracking": {"templates": str(overrides)}})
    it = _iteration(10, failing=True, at="2025-09-09T22:15:00")
    state = _session()
    owned = report.owned_section(cfg, state, it, judge(it, cfg))
    for name in report.CONTEXT_DOCS:
        assert f"{name}: True" in owned
    assert "status=blocked failed=10" in owned
    assert "WHY 1WHY 2WHY 3WHY 4WHY 5" in owned
