"""checks.agent_flow rules / token_transport / error_frames and auth.verify: loading and errors.

Every mistake is reported at its key with the fix, like the rest of the config.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.checks.agent_flow import FlowSpec
from bot.config import ConfigError, parse_config


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def flow_problems(section: dict[str, Any]) -> list[str]:
    return problems({"checks": {"agent_flow": section}})


def test_the_sample_backend_config_loads_with_the_planned_names() -> None:
    """The names another team wrote its config with: all accepted, token_in inferred."""
    cfg = parse_config(
        {
            "auth": {
                "jwt": {"secret_env": "JWT_SECRET_KEY"},
                "verify": {
                    "url": "http://127.0.0.1:1/auth/validate",
                    "method": "POST",
                    "token_in": "json",
                    "json_field": "token",
                    "valid_path": "valid",
                },
            },
            "checks": {
                "agent_flow": {
                    "token_transport": {
                        "subprotocol": "jwt.{token}",
                        "encoding": "base64url",
                        "extra_subprotocols": ["jwt-auth"],
                        "expect_selected": "jwt-auth",
                    },
                    "rules": {
                        "agent_thinking": {"min": 1},
                        "tool_executing": {"pair": "tool_completed", "by": "data.call_id"},
                    },
                    "agent_key": "data.agent_name",
                    "parent_key": "data.parent_agent",
                }
            },
        }
    )
    flow = cfg.checks.agent_flow
    assert flow is not None and flow.token_in == "subprotocol"  # follows token_transport
    spec = FlowSpec.from_config(flow, "ws://h/ws", "tok")
    assert spec.resolved.subprotocols == ["jwt-auth", "jwt.dG9r"]  # base64url("tok"), unpadded
    assert spec.resolved.expect == "jwt-auth"


def test_token_in_follows_a_query_param_transport_and_an_explicit_one_wins() -> None:
    """token_transport.query_param alone means token_in: query; a stated token_in is kept."""
    inferred = parse_config({"checks": {"agent_flow": {"token_transport": {"query_param": "t"}}}})
    assert inferred.checks.agent_flow is not None
    assert inferred.checks.agent_flow.token_in == "query"
    spec = FlowSpec.from_config(inferred.checks.agent_flow, "ws://h/ws", "abc")
    assert spec.resolved.query == "t=abc"
    header = parse_config({"checks": {"agent_flow": {"token_transport": {"scheme": "Token"}}}})
    assert header.checks.agent_flow is not None
    assert header.checks.agent_flow.token_in == "header"


def test_older_keys_keep_working() -> None:
    """subprotocol_prefix, query_param and verify_url behave as before token_transport/verify."""
    cfg = parse_config(
        {
            "auth": {"verify_url": "https://auth.example.com/v"},
            "checks": {"agent_flow": {"token_in": "subprotocol", "subprotocol_prefix": "bearer."}},
        }
    )
    assert cfg.checks.agent_flow is not None
    spec = FlowSpec.from_config(cfg.checks.agent_flow, "ws://h/ws", "tok")
    assert spec.resolved.subprotocols == ["bearer.tok"] and spec.resolved.expect is None
    verify = cfg.auth.verification()
    assert verify is not None and (verify.method, verify.token_in) == ("POST", "header")
    query = parse_config({"checks": {"agent_flow": {"token_in": "query", "query_param": "jwt"}}})
    assert query.checks.agent_flow is not None
    assert FlowSpec.from_config(query.checks.agent_flow, "ws://h/ws", "x").resolved.query == "jwt=x"


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            {"rules": {"agent_thinkin": {"min": 2}}},
            'checks.agent_flow.rules.agent_thinkin: "agent_thinkin" is not one of events '
            "(agent_started, agent_thinking, tool_executing, tool_completed, agent_completed) "
            "— did you mean agent_thinking?",
        ),
        (
            {"rules": {"tool_executing": {"pair": "tool_complete"}}},
            'checks.agent_flow.rules.tool_executing.pair: "tool_complete" is not one of events '
            "(agent_started, agent_thinking, tool_executing, tool_completed, agent_completed) "
            "— did you mean tool_completed?",
        ),
        (
            {"rules": {"tool_completed": {"pair": "tool_completed"}}},
            "checks.agent_flow.rules.tool_completed.pair: an event cannot close itself — name "
            "another event",
        ),
        (
            {"rules": {"agent_started": {"exactly_once": True, "max": 2}}},
            "checks.agent_flow.rules.agent_started.exactly_once: means min: 1, max: 1 — remove "
            "min/max, or remove exactly_once",
        ),
        (
            {"rules": {"agent_thinking": {"min": 3, "max": 2}}},
            "checks.agent_flow.rules.agent_thinking.min: min (3) is more than max (2) — lower "
            "min or raise max",
        ),
        (
            {"rules": {"tool_executing": {"by": "data.call_id"}}},
            "checks.agent_flow.rules.tool_executing.by: only applies with pair: — name the "
            "closing event in pair:, or remove by",
        ),
        (
            {"rules": {"tool_executing": {"pair": "tool_completed", "by": "data..id"}}},
            'checks.agent_flow.rules.tool_executing.by: "data..id" is not a dotted key path — '
            "write e.g. type or data.event",
        ),
        (
            {"parent_key": ""},
            'checks.agent_flow.parent_key: "" is not a dotted key path — write e.g. type or '
            "data.event",
        ),
        (
            {"token_transport": {"subprotocol": "jwt."}},
            'checks.agent_flow.token_transport.subprotocol: "jwt." must contain {token} exactly '
            "once — write e.g. jwt.{token}",
        ),
        (
            {"token_in": "header", "token_transport": {"subprotocol": "jwt.{token}"}},
            "checks.agent_flow.token_transport.subprotocol: only applies with token_in: "
            "subprotocol (token_in is header) — set token_in: subprotocol, or remove it",
        ),
        (
            {"token_transport": {"subprotocol": "jwt.{token}", "expect_selected": "jwt-auth"}},
            'checks.agent_flow.token_transport.expect_selected: "jwt-auth" is not offered — use '
            "one of: jwt.{token}, or add it to extra_subprotocols",
        ),
        (
            {"token_transport": {"extra_subprotocols": ["jwt auth"]}},
            'checks.agent_flow.token_transport.extra_subprotocols[0]: "jwt auth" is not a valid '
            "subprotocol — use letters, digits and !#$%&'*+.^_`|~- (no spaces, commas or "
            "quotes)",
        ),
        (
            {"query_param": "t", "token_transport": {"query_param": "token"}},
            "checks.agent_flow.query_param: set either query_param or "
            "token_transport.query_param, not both",
        ),
        (
            {"error_frames": {"message_paths": ["detail", "data."]}},
            'checks.agent_flow.error_frames.message_paths[1]: "data." is not a dotted key path '
            "— write e.g. type or data.event",
        ),
    ],
)
def test_agent_flow_mistakes_name_the_key_and_the_fix(
    section: dict[str, Any], expected: str
) -> None:
    """Each mistake in the new agent_flow keys: one problem, at its key, with the fix."""
    assert flow_problems(section) == [expected]


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (
            {"verify_url": "https://a/v", "verify": {"url": "https://a/v"}},
            "auth.verify_url: set either verify_url or verify, not both — verify_url is the "
            "shorthand for verify: {url: …}; move the URL into verify.url",
        ),
        (
            {"verify": {"url": "https://a/v", "method": "GET", "token_in": "json"}},
            "auth.verify.token_in: a GET request carries no JSON body — use method: POST, or "
            "token_in: header",
        ),
        (
            {"verify": {"url": "https://a/v", "json_field": "jwt"}},
            "auth.verify.json_field: only applies with token_in: json — set token_in: json, or "
            "remove it",
        ),
        (
            {"verify": {"url": "/auth/validate"}},
            'auth.verify.url: "/auth/validate" is not an absolute http/https URL — write e.g. '
            "https://backend.staging.example.com",
        ),
        ({"verify": {"url": "https://a/v", "invalid_status": [503]}}, None),
        ({"verify": {"method": "POST"}}, "auth.verify.url: missing — this key is required"),
    ],
)
def test_verify_mistakes_name_the_key_and_the_fix(
    auth: dict[str, Any], expected: str | None
) -> None:
    """auth.verify: conflicting, impossible or incomplete contracts are refused with the fix."""
    found = problems({"auth": auth})
    if expected is None:  # a 5xx is "the service is failing", never "token invalid"
        assert found == ["auth.verify.invalid_status[0]: must be at most 499, got 503"]
    else:
        assert found == [expected]
