"""The auth diagnosis end to end: the real iteration against two differently shaped auth services.

One service takes ``POST {"token": …}`` and answers 200 ``{"valid": true|false}``; the other takes
``GET`` with a Bearer header and answers 200 or 401. The backend accepts every WebSocket, then
checks the token itself and refuses with an error frame and close 1008, as production backends
that authenticate after the upgrade do. Each case asserts that the first hint names the right side.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bot.auth import explain
from bot.checks.agent_flow import DEFAULT_EVENTS
from bot.config import parse_config
from bot.pipeline import RunOptions, run_iteration
from bot.results import Iteration, Kind
from bot.settings import Settings

SECRET = "the-shared-signing-secret-" + "s" * 20
OTHER_SECRET = "a-different-secret-" + "o" * 20
ISSUER, AUDIENCE = "auth-service", "backend"
SECRET_ENV = "CONTRACT_TEST_SIGNING_SECRET"

_quiet = logging.getLogger("tests.auth_contract.server")
_quiet.setLevel(logging.CRITICAL)


def _check(token: str, secret: str, clock_offset: float = 0.0) -> str:
    """'' when ``token`` is valid for ``secret`` at our clock + offset, else pyjwt's reason."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"verify_exp": False, "require": ["exp"]},
        )
    except jwt.InvalidTokenError as exc:
        return str(exc)
    return "Signature has expired" if claims["exp"] <= time.time() + clock_offset else ""


# -- two auth services ---------------------------------------------------------------------------


class AuthService:
    """A stdlib HTTP auth service on a free loopback port, in one of two shapes.

    ``post-json``: ``POST /api/validate`` with ``{"token": …}`` → 200 ``{"valid": bool}``.
    ``get-bearer``: ``GET /auth/me`` with ``Authorization: Bearer`` → 200, or 401 ``{"detail"}``.
    Anything else on those paths (the wrong method) → 405.
    """

    def __init__(self, shape: str, secret: str = SECRET) -> None:
        self.shape, self.secret = shape, secret
        self.requests: list[tuple[str, str]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: the test asserts on results
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                service.requests.append(("GET", self.path))
                if self.path == "/health":
                    self._answer(200, {"status": "healthy"})
                elif service.shape == "get-bearer" and self.path == "/auth/me":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    reason = _check(token, service.secret) if token else "Not authenticated"
                    if reason:
                        self._answer(401, {"detail": reason})
                    else:
                        self._answer(200, {"sub": "golden-path-e2e"})
                else:
                    self._answer(405 if self.path == "/api/validate" else 404, {"detail": "no"})

            def do_POST(self) -> None:
                service.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if service.shape == "post-json" and self.path == "/api/validate":
                    try:
                        token = json.loads(raw or b"{}").get("token", "")
                    except ValueError:
                        token = ""
                    reason = _check(token, service.secret) if token else "token missing"
                    self._answer(200, {"valid": not reason, "error": reason or None})
                else:
                    self._answer(405 if self.path == "/auth/me" else 404, {"detail": "no"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> AuthService:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    @property
    def verify(self) -> dict[str, Any]:
        """The auth.verify block that describes this service's contract."""
        if self.shape == "post-json":
            return {
                "url": f"{self.base}/api/validate",
                "method": "POST",
                "token_in": "json",
                "json_field": "token",
                "valid_path": "valid",
            }
        return {"url": f"{self.base}/auth/me", "method": "GET"}


@pytest.fixture(params=["post-json", "get-bearer"])
def service(request: pytest.FixtureRequest) -> Iterator[AuthService]:
    """Each auth-service shape in turn, accepting tokens signed with SECRET."""
    svc = AuthService(request.param).start()
    try:
        yield svc
    finally:
        svc.stop()


# -- the backend: accepts the socket, then refuses -----------------------------------------------


FRAMES = {
    "error": lambda code, text: {"type": "error", "message": text},
    "error_message": lambda code, text: {
        "type": "error_message",
        "error_code": code,
        "error_message": text,
    },
    "detail": lambda code, text: {"detail": text},
}


@dataclass
class Backend:
    """How the test backend behaves: its secret, clock, and the shape of its error frame."""

    secret: str = SECRET
    clock_offset: float = 0.0
    frame: str = "error_message"
    auth_down: bool = False  # it validates through the auth service, which is gone


@asynccontextmanager
async def backend(b: Backend) -> AsyncIterator[str]:
    """The backend on a free loopback port in the running loop; yields its http base URL."""

    def health(connection: ServerConnection, request: Request) -> Response | None:
        if request.path != "/health":
            return None
        body = json.dumps({"status": "ok", "time": time.time() + b.clock_offset}).encode()
        headers = Headers(
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return Response(200, "OK", headers, body)

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        token = ws.request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token:
            code, reason = "NO_TOKEN", "No token provided"
        elif b.auth_down:
            code, reason = "AUTH_SERVICE_UNAVAILABLE", "Auth service unreachable"
        else:
            reason = _check(token, b.secret, b.clock_offset)
            code = "TOKEN_EXPIRED" if "expired" in reason else "AUTH_FAILED"
        try:
            if reason:
                await ws.send(json.dumps(FRAMES[b.frame](code, f"Authentication failed: {reason}")))
                await ws.close(1008)  # no close reason: the error frame is the only text
                return
            async for _ in ws:
                for name in DEFAULT_EVENTS:
                    await ws.send(json.dumps({"type": name, "data": {"run_id": "r1"}}))
        except ConnectionClosed:
            pass

    async with serve(
        handler, "127.0.0.1", 0, process_request=health, logger=_quiet, compression=None
    ) as server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def iterate(b: Backend, auth: dict[str, Any], health_url: str | None, **flow: Any) -> Iteration:
    """One real iteration (no deploy) against the backend, with the given auth section."""

    async def main() -> Iteration:
        async with backend(b) as base:
            health = [{"name": "Infrastructure Health", "url": "/health"}]
            if health_url:
                health.append({"name": "Auth Service Health", "url": health_url, "timeout": "1s"})
            cfg = parse_config(
                {
                    "target": {"base_url": base},
                    "auth": auth,
                    "checks": {
                        "health": health,
                        "agent_flow": {
                            "sessions": 2,
                            "concurrency": 2,
                            "timeout": "3s",
                            "connect_timeout": "1s",
                            **flow,
                        },
                    },
                }
            )
            settings = Settings.from_env({SECRET_ENV: SECRET_USED[0]})
            return await run_iteration(cfg, RunOptions(), settings, lambda message, level: None)

    return asyncio.run(main())


SECRET_USED = [SECRET]  # what our signing secret variable holds, per test


def jwt_auth(service: AuthService, **claims: Any) -> dict[str, Any]:
    return {
        "jwt": {"secret_env": SECRET_ENV, "claims": {"iss": ISSUER, "aud": AUDIENCE, **claims}},
        "verify": service.verify,
    }


def hints_of(it: Iteration) -> list[str]:
    assert it.flow is not None and it.flow.failed == 2
    assert set(it.flow.kinds) == {str(Kind.AUTH_REJECTED)}
    assert it.auth is not None
    return explain(it.auth)


@pytest.fixture(autouse=True)
def _our_secret() -> Iterator[None]:
    SECRET_USED[0] = SECRET
    yield
    SECRET_USED[0] = SECRET


# -- the five cases, each against both service shapes -------------------------------------------


def test_auth_service_accepts_backend_refuses(service: AuthService) -> None:
    """Auth service accepts, backend (another secret) refuses: the two disagree."""
    it = iterate(Backend(secret=OTHER_SECRET), jwt_auth(service), f"{service.base}/health")
    hints = hints_of(it)
    assert it.auth is not None and it.auth.verify_outcome == "valid"
    assert hints[0].startswith("The auth service accepts our token but the backend refuses it")
    assert "different JWT secret" in hints[0] and "issuer/audience" in hints[0]
    assert service.requests[-1][0] == ("POST" if service.shape == "post-json" else "GET")


def test_auth_service_refuses_our_token(service: AuthService) -> None:
    """We sign with the wrong secret; auth service and backend agree: our secret is wrong."""
    SECRET_USED[0] = OTHER_SECRET
    it = iterate(Backend(), jwt_auth(service), f"{service.base}/health")
    hints = hints_of(it)
    assert it.auth is not None and it.auth.verify_outcome == "invalid"
    assert hints[0].startswith("The auth service itself rejects our token (")
    assert "Signature verification failed" in hints[0]
    assert "auth.jwt.secret_env" in hints[0]
    assert not any("accepts our token" in h for h in hints)


def test_auth_service_down(service: AuthService) -> None:
    """The auth service is gone: restore it first, before blaming token or backend."""
    auth = jwt_auth(service)
    health = f"{service.base}/health"
    service.stop()
    it = iterate(Backend(auth_down=True), auth, health)
    hints = hints_of(it)
    assert it.auth is not None and it.auth.verify_outcome == "unreachable"
    assert it.auth.verify_valid is None
    assert hints[0].startswith("The auth service is down (")
    assert "restore the auth service first" in hints[0]
    assert not any("rejects our token" in h or "accepts our token" in h for h in hints)


@pytest.mark.parametrize(
    ("claims", "backend_clock", "first"),
    [
        ({"exp": int(time.time()) - 600}, 0.0, "Our token had expired"),
        ({"nbf": int(time.time()) + 3600}, 0.0, "Our token is not valid yet"),
        ({}, 3600.0, "The backend's clock is 3600s ahead of ours"),
    ],
    ids=["expired", "not-yet-valid", "clock-skew"],
)
def test_token_validity_window(
    service: AuthService, claims: dict[str, Any], backend_clock: float, first: str
) -> None:
    """Expired, not yet valid, or a backend clock ahead: said first; our secret not blamed."""
    it = iterate(Backend(clock_offset=backend_clock), jwt_auth(service, **claims), None)
    hints = hints_of(it)
    assert hints[0].startswith(first)
    assert not any("secret we sign with" in h for h in hints)
    if backend_clock:  # the auth service's clock is right: it accepts, the backend does not
        assert it.auth is not None and it.auth.verify_outcome == "valid"
        assert "every token looks expired there" in hints[0]


@pytest.mark.parametrize(
    ("auth", "flow", "names"),
    [
        ({}, {}, "neither jwt nor token_env"),
        ({"jwt": {"secret_env": SECRET_ENV}}, {"token_in": "none"}, "token_in is none"),
    ],
    ids=["no-auth-section", "token-in-none"],
)
def test_no_token_names_the_missing_config(
    service: AuthService, auth: dict[str, Any], flow: dict[str, Any], names: str
) -> None:
    """No token sent: the hint names the config that leaves the socket anonymous."""
    it = iterate(Backend(), {**auth, "verify": service.verify}, None, **flow)
    hints = hints_of(it)
    assert hints[0].startswith("No token was sent with the WebSocket connection")
    assert names in hints[0]
    assert it.auth is not None and it.auth.verify_outcome == ""  # nothing to ask about
    assert service.requests == []


# -- the contract itself -------------------------------------------------------------------------


def test_wrong_contract_blames_the_config_not_a_side(service: AuthService) -> None:
    """Asking a service the other shape's way (405): auth.verify is wrong; nobody is blamed."""
    url = service.verify["url"]
    wrong = (
        {"url": url, "method": "GET"}
        if service.shape == "post-json"
        else {"url": url, "method": "POST", "token_in": "json"}
    )
    it = iterate(
        Backend(secret=OTHER_SECRET),
        {"jwt": jwt_auth(service)["jwt"], "verify": wrong},
        f"{service.base}/health",
    )
    hints = hints_of(it)
    assert it.auth is not None and it.auth.verify_outcome == "unexpected"
    assert it.auth.verify_status == 405 and it.auth.verify_valid is None
    assert hints[0].startswith("The auth service's answer does not fit auth.verify (HTTP 405")
    assert not any("secret we sign with" in h or "accepts our token" in h for h in hints)


def test_a_2xx_saying_valid_false_is_a_refusal() -> None:
    """POST-JSON service: 200 with {"valid": false} is read as invalid, with its reason."""
    svc = AuthService("post-json").start()
    try:
        SECRET_USED[0] = OTHER_SECRET
        it = iterate(Backend(), jwt_auth(svc), None)
    finally:
        svc.stop()
    assert it.auth is not None
    assert it.auth.verify_status == 200 and it.auth.verify_valid is False
    assert it.auth.verify_error == "Signature verification failed"


def test_verify_url_shorthand_keeps_posting_a_bearer_header() -> None:
    """auth.verify_url alone: POST with Authorization: Bearer, as before auth.verify existed."""
    cfg = parse_config({"auth": {"verify_url": "https://auth.example.com/v"}})
    verify = cfg.auth.verification()
    assert verify is not None and verify.url == "https://auth.example.com/v"
    assert (verify.method, verify.token_in, verify.valid_path) == ("POST", "header", "valid")


# -- the backend's own words ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", list(FRAMES))
def test_error_frame_text_reaches_the_evidence(shape: str) -> None:
    """Each error-frame shape, with a bare 1008: the server's text is captured and counted."""
    svc = AuthService("get-bearer").start()
    try:
        it = iterate(Backend(secret=OTHER_SECRET, frame=shape), jwt_auth(svc), None)
    finally:
        svc.stop()
    hints = hints_of(it)
    assert it.flow is not None
    failure = it.flow.failures[0]
    assert failure.close_code == 1008 and failure.close_reason == ""
    assert failure.error_frame is not None
    assert failure.error_frame["message"] == "Authentication failed: Signature verification failed"
    assert failure.error_frame["error_code"] == ("AUTH_FAILED" if shape == "error_message" else "")
    assert "the server said: Authentication failed" in failure.error
    assert it.auth is not None and sum(it.auth.error_codes.values()) == 2
    assert hints[-1].startswith("The backend's error frames said: ")
