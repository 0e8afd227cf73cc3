"""junit.xml: every case readable back as written, whatever its name holds."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from bot.redact import register
from bot.result_files import write_junit
from bot.results import Iteration, SuiteResult, TestCase

SECRET = "junit-secret-value-0123456789"


def test_test_names_with_markup_and_secrets_read_back_as_written(tmp_path: Path) -> None:
    """Quotes, <, &, newlines and tabs in names survive; a registered secret does not."""
    register(SECRET)
    names = [
        'tests/test_a.py::test_x["quoted" & <angled>]',
        "tests/test_a.py::test_y[line\nbreak\tand\rreturn]",
        f"tests/test_a.py::test_z[{SECRET}]",
        "tests/test_a.py::test_é☃",
    ]
    cases = [TestCase(nodeid=n, outcome="passed", duration_s=0.25) for n in names]
    cases.append(TestCase(nodeid='tests/test_b.py::test_"bad"', outcome="failed", message="<x>"))
    suite = SuiteResult(name="e2e", passed=4, failed=1, cases=cases)
    it = Iteration(environment="staging", started_at="2026-11-30T00:00:00Z")
    it.checks["suites"] = [suite]
    write_junit(tmp_path / "junit.xml", it)

    text = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    got = {c.get("name"): c for c in ET.fromstring(text).iter("testcase")}
    assert SECRET not in text
    assert list(got) == [*names[:2], names[2].replace(SECRET, "***"), *names[3:], cases[4].nodeid]
    assert all(c.get("time") == "0.250" and len(c) == 0 for c in list(got.values())[:4])
    failure = got[cases[4].nodeid].find("failure")
    assert failure is not None and failure.text == "<x>"


def test_failures_errors_and_skips_read_back_as_written(tmp_path: Path) -> None:
    """Failure text with markup, quotes and newlines; errors; skips: all read back intact."""
    texts = ['assert "a" < b & c\n  where b = 2', "x" * 1500 + "<&>", "\ttab\r\n", "é"]
    cases = [TestCase(nodeid=f"t::f{i}", outcome="failed", message=t) for i, t in enumerate(texts)]
    cases += [
        TestCase(nodeid="t::e", outcome="error", message="fixture <db> broke"),
        TestCase(nodeid="t::s", outcome="skipped"),
        TestCase(nodeid="t::p", outcome="passed"),
    ]
    it = Iteration(environment="staging", started_at="2026-11-30T00:00:00Z")
    it.checks["suites"] = [
        SuiteResult(name="e2e", passed=1, failed=4, errors=1, skipped=1, cases=cases)
    ]
    write_junit(tmp_path / "junit.xml", it)

    got = {c.get("name"): c for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")}
    for i, text in enumerate(texts):
        (failure,) = got[f"t::f{i}"]
        assert failure.tag == "failure" and failure.text == text.replace("\r\n", "\n")
        assert failure.get("message") == text[:1000]
    (error,) = got["t::e"]
    assert (error.tag, error.text) == ("error", "fixture <db> broke")
    assert [c.tag for c in got["t::s"]] == ["skipped"] and len(got["t::p"]) == 0
