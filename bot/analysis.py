"""Proposed answers for WHY 2–5, from the evidence: a built-in analyzer and a command hook.

Proposals are never answers: the issue shows them as "Proposed by <name>, not confirmed"
until a person accepts one (``/why N accept``), and a person's own answer always wins. The
built-in analyzer is a handful of deterministic rules over the evidence; any other analyzer
(an LLM CLI included) is a command that reads the evidence bundle as JSON on stdin and prints
``{"whys": {"2": "…", "3": "…"}}``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from bot import redact, shell
from bot.config import Config
from bot.kinds import Kind
from bot.results import Iteration
from bot.session import BlockerRecord
from bot.verdict import Verdict

BUILTIN = "golden-path rules"
#: Longest proposal kept (an analyzer may be chatty).
MAX_ANSWER = 1000

Proposals = dict[str, dict[str, str]]


def bundle(
    verdict: Verdict, it: Iteration, blocker: BlockerRecord, evidence: Mapping[str, Any]
) -> dict[str, Any]:
    """What an analyzer sees: the verdict, the blocker, the auth evidence, the regression
    window and the log excerpt — redacted, and nothing it could use to reach anything."""
    from dataclasses import asdict

    data = {
        "environment": it.environment,
        "sha": it.sha,
        "verdict": {
            "status": verdict.status,
            "golden_path_status": verdict.golden_path_status,
            "counts": asdict(verdict.counts),
            "findings": [asdict(f) for f in verdict.findings[:20]],
            "whys": [{"n": w.n, "question": w.question, "answer": w.answer} for w in verdict.whys],
        },
        "blocker": {"id": blocker.id, "kind": blocker.kind, "root_issue": blocker.root},
        "auth": asdict(it.auth) if it.auth else None,
        "window": evidence.get("window"),
        "logs": evidence.get("logs"),
    }
    return redact.redact_obj(data)  # type: ignore[return-value]


def _highlighted(evidence: Mapping[str, Any]) -> list[dict[str, Any]]:
    window = evidence.get("window") or {}
    return [c for c in window.get("commits", []) if c.get("highlighted")]


def _describe(commit: Mapping[str, Any]) -> str:
    files = ", ".join(commit.get("files", [])[:3])
    return (
        f'{commit.get("sha", "")[:7]} "{commit.get("title", "")}" by {commit.get("author", "")}'
        + (f" (changes {files})" if files else "")
    )


def builtin(data: Mapping[str, Any]) -> dict[str, str]:
    """Deterministic rules over the evidence bundle: WHY number → proposed answer."""
    out: dict[str, str] = {}
    kind = (data.get("blocker") or {}).get("kind")
    auth = data.get("auth") or {}
    highlighted = _highlighted(data)
    if kind == Kind.AUTH_REJECTED:
        if auth.get("verify_valid") is True:
            out["2"] = (
                "The auth service accepts our token but the backend refuses it: the backend "
                "validates tokens with different settings (secret, issuer or audience)."
            )
            if highlighted:
                out["4"] = f"{_describe(highlighted[0])} changed auth-related files in the window."
                out["5"] = (
                    f"Most likely {highlighted[0].get('sha', '')[:7]} changed how the backend "
                    "validates tokens; revert it, or align the backend's JWT settings with the "
                    "auth service's."
                )
        elif auth.get("verify_valid") is False:
            out["2"] = (
                "The auth service itself rejects our token: the secret or claims we sign with "
                "are not the ones it expects."
            )
        if auth.get("auth_health_ok") is False:
            out["3"] = "The auth service is down; the backend cannot validate any token."
        skew = auth.get("server_clock_skew_s")
        if isinstance(skew, int | float) and abs(skew) > 30:
            out["3"] = f"The backend's clock is {abs(skew):.0f}s off: tokens look expired there."
    if highlighted and "4" not in out:
        out["4"] = (
            f"{_describe(highlighted[0])} is the change in the window that touches the paths "
            "of interest."
        )
    logs = data.get("logs") or {}
    first_error = next(
        (ln for ln in logs.get("lines", []) if "ERROR" in ln or "Traceback" in ln), ""
    )
    if first_error:  # what the backend said about it: the mechanism (WHY 2) when still open
        slot = "2" if "2" not in out else "3"
        out.setdefault(slot, f"The backend logged: {first_error.strip()[:300]}")
    return out


def from_command(command: str, data: Mapping[str, Any], timeout: float, env: Mapping[str, str]):
    """Run an analyzer command; its stdout must be ``{"whys": {"2": "…"}}``."""
    text = shell.run(command, timeout, env, stdin=json.dumps(data))
    try:
        answer = json.loads(text)
    except ValueError:
        raise ValueError("its output is not JSON") from None
    whys = answer.get("whys") if isinstance(answer, dict) else None
    if not isinstance(whys, dict):
        raise ValueError('its output has no "whys" object')
    return {
        str(k): str(v)[:MAX_ANSWER]
        for k, v in whys.items()
        if str(k) in {"2", "3", "4", "5"} and isinstance(v, str) and v.strip()
    }


def propose(
    cfg: Config,
    verdict: Verdict,
    it: Iteration,
    blocker: BlockerRecord,
    evidence: Mapping[str, Any],
    env: Mapping[str, str],
) -> tuple[Proposals, list[str]]:
    """Proposals by WHY number (``{answer, by, basis}``), and notes on what failed."""
    data = bundle(verdict, it, blocker, evidence)
    proposals: Proposals = {}
    notes: list[str] = []
    if cfg.analysis.builtin:
        for n, text in builtin(data).items():
            proposals[n] = {"answer": text, "by": BUILTIN, "basis": "the evidence below"}
    command = cfg.analysis.command
    if command:
        name = cfg.analysis.name or (shlex.split(command) or ["analyzer"])[0]
        try:
            for n, text in from_command(command, data, cfg.analysis.timeout, env).items():
                proposals[n] = {"answer": redact.redact(text), "by": name, "basis": "analyzer"}
        except Exception as exc:  # an analyzer never fails the run
            notes.append(redact.redact(f"analyzer {name} failed: {exc}")[:300])
    return proposals, notes
