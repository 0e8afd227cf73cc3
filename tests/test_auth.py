"""Test JWTs: minting, claims read back, and the hints explain() derives from evidence."""

from __future__ import annotations

import jwt
import pytest

from bot import redact
from bot.auth import CLOCK_SKEW_TOLERANCE_S, claims_of, explain, mint_token, visible_claims
from bot.redact import MASK, REDACTOR
from bot.results import AuthEvidence

SECRET = "k" * 40
NOW = 1_700_000_000.0
GOOD_CLAIMS = {"iss": "auth-service", "aud": "backend"}


def claims(**extra: object) -> dict[str, object]:
    """Claims of a healthy token minted at NOW with a 900 s lifetime."""
    base: dict[str, object] = {
        "sub": "golden-path-e2e",
        "iat": int(NOW),
        "nbf": int(NOW),
        "exp": int(NOW) + 900,
        **GOOD_CLAIMS,
    }
    base.update(extra)
    return base


def test_mint_token_sets_standard_claims_and_ttl() -> None:
    """The token verifies with the secret and carries sub, iat, nbf, exp = iat + ttl, jti."""
    token = mint_token(SECRET, ttl_s=120, claims=GOOD_CLAIMS, now=NOW)
    decoded = jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        audience="backend",
        issuer="auth-service",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert decoded["sub"] == "golden-path-e2e"
    assert decoded["iat"] == decoded["nbf"] == int(NOW)
    assert decoded["exp"] - decoded["iat"] == 120
    assert len(decoded["jti"]) == 32


def test_mint_token_lets_configured_claims_override_defaults() -> None:
    """Configured claims replace the defaults, and every token gets its own jti."""
    a = mint_token(SECRET, claims={"sub": "someone", "exp": 5, "role": "e2e"}, now=NOW)
    b = mint_token(SECRET, claims={"sub": "someone"}, now=NOW)
    ca, cb = claims_of(a), claims_of(b)
    assert ca["sub"] == "someone" and ca["exp"] == 5 and ca["role"] == "e2e"
    assert ca["jti"] != cb["jti"]


def test_mint_token_registers_the_token_with_the_redactor() -> None:
    """A minted token is a registered secret: listeners hear it and redact() masks it."""
    heard: list[str] = []
    REDACTOR.on_register(heard.append)
    token = mint_token(SECRET, now=NOW)
    assert heard == [token]
    assert redact.redact(token) == MASK
    assert redact.redact(f"ws://h/ws?t={token}") == f"ws://h/ws?t={MASK}"


def test_claims_of_reads_without_verifying_and_tolerates_garbage() -> None:
    """claims_of decodes any well-formed token unverified; garbage yields {}."""
    token = jwt.encode(claims(secret_thing="x"), "other-secret" * 4, algorithm="HS256")
    assert claims_of(token)["sub"] == "golden-path-e2e"
    assert claims_of("not-a-jwt") == {}
    assert set(visible_claims(token)) == {"sub", "iss", "aud", "iat", "nbf", "exp"}


def test_explain_no_token_comes_first() -> None:
    """Without a token the first hint says none was sent."""
    hints = explain(AuthEvidence(token_sent=False, checked_at=NOW))
    assert hints[0].startswith("No token was sent")


def test_explain_expired_token() -> None:
    """A token whose exp has passed is called out with how long ago."""
    hints = explain(AuthEvidence(claims=claims(exp=int(NOW) - 60), checked_at=NOW))
    assert any("had expired 60s before the check" in h for h in hints)


def test_explain_token_not_yet_valid() -> None:
    """An nbf beyond the skew tolerance is reported as not valid yet."""
    ahead = int(NOW + CLOCK_SKEW_TOLERANCE_S + 100)
    hints = explain(AuthEvidence(claims=claims(nbf=ahead), checked_at=NOW))
    assert any("not valid yet" in h for h in hints)
    small = explain(AuthEvidence(claims=claims(nbf=int(NOW) + 5), checked_at=NOW))
    assert not any("not valid yet" in h for h in small)


def test_explain_backend_clock_ahead_beyond_token_lifetime() -> None:
    """A backend clock ahead by more than the ttl makes every token look expired there."""
    hints = explain(AuthEvidence(claims=claims(), checked_at=NOW, server_clock_skew_s=3600))
    (hint,) = [h for h in hints if "clock" in h]
    assert "3600s ahead of ours" in hint
    assert "every token looks expired there" in hint


def test_explain_small_or_negative_skew() -> None:
    """Skew within the ttl is named without the 'expired there' claim; behind says behind."""
    ahead = explain(AuthEvidence(claims=claims(), checked_at=NOW, server_clock_skew_s=120))
    assert any("120s ahead of ours:" in h for h in ahead)
    behind = explain(AuthEvidence(claims=claims(), checked_at=NOW, server_clock_skew_s=-300))
    assert any("300s behind ours" in h for h in behind)
    tiny = explain(AuthEvidence(claims=claims(), checked_at=NOW, server_clock_skew_s=5))
    assert not any("clock" in h for h in tiny)


def test_explain_skew_with_odd_claims_does_not_crash() -> None:
    """A token from elsewhere with a non-numeric iat still gets the skew hint."""
    hints = explain(
        AuthEvidence(claims=claims(iat="yesterday"), checked_at=NOW, server_clock_skew_s=3600)
    )
    assert any("3600s ahead of ours:" in h for h in hints)


def test_explain_auth_service_down() -> None:
    """A failed auth health check names the service and the 1008 mapping."""
    ev = AuthEvidence(
        claims=claims(), checked_at=NOW, auth_health_ok=False, auth_health_url="http://a/h"
    )
    hints = explain(ev)
    assert any("auth service is down (http://a/h)" in h for h in hints)


def test_explain_verify_valid_points_at_a_different_secret() -> None:
    """Auth service accepts, backend refuses: most likely a different JWT secret."""
    (hint,) = explain(AuthEvidence(claims=claims(), checked_at=NOW, verify_valid=True))
    assert "most likely the backend verifies with a different JWT secret" in hint


def test_explain_verify_invalid_names_our_signing_secret() -> None:
    """Auth service refuses too: the reason is quoted and our signing secret is blamed."""
    ev = AuthEvidence(
        claims=claims(),
        checked_at=NOW,
        verify_valid=False,
        verify_error="Signature verification failed",
    )
    (hint,) = explain(ev)
    assert "rejects our token (Signature verification failed)" in hint
    assert "auth.jwt.secret_env" in hint


def test_explain_missing_and_mismatched_iss_aud() -> None:
    """Missing iss/aud claims get a hint each; a claim unlike the expected one too."""
    bare = {k: v for k, v in claims().items() if k not in ("iss", "aud")}
    hints = explain(AuthEvidence(claims=bare, checked_at=NOW))
    assert any("no 'iss' claim" in h for h in hints)
    assert any("no 'aud' claim" in h for h in hints)
    wrong = explain(
        AuthEvidence(claims=claims(iss="someone-else"), checked_at=NOW), {"iss": "auth-service"}
    )
    assert any("iss='someone-else' differs from the expected 'auth-service'" in h for h in wrong)


def test_explain_quotes_backend_error_codes() -> None:
    """Error codes from the backend's frames are listed with their counts, sorted."""
    ev = AuthEvidence(
        claims=claims(), checked_at=NOW, error_codes={"TOKEN_EXPIRED": 2, "AUTH_FAILED": 5}
    )
    (hint,) = explain(ev)
    assert hint == "The backend's error frames said: AUTH_FAILED ×5, TOKEN_EXPIRED ×2."


def test_explain_without_evidence_falls_back() -> None:
    """Nothing explains the rejection: one hint pointing at backend logs and verify_url."""
    (hint,) = explain(AuthEvidence(claims=claims(), checked_at=NOW))
    assert hint.startswith("Nothing in our token explains the rejection")
    assert "auth.verify_url" in hint


@pytest.mark.parametrize(
    ("evidence", "first"),
    [
        (AuthEvidence(token_sent=False, verify_valid=True), "No token was sent"),
        (AuthEvidence(claims=claims(exp=1), verify_valid=True), "Our token had expired"),
    ],
)
def test_explain_orders_most_specific_first(evidence: AuthEvidence, first: str) -> None:
    """Token-level causes come before service-level ones."""
    evidence.checked_at = NOW
    assert explain(evidence)[0].startswith(first)


# -- the five cases, each naming the right side --------------------------------------------------


def test_explain_no_token_names_the_missing_config_section() -> None:
    """No token: the hint names the config that is missing (auth source or token_in: none)."""
    unconfigured = explain(AuthEvidence(token_sent=False, token_source="", checked_at=NOW))
    assert unconfigured[0].startswith("No token was sent")
    assert "neither jwt nor token_env" in unconfigured[0] and "auth.jwt" in unconfigured[0]
    switched_off = explain(
        AuthEvidence(token_sent=False, token_in="none", token_source="jwt", checked_at=NOW)
    )
    assert "checks.agent_flow.token_in is none" in switched_off[0]
    assert not any("claim" in h for h in unconfigured + switched_off)  # no token, no claims


def test_explain_verify_unreachable_or_failing_is_the_auth_service_down() -> None:
    """Validation endpoint silent or answering 5xx: restore the auth service first."""
    silent = AuthEvidence(
        claims=claims(), checked_at=NOW, verify_url="http://a/v", verify_outcome="unreachable"
    )
    failing = AuthEvidence(
        claims=claims(),
        checked_at=NOW,
        verify_url="http://a/v",
        verify_outcome="error",
        verify_status=503,
    )
    (first,) = explain(silent)
    assert "auth service is down (http://a/v did not answer)" in first
    assert "restore the auth service first" in first
    (second,) = explain(failing)
    assert "auth service is down (http://a/v answered HTTP 503)" in second


def test_explain_refusal_of_an_expired_token_does_not_blame_the_secret() -> None:
    """Expired token refused by the auth service too: expiry first, the secret not accused."""
    ev = AuthEvidence(
        claims=claims(exp=int(NOW) - 60),
        checked_at=NOW,
        verify_valid=False,
        verify_outcome="invalid",
        verify_error="Signature has expired",
    )
    hints = explain(ev)
    assert hints[0].startswith("Our token had expired 60s")
    assert "refuses our token too (Signature has expired)" in hints[1]
    assert not any("secret we sign with" in h for h in hints)


def test_explain_auth_service_saying_expired_against_our_clock_blames_its_clock() -> None:
    """The auth service calls a fresh token expired: its clock is the suspect, not our secret."""
    ev = AuthEvidence(
        claims=claims(), checked_at=NOW, verify_valid=False, verify_error="Signature has expired"
    )
    (hint,) = explain(ev)
    assert "auth service's clock is probably ahead" in hint
    assert "secret" not in hint


def test_explain_refused_ready_made_token_asks_to_refresh_it() -> None:
    """A token from auth.token_env refused by the auth service: refresh that token."""
    ev = AuthEvidence(claims=claims(), checked_at=NOW, token_source="token_env", verify_valid=False)
    (hint,) = explain(ev)
    assert "the token in auth.token_env is not one it accepts" in hint


def test_explain_unexpected_answer_blames_the_contract_not_a_side() -> None:
    """A 405 from the auth service is our auth.verify's fault: neither token nor backend."""
    ev = AuthEvidence(
        claims=claims(),
        checked_at=NOW,
        verify_outcome="unexpected",
        verify_status=405,
        verify_error="HTTP 405, which is neither valid (2xx) nor invalid (401, 403) under "
        "auth.verify: Method Not Allowed",
    )
    (hint,) = explain(ev)
    assert hint.startswith("The auth service's answer does not fit auth.verify (HTTP 405")
    assert "secret" not in hint and "disagree" not in hint


@pytest.mark.parametrize(
    ("evidence", "first"),
    [
        (AuthEvidence(token_sent=False, auth_health_ok=False), "No token was sent"),
        (
            AuthEvidence(claims=claims(exp=1), auth_health_ok=False, verify_valid=False),
            "Our token had expired",
        ),
        (AuthEvidence(claims=claims(nbf=int(NOW) + 600), verify_valid=False), "Our token is not"),
        (
            AuthEvidence(claims=claims(), server_clock_skew_s=3600, verify_valid=True),
            "The backend's",
        ),
        (
            AuthEvidence(claims=claims(), verify_outcome="unreachable", verify_url="http://a/v"),
            "The auth service is down",
        ),
        (AuthEvidence(claims=claims(), verify_valid=False), "The auth service itself rejects"),
        (AuthEvidence(claims=claims(), verify_valid=True), "The auth service accepts our token"),
    ],
)
def test_explain_names_the_right_side_first(evidence: AuthEvidence, first: str) -> None:
    """Each of the five causes leads the hints when its evidence is there, most specific first."""
    evidence.checked_at = NOW
    assert explain(evidence)[0].startswith(first)


def test_new_hints_survive_redaction() -> None:
    """Every new hint reads the same after redaction: none of it looks like a credential."""
    evidence = [
        AuthEvidence(token_sent=False, token_in="none", checked_at=NOW),
        AuthEvidence(token_sent=False, checked_at=NOW),
        AuthEvidence(token_sent=False, token_source="token_env", checked_at=NOW),
        AuthEvidence(claims=claims(), checked_at=NOW, verify_outcome="unreachable"),
        AuthEvidence(claims=claims(nbf=int(NOW) + 600), checked_at=NOW, verify_valid=False),
        AuthEvidence(claims=claims(), token_source="token_env", verify_valid=False),
        AuthEvidence(claims=claims(), verify_valid=False, verify_error="Signature has expired"),
        AuthEvidence(claims=claims(), verify_outcome="unexpected", verify_error="HTTP 405"),
    ]
    hints = [hint for ev in evidence for hint in explain(ev)]
    assert len(hints) >= 8
    for hint in hints:
        assert redact.redact(hint) == hint
