"""Redaction: registered secrets, credential-shaped text, and prose that must survive."""

from __future__ import annotations

import jwt
import pytest

from bot import redact
from bot.redact import MASK, REDACTOR, redact_obj
from bot.results import AuthEvidence


def test_registered_secret_is_masked_everywhere_in_the_text() -> None:
    """Every occurrence of a registered literal secret becomes the mask."""
    redact.register("hunter2-very-secret")
    text = "pw=hunter2-very-secret, again: hunter2-very-secret."
    assert redact.redact(text) == f"pw={MASK}, again: {MASK}."


def test_longest_secret_wins_when_one_contains_another() -> None:
    """A secret that contains a shorter one is masked whole, not as mask plus its tail."""
    redact.register("abcdef", "abcdefghij")
    assert redact.redact("x abcdefghij y abcdef z") == f"x {MASK} y {MASK} z"


def test_overlapping_secrets_leave_nothing_in_clear() -> None:
    """Two secrets overlapping in the text are masked as one span, no leftover characters."""
    redact.register("hunter2hunter", "terXYZ9")
    out = redact.redact("<hunter2hunterXYZ9>")
    assert out == f"<{MASK}>"


def test_short_values_are_not_registered() -> None:
    """Values under six characters, empty or None are ignored: they would shred prose."""
    redact.register("abc", "", None, "12345")
    assert REDACTOR.secrets() == ()
    assert redact.redact("abc 12345 abcdef") == "abc 12345 abcdef"


def test_jwt_is_masked_without_registration() -> None:
    """Anything shaped like a JWT is masked even when nobody registered it."""
    token = jwt.encode({"sub": "someone", "exp": 2_000_000_000}, "k" * 32, algorithm="HS256")
    assert redact.redact(f"sent {token} to the backend") == f"sent {MASK} to the backend"


@pytest.mark.parametrize(
    "token",
    [
        "ghp_" + "A1b2C3d4E5" * 4,
        "gho_" + "z" * 36,
        "github_pat_11ABCDEFG0_" + "x" * 40,
    ],
)
def test_github_tokens_are_masked(token: str) -> None:
    """Classic, OAuth and fine-grained GitHub tokens are masked by shape."""
    assert redact.redact(f"GH: {token} end") == f"GH: {MASK} end"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def", f"Authorization: {MASK}"),
        ("proxy-authorization=Basic Zm9vOmJhcg==", f"proxy-authorization={MASK}"),
        ('{"Authorization": "Token q", "x": 1}', f'{{"Authorization": "{MASK}", "x": 1}}'),
        ("X-Api-Key: 12345\nnext line", f"X-Api-Key: {MASK}\nnext line"),
        ("curl -H 'Bearer 9f8e7d6c5b4a'", f"curl -H 'Bearer {MASK}'"),
        ("Basic dXNlcjpwYXNz", f"Basic {MASK}"),
    ],
)
def test_authorization_headers_and_schemes_are_masked(text: str, expected: str) -> None:
    """Header values and scheme-prefixed credentials are masked, the rest of the line kept."""
    assert redact.redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wss://h/ws?token=abc123&page=2", f"wss://h/ws?token={MASK}&page=2"),
        ("https://h/x?a=1&access_token=zzz#frag", f"https://h/x?a=1&access_token={MASK}#frag"),
        ("cb?id_token=a1&refresh_token=b2", f"cb?id_token={MASK}&refresh_token={MASK}"),
        ("postgres://admin:s3cr3t@db:5432/app", f"postgres://admin:{MASK}@db:5432/app"),
    ],
)
def test_credentials_in_urls_are_masked(text: str, expected: str) -> None:
    """Token query parameters and user:pass@host lose only the credential."""
    assert redact.redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("JWT_SECRET_KEY=supersecretvalue", f"JWT_SECRET_KEY={MASK}"),
        ("export GITHUB_TOKEN=abcd1234", f"export GITHUB_TOKEN={MASK}"),
        ("MYSECRET=abcd", f"MYSECRET={MASK}"),
        ("db-password: hunter2", f"db-password: {MASK}"),
        ("password: letmein", f"password: {MASK}"),
        ('"client_secret": "two words"', f'"client_secret": "{MASK}"'),
        ("api_key=k-12345, other=2", f"api_key={MASK}, other=2"),
        ('{"api_key":abcd1234}', f'{{"api_key":{MASK}}}'),
    ],
)
def test_secret_looking_assignments_are_masked(text: str, expected: str) -> None:
    """NAME=value and "name": "value" of secret-looking names mask the value."""
    assert redact.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the tokenizer splits words",
        "Bearer of bad news",
        "a basic understanding of the token signature",
        "Nothing in our token explains the rejection",
        "max_tokens=4096 and tokenizer=bert",
        "Invalid token: expired.",
        "the secret sauce; secret: sauce",
        "Keyboard password-less login works",
        "https://example.com/path?page=2&sort=asc",
        "user@example.com wrote at 12:30",
        "agent_flow: {token_in: subprotocol, secret_env: JWT_SECRET_KEY}",
        "TOKEN_URL=https://auth.example.com/token",
        '{"token_sent":true,"token_in":"header","password": null}',
    ],
)
def test_ordinary_prose_is_unchanged(text: str) -> None:
    """Words that merely mention tokens, secrets or schemes are left alone."""
    assert redact.redact(text) == text


def test_the_bots_own_auth_hints_survive_redaction() -> None:
    """Every hint auth.explain can produce reads the same after redaction."""
    from bot.auth import explain

    ev = AuthEvidence(
        token_sent=False,
        claims={"iat": 1000, "nbf": 5000, "exp": 1500},
        checked_at=2000.0,
        verify_valid=False,
        verify_error="Signature verification failed",
        auth_health_ok=False,
        auth_health_url="http://auth/health",
        server_clock_skew_s=3600.0,
        error_codes={"AUTH_FAILED": 2},
    )
    hints = explain(ev, {"iss": "auth-service"})
    hints += explain(AuthEvidence(verify_valid=True, claims={"iss": "a", "aud": "b"}))
    hints += explain(AuthEvidence(claims={"iss": "a", "aud": "b"}))
    assert len(hints) >= 9
    for hint in hints:
        assert redact.redact(hint) == hint


def test_listener_hears_existing_and_new_secrets_once() -> None:
    """on_register reports secrets already known, then each new one, never a repeat."""
    redact.register("first-secret")
    heard: list[str] = []
    REDACTOR.on_register(heard.append)
    redact.register("second-secret", "first-secret", "abc")
    redact.register("second-secret")
    assert heard == ["first-secret", "second-secret"]


def test_redact_obj_walks_nested_data() -> None:
    """Strings inside dicts, lists and tuples are redacted; other values pass through."""
    redact.register("nested-secret")
    data = {
        "a": ["ok", "has nested-secret"],
        "b": {"c": ("nested-secret", 3)},
        "d": None,
        "e": 1.5,
    }
    assert redact_obj(data) == {
        "a": ["ok", f"has {MASK}"],
        "b": {"c": [MASK, 3]},
        "d": None,
        "e": 1.5,
    }


def test_clear_forgets_secrets_and_listeners() -> None:
    """After clear() a former secret is plain text and old listeners are not called."""
    heard: list[str] = []
    REDACTOR.on_register(heard.append)
    redact.register("forgotten-secret")
    REDACTOR.clear()
    redact.register("another-secret")
    assert heard == ["forgotten-secret"]
    assert redact.redact("forgotten-secret") == "forgotten-secret"


def test_empty_text_is_returned_as_is() -> None:
    """Empty input is returned unchanged, with secrets registered or not."""
    redact.register("some-secret")
    assert redact.redact("") == ""
