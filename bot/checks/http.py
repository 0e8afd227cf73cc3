"""Health and API endpoint checks.

A handful of requests per iteration, so one small :class:`httpx.AsyncClient` serves them
all; the pool is kept small on purpose (httpx's pool bookkeeping dominates at high
concurrency, and these checks never need it).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import ssl
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

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


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str] | None,
    json_body: Any,
    timeout_s: float,
) -> tuple[httpx.Response, bytes]:
    """One request, whole: httpx's timeout bounds each read, so ``timeout_s`` also bounds
    the exchange as a whole (a server dripping its answer a byte at a time never ends)."""
    async with asyncio.timeout(timeout_s):
        request = client.build_request(
            method, url, headers=headers, json=json_body, timeout=timeout_s
        )
        response = await client.send(request, stream=True)
        try:
            return response, await read_capped(response)
        finally:
            await response.aclose()


def failure_text(exc: BaseException, timeout_s: float) -> str:
    """What a request that got no answer says: the deadline, or the error, redacted."""
    if isinstance(exc, TimeoutError):
        return deadline_error(timeout_s)
    return redact.redact(f"{type(exc).__name__}: {exc}".strip())


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
        response, body = await fetch(client, method, url, headers, json_body, timeout_s)
    except Exception as exc:  # every transport failure is a finding, not a crash
        result.latency_s = time.perf_counter() - started
        result.kind = classify_exception(exc)
        result.error = failure_text(exc, timeout_s)
        if result.kind is Kind.UNREACHABLE:  # say where: the URL names the config key's value
            result.error = f"{result.url} is unreachable ({result.error})"
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


@functools.cache
def tls() -> ssl.SSLContext:
    """httpx's default TLS context, built once per process and shared by every client: each
    client would otherwise load the CA bundle again (tens of milliseconds of CPU each)."""
    return httpx.create_ssl_context()


@functools.cache
def _trusting_nothing() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names


def tls_for(*urls: str) -> ssl.SSLContext:
    """The TLS context of a client that requests only ``urls``: :func:`tls` when one of them
    is https, else a context that trusts no certificate at all.

    A client given only http:// URLs never opens TLS with its context (ours follow no
    redirects, and an https proxy has its own), so loading the CA bundle for it is pure
    start-up cost. Should TLS ever reach that context, verification still runs and fails:
    it refuses, never skips.
    """
    if any(urlsplit(url).scheme == "https" for url in urls):
        return tls()
    return _trusting_nothing()


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
    urls = [spec["url"] for spec in (*health, *endpoints)]
    async with httpx.AsyncClient(
        limits=limits,
        headers={"User-Agent": USER_AGENT},
        verify=tls_for(*urls) if verify else False,
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


@dataclass(slots=True)
class TokenCheck(HttpCheck):
    """The auth service's verdict on our token, read through its configured contract.

    ``valid`` is None when there is no verdict: the service did not answer
    (``outcome="unreachable"``), failed (``"error"``, 5xx), or answered in a way the contract
    does not foresee (``"unexpected"``: wrong URL, method or token placement) — cases where
    blaming either the token or the backend would be a guess.
    """

    valid: bool | None = None
    outcome: str = ""  # valid | invalid | unreachable | error | unexpected
    reason: str = ""  # the service's own words, redacted


_REASON_KEYS = ("error_description", "error", "message", "detail", "reason", "error_message")


def _reason(data: Any, text: str) -> str:
    """Why the service said what it said: a reason field of its JSON, else its text."""
    for holder in (data, data.get("error") if isinstance(data, dict) else None):
        if isinstance(holder, dict):
            for key in _REASON_KEYS:
                value = holder.get(key)
                if isinstance(value, str) and value.strip():
                    return redact.redact(value.strip()[:300])
    return redact.redact(" ".join(text[:300].split()))


def _verdict(data: Any, path: str | None) -> bool | None:
    if path is None:
        return None
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data if isinstance(data, bool) else None


async def validate_token(
    verify_url: str,
    token: str,
    timeout_s: float = 10.0,
    *,
    method: str = "POST",
    token_in: str = "header",  # noqa: S107 - where the token goes, not a password
    json_field: str = "token",
    valid_path: str | None = "valid",
    invalid_status: Collection[int] = (401, 403),
) -> TokenCheck:
    """Ask the auth service about our token, the way ``auth.verify`` says it wants to be asked.

    The token goes in an ``Authorization: Bearer`` header or in the JSON body field
    ``json_field``. A true/false at ``valid_path`` in the answer decides (a 200 with
    ``{"valid": false}`` is a refusal); without one, 2xx means valid and ``invalid_status``
    invalid. 5xx and anything else give no verdict (see :class:`TokenCheck`).
    """
    result = TokenCheck(
        name="Auth token validation", url=redact.redact(verify_url), ok=False, method=method
    )
    result.group = "auth"
    headers: dict[str, str] = {}
    body: dict[str, Any] | None = None
    if token_in == "json":
        node: dict[str, Any] = {}
        body = node
        *parents, last = json_field.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = token
    else:
        headers["Authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT}, verify=tls_for(verify_url)
        ) as client:
            response, raw = await fetch(client, method, verify_url, headers, body, timeout_s)
    except Exception as exc:  # the service not answering is a finding, not a crash
        result.latency_s = time.perf_counter() - started
        result.kind = classify_exception(exc)
        result.error = failure_text(exc, timeout_s)
        result.outcome = "unreachable"
        return result
    result.latency_s = time.perf_counter() - started
    status = result.status = response.status_code
    result.server_time = _server_time(response, raw)
    text = raw.decode(response.encoding or "utf-8", "replace")
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None
    result.reason = _reason(data, text)
    said = f": {result.reason}" if result.reason else ""
    verdict = _verdict(data, valid_path)
    if status >= 500:
        result.kind, result.outcome = Kind.SERVER_ERROR, "error"
        result.error = f"HTTP {status} from the auth service{said}"
    elif verdict is not None:
        result.valid = verdict
    elif 200 <= status < 300:
        result.valid = True
    elif status in invalid_status:
        result.valid = False
    else:
        result.kind, result.outcome = Kind.HTTP_STATUS, "unexpected"
        result.error = (
            f"HTTP {status}, which is neither valid (2xx) nor invalid "
            f"({', '.join(map(str, invalid_status))}) under auth.verify{said}"
        )
    if result.valid is True:
        result.ok, result.outcome = True, "valid"
    elif result.valid is False:
        result.kind, result.outcome = Kind.HTTP_STATUS, "invalid"
        result.error = f"HTTP {status}{said or ', token refused'}"
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
