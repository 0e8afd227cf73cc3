"""`golden-path demo --profile realistic`: the bot against a target not shaped like it.

The realistic profile (bot/sample/realistic.py) wraps events in envelopes, repeats them,
nests a sub-agent, mixes in heartbeats and another run's frames, authenticates through a
base64url subprotocol and validates tokens with a JSON-body auth service. Healthy, it must
pass every session; each fault must be named by its own kind and its own side.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import parse_config
from bot.sample import realistic_config

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def _demo(tmp_path: Path, *args: str, tests: int = 5) -> tuple[int, dict[str, Any], str]:
    argv = ["demo", "--profile", "realistic", "--out", str(tmp_path), "--tests", str(tests)]
    code = main([*argv, *args])
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    return code, results, (tmp_path / "tracking-issue.md").read_text(encoding="utf-8")


def _why2(results: dict[str, Any]) -> str:
    (why,) = [w for w in results["verdict"]["whys"] if w["n"] == 2]
    return " ".join(why["hints"])


def test_realistic_config_is_a_valid_config() -> None:
    """The config the docstring calls what a team would write passes the bot's validator."""
    cfg = parse_config(
        realistic_config(base_url="http://127.0.0.1:1", auth_url="http://127.0.0.1:2", sessions=3)
    )
    flow = cfg.checks.agent_flow
    assert flow is not None and flow.token_in == "subprotocol"
    assert flow.parent_key == "data.parent_agent"
    assert cfg.auth.verification() is not None


def test_healthy_realistic_demo_passes(tmp_path: Path) -> None:
    """Healthy: exit 0, every session passes despite repeats, sub-agents and noise."""
    code, results, body = _demo(tmp_path, tests=40)
    assert code == 0, results["verdict"]
    assert results["verdict"]["status"] == "passing"
    assert (results["flow"]["passed"], results["flow"]["failed"]) == (40, 0)
    assert "ALL GOLDEN PATH TESTS PASSING" in body
    assert "demo --profile realistic" in body  # the trigger says which target it was


def test_a_thousand_healthy_sessions_have_no_false_failure(tmp_path: Path) -> None:
    """1,000 healthy realistic sessions through the runner: zero reported as failed."""
    code, results, _ = _demo(tmp_path, tests=1000)
    flow = results["flow"]
    assert (flow["total"], flow["passed"], flow["flaky"], flow["failed"]) == (1000, 1000, 0, 0)
    assert flow["failures"] == [] and code == 0


@pytest.mark.parametrize(
    ("fault", "kind", "said"),
    [
        # the auth service still says valid: the two services disagree (secret, iss/aud)
        ("auth", "auth_rejected", "auth service accepts our token but the backend refuses"),
        ("auth-down", "auth_rejected", "restore the auth service first"),
        ("expired", "auth_rejected", "clock is 3600s ahead"),
        ("no-subprotocol", "subprotocol_refused", "must select the subprotocol"),
        ("no-final", "agent_incomplete", "hand-back from sub-agent to parent"),
        ("drop:tool_completed", "unpaired_event", "tool dispatcher"),
        ("drop:agent_thinking", "missing_event", "emitter is not wired"),
    ],
)
def test_each_fault_is_named_by_its_kind_and_side(
    tmp_path: Path, fault: str, kind: str, said: str
) -> None:
    """Each realistic fault: exit 1, its own kind as the blocker, its own side in WHY 2."""
    code, results, _ = _demo(tmp_path, "--fault", fault)
    assert code == 1
    assert set(results["flow"]["kinds"]) == {kind}
    assert results["verdict"]["blocker"]["kind"] == kind
    assert said in _why2(results)


def test_fault_expired_names_the_clock_before_anything_else(tmp_path: Path) -> None:
    """expired: the first WHY 2 hint is the backend's clock, not a secret mismatch."""
    _, results, _ = _demo(tmp_path, "--fault", "expired")
    (why,) = [w for w in results["verdict"]["whys"] if w["n"] == 2]
    assert "clock" in why["hints"][0]
    assert results["verdict"]["blocker"]["evidence"] == [
        "error frame AUTH_FAILED: Invalid token: Signature has expired"
    ]


def test_fault_auth_down_evidence_is_the_backends_own_frame(tmp_path: Path) -> None:
    """auth-down: the blocker carries AUTH_SERVICE_UNAVAILABLE, the close reason in its root."""
    _, results, _ = _demo(tmp_path, "--fault", "auth-down")
    blocker = results["verdict"]["blocker"]
    assert "Auth service unavailable" in blocker["root_issue"]
    assert blocker["evidence"][0].startswith("error frame AUTH_SERVICE_UNAVAILABLE")


@pytest.mark.parametrize(
    ("fault", "kind", "root"),
    [
        ("not-ready", "server_error", '"service not ready" (Error Code 1011)'),
        ("drop:agent_completed", "timeout", "agent_completed never arrived"),
        ("drop:agent_started", "missing_event", "Missing WebSocket Events: agent_started"),
    ],
)
def test_server_side_faults_name_the_cause_in_the_root_issue(
    tmp_path: Path, fault: str, kind: str, root: str
) -> None:
    """not-ready, a lost final and a lost start: their own kind, the cause in the root line."""
    code, results, _ = _demo(tmp_path, "--fault", fault)
    assert code == 1
    assert set(results["flow"]["kinds"]) == {kind}
    assert root in results["verdict"]["blocker"]["root_issue"]


def test_strict_subprotocol_is_invisible_to_a_client_offering_jwt_auth(tmp_path: Path) -> None:
    """strict-subprotocol only refuses clients that do not offer jwt-auth: the config does."""
    code, results, _ = _demo(tmp_path, "--fault", "strict-subprotocol")
    assert code == 0 and results["flow"]["failed"] == 0


def test_health_down_is_a_supporting_failure(tmp_path: Path) -> None:
    """health-down: every session passes, Infrastructure Health fails, golden path at risk."""
    code, results, _ = _demo(tmp_path, "--fault", "health-down")
    assert code == 1
    assert results["verdict"]["status"] == "degraded"
    assert results["flow"]["failed"] == 0
    assert results["verdict"]["blocker"]["root_issue"].startswith(
        "Infrastructure Health Failing: HTTP 503"
    )


def test_faults_of_the_other_profile_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--fault reorder exists only in the default profile: exit 2, the valid names listed."""
    code = main(["demo", "--profile", "realistic", "--out", str(tmp_path), "--fault", "reorder"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown fault 'reorder'" in err and "no-final" in err and "realistic" in err
    assert not (tmp_path / "results.json").exists()


def _why(results: dict[str, Any], n: int) -> dict[str, Any]:
    (why,) = [w for w in results["verdict"]["whys"] if w["n"] == n]
    return why


@pytest.mark.parametrize(
    ("fault", "shown"),
    [
        ("drop:tool_completed", "without tool_completed"),
        ("drop:tool_executing", "without tool_executing before it"),
    ],
)
def test_an_unpaired_root_issue_names_the_events_and_the_hint_fits_both_directions(
    tmp_path: Path, fault: str, shown: str
) -> None:
    """The root line lists what was unpaired (it once ended in a blank); the hint covers a
    closer with no opener as well as an opener left open."""
    _, results, _ = _demo(tmp_path, "--fault", fault)
    blocker = results["verdict"]["blocker"]
    assert blocker["kind"] == "unpaired_event"
    assert shown in blocker["root_issue"]
    assert not blocker["root_issue"].rstrip().endswith(":")
    hint = " ".join(_why(results, 2)["hints"])
    assert "opener left open" in hint and "closer with no opener" in hint


def test_a_1011_before_any_event_does_not_claim_authentication_worked(tmp_path: Path) -> None:
    """not-ready closes 1011 on connect: WHY 1 says so, and nothing claims auth succeeded."""
    _, results, body = _demo(tmp_path, "--fault", "not-ready")
    answer = _why(results, 1)["answer"]
    assert "before any agent event" in answer
    assert "authenticate" not in answer
    assert "authentication and routing work" not in body


def test_expired_does_not_also_blame_the_jwt_secret(tmp_path: Path) -> None:
    """expired: the backend's clock explains the refusal; no 'most likely a different secret'."""
    _, results, _ = _demo(tmp_path, "--fault", "expired")
    hints = " ".join(_why(results, 2)["hints"])
    assert "clock" in hints
    assert "most likely the backend verifies with a different JWT secret" not in hints
