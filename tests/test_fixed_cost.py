"""The run path's fixed cost stays small, and the shortcuts taken for it change nothing."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from bot.auth import claims_of, mint_token
from bot.checks.http import run_http_checks, tls, tls_for
from bot.deploy import wait_for_health
from bot.runtime import GC_THRESHOLD, hold_gc, release_gc, run_async
from bot.sample import SampleTarget
from tests.test_flow_transports import _self_signed


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_hmac_tokens_are_what_pyjwt_makes(algorithm: str) -> None:
    """Tokens signed with hmac are byte for byte PyJWT's, and PyJWT verifies them."""
    secret = "k" * 64
    claims = {"iss": "auth-service", "aud": "backend", "nested": {"é": [1, 2]}}
    token = mint_token(secret, algorithm=algorithm, claims=claims, now=1_700_000_000)
    decoded = jwt.decode(
        token, secret, algorithms=[algorithm], audience="backend", options={"verify_exp": False}
    )
    assert decoded["nested"] == {"é": [1, 2]} and decoded["iat"] == 1_700_000_000
    assert token == jwt.encode(decoded, secret, algorithm=algorithm)
    assert claims_of(token) == decoded  # read back without PyJWT, the same claims


def test_the_run_path_imports_no_jwt_cryptography_or_templates() -> None:
    """Config, runner, checks, a token minted and read back: no PyJWT, cryptography, jinja2,
    and no pytest (the suite check names the plugin's variables through ``bot.suite_env``)."""
    code = (
        "import sys, bot.cli, bot.settings, bot.config, bot.runner, bot.checks\n"
        "bot.checks.check_types()\n"
        "from bot.auth import mint_token, visible_claims\n"
        "assert visible_claims(mint_token('s' * 40, claims={'aud': 'backend'}))['aud']\n"
        "heavy = ('jwt', 'cryptography', 'jinja2', 'github', 'pytest')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out.strip().replace("'", '"')) == []


def test_run_async_freezes_the_gc_only_while_it_runs() -> None:
    """Inside: the old heap frozen, the threshold raised; after: both as they were."""
    before = gc.get_threshold()

    async def inside() -> tuple[int, tuple[int, int, int]]:
        return gc.get_freeze_count(), gc.get_threshold()

    frozen, threshold = run_async(inside())
    assert frozen > 1000 and threshold == GC_THRESHOLD
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
    with pytest.raises(ZeroDivisionError):  # restored on the way out of a failure too

        async def boom() -> None:
            await asyncio.sleep(0)
            raise ZeroDivisionError

        run_async(boom())
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_a_run_without_a_tracker_outside_actions_loads_no_templates(
    tmp_path: Path, sample: SampleTarget
) -> None:
    """--tracker none with no job summary shows no issue body: jinja2 never loads, nor the
    evidence gatherer (no blocker), and the run is still judged and written."""
    (tmp_path / "golden-path.yml").write_text(
        f"""
environment: staging
target: {{base_url: "{sample.base_url}"}}
auth:
  jwt: {{secret_env: FIXED_COST_SECRET, claims: {{sub: e2e, iss: auth-service, aud: backend}}}}
checks:
  health: [{{name: Infrastructure Health, url: /health}}]
  agent_flow: {{sessions: 3, timeout: 5s, connect_timeout: 2s}}
"""
    )
    code = (
        "import sys\n"
        "from bot.cli import main\n"
        "code = main(['run', '--no-deploy', '--tracker', 'none', '--config', 'golden-path.yml'])\n"
        "print(code, 'jinja2' in sys.modules, 'bot.render' in sys.modules,"
        " 'bot.evidence' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GOLDEN_PATH_"))}
    env.update(FIXED_COST_SECRET=sample.secret, GOLDEN_PATH_PROGRESS="off")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.stdout.splitlines()[-1] == "0 False False False", proc.stdout + proc.stderr
    results = json.loads((tmp_path / ".golden-path" / "results.json").read_text())
    assert results["verdict"]["counts"]["passed"] == 4


def test_plain_http_clients_load_no_ca_bundle() -> None:
    """Only http:// URLs: a context trusting nothing (still verifying); any https: httpx's."""
    plain = tls_for("http://127.0.0.1:1/health", "http://auth.internal/validate")
    assert plain.get_ca_certs() == [] and plain.cert_store_stats()["x509_ca"] == 0
    assert plain.verify_mode is ssl.CERT_REQUIRED and plain.check_hostname
    assert tls_for("http://127.0.0.1:1/health", "HTTPS://api.example.com/x") is tls()
    assert tls().cert_store_stats()["x509_ca"] > 0


@pytest.fixture
def https_base(tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    """An https server on loopback with a fresh self-signed certificate, and a client
    context that trusts it."""
    server_ctx, client_ctx = _self_signed(tmp_path)

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", client_ctx
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_https_checks_still_verify_the_certificate(https_base: tuple[str, ssl.SSLContext]) -> None:
    """An https health check verifies against the CA bundle: a self-signed server fails the
    handshake, while a client trusting that certificate gets its 200."""
    base, trusting = https_base

    async def go() -> tuple[list[Any], int, float | None]:
        checks = await run_http_checks([{"name": "h", "url": f"{base}/health"}], [])
        async with httpx.AsyncClient(verify=trusting) as client:
            status = (await client.get(f"{base}/health")).status_code
        latency, _ = await wait_for_health(
            f"{base}/health", timeout_s=0.5, interval_s=0.1, log=lambda *_: None
        )
        return checks, status, latency

    (check,), status, latency = asyncio.run(go())
    assert status == 200
    assert not check.ok and "CERTIFICATE_VERIFY_FAILED" in check.error
    assert latency is None  # the deploy's health poll refuses the certificate too


#: Runs ``golden-path run`` in this interpreter; at the first "agent flow: " line (the first
#: session is about to start) it writes what the process holds by then to argv[1].
_FIRST_SESSION_PROBE = """
import gc, io, json, sys
from bot.cli import main

class Probe(io.TextIOBase):
    def __init__(self, stream):
        self.stream, self.seen = stream, False
    def write(self, text):
        if not self.seen and "agent flow: " in text:
            self.seen = True
            http = sys.modules["bot.checks.http"]
            with open(sys.argv[1], "w") as f:
                json.dump({"modules": sorted(sys.modules),
                           "ca_bundle_loaded": http.tls.cache_info().currsize > 0,
                           "older_collections": [g["collections"] - b for g, b in
                                                 zip(gc.get_stats()[1:], BEFORE)]}, f)
        return self.stream.write(text)
    def flush(self):
        self.stream.flush()

sys.stderr = Probe(sys.stderr)
BEFORE = [g["collections"] for g in gc.get_stats()[1:]]
sys.exit(main(sys.argv[2:]))
"""

#: Not needed before the first session: judging, results files, publishing, templates.
_LATER = (
    "bot.verdict",
    "bot.result_files",
    "bot.publish.actions",
    "bot.publish.github",
    "bot.publish.local",
    "bot.render",
    "bot.report",
    "bot.tracking",
    "bot.evidence",
    "xml.etree.ElementTree",
    "jinja2",
    "github",
    "jwt",
    "cryptography",
)


def test_the_run_path_loads_only_what_the_first_session_needs(
    sample: SampleTarget, tmp_path: Path
) -> None:
    """When the first session starts, `golden-path run` (deploy, health, endpoints, a minted
    token) has loaded no judging, results-file, publishing or template code, no CA bundle
    for its plain-http target, and has not walked its start-up heap with the GC (no
    collection of the older generations since main began); the run then passes as before."""
    config = tmp_path / "golden-path.yml"
    config.write_text(
        f"""
environment: staging
deploy:
  command: "echo 'Service URL: {sample.base_url}'"
  url_from_output: 'http://127\\.0\\.0\\.1:\\d+'
  health_interval: 100ms
auth:
  jwt: {{secret_env: TEST_JWT_SECRET, claims: {{sub: e2e, iss: auth-service, aud: backend}}}}
checks:
  health:
    - {{name: Infrastructure Health, url: /health}}
  endpoints:
    - {{name: threads, url: /api/threads, auth: true}}
  agent_flow: {{sessions: 2, timeout: 5s, connect_timeout: 2s}}
""",
        encoding="utf-8",
    )
    seen = tmp_path / "at-first-session.json"
    argv = ["run", "--config", str(config), "--tracker", "none"]
    argv += ["--results", str(tmp_path / "results.json")]
    env = {**os.environ, "TEST_JWT_SECRET": sample.secret, "GOLDEN_PATH_PROGRESS": "off"}
    proc = subprocess.run(
        [sys.executable, "-c", _FIRST_SESSION_PROBE, str(seen), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2/2 passed" in proc.stdout
    state = json.loads(seen.read_text())
    assert [m for m in _LATER if m in state["modules"]] == []
    assert not state["ca_bundle_loaded"]
    assert state["older_collections"] == [0, 0]


def test_start_up_holds_the_gc_until_the_loop_freezes_it() -> None:
    """hold_gc turns the GC off; run_async freezes the heap, turns it on and leaves it on;
    a GC the caller had turned off is neither held nor turned on."""

    async def inside() -> tuple[bool, int]:
        return gc.isenabled(), gc.get_freeze_count()

    assert gc.isenabled()
    try:
        hold_gc()
        assert not gc.isenabled()
        enabled, frozen = run_async(inside())
        assert enabled and frozen > 1000
        assert gc.isenabled() and gc.get_freeze_count() == 0
        hold_gc()
        release_gc()  # a command that runs no loop gives it back at its end
        assert gc.isenabled()
        gc.disable()
        hold_gc()
        release_gc()
        assert run_async(inside())[0] is False and not gc.isenabled()
    finally:
        gc.enable()


def test_run_async_never_builds_the_repr_of_its_result() -> None:
    """A run's result can hold thousands of failure records: nothing may repr() it whole
    (Python 3.11's asyncio.Runner did, restoring the SIGINT handler that held the task)."""
    import signal

    shown: list[str] = []

    class Huge:
        def __repr__(self) -> str:  # reprlib swallows exceptions: record the call instead
            shown.append("repr")
            return "Huge()"

    async def run() -> Huge:
        return Huge()

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert isinstance(run_async(run()), Huge)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert shown == []
