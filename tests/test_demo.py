"""`golden-path demo` end to end: real sample target, real checks, files on disk."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bot.cli import main
from bot.session import read_state


def _demo(tmp_path: Path, *args: str) -> tuple[int, str]:
    code = main(["demo", "--out", str(tmp_path), "--tests", "30", *args])
    return code, (tmp_path / "tracking-issue.md").read_text(encoding="utf-8")


def test_healthy_demo_passes_and_writes_three_files(tmp_path: Path, capsys) -> None:
    """A healthy target: exit 0, the issue, results.json and junit.xml agree on 30/30."""
    code, body = _demo(tmp_path)
    assert code == 0
    assert "ALL GOLDEN PATH TESTS PASSING" in body
    assert "**GOLDEN PATH STATUS**: ✅ **OPERATIONAL**" in body
    assert "30/30 golden-path tests passing" in body
    assert "API Endpoints: ✅ 2/2 working" in body
    assert "Backend Deployment**: ✅ SUCCESSFUL" in body
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["flow"]["passed"] == 30
    assert results["verdict"]["status"] == "passing"
    assert results["deploy"]["health_latency_s"] > 0
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    flow = next(s for s in junit.iter("testsuite") if s.get("name") == "agent_flow")
    assert flow.get("tests") == "30" and flow.get("failures") == "0"
    assert "OPERATIONAL" in capsys.readouterr().out


def test_auth_fault_reproduces_the_seed(tmp_path: Path) -> None:
    """--fault auth: exit 1, 1008 "SSOT Auth failed", five ❌, COMPLETELY BLOCKED, WHYs."""
    code, body = _demo(tmp_path, "--fault", "auth")
    assert code == 1
    assert "CRITICAL BLOCKER - FIVE WHYS ANALYSIS REQUIRED" in body
    assert 'WebSocket Authentication "SSOT Auth failed" Policy Violations (Error Code 1008)' in body
    for event in (
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_completed",
    ):
        assert f"- ❌ `{event}` - " in body
    assert "**GOLDEN PATH STATUS**: ❌ **COMPLETELY BLOCKED**" in body
    assert "$500K+ ARR AT RISK" in body
    why1 = body.split("#### WHY 1:")[1].split("#### WHY 2:")[0]
    assert "connections establish successfully but fail authentication" in why1
    assert "1008" in why1
    why2 = body.split("#### WHY 2:")[1].split("#### WHY 3:")[0]
    assert "different JWT secret" in why2  # the auth service accepts what the backend refuses
    for n in (2, 3, 4, 5):
        assert f"#### WHY {n}:" in body
    assert body.count("**Analysis Required**") == 4


@pytest.mark.parametrize(
    ("fault", "kind", "phrase"),
    [
        ("expired", "auth_rejected", "clock is 3600s ahead"),
        ("auth-down", "auth_rejected", "auth service is down"),
        ("drop:agent_thinking", "missing_event", "Missing WebSocket Events: agent"),
        ("reorder", "out_of_order", "tool\\_completed before tool\\_executing"),
        ("crash", "server_error", "(Error Code 1011)"),
        ("duplicate", "duplicate_event", "Duplicate WebSocket Events"),
        ("close-early", "closed_early", "Closed Mid-Flow (Code 1000)"),
        ("malformed", "protocol_error", "Malformed WebSocket Frames"),
    ],
)
def test_each_fault_gets_its_own_classification(
    tmp_path: Path, fault: str, kind: str, phrase: str
) -> None:
    """Every sample fault yields its own failure kind and a blocker that names it."""
    code, body = _demo(tmp_path, "--fault", fault)
    assert code == 1
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["flow"]["kinds"]) == {kind}
    assert phrase in body


def test_health_down_is_an_infrastructure_blocker(tmp_path: Path) -> None:
    """health-down: the deploy completes, then Infrastructure Health is the blocker (503).

    Every session still passes, so the golden path is at risk, not blocked.
    """
    code, body = _demo(tmp_path, "--fault", "health-down")
    assert code == 1
    assert "- ❌ Infrastructure Health (`server_error` ×1) — HTTP 503" in body
    assert "**GOLDEN PATH STATUS**: ⚠️ **AT RISK**" in body
    assert "Infrastructure Health: ✅" not in body
    assert "**ROOT ISSUE** (B1): Infrastructure Health Failing: HTTP 503" in body


def test_noise_frames_are_ignored(tmp_path: Path) -> None:
    """Heartbeats, progress frames and another run's events do not fail a good session."""
    code, _ = _demo(tmp_path, "--fault", "noise")
    assert code == 0


def test_demo_continues_the_session_across_runs(tmp_path: Path) -> None:
    """A second run is iteration 2 of the same session; a fix resolves the blocker."""
    assert _demo(tmp_path, "--fault", "auth")[0] == 1
    code, body = _demo(tmp_path)
    assert code == 0
    state = read_state(body)
    assert state is not None and [r.status for r in state.iterations] == ["blocked", "passing"]
    assert "### ✅ BLOCKER RESOLVED" in body
    assert "```mermaid\n%%{init:" in body and "\nxychart-beta\n" in body
    assert "line [0, 100]" in body  # the passing share per iteration, in %


def test_unknown_fault_is_a_usage_error(tmp_path: Path, capsys) -> None:
    """A typo in --fault exits 2 and lists the valid names."""
    assert main(["demo", "--out", str(tmp_path), "--fault", "nope"]) == 2
    assert "auth" in capsys.readouterr().err
