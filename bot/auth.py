"""Test JWTs: mint them, and say from evidence why a backend may refuse them.

Auth failures are the seed's blocker and the hardest to read from a close code alone
(1008 says "policy violation", nothing more). What we *can* know: what our own token
claims, whether the auth service accepts it, whether that service is up, and how far
the backend's clock is from ours. :func:`explain` turns those facts into hints.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from bot import redact
from bot.results import AuthEvidence

#: How far clocks may drift before we call it out as a cause.
CLOCK_SKEW_TOLERANCE_S = 30.0


def mint_token(
    secret: str,
    *,
    algorithm: str = "HS256",
    ttl_s: float = 900.0,
    claims: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """A fresh token for the golden-path sessions; registered with the redactor at once."""
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {"sub": "golden-path-e2e", **(claims or {})}
    payload.setdefault("iat", issued)
    payload.setdefault("nbf", issued)
    payload.setdefault("exp", issued + int(ttl_s))
    payload.setdefault("jti", uuid.uuid4().hex)
    digest = _HMAC.get(algorithm)
    if digest is None:  # RS*/ES*/PS*/EdDSA keys: PyJWT, and cryptography under it
        import jwt

        token = jwt.encode(payload, secret, algorithm=algorithm)
    else:
        token = _hmac_jwt(payload, secret, algorithm, digest)
    redact.register(token)
    return token


#: The HMAC algorithms, signed here: importing PyJWT imports cryptography for the
#: asymmetric ones (~0.1 s of CPU on every run, before the first session).
_HMAC: dict[str, Callable[..., Any]] = {
    "HS256": hashlib.sha256,
    "HS384": hashlib.sha384,
    "HS512": hashlib.sha512,
}


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _hmac_jwt(
    payload: Mapping[str, Any], secret: str, algorithm: str, digest: Callable[..., Any]
) -> str:
    """RFC 7519 compact JWS, byte for byte what ``jwt.encode`` makes for these algorithms."""
    header = json.dumps({"alg": algorithm, "typ": "JWT"}, separators=(",", ":"), sort_keys=True)
    body = json.dumps(payload, separators=(",", ":"))
    signing_input = _b64(header.encode()) + b"." + _b64(body.encode())
    signature = hmac.new(secret.encode(), signing_input, digest).digest()
    return (signing_input + b"." + _b64(signature)).decode("ascii")


def claims_of(token: str) -> dict[str, Any]:
    """Our own token's claims, unverified: we minted it, we only want to read it back (the
    payload is base64url JSON; no signature is checked, so no crypto library is needed)."""
    try:
        _, payload, _ = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):  # not three parts, not base64, not JSON
        return {}
    return dict(claims) if isinstance(claims, dict) else {}


_VISIBLE_CLAIMS = ("sub", "iss", "aud", "iat", "nbf", "exp")


def visible_claims(token: str) -> dict[str, Any]:
    claims = claims_of(token)
    return {k: claims[k] for k in _VISIBLE_CLAIMS if k in claims}


def explain(ev: AuthEvidence, expected: Mapping[str, Any] | None = None) -> list[str]:
    """Likely causes of an auth rejection, most specific first.

    Each line names the evidence and the fix; they become the Five Whys hints. The order
    is the order of diagnosis: no token at all; what our own token says (expired, not yet
    valid, a backend clock that disagrees); whether the auth service is there to ask; what
    it says (accepts → it and the backend disagree; refuses → our token is wrong); then
    claims and the backend's own words.
    """
    hints: list[str] = []
    now = ev.checked_at or time.time()
    claims = ev.claims
    if not ev.token_sent:
        hints.append(_no_token(ev))
    exp, nbf = claims.get("exp"), claims.get("nbf")
    expired = isinstance(exp, int | float) and exp <= now
    early = isinstance(nbf, int | float) and nbf > now + CLOCK_SKEW_TOLERANCE_S
    if expired and isinstance(exp, int | float):
        hints.append(
            f"Our token had expired {now - exp:.0f}s before the check — raise auth.jwt.ttl "
            "or mint tokens closer to use."
        )
    if early and isinstance(nbf, int | float):
        hints.append(
            f"Our token is not valid yet (nbf {nbf - now:.0f}s in the future) — check our "
            "clock, or the nbf in auth.jwt.claims."
        )
    skew = ev.server_clock_skew_s
    skewed = skew is not None and abs(skew) > CLOCK_SKEW_TOLERANCE_S
    if skew is not None and skewed:
        direction = "ahead of" if skew > 0 else "behind"
        iat = claims.get("iat")  # a token from elsewhere may carry odd claims
        ttl = exp - iat if isinstance(exp, int | float) and isinstance(iat, int | float) else None
        looks = (
            " — past our token's lifetime, so every token looks expired there"
            if ttl is not None and skew > ttl
            else ""
        )
        hints.append(
            f"The backend's clock is {abs(skew):.0f}s {direction} ours{looks}: fix NTP on the "
            "backend host, or allow clock skew (leeway) in its JWT validation."
        )
    down = _auth_down(ev)
    if down:
        hints.append(
            f"The auth service is down ({down}): backends that validate through it map 'auth "
            "unreachable' to 1008 — restore the auth service first."
        )
    if ev.verify_valid is True and skewed:
        hints.append(
            "The auth service accepts our token but the backend refuses it — what the "
            "backend's clock above explains; if fixing the clock does not help, compare the "
            "JWT secret, issuer and audience of both deployments."
        )
    elif ev.verify_valid is True:
        hints.append(
            "The auth service accepts our token but the backend refuses it: the two services "
            "disagree — most likely the backend verifies with a different JWT secret "
            "(compare JWT_SECRET_KEY in both deployments) or a different issuer/audience."
        )
    elif ev.verify_valid is False:
        hints.append(_refused(ev, token_level=expired or early))
    elif ev.verify_outcome == "unexpected":
        hints.append(
            f"The auth service's answer does not fit auth.verify ({ev.verify_error}) — fix its "
            "url, method, token_in or valid_path; until then it cannot tell whether our token "
            "or the backend is wrong."
        )
    for key in ("iss", "aud"):
        if expected and key in expected and claims.get(key) != expected[key]:
            hints.append(
                f"Token claim {key}={claims.get(key)!r} differs from the expected "
                f"{expected[key]!r} — align auth.jwt.claims.{key} with the backend."
            )
        elif key not in claims and ev.token_sent:
            hints.append(
                f"Our token carries no {key!r} claim; backends that check {key} refuse it — "
                f"set auth.jwt.claims.{key}."
            )
    if ev.error_codes:
        codes = ", ".join(f"{code} ×{n}" for code, n in sorted(ev.error_codes.items()))
        hints.append(f"The backend's error frames said: {codes}.")
    if not hints:
        hints.append(
            "Nothing in our token explains the rejection: examine the backend's WebSocket "
            "auth middleware logs for the reason it closes with 1008; configure "
            "auth.verify_url (or auth.verify) so the auth service can be asked directly."
        )
    return hints


def _no_token(ev: AuthEvidence) -> str:
    """Which part of the config leaves the socket without a token."""
    if ev.token_in == "none":
        return (
            "No token was sent with the WebSocket connection: checks.agent_flow.token_in is "
            "none — set it to header, subprotocol or query so the backend can authenticate."
        )
    if not ev.token_source:
        return (
            "No token was sent with the WebSocket connection: the auth section configures "
            "neither jwt nor token_env — add auth.jwt (the signing secret's variable in "
            "secret_env) or auth.token_env, so the bot has a token to send."
        )
    return (
        "No token was sent with the WebSocket connection (the token's environment variable "
        "is empty) — the backend cannot authenticate an anonymous socket."
    )


def _auth_down(ev: AuthEvidence) -> str:
    """The evidence that the auth service is down, or '' when there is none."""
    if ev.auth_health_ok is False:
        return ev.auth_health_url or "health check failed"
    if ev.verify_outcome == "unreachable":
        return f"{ev.verify_url or 'its validation endpoint'} did not answer"
    if ev.verify_outcome == "error":
        return f"{ev.verify_url or 'its validation endpoint'} answered HTTP {ev.verify_status}"
    return ""


def _refused(ev: AuthEvidence, *, token_level: bool) -> str:
    """The auth service refuses our token: say why, and whose fix it is."""
    reason = f" ({ev.verify_error})" if ev.verify_error else ""
    if token_level:
        return (
            f"The auth service refuses our token too{reason}: the token itself is outside its "
            "validity window (see above) — its signature is not in question."
        )
    if "expired" in ev.verify_error.lower():
        return (
            f"The auth service says our token has expired{reason}, though by our clock it has "
            "not: the auth service's clock is probably ahead — fix NTP on its host, or allow "
            "clock skew (leeway) in its JWT validation."
        )
    if ev.token_source == "token_env":
        return (
            f"The auth service itself rejects our token{reason}: the token in auth.token_env "
            "is not one it accepts — refresh it (expired, revoked, or for another environment)."
        )
    return (
        f"The auth service itself rejects our token{reason}: the secret we sign with "
        "(auth.jwt.secret_env) is not the one the auth service uses, or our claims "
        "(auth.jwt.claims: iss, aud) are not the ones it expects."
    )
