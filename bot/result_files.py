"""The files every run leaves behind: ``results.json`` (facts + verdict) and ``junit.xml``.

Both are written from the same iteration and verdict the issue shows, and both are redacted;
``results.json`` round-trips (``golden-path merge`` reads shards' files back).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TextIO
from xml.sax.saxutils import escape

from bot import redact
from bot.checks import check_types, iteration_from_dict
from bot.checks.base import JunitCase
from bot.results import Iteration
from bot.runtime import DEFAULT_OUT
from bot.verdict import Verdict

GITIGNORE = "# written by golden-path: results, reports and pending state, not source\n*\n"


def atomic_write(path: Path, text: str | Callable[[TextIO], None]) -> None:
    """Write via a temp file and rename, so readers never see half a file.

    The bot's own output directory (``.golden-path/``) gets a ``.gitignore`` when created, so
    its files never end up in a commit by accident. ``text`` may be a function that writes
    the content to the file it is given (a file too big to hold as one string first).
    """
    for folder in (path.parent, *path.parent.parents):
        if folder.name == Path(DEFAULT_OUT).name and not folder.exists():
            folder.mkdir(parents=True)
            (folder / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        if callable(text):
            text(fh)
        else:
            fh.write(text)
    os.replace(tmp, path)


def results_data(it: Iteration, verdict: Verdict) -> dict[str, Any]:
    """``results.json``'s content: the facts, a summary and the verdict, redacted."""
    stored = {ct.key: ct for ct in check_types()}
    checks = {k: stored[k].stored(v) if k in stored else v for k, v in it.checks.items()}
    data = dataclasses.replace(it, checks=checks).to_dict()
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


def _case_sources(it: Iteration) -> Iterator[Callable[[], Iterable[JunitCase]]]:
    """Where cases come from, in report order: the deploy, then each check type's result.

    Each source makes its cases again on every call (they are generated, not stored).
    """
    if it.deploy is not None:
        d = it.deploy
        failure = None if d.ok else d.error
        deploy = JunitCase("deploy", "golden_path.deploy", d.duration_s, failure, skipped=not d.ran)
        yield lambda: (deploy,)
    for ct in check_types():
        result = it.checks.get(ct.key)
        if result is not None:
            yield partial(ct.cases, result)


def junit_cases(it: Iteration) -> Iterator[JunitCase]:
    """Every test case: the deploy, then each check type's own (generated, not stored)."""
    for source in _case_sources(it):
        yield from source()


def _attr(value: str) -> str:
    """An attribute value escaped as ElementTree escapes it (so both kinds of line agree)."""
    return escape(value, _ATTR_ENTITIES) if _SPECIAL.search(value) else value


_SPECIAL = re.compile(r"[&<>\"\r\n\t]")


_ATTR_ENTITIES = {'"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#09;"}


def write_junit(path: Path, it: Iteration) -> None:
    """JUnit XML readable by the common consumers (one <testsuite> per component).

    Written case by case, suite by suite (the cases are generated again for each suite):
    a run of 10,000 sessions has 10,000 cases, and a tree of them all would be the largest
    thing the run ever holds in memory. The text is what ElementTree (``ET.indent``) would
    write for the tree, byte for byte.
    """
    counts: dict[str, list[int]] = {}  # classname → tests, failures, errors, skipped
    sources: dict[str, list[Callable[[], Iterable[JunitCase]]]] = {}  # classname → its sources
    for source in _case_sources(it):
        for case in source():
            c = counts.setdefault(case.classname, [0, 0, 0, 0])
            held = sources.setdefault(case.classname, [])
            if not held or held[-1] is not source:
                held.append(source)
            c[0] += 1
            if case.skipped:
                c[3] += 1
            elif case.failure is not None:
                c[1 if case.kind == "failure" else 2] += 1
    root = f'<testsuites name="{_attr(f"golden-path {it.environment}")}"'
    said: dict[tuple[str, str], str] = {}  # failures repeat: each one written out once

    def outcome(kind: str, failure: str) -> str:
        """``<failure message="…">text</failure>`` as ElementTree writes it, once per text."""
        out = said.get((kind, failure))
        if out is None:
            text = redact.redact(failure)
            message = f'<{kind} message="{_attr(text[:1000])}"'
            out = said[kind, failure] = (
                f"{message}>{escape(text)}</{kind}>" if text else f"{message} />"
            )
        return out

    def write(fh: TextIO) -> None:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n')
        if not counts:
            fh.write(f"{root} />\n")
            return
        fh.write(f"{root}>\n")
        for classname, (tests, failures, errors, skipped) in counts.items():
            name = _attr(classname.removeprefix("golden_path.").removeprefix("pytest."))
            fh.write(
                f'  <testsuite name="{name}" tests="{tests}" failures="{failures}" '
                f'errors="{errors}" skipped="{skipped}">\n'
            )
            cls = _attr(classname)
            for case in (case for source in sources[classname] for case in source()):
                if case.classname != classname:
                    continue
                head = (
                    f'    <testcase name="{_attr(redact.redact(case.name))}" classname="{cls}" '
                    f'time="{case.time_s:.3f}"'
                )
                if case.skipped:
                    fh.write(f"{head}>\n      <skipped />\n    </testcase>\n")
                elif case.failure is None:  # most cases: one line
                    fh.write(f"{head} />\n")
                else:
                    fh.write(
                        f"{head}>\n      {outcome(case.kind, case.failure)}\n    </testcase>\n"
                    )
            fh.write("  </testsuite>\n")
        fh.write("</testsuites>\n")

    atomic_write(path, write)
