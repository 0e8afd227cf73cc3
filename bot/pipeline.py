"""One iteration of the loop: deploy → checks → (auth evidence) → an :class:`Iteration`.

Reporting is the caller's business (see :mod:`bot.report`), so an iteration can be run,
sharded, merged and rendered separately. Nothing here raises for a broken target:
every failure is recorded in the iteration.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import auth, redact
from bot.checks import http as http_checks
from bot.checks.agent_flow import FlowSpec, run_agent_flow
from bot.config import Config, ConfigError
from bot.results import AuthEvidence, FlowSummary, Iteration, Kind
from bot.session import now_iso

Log = Callable[[str, str], None]


@dataclass(slots=True)
class RunOptions:
    deploy: bool = True
    http: bool = True
    agent_flow: bool = True
    suites: Sequence[str] | None = None  # None: all configured suites; []: none
    deployed_url: str | None = None  # without a deploy: where the last one went
    sessions: int | None = None  # overrides checks.agent_flow.sessions
    only_sessions: Sequence[int] | None = None  # /retest: rerun just these
    shard: tuple[int, int] | None = None  # (k, n), 1-based k
    trigger: str = "manual"
    progress: Callable[[int, int], None] | None = None
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)


def shard_indices(total: int, shard: tuple[int, int] | None) -> list[int]:
    """Deterministic, balanced split: session i belongs to shard (i mod n) + 1."""
    if shard is None:
        return list(range(total))
    k, n = shard
    return list(range(k - 1, total, n))


def _token(cfg: Config, env: Mapping[str, str]) -> str | None:
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


def _http_specs(cfg: Config, base: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    health = [
        {
            "name": h.name,
            "url": cfg.resolve_url(h.url, base),
            "expect_status": h.expect_status,
            "timeout": h.timeout,
            "max_latency": h.max_latency,
        }
        for h in cfg.checks.health
    ]
    endpoints = [
        {
            "name": e.name,
            "url": cfg.resolve_url(e.url, base),
            "method": e.method,
            "auth": e.auth,
            "expect_status": e.expect_status,
            "timeout": e.timeout,
            "max_latency": e.max_latency,
            "json_body": e.json_body,
        }
        for e in cfg.checks.endpoints
    ]
    return health, endpoints


async def run_iteration(cfg: Config, opts: RunOptions, log: Log) -> Iteration:
    started = time.perf_counter()
    it = Iteration(
        environment=cfg.environment,
        started_at=now_iso(precise=True),
        trigger=opts.trigger,
        sha=opts.env.get("GITHUB_SHA", ""),
        shard=f"{opts.shard[0]}/{opts.shard[1]}" if opts.shard else "",
    )
    server = opts.env.get("GITHUB_SERVER_URL", "")
    repo, run_id = opts.env.get("GITHUB_REPOSITORY", ""), opts.env.get("GITHUB_RUN_ID", "")
    if server and repo and run_id:
        it.run_url = f"{server}/{repo}/actions/runs/{run_id}"

    try:
        await _run(cfg, opts, log, it)
    finally:
        it.finished_at = now_iso(precise=True)
        it.duration_s = round(time.perf_counter() - started, 3)
    return it


async def _run(cfg: Config, opts: RunOptions, log: Log, it: Iteration) -> None:
    from bot import deploy as deploy_step

    deployed_url: str | None = None
    if cfg.deploy is not None:
        if opts.deploy:
            group = getattr(log, "group", None)
            with group("Deploy") if group else contextlib.nullcontext():
                it.deploy = await deploy_step.deploy(cfg.deploy, log=log, resolve=cfg.resolve_url)
            if not it.deploy.ok:
                return
            deployed_url = it.deploy.url
        else:
            from bot.results import DeployResult

            it.deploy = DeployResult(
                ran=False, ok=True, url=opts.deployed_url or cfg.deploy.url or ""
            )
            deployed_url = it.deploy.url or None
            log("deploy skipped: testing what is running", "info")
    base = cfg.base_url(deployed_url)
    token = _token(cfg, opts.env)

    # A shard runs its slice of the sessions; checks and suites run once, in shard 1,
    # so merged results count them once.
    primary = opts.shard is None or opts.shard[0] == 1
    tasks: list[asyncio.Task[Any]] = []
    if opts.http and primary:
        health, endpoints = _http_specs(cfg, base)
        tasks.append(
            asyncio.ensure_future(http_checks.run_http_checks(health, endpoints, token=token))
        )
    flow_cfg = cfg.checks.agent_flow
    if opts.agent_flow and flow_cfg is not None:
        url = cfg.resolve_url(flow_cfg.url, base)
        spec = FlowSpec.from_config(flow_cfg, url, token if flow_cfg.token_in != "none" else None)
        total = opts.sessions if opts.sessions is not None else flow_cfg.sessions
        indices = (
            list(opts.only_sessions)
            if opts.only_sessions is not None
            else shard_indices(total, opts.shard)
        )
        log(
            f"agent flow: {len(indices)} sessions against {redact.redact(url)}, "
            f"{flow_cfg.concurrency} in flight",
            "info",
        )
        tasks.append(
            asyncio.ensure_future(
                run_agent_flow(
                    spec,
                    len(indices),
                    concurrency=flow_cfg.concurrency,
                    retries=cfg.retries.failed,
                    progress=opts.progress,
                    indices=indices,
                )
            )
        )
    elif flow_cfg is not None:
        it.flow = FlowSummary(skipped=True)
    results = await asyncio.gather(*tasks)
    for r in results:
        if isinstance(r, FlowSummary):
            it.flow = r
        else:
            it.http = r

    if cfg.checks.pytest and primary:
        from bot.checks import pytest_suite

        wanted = set(opts.suites) if opts.suites is not None else None
        for suite in cfg.checks.pytest:
            if wanted is not None and suite.name not in wanted:
                continue
            it.suites.append(
                await pytest_suite.run_suite(
                    suite,
                    base_url=base,
                    ws_url=cfg.resolve_url(flow_cfg.url, base) if flow_cfg else None,
                    token=token,
                    retries=cfg.retries.failed,
                    log=log,
                    concurrency=flow_cfg.concurrency if flow_cfg else None,
                )
            )

    if it.flow and any(f.kind is Kind.AUTH_REJECTED for f in it.flow.failures):
        it.auth = await _auth_evidence(cfg, it, token, base)
    _log_outcome(it, log)


def _log_outcome(it: Iteration, log: Log) -> None:
    for c in it.http:
        if not c.ok:
            log(f"{c.name}: {c.error}", "error")
    if it.flow and not it.flow.skipped:
        f = it.flow
        level = "success" if not f.failed else "error"
        kinds = ", ".join(f"{k} ×{n}" for k, n in f.kinds.items())
        log(
            f"agent flow: {f.passed + f.flaky}/{f.total} passed"
            + (f" ({f.flaky} flaky)" if f.flaky else "")
            + (f"; failures: {kinds}" if kinds else "")
            + f"; {f.sessions_per_s:.0f} sessions/s",
            level,
        )
    for s in it.suites:
        level = "success" if not (s.failed or s.errors or s.error) else "error"
        log(f"suite {s.name}: {s.passed + s.flaky}/{s.total} passed {s.error}".rstrip(), level)
