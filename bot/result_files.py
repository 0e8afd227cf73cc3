"""The files every run leaves behind: ``results.json`` (facts + verdict) and ``junit.xml``.

Both are written from the same iteration and verdict the issue shows, and both are redacted;
``results.json`` round-trips (``golden-path merge`` reads shards' files back).
"""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from bot import redact
from bot.checks import check_types, iteration_from_dict
from bot.checks.base import JunitCase
from bot.results import Iteration
from bot.runtime import DEFAULT_OUT
from bot.verdict import Verdict

GITIGNORE = "# written by golden-path: results, reports and pending state, not source\n*\n"


def atomic_write(path: Path, text: str) -> None:
    """Write via a temp file and rename, so readers never see half a file.

    The bot's own output directory (``.golden-path/``) gets a ``.gitignore`` when created, so
    its files never end up in a commit by accident.
    """
    for folder in (path.parent, *path.parent.parents):
        if folder.name == Path(DEFAULT_OUT).name and not folder.exists():
            folder.mkdir(parents=True)
            (folder / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def results_data(it: Iteration, verdict: Verdict) -> dict[str, Any]:
    """``results.json``'s content: the facts, a summary and the verdict, redacted."""
    data = it.to_dict()
    for ct in check_types():  # every check's key is there, null when it did not run
        data.setdefault(ct.key, None)
    c = verdict.counts
    data["summary"] = {"passed": c.passed, "failed": c.failed, "flaky": c.flaky, "total": c.total}
    data["verdict"] = verdict.to_dict()
    return redact.redact_obj(data)  # type: ignore[return-value]


def write_results(path: Path, it: Iteration, verdict: Verdict) -> None:
    atomic_write(path, json.dumps(results_data(it, verdict), indent=2, default=str) + "\n")


def read_results(path: Path) -> Iteration:
    return iteration_from_dict(json.loads(path.read_text(encoding="utf-8")))


def junit_cases(it: Iteration) -> list[JunitCase]:
    """Every test case: the deploy, then each check type's own."""
    cases: list[JunitCase] = []
    if it.deploy is not None:
        d = it.deploy
        failure = None if d.ok else d.error
        cases.append(
            JunitCase("deploy", "golden_path.deploy", d.duration_s, failure, skipped=not d.ran)
        )
    for ct in check_types():
        result = it.checks.get(ct.key)
        if result is not None:
            cases += ct.cases(result)
    return cases


def write_junit(path: Path, it: Iteration) -> None:
    """JUnit XML readable by the common consumers (one <testsuite> per component)."""
    root = ET.Element("testsuites", name=f"golden-path {it.environment}")
    suites: dict[str, ET.Element] = {}
    for case in junit_cases(it):
        name = case.classname.removeprefix("golden_path.").removeprefix("pytest.")
        suite = suites.get(case.classname)
        if suite is None:
            suite = suites[case.classname] = ET.SubElement(root, "testsuite", name=name)
        el = ET.SubElement(
            suite,
            "testcase",
            name=redact.redact(case.name),
            classname=case.classname,
            time=f"{case.time_s:.3f}",
        )
        if case.skipped:
            ET.SubElement(el, "skipped")
        elif case.failure is not None:
            text = redact.redact(case.failure)
            ET.SubElement(el, case.kind, message=text[:1000]).text = text
    for s in root.iter("testsuite"):
        cases = s.findall("testcase")
        s.set("tests", str(len(cases)))
        s.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        s.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
        s.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    ET.indent(root)
    atomic_write(
        path, '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"
    )
