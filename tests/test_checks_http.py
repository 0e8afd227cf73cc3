"""Health and API endpoint probes against real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest

from bot.checks.http import run_http_checks, validate_token
from bot.results import HttpCheck, Kind
from bot.sample import SampleTarget

FIXED_DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
SLOW_S = 0.3


class _Handler(BaseHTTPRequestHandler):
    """Routes for each probe outcome; ``/slow`` answers after SLOW_S (simulated latency)."""

    def do_GET(self) -> None:
        routes: dict[str, tuple[int, str, str]] = {
            "/ok": (200, "application/json", json.dumps({"status": "ok", "time": 1234.5})),
            "/text": (200, "text/plain", "fine"),
            "/bool-time": (200, "application/json", json.dumps({"time": True})),
            "/missing": (404, "application/json", json.dumps({"error": "Not found: /missing"})),
            "/boom": (503, "text/plain", "upstream down"),
            "/slow": (200, "text/plain", "late"),
        }
        if self.path == "/slow":
            time.sleep(SLOW_S)  # the server's latency under test, not synchronisation
        status, ctype, body = routes.get(self.path, (404, "text/plain", ""))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def date_time_string(self, timestamp: float | None = None) -> str:
        return FIXED_DATE

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    """A tiny threaded HTTP server on a free loopback port, shared by this module."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(url: str, **extra: Any) -> list[HttpCheck]:
    return asyncio.run(run_http_checks([{"name": "probe", "url": url, **extra}], []))


def test_healthy_probe_records_status_and_latency(http_base: str) -> None:
    """A 200 passes with its status, a positive latency and the health group."""
    (check,) = health(f"{http_base}/ok")
    assert check.ok and check.kind is None and check.error == ""
    assert check.status == 200 and check.group == "health" and check.method == "GET"
    assert check.latency_s is not None and 0 < check.latency_s < 5


def test_unexpected_status_is_http_status(http_base: str) -> None:
    """A 4xx other than the expected status fails as http_status, quoting the body."""
    (check,) = health(f"{http_base}/missing")
    assert not check.ok and check.kind is Kind.HTTP_STATUS and check.status == 404
    assert check.error.startswith("HTTP 404, expected 200: ")
    assert "Not found: /missing" in check.error


def test_expected_status_other_than_200_passes(http_base: str) -> None:
    """expect_status is honoured: an expected 404 is a pass."""
    (check,) = health(f"{http_base}/missing", expect_status=404)
    assert check.ok


def test_5xx_is_server_error(http_base: str) -> None:
    """A 5xx fails as server_error."""
    (check,) = health(f"{http_base}/boom")
    assert check.kind is Kind.SERVER_ERROR and check.status == 503
    assert "upstream down" in check.error


def test_answer_over_max_latency_is_slow(http_base: str) -> None:
    """A correct answer slower than max_latency fails as slow with its latency."""
    (check,) = health(f"{http_base}/slow", max_latency=0.05)
    assert not check.ok and check.kind is Kind.SLOW and check.status == 200
    assert check.latency_s is not None and check.latency_s >= SLOW_S
    assert "over the 0.05s limit" in check.error


def test_no_answer_within_timeout_is_timeout(http_base: str) -> None:
    """A server slower than the probe's timeout fails as timeout, without a status."""
    (check,) = health(f"{http_base}/slow", timeout=0.05)
    assert check.kind is Kind.TIMEOUT and check.status is None


def test_closed_port_is_unreachable() -> None:
    """Nothing listening: unreachable, with the exception named in the error."""
    (check,) = health(f"http://127.0.0.1:{closed_port()}/health")
    assert not check.ok and check.kind is Kind.UNREACHABLE and check.status is None
    assert "ConnectError" in check.error


def test_server_time_from_json_time_field(http_base: str) -> None:
    """A JSON body's numeric "time" is the server clock."""
    (check,) = health(f"{http_base}/ok")
    assert check.server_time == 1234.5


@pytest.mark.parametrize("path", ["/text", "/bool-time"])
def test_server_time_falls_back_to_date_header(http_base: str, path: str) -> None:
    """Without a numeric JSON "time" (plain text, or a boolean), the Date header is used."""
    (check,) = health(f"{http_base}{path}")
    assert check.server_time == parsedate_to_datetime(FIXED_DATE).timestamp()


def test_probes_run_concurrently(http_base: str) -> None:
    """Several slow probes take about one latency, not the sum, and keep their order."""
    specs = [{"name": f"p{i}", "url": f"{http_base}/slow"} for i in range(4)]
    started = time.perf_counter()
    checks = asyncio.run(run_http_checks(specs, []))
    assert [c.name for c in checks] == ["p0", "p1", "p2", "p3"]
    assert all(c.ok for c in checks)
    assert time.perf_counter() - started < 4 * SLOW_S


def test_sample_health_reports_the_backends_skewed_clock(sample: SampleTarget) -> None:
    """With the expired fault the sample's /health time runs an hour ahead of ours."""
    (normal,) = health(f"{sample.base_url}/health")
    sample.set_faults("expired")
    (skewed,) = health(f"{sample.base_url}/health")
    assert normal.server_time is not None and skewed.server_time is not None
    assert abs(normal.server_time - time.time()) < 60
    assert 3500 < skewed.server_time - time.time() < 3700


def test_endpoint_with_auth_sends_the_token(sample: SampleTarget) -> None:
    """auth: true endpoints carry the bearer token; without one the API answers 401."""
    endpoint = {"name": "threads", "url": f"{sample.base_url}/api/threads", "auth": True}
    (ok,) = asyncio.run(run_http_checks([], [endpoint], token=sample.mint_token()))
    (anon,) = asyncio.run(run_http_checks([], [endpoint], token=None))
    assert ok.ok and ok.group == "endpoint" and ok.status == 200
    assert anon.kind is Kind.HTTP_STATUS and anon.status == 401
    assert "No token provided" in anon.error


def test_validate_token_accepts_a_good_token(sample: SampleTarget) -> None:
    """The auth service's 200 for our token makes the validation check pass."""
    check = asyncio.run(validate_token(f"{sample.auth_url}/auth/validate", sample.mint_token()))
    assert check.ok and check.status == 200 and check.method == "POST"
    assert check.group == "auth"


def test_validate_token_reports_the_auth_services_reason(sample: SampleTarget) -> None:
    """A token signed with the wrong secret gets 401 and pyjwt's reason, not the token."""
    now = int(time.time())
    claims = {"sub": "x", "iat": now, "exp": now + 60, "iss": "auth-service", "aud": "backend"}
    token = jwt.encode(claims, "w" * 40, algorithm="HS256")
    check = asyncio.run(validate_token(f"{sample.auth_url}/auth/validate", token))
    assert not check.ok and check.status == 401 and check.kind is Kind.HTTP_STATUS
    assert "Signature verification failed" in check.error
    assert token not in check.error


def test_an_unreachable_url_is_named_in_the_error() -> None:
    """Nothing listening: the error names the URL, so the report points at the config value."""
    import asyncio
    import socket

    from bot.checks.http import run_http_checks

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/health"
    spec = {"name": "Infrastructure Health", "url": url}
    (check,) = asyncio.run(run_http_checks([spec], []))
    assert check.kind == "unreachable"
    assert check.error.startswith(f"{url} is unreachable (")
