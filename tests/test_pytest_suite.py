"""User pytest suites: run in a subprocess, read back from JUnit XML, failures rerun."""

from __future__ import annotations

import asyncio
import os
import textwrap
import time
from pathlib import Path

from bot.checks.pytest_suite import parse_junit, run_suite
from bot.config import PytestSuite
from bot.results import SuiteResult

BASE_URL = "http://127.0.0.1:1"
WS_URL = "ws://127.0.0.1:1/ws"
TOKEN = "golden-path-test-token-0123456789"

USER_SUITE = {
    "pytest.ini": """
        [pytest]
        markers = slowish: unused
    """,
    "test_user.py": """
        import pytest

        def test_pass():
            pass

        def test_fail():
            assert 1 == 2, "boom"

        @pytest.mark.skip(reason="not today")
        def test_skip():
            pass
    """,
    "sub/test_nested.py": """
        from pathlib import Path

        MARK = Path(__file__).with_name("flaky.marker")

        def test_flaky_function():
            marker = MARK.with_suffix(".fn")
            if not marker.exists():
                marker.write_text("failed once")
                raise AssertionError("first run fails")

        class TestGroup:
            def test_in_class(self):
                pass

            class TestInner:
                def test_flaky_in_class(self):
                    marker = MARK.with_suffix(".cls")
                    if not marker.exists():
                        marker.write_text("failed once")
                        raise AssertionError("first run fails")
    """,
    "test_env.py": f"""
        def test_env_reaches_fixtures(golden_path_base_url, golden_path_ws_url, golden_path_token):
            assert golden_path_base_url == {BASE_URL!r}
            assert golden_path_ws_url == {WS_URL!r}
            assert golden_path_token == {TOKEN!r}
    """,
}


def write_suite(root: Path, files: dict[str, str]) -> Path:
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body).lstrip())
    return root


def run(root: Path, *, retries: int = 0, timeout: float = 60.0, args: list[str] | None = None):
    suite = PytestSuite(name="user suite", args=args or [str(root)], cwd=str(root), timeout=timeout)
    logged: list[tuple[str, str]] = []
    result = asyncio.run(
        run_suite(
            suite,
            base_url=BASE_URL,
            ws_url=WS_URL,
            token=TOKEN,
            retries=retries,
            log=lambda text, level: logged.append((text, level)),
        )
    )
    return result, logged


def outcomes(result: SuiteResult) -> dict[str, tuple[str, bool, int]]:
    return {c.nodeid: (c.outcome, c.flaky, c.attempts) for c in result.cases}


def test_suite_counts_flaky_and_env(tmp_path: Path) -> None:
    """Pass/fail/skip are counted, tests passing on rerun are flaky, env reaches fixtures."""
    result, logged = run(write_suite(tmp_path, USER_SUITE), retries=1)
    assert result.error == ""
    assert outcomes(result) == {
        "test_user.py::test_pass": ("passed", False, 1),
        "test_user.py::test_fail": ("failed", False, 2),
        "test_user.py::test_skip": ("skipped", False, 1),
        "sub/test_nested.py::test_flaky_function": ("passed", True, 2),
        "sub/test_nested.py::TestGroup::test_in_class": ("passed", False, 1),
        "sub/test_nested.py::TestGroup::TestInner::test_flaky_in_class": ("passed", True, 2),
        "test_env.py::test_env_reaches_fixtures": ("passed", False, 1),
    }
    assert (result.passed, result.failed, result.skipped, result.flaky, result.errors) == (
        3,
        1,
        1,
        2,
        0,
    )
    assert result.total == 4
    (fail,) = [c for c in result.cases if c.outcome == "failed"]
    assert "boom" in fail.message
    assert all(level == "debug" for _, level in logged) and logged
    assert TOKEN not in "".join(text for text, _ in logged)
    assert not (tmp_path / ".pytest_cache").exists()  # pytest's cache stays in our temp dir


def test_without_retries_a_flaky_test_is_a_failure(tmp_path: Path) -> None:
    """retries=0 reruns nothing: the first failure stands."""
    files = {k: v for k, v in USER_SUITE.items() if k in ("pytest.ini", "sub/test_nested.py")}
    result, _ = run(write_suite(tmp_path, files), retries=0)
    assert (result.passed, result.failed, result.flaky) == (1, 2, 0)
    assert {c.attempts for c in result.cases} == {1}


def test_rerun_runs_only_the_failed_tests(tmp_path: Path) -> None:
    """The retry reruns the failed test alone, not the passing ones."""
    files = {
        "pytest.ini": "[pytest]\n",
        "test_count.py": """
            from pathlib import Path

            RUNS = Path(__file__).with_name("runs.log")

            def test_counted():
                with RUNS.open("a") as f:
                    f.write("counted\\n")

            def test_always_fails():
                with RUNS.open("a") as f:
                    f.write("fails\\n")
                assert False
        """,
    }
    root = write_suite(tmp_path, files)
    result, _ = run(root, retries=2)
    assert (result.passed, result.failed) == (1, 1)
    assert (root / "runs.log").read_text().split() == ["counted", "fails", "fails", "fails"]
    (failed,) = [c for c in result.cases if c.outcome == "failed"]
    assert failed.attempts == 3


def test_suite_timeout_is_an_error(tmp_path: Path) -> None:
    """A suite running past its timeout is stopped and reported as an error."""
    files = {"test_hang.py": "import time\n\ndef test_hang():\n    time.sleep(30)\n"}
    started = time.perf_counter()
    result, _ = run(write_suite(tmp_path, files), timeout=1.0)
    assert time.perf_counter() - started < 10
    assert result.error == "suite timed out after 1s"
    assert result.cases == [] and result.total == 0


def test_collection_error_is_a_suite_error(tmp_path: Path) -> None:
    """A module that fails to import stops the suite: error set, no rerun attempted."""
    files = {
        "pytest.ini": "[pytest]\n",
        "test_ok.py": "def test_ok():\n    pass\n",
        "test_broken.py": "import module_that_does_not_exist\n",
    }
    result, _ = run(write_suite(tmp_path, files), retries=2)
    assert result.error.startswith("pytest exited with 2: ")
    assert "error during collection" in result.error
    assert result.errors == 1 and result.passed == 0
    (case,) = result.cases
    assert case.nodeid == "test_broken.py" and case.attempts == 1


def test_no_tests_collected_is_a_suite_error(tmp_path: Path) -> None:
    """A selection matching no test (exit 5) is reported, not silently green."""
    files = {"pytest.ini": "[pytest]\n", "test_ok.py": "def test_ok():\n    pass\n"}
    root = write_suite(tmp_path, files)
    result, _ = run(root, args=[str(root), "-k", "nothing_matches_this"])
    assert result.error.startswith("pytest exited with 5")


def test_the_suite_gets_the_bots_config_as_a_file_it_can_load(tmp_path: Path) -> None:
    """config=: GOLDEN_PATH_CONFIG names a file that loads to the same config (durations and
    derived keys included), in the suite's private temp dir, gone after the run."""
    from bot.config import parse_config

    cfg = parse_config(
        {
            "environment": "suite-env",
            "checks": {
                "agent_flow": {
                    "url": "/chat/ws",
                    "event_key": "data.kind",
                    "events": ["start", "end"],
                    "timeout": "7500ms",
                    "connect_timeout": "2s",
                    "token_transport": {"subprotocol": "bearer.{token}"},
                }
            },
        }
    )
    files = {
        "test_cfg.py": """
            import os
            from pathlib import Path

            from bot.config import load_config

            def test_config(golden_path_config):
                flow = golden_path_config.checks.agent_flow
                assert golden_path_config.environment == "suite-env"
                assert (flow.event_key, flow.timeout) == ("data.kind", 7.5)
                assert flow.token_in == "subprotocol"
                assert flow.order == [] and flow.events == ["start", "end"]
                assert golden_path_config == load_config(os.environ["GOLDEN_PATH_CONFIG"])
                Path(os.environ["SEEN_AT"]).write_text(os.environ["GOLDEN_PATH_CONFIG"])
        """,
    }
    root = write_suite(tmp_path, files)
    seen_at = tmp_path / "seen.txt"
    suite = PytestSuite(name="cfg", args=[str(root)], cwd=str(root), timeout=60)
    result = asyncio.run(
        run_suite(
            suite,
            base_url=BASE_URL,
            ws_url=WS_URL,
            token=TOKEN,
            retries=0,
            log=lambda text, level: None,
            env={**os.environ, "SEEN_AT": str(seen_at)},
            config=cfg,
        )
    )
    assert (result.passed, result.failed, result.errors, result.error) == (1, 0, 0, "")
    written = Path(seen_at.read_text())
    assert written.name == "golden-path-config.json" and not written.exists()


JUNIT_XUNIT1 = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
  <testcase classname="tests.e2e.test_flow.TestChat.TestInner" name="test_a[x.y-1]"
            file="tests/e2e/test_flow.py" line="3" time="0.25"/>
  <testcase classname="tests.e2e.test_flow" name="test_b" file="tests/e2e/test_flow.py"
            time="0.5"><failure message="assert 1 == 2">long text</failure></testcase>
  <testcase classname="test_top" name="test_c" file="test_top.py" time="0">
    <skipped type="pytest.skip" message="not today"/></testcase>
  <testcase classname="" name="tests.test_broken" file="tests/test_broken.py" time="0">
    <error message="collection failure">ImportError</error></testcase>
  <testcase classname="tests.test_d" name="test_d" file="tests/test_d.py" time="">
    <error>fixture 'db' not found</error></testcase>
</testsuite></testsuites>
"""


def test_parse_junit_rebuilds_node_ids_for_classes_and_dirs(tmp_path: Path) -> None:
    """Node ids keep path, nested classes and parameters apart; outcomes and messages read."""
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT_XUNIT1)
    cases = parse_junit(path)
    assert [(c.nodeid, c.outcome, c.duration_s, c.message) for c in cases] == [
        ("tests/e2e/test_flow.py::TestChat::TestInner::test_a[x.y-1]", "passed", 0.25, ""),
        ("tests/e2e/test_flow.py::test_b", "failed", 0.5, "assert 1 == 2"),
        ("test_top.py::test_c", "skipped", 0.0, "not today"),
        ("tests/test_broken.py", "error", 0.0, "collection failure"),
        ("tests/test_d.py::test_d", "error", 0.0, "fixture 'db' not found"),
    ]


def test_parse_junit_without_file_attribute_falls_back(tmp_path: Path) -> None:
    """xunit2 reports (no file attribute) still give a usable module-level node id."""
    path = tmp_path / "j.xml"
    path.write_text(
        '<testsuites><testsuite><testcase classname="pkg.test_m" name="test_x" time="1"/>'
        '<testcase classname="" name="lonely" time="0"/></testsuite></testsuites>'
    )
    cases = parse_junit(path)
    assert [c.nodeid for c in cases] == ["pkg/test_m.py::test_x", "lonely"]
