"""Health and API endpoint checks.

A handful of requests per iteration, so one small :class:`httpx.AsyncClient` serves them
all; the pool is kept small on purpose (httpx's pool bookkeeping dominates at high
concurrency, and these checks never need it).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import ssl
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from bot import redact
from bot.checks.base import FAILED, PASSED, CheckContext, CheckType, Outcome
from bot.results import HttpCheck, Kind

if TYPE_CHECKING:
    from bot.config import Config

USER_AGENT = "golden-path-bot"
#: Most of a response body read: a health answer is a few bytes, and an endless body
#: must not hold the check (or fill memory).
MAX_BODY = 64 * 1024


def deadline_error(timeout_s: float) -> str:
    return f"no complete answer within {timeout_s:g}s"


async def read_capped(response: httpx.Response, limit: int = MAX_BODY) -> bytes:
    """At most ``limit`` bytes of the body; the rest is never read (closing drops it)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


def _server_time(response: httpx.Response, body: bytes) -> float | None:
    """The server's clock, which explains 'token expired' when the clocks disagree."""
    try:
        data = json.loads(body)
        value = data.get("time") if isinstance(data, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    except ValueError:
        pass
    date = response.headers.get("date")
    if date:
        try:
            return email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return None
    return None


def classify_exception(exc: BaseException) -> Kind:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return Kind.TIMEOUT
    if isinstance(exc, ssl.SSLError) or "SSL" in type(exc).__name__:
        return Kind.HANDSHAKE_FAILED
    if isinstance(exc, httpx.ConnectError | ConnectionError | OSError):
        return Kind.UNREACHABLE
    if isinstance(exc, httpx.RemoteProtocolError):
        return Kind.PROTOCOL_ERROR
    return Kind.UNREACHABLE


async def probe(
    client: httpx.AsyncClient,
    *,
    name: str,
    url: str,
    group: str,
    method: str = "GET",
    expect_status: int = 200,
    timeout_s: float = 10.0,
    max_latency_s: float | None = None,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
) -> HttpCheck:
    """One request, whole: httpx's timeout bounds each read, so ``timeout_s`` also bounds
    the request as a whole (a server dripping its answer a byte at a time never ends)."""
    result = HttpCheck(name=name, url=redact.redact(url), ok=False, method=method, group=group)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            request = client.build_request(
                method, url, headers=headers, json=json_body, timeout=timeout_s
            )
            response = await client.send(request, stream=True)
            try:
                body = await read_capped(response)
            finally:
                await response.aclose()
    except Exception as exc:  # every transport failure is a finding, not a crash
        result.latency_s = time.perf_counter() - started
        result.kind = classify_exception(exc)
        if isinstance(exc, TimeoutError):
            result.error = deadline_error(timeout_s)
        else:
            result.error = redact.redact(f"{type(exc).__name__}: {exc}".strip())
        return result
    result.latency_s = time.perf_counter() - started
    result.status = response.status_code
    result.server_time = _server_time(response, body)
    if response.status_code != expect_status:
        result.kind = Kind.SERVER_ERROR if response.status_code >= 500 else Kind.HTTP_STATUS
        result.error = f"HTTP {response.status_code}, expected {expect_status}"
        snippet = body[:800].decode(response.encoding or "utf-8", "replace")[:200].strip()
        if snippet:
            result.error += f": {redact.redact(snippet)}"
        return result
    if max_latency_s is not None and result.latency_s > max_latency_s:
        result.kind = Kind.SLOW
        result.error = f"{result.latency_s:.3f}s, over the {max_latency_s:g}s limit"
        return result
    result.ok = True
    return result


async def run_http_checks(
    health: Sequence[dict[str, Any]],
    endpoints: Sequence[dict[str, Any]],
    *,
    token: str | None = None,
    verify: bool = True,
) -> list[HttpCheck]:
    """Run every probe concurrently; ``health``/``endpoints`` are resolved specs.

    Each spec: name, url, expect_status, timeout, max_latency, and for endpoints method,
    auth, json_body.
    """
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    async with httpx.AsyncClient(
        limits=limits, headers={"User-Agent": USER_AGENT}, verify=verify
    ) as client:
        tasks = []
        for spec in health:
            tasks.append(
                probe(
                    client,
                    name=spec["name"],
                    url=spec["url"],
                    group="health",
                    expect_status=spec.get("expect_status", 200),
                    timeout_s=spec.get("timeout", 10.0),
                    max_latency_s=spec.get("max_latency"),
                )
            )
        for spec in endpoints:
            headers = {}
            if spec.get("auth") and token:
                headers["Authorization"] = f"Bearer {token}"
            tasks.append(
                probe(
                    client,
                    name=spec["name"],
                    url=spec["url"],
                    group="endpoint",
                    method=spec.get("method", "GET"),
                    expect_status=spec.get("expect_status", 200),
                    timeout_s=spec.get("timeout", 10.0),
                    max_latency_s=spec.get("max_latency"),
                    headers=headers,
                    json_body=spec.get("json_body"),
                )
            )
        return list(await asyncio.gather(*tasks))


async def validate_token(verify_url: str, token: str, timeout_s: float = 10.0) -> HttpCheck:
    """Ask the auth service about our token: a 2xx means it accepts it."""
    async with httpx.AsyncClient(headers={"User-Agent": USER_AGENT}) as client:
        result = await probe(
            client,
            name="Auth token validation",
            url=verify_url,
            group="auth",
            method="POST",
            timeout_s=timeout_s,
            headers={"Authorization": f"Bearer {token}"},
        )
    return result


class HttpCheckType(CheckType):
    """Health probes and API endpoints: one request each, all concurrently, one outcome each."""

    key = "http"
    names = frozenset({"health", "endpoints", "api", "http"})

    def enabled(self, cfg: Config) -> bool:
        return bool(cfg.checks.health or cfg.checks.endpoints)

    async def run(self, ctx: CheckContext, only: Any) -> list[HttpCheck]:
        cfg, base = ctx.cfg, ctx.base_url
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
        checks = await run_http_checks(health, endpoints, token=ctx.token)
        for c in checks:
            if not c.ok:
                ctx.log(f"{c.name}: {c.error}", "error")
        return checks

    def outcomes(self, result: list[HttpCheck]) -> list[Outcome]:
        return [
            Outcome(
                name=c.name,
                component="health" if c.group == "health" else "endpoints",
                state=PASSED if c.ok else FAILED,
                passed=int(c.ok),
                failed=int(not c.ok),
                kinds={} if c.ok else {str(c.kind or Kind.HTTP_STATUS): 1},
                sample=c.error,
                detail=f"{c.latency_s:.3f}s" if c.ok and c.latency_s is not None else c.error,
            )
            for c in result
        ]

    def failed_part(self, result: list[HttpCheck]) -> bool:
        return any(not c.ok for c in result)

    def load(self, data: list[dict[str, Any]]) -> list[HttpCheck]:
        return [
            HttpCheck(**{**d, "kind": Kind(d["kind"]) if d.get("kind") else None}) for d in data
        ]
