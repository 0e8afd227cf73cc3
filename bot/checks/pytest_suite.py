"""User pytest suites: run in a subprocess, results read back from JUnit XML.

A subprocess keeps the user's imports, conftest and plugins out of the bot's process
(and a crashing suite out of the report's way); JUnit XML is the one result format every
pytest writes without extra plugins.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import redact
from bot.checks.base import (
    ERRORED,
    FAILED,
    PASSED,
    CheckContext,
    CheckType,
    Finding,
    JunitCase,
    Outcome,
)
from bot.kinds import Kind
from bot.results import SuiteResult, TestCase
from bot.suite_env import ENV_BASE_URL, ENV_CONCURRENCY, ENV_CONFIG, ENV_TOKEN, ENV_WS_URL

if TYPE_CHECKING:
    from bot.config import Config

Log = Callable[[str, str], None]
_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")


def _nodeid(classname: str, name: str, file: str | None) -> str:
    """pytest's node id from a JUnit test case.

    JUnit flattens ``dir/test_x.py::TestA::TestB::test_c`` into classname
    ``dir.test_x.TestA.TestB`` and name ``test_c``; only the ``file`` attribute (xunit1)
    says where the path ends and the classes begin.
    """
    if file:
        module = file[:-3] if file.endswith(".py") else file
        prefix = module.replace("/", ".").replace("\\", ".")
        if not classname:  # a collection error: the name is the module's
            return file
        if classname == prefix:
            return f"{file}::{name}"
        if classname.startswith(prefix + "."):
            classes = classname[len(prefix) + 1 :].split(".")
            return "::".join([file, *classes, name])
        return f"{file}::{name}"
    return f"{classname.replace('.', '/')}.py::{name}" if classname else name


def parse_junit(path: Path) -> list[TestCase]:
    import xml.etree.ElementTree as ET  # only once a suite has run: not on every run's start

    cases: list[TestCase] = []
    root = ET.parse(path).getroot()  # noqa: S314 - our own subprocess wrote it
    for case in root.iter("testcase"):
        nodeid = _nodeid(case.get("classname", ""), case.get("name", ""), case.get("file"))
        outcome, message = "passed", ""
        for tag, result in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            el = case.find(tag)
            if el is not None:
                outcome = result
                message = el.get("message") or (el.text or "")[:500]
                if message == "collection failure":  # pytest's words; the cause is in the text
                    raised = [
                        ln[1:].strip() for ln in (el.text or "").splitlines() if ln[:1] == "E"
                    ]
                    message += f": {raised[-1]}" if raised else ""
                break
        cases.append(
            TestCase(
                nodeid=nodeid,
                outcome=outcome,
                duration_s=float(case.get("time", "0") or 0),
                message=redact.redact(message)[:1000],
            )
        )
    return cases


async def _pytest(
    args: list[str], env: dict[str, str], cwd: str | None, timeout_s: float, log: Log, work: Path
) -> tuple[int | None, list[TestCase], str]:
    """One pytest run; ``work`` is private to the suite run (JUnit files, pytest's cache)."""
    junit = work / "junit.xml"
    junit.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        # the cache lives in our temp dir, not the user's tree; reruns read it (--lf)
        "-o",
        f"cache_dir={work / 'cache'}",
        f"--junitxml={junit}",
        # xunit1 records each test's file, which node ids need (classes, nested dirs)
        "-o",
        "junit_family=xunit1",
        *args,
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(timeout_s):
            output, _ = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return None, [], f"suite timed out after {timeout_s:g}s"
    text = redact.redact(output.decode("utf-8", "replace"))
    for line in text.splitlines()[-5:]:
        log(f"pytest: {line}", "debug")
    cases = parse_junit(junit) if junit.exists() else []
    return proc.returncode, cases, text


def _write_config(config: Config, work: Path) -> Path:
    """The config the bot runs with, as a file the plugin loads like the user's own.

    The effective config, not the user's file: the demo and tests have no file, and a config
    path relative to the workspace would not resolve from a suite's own ``cwd``. JSON is
    YAML, and only the keys that were set are written, so it loads back equal (durations
    as text, no derived key written twice). It holds no secrets: the config only names them.
    """
    import json

    path = work / "golden-path-config.json"
    data = config.model_dump(mode="json", by_alias=True, exclude_unset=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


async def run_suite(
    suite: Any,
    *,
    base_url: str | None,
    ws_url: str | None,
    token: str | None,
    retries: int,
    log: Log,
    concurrency: int | None = None,
    env: Mapping[str, str] | None = None,
    config: Config | None = None,
) -> SuiteResult:
    """Run one configured suite; failed tests are rerun up to ``retries`` times.

    Reruns use pytest's own ``--lf`` against a private cache, so exactly the failed tests
    run again, whatever rootdir, classes or parametrisation their node ids involve. With
    ``config``, the plugin's sessions follow the same flow definition as the bot's.
    """
    started = time.perf_counter()
    env = dict(os.environ if env is None else env)  # the suite inherits the bot's environment
    env.update({ENV_BASE_URL: base_url or "", ENV_WS_URL: ws_url or "", ENV_TOKEN: token or ""})
    if concurrency is not None:  # the plugin prefetches sessions with the flow's bound
        env[ENV_CONCURRENCY] = str(concurrency)
    args = list(suite.args)
    if suite.workers is not None:
        args += ["-n", str(suite.workers)]
        log(
            f"suite {suite.name}: xdist workers disable session prefetching (usually slower "
            "for golden-path tests; see the README's speed section)",
            "warning",
        )
    import tempfile

    result = SuiteResult(name=suite.name)
    with tempfile.TemporaryDirectory(prefix="golden-path-") as tmp:
        work = Path(tmp)
        if config is not None:
            env[ENV_CONFIG] = str(_write_config(config, work))
        code, cases, output = await _pytest(args, env, suite.cwd, suite.timeout, log, work)
        if code is None:
            result.error = output
        elif code not in (0, 1):
            # 2 interrupted (e.g. a collection error), 3 internal error, 4 usage error,
            # 5 no tests collected: the suite did not run as configured
            tail = " | ".join(output.strip().splitlines()[-3:])
            result.error = f"pytest exited with {code}: {tail}"[:1000]
            missing = _MISSING_MODULE.search(output)
            if missing:
                result.error = (
                    f"pytest exited with {code}: the suite imports {missing[1]}, which is not "
                    "installed where the bot runs — list it in a requirements file and pass it "
                    f"as the action's `requirements` input | {tail}"
                )[:1000]
        for attempt in range(2, retries + 2):
            failed = [c for c in cases if c.outcome in ("failed", "error") and not c.flaky]
            if not failed or result.error:
                break
            rerun_args = [*args, "--last-failed", "--last-failed-no-failures", "none"]
            rerun_code, rerun, _ = await _pytest(
                rerun_args, env, suite.cwd, suite.timeout, log, work
            )
            if rerun_code is None:
                break
            again = {c.nodeid: c for c in rerun}
            for c in failed:
                new = again.get(c.nodeid)
                c.attempts = attempt
                if new is not None and new.outcome == "passed":
                    c.outcome, c.flaky, c.message = "passed", True, ""
    for c in cases:
        if c.flaky:
            result.flaky += 1
        elif c.outcome == "passed":
            result.passed += 1
        elif c.outcome == "failed":
            result.failed += 1
        elif c.outcome == "error":
            result.errors += 1
        else:
            result.skipped += 1
    result.cases = cases
    result.duration_s = round(time.perf_counter() - started, 3)
    return result


#: Test cases kept per suite in the issue's state block (failing and flaky ones only).
STATE_CASES = 50


def _file(nodeid: str) -> str | None:
    """``tests/e2e/test_x.py::test_y`` → ``tests/e2e/test_x.py``, for annotations."""
    path = nodeid.split("::", 1)[0]
    return path if "::" in nodeid and path.endswith(".py") else None


def _failing(suite: SuiteResult) -> int:
    """Failed units: failed and erroring tests, or the suite itself when it could not run."""
    return suite.failed + suite.errors or int(bool(suite.error))


class PytestCheck(CheckType):
    """User pytest suites, each in its own subprocess; every test is a golden-path test."""

    key = "suites"
    names = frozenset({"pytest", "suites"})
    alone = True

    def enabled(self, cfg: Config) -> bool:
        return bool(cfg.checks.pytest)

    def retest_names(self, cfg: Config) -> set[str]:
        return set(self.names) | {s.name.casefold() for s in cfg.checks.pytest}

    def retest_selection(self, cfg: Config, names: Sequence[str]) -> Any:
        if self.names & set(names):
            return None
        return [s.name for s in cfg.checks.pytest if s.name.casefold() in names]

    async def run(self, ctx: CheckContext, only: Any) -> list[SuiteResult]:
        cfg = ctx.cfg
        flow = cfg.checks.agent_flow
        ws_url = cfg.resolve_url(flow.url, ctx.base_url) if flow else None
        results = []
        for suite in cfg.checks.pytest:
            if only is not None and suite.name not in only:
                continue
            result = await run_suite(
                suite,
                base_url=ctx.base_url,
                ws_url=ws_url,
                token=ctx.token,
                retries=cfg.retries.failed,
                log=ctx.log,
                concurrency=flow.concurrency if flow else None,
                env=ctx.env,
                config=cfg,
            )
            (outcome,) = self.outcomes([result])
            ctx.log(f"suite {suite.name}: {outcome.detail}", "success" if outcome.ok else "error")
            results.append(result)
        return results

    def outcomes(self, result: list[SuiteResult]) -> list[Outcome]:
        out = []
        for s in result:
            failing = _failing(s)
            first = next((c for c in s.cases if c.outcome in ("failed", "error")), None)
            state = ERRORED if s.error else FAILED if failing else PASSED
            detail = (
                f"could not run: {s.error}"
                if s.error and not s.cases
                else f"{s.passed + s.flaky}/{s.passed + s.flaky + failing} passed"
                + (f" ({s.flaky} flaky)" if s.flaky else "")
                + (f", {s.skipped} skipped" if s.skipped else "")
            )
            out.append(
                Outcome(
                    name=s.name,
                    component="pytest",
                    state=state,
                    passed=s.passed + s.flaky,
                    failed=failing,
                    flaky=s.flaky,
                    kinds={str(Kind.TEST_FAILED): failing} if failing else {},
                    sample=s.error or (f"{first.nodeid}: {first.message}" if first else ""),
                    golden=True,
                    detail=detail,
                )
            )
        return out

    def findings(self, result: list[SuiteResult]) -> list[Finding]:
        """One per failing test (pointing at its file), plus one per suite that could not run."""
        out = []
        for s in result:
            if s.error and not s.failed + s.errors:  # else its failing tests stand for it
                out.append(Finding(s.name, str(Kind.TEST_FAILED), s.error))
            for c in s.cases:
                if c.outcome in ("failed", "error"):
                    kind = str(Kind.TEST_FAILED)
                    out.append(Finding(c.nodeid, kind, c.message, 1, _file(c.nodeid)))
        return out

    def failed_part(self, result: list[SuiteResult]) -> list[str]:
        return [s.name for s in result if _failing(s)]

    def carry_over(self, prev: list[SuiteResult], new: list[SuiteResult], only: Any) -> Any:
        if only is None:
            return new
        return [s for s in prev if s.name not in only] + new

    def merge(self, parts: Sequence[list[SuiteResult]]) -> list[SuiteResult]:
        by_name: dict[str, SuiteResult] = {}
        for suites in parts:
            for s in suites:
                m = by_name.setdefault(s.name, SuiteResult(name=s.name))
                m.passed += s.passed
                m.failed += s.failed
                m.skipped += s.skipped
                m.errors += s.errors
                m.flaky += s.flaky
                m.duration_s = max(m.duration_s, s.duration_s)
                m.cases.extend(s.cases)
                m.error = "; ".join(e for e in (m.error, s.error) if e)
        for m in by_name.values():
            m.cases.sort(key=lambda c: c.nodeid)
        return list(by_name.values())

    def load(self, data: list[dict[str, Any]]) -> list[SuiteResult]:
        return [
            SuiteResult(**{**s, "cases": [TestCase(**c) for c in s.get("cases", [])]}) for s in data
        ]

    def compact(self, result: list[SuiteResult]) -> list[SuiteResult]:
        return [
            dataclasses.replace(
                s,
                cases=[c for c in s.cases if c.outcome != "passed" or c.flaky][:STATE_CASES],
            )
            for s in result
        ]

    def cases(self, result: list[SuiteResult]) -> list[JunitCase]:
        out = []
        for suite in result:
            cls = f"golden_path.pytest.{suite.name}"
            if suite.error:
                out.append(JunitCase(suite.name, cls, 0.0, suite.error, kind="error"))
            for tc in suite.cases:
                failing = tc.outcome in ("failed", "error")
                out.append(
                    JunitCase(
                        tc.nodeid,
                        cls,
                        tc.duration_s,
                        (tc.message or tc.outcome) if failing else None,
                        kind="error" if tc.outcome == "error" else "failure",
                        skipped=tc.outcome == "skipped",
                    )
                )
        return out
