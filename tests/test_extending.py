"""ARCHITECTURE.md's walk-throughs hold: a new check type, command or failure kind has one home.

The check type here (a raw TCP probe of the target's port) is written the way the walk-through
says, in this file only; none of the generic stages — pipeline, verdict, issue, junit.xml,
results.json, shards, ``/retest`` — is told about it.
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot import checks, commands
from bot.checks.base import FAILED, PASSED, CheckContext, CheckType, Outcome
from bot.cli import main
from bot.commands import COMMANDS
from bot.config import Config
from bot.kinds import KINDS, Kind
from bot.sample import SampleTarget
from bot.trigger import parse_commands


@dataclass(slots=True)
class PortProbe:
    """The check's own result type."""

    host: str
    port: int
    ok: bool
    error: str = ""


class TcpCheck(CheckType):
    """Step 1 of the walk-through: a CheckType with its own key, run, outcomes and load."""

    key = "tcp"
    names = frozenset({"tcp"})

    def enabled(self, cfg: Config) -> bool:
        return cfg.target.base_url is not None

    async def run(self, ctx: CheckContext, only: Any) -> list[PortProbe]:
        url = urlsplit(ctx.base_url or "")
        host, port = url.hostname or "", url.port or 80
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
        except OSError as exc:
            return [PortProbe(host, port, False, f"{type(exc).__name__}: {exc}")]
        writer.close()
        await writer.wait_closed()
        return [PortProbe(host, port, True)]

    def outcomes(self, result: list[PortProbe]) -> list[Outcome]:
        return [
            Outcome(
                f"TCP {p.host}:{p.port}",
                "tcp",
                PASSED if p.ok else FAILED,
                passed=int(p.ok),
                failed=int(not p.ok),
                kinds={} if p.ok else {str(Kind.UNREACHABLE): 1},
                sample=p.error,
                detail="open" if p.ok else p.error,
            )
            for p in result
        ]

    def load(self, data: list[dict[str, Any]]) -> list[PortProbe]:
        return [PortProbe(**d) for d in data]


@pytest.fixture
def tcp() -> Iterator[TcpCheck]:
    """Step 2: registered (a packaged check type is listed in bot/checks/__init__.py instead)."""
    check = TcpCheck()
    checks.register(check)
    yield check
    checks.unregister(check)


def test_a_new_check_type_flows_through_every_stage(
    workdir: Path, sample: SampleTarget, tcp: TcpCheck
) -> None:
    """The TCP probe shows in the issue, results.json, junit.xml and the counts unasked."""
    assert main(["run", "--config", "golden-path.yml", "--tracker", "local:issue.md"]) == 0
    results = json.loads((workdir / ".golden-path" / "results.json").read_text())
    assert results["tcp"] == [{"host": "127.0.0.1", "port": sample.port, "ok": True, "error": ""}]
    names = [o["name"] for o in results["verdict"]["outcomes"]]
    assert f"TCP 127.0.0.1:{sample.port}" in names
    junit = ET.parse(workdir / ".golden-path" / "junit.xml").getroot()
    assert any(s.get("name") == "tcp" for s in junit.iter("testsuite"))
    body = (workdir / "issue.md").read_text()
    assert f"TCP 127.0.0.1:{sample.port}: ✅ open" in body

    sample.stop()  # the port closes: the new check fails, and its failure is judged like any
    assert main(["run", "--config", "golden-path.yml", "--tracker", "local:issue.md"]) == 1
    results = json.loads((workdir / ".golden-path" / "results.json").read_text())
    findings = results["verdict"]["findings"]
    assert {"check": f"TCP 127.0.0.1:{sample.port}", "kind": "unreachable"} in [
        {k: f[k] for k in ("check", "kind")} for f in findings
    ]


def test_a_new_check_type_is_combined_across_shards_and_retested_by_name(
    workdir: Path, tcp: TcpCheck
) -> None:
    """Shards and /retest need nothing from it beyond the defaults of CheckType."""
    from bot.commands import retest_plan
    from bot.config import load_config
    from bot.session import SessionState

    cfg = load_config(workdir / "golden-path.yml")
    (cmd,) = parse_commands("/retest tcp")
    plan = retest_plan(cmd, SessionState(), cfg)
    assert not isinstance(plan, str) and plan[0].only == {"tcp": True}
    base = ["run", "--config", "golden-path.yml", "--tracker", "none", "--sessions", "4"]
    for k in (1, 2):
        main([*base, "--shard", f"{k}/2", "--results", f"s{k}/results.json"])
    main(["merge", "s1/results.json", "s2/results.json", "--config", "golden-path.yml",
          "--tracker", "none", "--out", "m/results.json"])  # fmt: skip
    merged = json.loads((workdir / "m" / "results.json").read_text())
    assert len(merged["tcp"]) == 1, "a check that runs once (shard 1) is counted once"


def test_a_command_is_one_table_row() -> None:
    """Every command word the parser hands on has exactly one handler; /help lists them all."""
    for spec in COMMANDS:
        assert commands.handler(spec.name) is spec.handler
        assert f"`{spec.usage}`" in commands.help_text("write")
    assert commands.handler("frobnicate") is None


def test_a_failure_kind_is_one_table_entry() -> None:
    """Kinds and their explanations stay in step (bot/kinds.py holds both)."""
    assert list(KINDS) == list(Kind)
