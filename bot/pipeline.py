"""One iteration of the loop: deploy → checks → (auth evidence) → an :class:`Iteration`.

Judging and reporting are the caller's business (:mod:`bot.verdict`, :mod:`bot.publish`), so
an iteration can be run, sharded, combined and rendered separately. Nothing here raises for a
broken target: every failure is recorded in the iteration.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot import auth, redact
from bot.checks import check_types
from bot.checks import http as http_checks
from bot.checks.base import CheckContext, CheckType
from bot.config import Config, ConfigError
from bot.results import AuthEvidence, DeployResult, Iteration, Kind
from bot.session import now_iso
from bot.settings import Settings

Log = Callable[[str, str], None]


@dataclass(slots=True)
class RunOptions:
    """What this run does beyond the config: which checks (a ``/retest``), which shard."""

    deploy: bool = True
    only: Mapping[str, Any] | None = None  # check key → what to rerun; None: every check
    deployed_url: str | None = None  # without a deploy: where the last one went
    sessions: int | None = None  # overrides checks.agent_flow.sessions
    shard: tuple[int, int] | None = None  # (k, n), 1-based k
    trigger: str = "manual"
    progress: Callable[[int, int, int], None] | None = None


def mint(cfg: Config, env: Mapping[str, str]) -> str | None:
    """The test token: a ready one from ``auth.token_env``, or one minted with the secret."""
    if cfg.auth.token_env:
        token = env.get(cfg.auth.token_env, "")
        if not token:
            raise ConfigError(
                f"auth.token_env: environment variable {cfg.auth.token_env} is not set — "
                "export it, or pass it to the step with env:"
            )
        redact.register(token)
        return token
    jwt_cfg = cfg.auth.jwt
    if jwt_cfg is None:
        return None
    secret = jwt_cfg.secret(env)
    redact.register(secret)
    return auth.mint_token(
        secret, algorithm=jwt_cfg.algorithm, ttl_s=jwt_cfg.ttl, claims=dict(jwt_cfg.claims)
    )


async def _auth_evidence(
    cfg: Config, it: Iteration, token: str | None, base: str | None
) -> AuthEvidence:
    """What we can learn after auth rejections, without the secret leaving the process."""
    flow_cfg = cfg.checks.agent_flow
    sent = bool(token) and (flow_cfg is None or flow_cfg.token_in != "none")
    ev = AuthEvidence(
        token_sent=sent,
        token_in=flow_cfg.token_in if flow_cfg else "header",
        token_source="token_env" if cfg.auth.token_env else "jwt" if cfg.auth.jwt else "",
        claims=auth.visible_claims(token) if token and sent else {},  # unsent: beside the point
        checked_at=time.time(),
    )
    if it.flow:
        for f in it.flow.failures:
            frame = f.error_frame or {}
            # a frame without a code still says something: count its words instead
            said = frame.get("error_code") or str(frame.get("message") or "")[:80]
            if said:
                ev.error_codes[said] = ev.error_codes.get(said, 0) + 1
    for check in it.health:
        if check.server_time is not None and check.latency_s is not None:
            ev.server_clock_skew_s = round(check.server_time - ev.checked_at, 1)
            break
    auth_checks = [c for c in it.health if "auth" in c.name.lower()]
    if auth_checks:
        ev.auth_health_ok = all(c.ok for c in auth_checks)
        ev.auth_health_url = auth_checks[0].url
    verify = cfg.auth.verification()
    if verify is not None and token and sent:
        result = await http_checks.validate_token(
            cfg.resolve_url(verify.url, base),
            token,
            verify.timeout,
            method=verify.method,
            token_in=verify.token_in,
            json_field=verify.json_field,
            valid_path=verify.valid_path,
            invalid_status=tuple(verify.invalid_status),
        )
        ev.verify_url = result.url
        ev.verify_method = result.method
        ev.verify_status = result.status
        ev.verify_valid = result.valid
        ev.verify_outcome = result.outcome
        if result.outcome == "invalid":
            ev.verify_error = result.reason
        elif result.outcome != "valid":
            ev.verify_error = result.error
        if result.outcome == "unreachable" and ev.auth_health_ok is None:
            ev.auth_health_ok = False
    return ev


async def run_iteration(
    cfg: Config, opts: RunOptions, settings: Settings, log: Log, *, group: Any = None
) -> Iteration:
    """Deploy (unless told not to), run the selected checks, gather auth evidence.

    ``group`` is a context-manager factory (the run log's ``group``) that folds the deploy
    output in the Actions log.
    """
    started = time.perf_counter()
    it = Iteration(
        environment=cfg.environment,
        started_at=now_iso(precise=True),
        trigger=opts.trigger,
        sha=settings.sha,
        run_url=settings.run_url,
        shard=f"{opts.shard[0]}/{opts.shard[1]}" if opts.shard else "",
    )
    try:
        await _run(cfg, opts, settings, log, it, group)
    finally:
        it.finished_at = now_iso(precise=True)
        it.duration_s = round(time.perf_counter() - started, 3)
    return it


async def _deploy(
    cfg: Config, opts: RunOptions, settings: Settings, log: Log, it: Iteration, group: Any
) -> str | None:
    """The deploy step; returns the deployed URL (None: no deploy configured, or it failed)."""
    from bot import deploy as deploy_step

    if cfg.deploy is None:
        return None
    if not opts.deploy:
        it.deploy = DeployResult(ran=False, ok=True, url=opts.deployed_url or cfg.deploy.url or "")
        log("deploy skipped: testing what is running", "info")
        return it.deploy.url or None
    with group("Deploy") if group else contextlib.nullcontext():
        it.deploy = await deploy_step.deploy(
            cfg.deploy, log=log, resolve=cfg.resolve_url, env=settings.env
        )
    if cfg.deploy.revision_from_output:
        it.deploy.revision = _revision(cfg.deploy.revision_from_output, it.deploy.log)
    return it.deploy.url if it.deploy.ok else None


def _revision(pattern: str, lines: list[str]) -> str:
    """The deployed revision named in the deploy output (group 1 if the pattern has one)."""
    regex = re.compile(pattern)
    for line in lines:
        m = regex.search(line[:2000])
        if m:
            return (m.group(1) if regex.groups else m.group(0))[:100]
    return ""


def _selected(ct: CheckType, opts: RunOptions) -> tuple[bool, Any]:
    """(run it, what of it) for this run's ``only``."""
    if opts.only is None:
        return True, None
    if ct.key not in opts.only:
        return False, None
    part = opts.only[ct.key]
    return True, None if part is True else part


async def _run(
    cfg: Config, opts: RunOptions, settings: Settings, log: Log, it: Iteration, group: Any
) -> None:
    deployed = await _deploy(cfg, opts, settings, log, it, group)
    if it.deploy is not None and not it.deploy.ok:
        return
    base = cfg.base_url(deployed)
    token = mint(cfg, settings.env)
    ctx = CheckContext(
        cfg,
        base,
        token,
        log,
        env=settings.env,
        shard=opts.shard,
        sessions=opts.sessions,
        progress=opts.progress,
    )
    # A shard runs its slice of the sessions; other checks run once, in shard 1, so
    # combined results count them once.
    primary = opts.shard is None or opts.shard[0] == 1
    concurrent: dict[str, asyncio.Task[Any]] = {}
    alone: list[tuple[CheckType, Any]] = []
    for ct in check_types():
        if not ct.enabled(cfg):
            continue
        run, only = _selected(ct, opts)
        if not run or not (primary or ct.every_shard):
            skipped = ct.not_run()
            if skipped is not None:
                it.checks[ct.key] = skipped
        elif ct.alone:
            alone.append((ct, only))
        else:
            concurrent[ct.key] = asyncio.ensure_future(ct.run(ctx, only))
    for key, task in concurrent.items():
        it.checks[key] = await task
    for ct, only in alone:
        it.checks[ct.key] = await ct.run(ctx, only)
    if it.flow and it.flow.kinds.get(str(Kind.AUTH_REJECTED)):
        it.auth = await _auth_evidence(cfg, it, token, base)
