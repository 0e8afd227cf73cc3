"""Test JWTs: mint them, and say from evidence why a backend may refuse them.

Auth failures are the seed's blocker and the hardest to read from a close code alone
(1008 says "policy violation", nothing more). What we *can* know: what our own token
claims, whether the auth service accepts it, whether that service is up, and how far
the backend's clock is from ours. :func:`explain` turns those facts into hints.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt

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
    token = jwt.encode(payload, secret, algorithm=algorithm)
    redact.register(token)
    return token


def claims_of(token: str) -> dict[str, Any]:
    """Our own token's claims, unverified: we minted it, we only want to read it back."""
    try:
        return dict(jwt.decode(token, options={"verify_signature": False}))
    except jwt.PyJWTError:
        return {}


_VISIBLE_CLAIMS = ("sub", "iss", "aud", "iat", "nbf", "exp")


def visible_claims(token: str) -> dict[str, Any]:
    claims = claims_of(token)
    return {k: claims[k] for k in _VISIBLE_CLAIMS if k in claims}


def explain(ev: AuthEvidence, expected: Mapping[str, Any] | None = None) -> list[str]:
    """Likely causes of an auth rejection, most specific first.

    Each line names the evidence and the fix; they become the Five Whys hints.
    """
    hints: list[str] = []
    now = ev.checked_at or time.time()
    claims = ev.claims
    if not ev.token_sent:
        hints.append(
            "No token was sent with the WebSocket connection: the config has no auth: section "
            "(add auth.jwt or auth.token_env), or checks.agent_flow.token_in is none — the "
            "backend cannot authenticate an anonymous socket."
        )
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if isinstance(exp, int | float) and exp <= now:
        hints.append(
            f"Our token had expired {now - exp:.0f}s before the check — raise auth.jwt.ttl "
            "or mint tokens closer to use."
        )
    if isinstance(nbf, int | float) and nbf > now + CLOCK_SKEW_TOLERANCE_S:
        hints.append(f"Our token is not valid yet (nbf {nbf - now:.0f}s in the future).")
    skew = ev.server_clock_skew_s
    if skew is not None and abs(skew) > CLOCK_SKEW_TOLERANCE_S:
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
    if ev.auth_health_ok is False:
        hints.append(
            f"The auth service is down ({ev.auth_health_url or 'health check failed'}): backends "
            "that validate through it map 'auth unreachable' to 1008 — restore the auth service "
            "first."
        )
    if ev.verify_valid is True:
        hints.append(
            "The auth service accepts our token but the backend refuses it: the two services "
            "disagree — most likely the backend verifies with a different JWT secret "
            "(compare JWT_SECRET_KEY in both deployments) or a different issuer/audience."
        )
    elif ev.verify_valid is False:
        reason = f" ({ev.verify_error})" if ev.verify_error else ""
        hints.append(
            f"The auth service itself rejects our token{reason}: the secret we sign with "
            "(auth.jwt.secret_env) is not the one the auth service uses."
        )
    for key in ("iss", "aud"):
        if expected and key in expected and claims.get(key) != expected[key]:
            hints.append(
                f"Token claim {key}={claims.get(key)!r} differs from the expected "
                f"{expected[key]!r} — align auth.jwt.claims.{key} with the backend."
            )
        elif key not in claims:
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
            "auth.verify_url so the auth service can be asked directly."
        )
    return hints
