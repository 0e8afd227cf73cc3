"""The config file contract: loading, defaults, every error message style, and the schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.config import (
    AgentFlow,
    Config,
    ConfigError,
    Deploy,
    HealthCheck,
    Jwt,
    config_schema,
    load_config,
    parse_config,
)
from bot.duration import DURATION_PATTERN, format_duration, parse_duration

CONFIGS = Path(__file__).parent / "data" / "configs"
PYDANTIC_WORDING = (
    "Input should",
    "validation error",
    "Extra inputs",
    "Field required",
    "pydantic",
    "Value error,",
    "type=",
)


def problems_of(data: dict[str, Any]) -> list[str]:
    """Validate ``data`` expecting failure; return the problem lines."""
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def only_problem(data: dict[str, Any]) -> str:
    """Validate ``data`` expecting exactly one problem; return it."""
    problems = problems_of(data)
    assert len(problems) == 1, problems
    return problems[0]


# ----------------------------------------------------------------------------------- loading


@pytest.mark.parametrize("name", ["empty.yml", "comments-only.yml"])
def test_empty_file_means_all_defaults(name: str) -> None:
    """An empty (or comments-only) file is a working config equal to the defaults."""
    assert load_config(CONFIGS / name) == Config()


def test_defaults_match_the_contract() -> None:
    """The defaults are the documented ones, with durations as float seconds."""
    config = Config()
    assert config.environment == "staging"
    assert config.target_tests == 1000
    assert config.deploy is None
    assert config.checks.health == [HealthCheck(name="Infrastructure Health", url="/health")]
    flow = config.checks.agent_flow
    assert flow is not None
    assert flow.events[0] == "agent_started" and flow.events[-1] == "agent_completed"
    assert ("tool_executing", "tool_completed") in flow.order
    assert (flow.timeout, flow.connect_timeout) == (30.0, 10.0)
    assert isinstance(flow.timeout, float)
    assert config.retries.failed == 0
    assert config.tracking.labels == ["golden-path"]
    assert config.commands.min_permission == "write"
    assert config.mission_text() == (
        "Execute comprehensive golden path e2e tests on staging until ALL 1000 tests pass"
    )
    assert config.title() == "Golden Path: staging"


def test_design_example_loads() -> None:
    """The DESIGN.md example (flow-style jwt, json: body) loads with the values it spells."""
    config = load_config(CONFIGS / "full.yml")
    assert config.deploy is not None
    assert config.deploy.command == "./deploy.sh staging"
    assert config.deploy.url_from_output == r"https://\S+\.run\.app"
    assert config.deploy.timeout == 900.0
    jwt = config.auth.jwt
    assert jwt is not None
    assert (jwt.secret_env, jwt.algorithm, jwt.ttl) == ("JWT_SECRET_KEY", "HS256", 900.0)
    assert jwt.claims == {"sub": "golden-path-e2e", "iss": "auth-service", "aud": "backend"}
    assert config.checks.health[0].max_latency == 1.0
    assert config.checks.endpoints[1].json_body == {"title": "golden path", "tags": ["e2e"]}
    assert config.checks.endpoints[1].max_latency == 0.5
    flow = config.checks.agent_flow
    assert flow is not None and flow.sessions == 1000 and flow.timeout == 30.0
    assert config.checks.pytest[0].args == ["tests/e2e/staging", "-m", "golden_path"]
    assert config.retries.failed == 2
    assert config.tracking.templates == ".github/golden-path/"
    assert config.title() == "Golden Path: staging"


def test_json_dump_round_trips() -> None:
    """A JSON dump (durations as text, ``json`` alias) is itself a valid config, equal to the
    original: results files can embed the config and be re-read."""
    config = load_config(CONFIGS / "full.yml")
    dumped = json.loads(json.dumps(config.model_dump(mode="json", by_alias=True)))
    assert dumped["deploy"]["timeout"] == "15m"
    assert dumped["checks"]["endpoints"][1]["json"] == {"title": "golden path", "tags": ["e2e"]}
    assert parse_config(dumped) == config


def test_models_are_frozen() -> None:
    """A config is shared by every stage, so nobody can change it in place."""
    config = Config()
    with pytest.raises(ValidationError):
        config.environment = "prod"


def test_endpoint_accepts_field_name_too() -> None:
    """Python callers may say json_body=; the file says json:."""
    config = parse_config({"checks": {"endpoints": [{"name": "a", "url": "/a", "json_body": 1}]}})
    assert config.checks.endpoints[0].json_body == 1


def test_missing_file_names_path_and_fix(tmp_path: Path) -> None:
    """A missing file says which path and how to fix it."""
    path = tmp_path / "nope.yml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: config file not found — create it (every key is optional; an empty file uses "
        "the defaults), or pass --config PATH"
    )
    assert info.value.problems == [str(info.value)]


def test_directory_is_not_a_config(tmp_path: Path) -> None:
    """Passing a directory is a clear error, not a traceback."""
    with pytest.raises(ConfigError, match="is a directory — pass the YAML file"):
        load_config(tmp_path)


def test_yaml_syntax_error_has_file_line_column() -> None:
    """A YAML syntax error names file:line:col, the YAML problem, and shows the line."""
    path = CONFIGS / "syntax-error.yml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}:5:19: invalid YAML — mapping values are not allowed here"
    ]
    assert info.value.lines == [5]
    shown = str(info.value).splitlines()
    assert shown[1:3] == ["    " + "      url: /health: broken", "    " + " " * 18 + "^"]


def test_duplicate_keys_are_refused() -> None:
    """A second ``checks:`` would silently replace the first; it is an error with both lines."""
    path = CONFIGS / "duplicate-key.yml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f'{path}:5:1: invalid YAML — duplicate key "checks" (first on line 2) — merge the two '
        "into one"
    ]


def test_top_level_must_be_a_mapping() -> None:
    """A list (or scalar) at the top level is explained, not fed to the models."""
    path = CONFIGS / "top-level-list.yml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: the top level must be a mapping (key: value lines such as "
        "environment: staging), got a list"
    )


def test_every_problem_is_reported_with_its_line() -> None:
    """All problems come at once, in file order, each as key.path: problem (file:line in the
    message), and an inline secret's value is never echoed."""
    path = CONFIGS / "problems.yml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert error.problems == [
        'target_tests: expected an integer, got "many"',
        "checks.helth: unknown key — did you mean health?",
        'checks.agent_flow.timeout: "30" is not a duration — write 30s',
        "auth.jwt.secret: secrets never go in the config file — put the value in an environment "
        "variable and name it: secret_env: JWT_SECRET_KEY",
    ]
    assert error.lines == [3, 5, 7, 10]
    message = str(error)
    assert message.splitlines()[0] == f"{path} is not a valid golden-path config (4 problems):"
    assert f"  {path}:5: checks.helth: unknown key — did you mean health?" in message
    assert "hunter2" not in message


# ----------------------------------------------------------------------- error message styles


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", '"30" is not a duration — write 30s'),
        (30, '"30" is not a duration — write 30s'),
        (1.5, '"1.5" is not a duration — write 1.5s'),
        ("soon", '"soon" is not a duration — write e.g. 30s, 500ms, 15m or 1h30m'),
        ("-5s", '"-5s" is negative — durations must be positive, e.g. 30s'),
        ("0s", '"0s" is not a positive duration — write e.g. 30s, 500ms, 15m or 1h30m'),
        (True, "expected a duration like 30s, got true"),
    ],
)
def test_duration_errors(value: Any, expected: str) -> None:
    """Durations need a unit and must be positive; the message says what to write."""
    problem = only_problem({"checks": {"agent_flow": {"timeout": value}}})
    assert problem == f"checks.agent_flow.timeout: {expected}"


def test_python_callers_may_pass_seconds() -> None:
    """Only the file insists on units: code building models may pass float seconds."""
    assert AgentFlow(timeout=5, connect_timeout=0.5).timeout == 5.0
    with pytest.raises(ValidationError):
        AgentFlow(timeout=0)


def test_unknown_key_suggests_the_closest() -> None:
    """A typo gets a did-you-mean from the model's own keys."""
    assert only_problem({"checks": {"helth": []}}) == (
        "checks.helth: unknown key — did you mean health?"
    )


def test_unknown_key_suggests_alias_not_field_name() -> None:
    """Suggestions use the name written in the file (``json``), not the Python field name."""
    problem = only_problem({"checks": {"endpoints": [{"name": "a", "url": "/a", "jsn": {}}]}})
    assert problem == "checks.endpoints[0].jsn: unknown key — did you mean json?"


def test_unknown_key_without_close_match_lists_valid_keys() -> None:
    """With nothing close, the valid keys are listed instead of a wild guess."""
    assert only_problem({"retries": {"zzz": 1}}) == "retries.zzz: unknown key — valid keys: failed"
    assert only_problem({"checks": {"qqqq": 1}}) == (
        "checks.qqqq: unknown key — valid keys: health, endpoints, agent_flow, pytest"
    )


def test_wrong_type_names_expected_and_got() -> None:
    """A wrong type says what was expected and what was found."""
    assert only_problem({"target_tests": "many"}) == 'target_tests: expected an integer, got "many"'
    assert only_problem({"target_tests": True}) == "target_tests: expected an integer, got true"
    assert only_problem({"target_tests": "12"}) == (
        'target_tests: expected an integer, got "12" — remove the quotes'
    )
    assert only_problem({"environment": 123}) == (
        'environment: expected text, got 123 — quote it: "123"'
    )
    assert only_problem({"tracking": {"labels": "golden-path"}}) == (
        'tracking.labels: expected a list, got "golden-path" — write [golden-path]'
    )
    assert only_problem({"checks": "none"}) == (
        'checks: expected a mapping (key: value lines), got "none"'
    )


def test_bounds_and_choices() -> None:
    """Out-of-range numbers and unknown choices say the allowed range or values."""
    assert only_problem({"target_tests": 0}) == "target_tests: must be at least 1, got 0"
    assert only_problem({"retries": {"failed": 11}}) == "retries.failed: must be at most 10, got 11"
    assert only_problem(
        {"checks": {"endpoints": [{"name": "a", "url": "/", "method": "get"}]}}
    ) == (
        "checks.endpoints[0].method: expected one of GET, POST, PUT, PATCH, DELETE, HEAD, "
        'got "get" — did you mean GET?'
    )
    assert only_problem({"commands": {"min_permission": "owner"}}) == (
        'commands.min_permission: expected one of read, triage, write, maintain, admin, got "owner"'
    )


def test_missing_required_key_uses_list_index_path() -> None:
    """Paths into lists use [i], and a missing key says so."""
    assert only_problem({"checks": {"health": [{"name": "x"}]}}) == (
        "checks.health[0].url: missing — this key is required"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"auth": {"jwt": {"secret": "x"}}},
            "auth.jwt.secret: secrets never go in the config file — put the value in an "
            "environment variable and name it: secret_env: JWT_SECRET_KEY",
        ),
        (
            {"auth": {"Token": "x"}},
            "auth.Token: secrets never go in the config file — put the value in an environment "
            "variable and name it: token_env: AUTH_TOKEN",
        ),
        (
            {"deploy": {"command": "true", "env": {"API_KEY": "x"}}},
            "deploy.env.API_KEY: secrets never go in the config file — put the value in an "
            "environment variable of the workflow step; the deploy command inherits it",
        ),
        (
            {"checks": {"endpoints": [{"name": "a", "url": "/a", "json": {"password": 1}}]}},
            "checks.endpoints[0].json.password: secrets never go in the config file — put the "
            "value in an environment variable and name it in auth: (jwt.secret_env or token_env)",
        ),
    ],
)
def test_inline_secrets_are_refused(data: dict[str, Any], expected: str) -> None:
    """Secret-named keys anywhere are refused with a fix that fits the place; no value echoed."""
    assert only_problem(data) == expected


def test_env_name_keys_are_not_secrets() -> None:
    """``secret_env``/``token_env`` hold names, not secrets, and are fine."""
    config = parse_config({"auth": {"token_env": "GP_TOKEN", "jwt": {"secret_env": "S"}}})
    assert config.auth.token_env == "GP_TOKEN"


def test_pydantic_wording_never_leaks() -> None:
    """Whatever the mistake, the text is ours, not pydantic's."""
    bad: list[dict[str, Any]] = [
        {"target_tests": [1]},
        {"deploy": {}},
        {"deploy": "x"},
        {"auth": {"jwt": {"claims": {"aud": {"nested": 1}}}}},
        {"checks": {"pytest": [{"name": "a", "workers": "lots"}]}},
        {"checks": {"agent_flow": {"order": [["agent_started"]]}}},
        {"checks": {"agent_flow": {"events": []}}},
        {"checks": {"health": [{"name": "", "url": "/", "expect_status": 99}]}},
        {"tracking": {"issue": 0, "close_on_green": "yes"}},
        {"impact": {"justification": 5}},
        {"environment": "has space"},
    ]
    for data in bad:
        with pytest.raises(ConfigError) as info:
            parse_config(data)
        for phrase in PYDANTIC_WORDING:
            assert phrase not in str(info.value), (data, str(info.value))


def test_union_fields_give_one_message() -> None:
    """Fields that accept several types report one problem, not one per type."""
    assert only_problem({"checks": {"pytest": [{"name": "a", "workers": "lots"}]}}) == (
        'checks.pytest[0].workers: expected a number of workers (1 or more) or "auto", got "lots"'
    )
    assert only_problem({"auth": {"jwt": {"claims": {"aud": {"x": 1}}}}}) == (
        "auth.jwt.claims.aud: a claim must be text, a number, true/false or a list of text, "
        "got a mapping"
    )


def test_impossible_timeouts() -> None:
    """A connect timeout longer than the whole session can never be met; both keys are named."""
    problem = only_problem({"checks": {"agent_flow": {"timeout": "5s", "connect_timeout": "1m"}}})
    assert problem == (
        "checks.agent_flow: impossible timeouts: connect_timeout (1m) is longer than timeout "
        "(5s), which covers the whole session — lower connect_timeout to at most 5s, or raise "
        "timeout"
    )


def test_order_names_must_be_events() -> None:
    """An order pair naming an unknown event points at that pair and suggests the name."""
    problem = only_problem({"checks": {"agent_flow": {"order": [["agent_started", "tool_exec"]]}}})
    assert problem == (
        'checks.agent_flow.order[0]: "tool_exec" is not one of events (agent_started, '
        "agent_thinking, tool_executing, tool_completed, agent_completed) — did you mean "
        "tool_executing?"
    )


def test_custom_events_keep_only_applicable_default_order() -> None:
    """With custom events and no order, default pairs naming other events are dropped, so
    nobody is blamed for names they never wrote."""
    config = parse_config({"checks": {"agent_flow": {"events": ["agent_started", "done"]}}})
    assert config.checks.agent_flow is not None
    assert config.checks.agent_flow.order == []


def test_events_must_be_unique_and_non_empty() -> None:
    """An empty or repeated events list is refused with the index of the repeat."""
    assert only_problem({"checks": {"agent_flow": {"events": []}}}) == (
        "checks.agent_flow.events: must list at least one event — e.g. "
        "[agent_started, agent_completed]"
    )
    assert only_problem({"checks": {"agent_flow": {"events": ["a", "b", "a"], "order": []}}}) == (
        'checks.agent_flow.events[2]: "a" is listed twice — list it once'
    )


def test_deploy_needs_command_or_url() -> None:
    """A deploy block that can neither deploy nor point at a deployment is refused."""
    assert only_problem({"deploy": {"timeout": "1m"}}) == (
        "deploy: needs command or url — set command: to deploy, or url: for a target that is "
        "already deployed (or remove deploy: to check target.base_url only)"
    )


def test_url_from_output_must_compile() -> None:
    """A bad regex names the key and the regex error."""
    assert only_problem({"deploy": {"command": "x", "url_from_output": "https://(\\S+"}}) == (
        "deploy.url_from_output: not a valid regular expression (missing ), unterminated "
        "subpattern at position 8) — fix the pattern, and single-quote it in YAML so "
        "backslashes survive"
    )


def test_url_from_output_needs_a_command() -> None:
    """A URL pattern without a command would never see any output."""
    assert only_problem({"deploy": {"url": "https://x.example", "url_from_output": "x"}}) == (
        "deploy.url_from_output: only applies to the output of command — add command:, or remove it"
    )


def test_urls_are_checked() -> None:
    """Check URLs are paths or absolute URLs; base URLs must be absolute."""
    assert only_problem({"checks": {"health": [{"name": "h", "url": "health"}]}}) == (
        'checks.health[0].url: "health" is neither a path nor an absolute URL — write e.g. '
        "/health or https://host/health"
    )
    assert only_problem({"target": {"base_url": "backend.example.com"}}) == (
        'target.base_url: "backend.example.com" is not an absolute http/https/ws/wss URL — '
        "write e.g. wss://backend.staging.example.com"
    )


def test_endpoint_auth_needs_a_token_source() -> None:
    """``auth: true`` without jwt or token_env would fail for the wrong reason."""
    assert only_problem({"checks": {"endpoints": [{"name": "a", "url": "/a", "auth": True}]}}) == (
        "checks.endpoints[0].auth: needs a token, but auth: sets neither jwt: nor token_env: — "
        "configure one of them, or set auth: false"
    )


def test_env_names_are_validated() -> None:
    """secret_env must be a usable environment variable name."""
    assert only_problem({"auth": {"jwt": {"secret_env": "JWT-KEY"}}}) == (
        'auth.jwt.secret_env: "JWT-KEY" is not an environment variable name — use letters, '
        "digits and _, not starting with a digit (e.g. JWT_SECRET_KEY)"
    )


def test_yaml_numbers_in_args_and_env_become_text() -> None:
    """``args: [-n, 4]`` and ``PORT: 8080`` mean text; they are not type errors."""
    config = parse_config(
        {
            "deploy": {"command": "x", "env": {"PORT": 8080}},
            "checks": {"pytest": [{"name": "a", "args": ["-n", 4], "workers": "auto"}]},
        }
    )
    assert config.deploy is not None and config.deploy.env == {"PORT": "8080"}
    assert config.checks.pytest[0].args == ["-n", "4"]
    assert config.checks.pytest[0].workers == "auto"


def test_pytest_suite_names_are_unique() -> None:
    """``--suite NAME`` selects by name, so a name must pick exactly one suite."""
    suites = [{"name": "e2e"}, {"name": "e2e"}]
    assert only_problem({"checks": {"pytest": suites}}) == (
        'checks.pytest[1].name: "e2e" is used twice — names must differ'
    )


def test_top_level_x_keys_hold_yaml_anchors() -> None:
    """Top-level ``x-…`` keys are ignored (Compose-style), so anchors have a home."""
    path = CONFIGS / "anchors.yml"
    config = load_config(path)
    assert [check.timeout for check in config.checks.health] == [5.0, 7.0]
    schema = config_schema()
    assert _schema_errors(_yaml("anchors.yml"), schema, schema, "$") == []


def test_agent_flow_can_be_disabled() -> None:
    """``agent_flow: null`` turns the WebSocket flow off."""
    assert parse_config({"checks": {"agent_flow": None}}).checks.agent_flow is None


def test_justification_as_mapping() -> None:
    """Justification may be written label: text; order is kept and {at_risk} filled by replace."""
    config = load_config(CONFIGS / "justification-mapping.yml")
    assert config.impact.justification == [
        ("Revenue Impact", "Chat representing {at_risk} is down"),
        ("Trust", "Users see nothing happening"),
    ]
    assert config.impact.justification_items()[0] == (
        "Revenue Impact",
        "Chat representing $2M ARR is down",
    )


def test_justification_as_list_of_pairs() -> None:
    """The list form ([label, text] pairs) works too."""
    config = parse_config({"impact": {"justification": [["A", "a"], {"B": "b"}]}})
    assert config.impact.justification == [("A", "a"), ("B", "b")]


def test_problem_list_is_bounded_on_screen() -> None:
    """Many problems stay one screen: the message is cut, the problems list is complete."""
    data = {"checks": {"health": [{"name": "h", "url": "x"} for _ in range(30)]}}
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert len(info.value.problems) == 30
    assert str(info.value).endswith("  … and 10 more")


# ---------------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        ("2m05s", 125.0),
        ("1h 2m 3s 4ms", 3723.004),
        (" 10s ", 10.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    """Units h, m, s, ms in that order, decimals allowed, spaces between parts tolerated."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["30", "", "s", "1x", "30m1h", "1s1s", "1.s", "1 s", "-5s", "1e3s"]
)
def test_parse_duration_rejects(text: str) -> None:
    """Bare numbers, unknown units, units out of order or repeated are errors."""
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.166, "0.166s"),
        (0.1664, "0.166s"),
        (3.5, "3.5s"),
        (30, "30s"),
        (0, "0s"),
        (59.9996, "1m"),
        (60, "1m"),
        (125, "2m05s"),
        (900, "15m"),
        (3600, "1h"),
        (3605, "1h00m05s"),
        (5400, "1h30m"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    """Readable output that parses back to the value shown."""
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(
        round(seconds, 3) if seconds < 60 else round(seconds)
    )


# ------------------------------------------------------------------------------------ helpers


def test_mission_and_title_never_evaluate_format_fields() -> None:
    """Only {environment}/{target_tests} are replaced; ``str.format`` tricks stay literal."""
    config = parse_config(
        {
            "environment": "prod",
            "target_tests": 5,
            "mission": "{0.__class__} {environment.__class__} on {environment}: {target_tests}",
            "tracking": {"title": "{environment} {0.__class__.__mro__} {config}"},
        }
    )
    assert config.mission_text() == "{0.__class__} {environment.__class__} on prod: 5"
    assert config.title() == "prod {0.__class__.__mro__} {config}"


def test_jwt_secret_comes_from_environment() -> None:
    """The secret is read from the named variable; missing or empty says how to provide it."""
    jwt = Jwt()
    assert jwt.secret({"JWT_SECRET_KEY": "s3cret"}) == "s3cret"
    for env in ({}, {"JWT_SECRET_KEY": ""}):
        with pytest.raises(ConfigError) as info:
            jwt.secret(env)
        assert str(info.value) == (
            "auth.jwt.secret_env: environment variable JWT_SECRET_KEY is not set — export it, "
            "or pass it to the step with env:"
        )


def test_jwt_secret_comes_from_the_mapping_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret is read from the settings' environment, never the process's directly."""
    monkeypatch.setenv("GP_TEST_SECRET", "from-the-process")
    assert Jwt(secret_env="GP_TEST_SECRET").secret({"GP_TEST_SECRET": "abc"}) == "abc"


def test_base_url_precedence() -> None:
    """target.base_url wins, then the URL the deploy found, then deploy.url."""
    deployed = Config(deploy=Deploy(url="https://fixed.example"))
    assert deployed.base_url("https://found.example") == "https://found.example"
    assert deployed.base_url(None) == "https://fixed.example"
    pinned = parse_config(
        {"target": {"base_url": "https://pinned.example"}, "deploy": {"url": "https://x.example"}}
    )
    assert pinned.base_url("https://found.example") == "https://pinned.example"
    assert Config().base_url(None) is None


@pytest.mark.parametrize(
    ("url", "base", "websocket", "expected"),
    [
        ("https://other.example/health", "http://b.example", None, "https://other.example/health"),
        ("wss://other.example/ws", None, None, "wss://other.example/ws"),
        ("/health", "http://b.example", None, "http://b.example/health"),
        ("/health", "https://b.example/", None, "https://b.example/health"),
        ("/health", "https://b.example/api/", None, "https://b.example/api/health"),
        ("/ws", "http://b.example:8080", None, "ws://b.example:8080/ws"),
        ("/ws", "https://b.example", None, "wss://b.example/ws"),
        ("/ws?x=1", "https://b.example", True, "wss://b.example/ws?x=1"),
        ("/health", "wss://b.example", None, "https://b.example/health"),
        ("/other", "https://b.example", True, "wss://b.example/other"),
    ],
)
def test_resolve_url(url: str, base: str | None, websocket: bool | None, expected: str) -> None:
    """Absolute URLs pass through; paths join the base; the scheme follows the request kind."""
    assert Config().resolve_url(url, base, websocket=websocket) == expected


def test_resolve_url_needs_a_base_for_paths() -> None:
    """A path with nowhere to go says which keys provide a base."""
    with pytest.raises(ConfigError) as info:
        Config().resolve_url("/health", None)
    assert str(info.value) == (
        '"/health" is a path, but there is no base URL to put it under — set target.base_url, '
        "or deploy.url (or deploy.url_from_output)"
    )


# ------------------------------------------------------------------------------------- schema


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return {**node, **{k: v for k, v in schema.items() if k != "$ref"}}


_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _schema_errors(value: Any, schema: dict[str, Any], root: dict[str, Any], at: str) -> list[str]:
    """A small JSON Schema checker for the keywords pydantic emits (jsonschema isn't installed)."""
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        branches = [_schema_errors(value, s, root, at) for s in schema["anyOf"]]
        if all(branches):
            return [f"{at}: no anyOf branch matches: {branches}"]
    kind = schema.get("type")
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{at}: not an integer"]
    elif kind == "number":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return [f"{at}: not a number"]
    elif kind is not None and not isinstance(value, _TYPES[kind]):
        return [f"{at}: not {kind}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: not in enum")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{at}: not const")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{at}: does not match pattern")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{at}: too short")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and not schema.get("minimum", value) <= value <= schema.get("maximum", value):
        errors.append(f"{at}: out of range")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                errors += _schema_errors(item, properties[key], root, f"{at}.{key}")
            elif any(re.search(p, key) for p in schema.get("patternProperties", {})):
                continue
            elif extra is False:
                errors.append(f"{at}.{key}: not allowed")
            elif isinstance(extra, dict):
                errors += _schema_errors(item, extra, root, f"{at}.{key}")
        errors += [
            f"{at}.{key}: required" for key in schema.get("required", []) if key not in value
        ]
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 1 << 30):
            errors.append(f"{at}: wrong number of items")
        prefix = schema.get("prefixItems", [])
        for index, item in enumerate(value):
            sub = prefix[index] if index < len(prefix) else schema.get("items")
            if sub is not None:
                errors += _schema_errors(item, sub, root, f"{at}[{index}]")
    return errors


def _yaml(name: str) -> Any:
    return yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8")) or {}


def test_schema_is_draft_2020_12_json_with_every_top_level_key() -> None:
    """The schema is plain JSON, declares its dialect and title, and covers every key."""
    schema = json.loads(json.dumps(config_schema()))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(Config.model_fields)


def test_schema_durations_are_strings_with_the_parser_pattern() -> None:
    """Durations are strings (defaults too), with the same pattern the parser uses."""
    schema = config_schema()
    timeout = schema["$defs"]["Deploy"]["properties"]["timeout"]
    assert timeout["type"] == "string"
    assert timeout["pattern"] == DURATION_PATTERN
    assert timeout["default"] == "15m"
    assert "examples" in timeout
    endpoint = schema["$defs"]["Endpoint"]["properties"]
    assert "json" in endpoint and "json_body" not in endpoint


@pytest.mark.parametrize("text", ["500ms", "30s", "15m", "1h30m", "1.5s", "1h 30m", "30", "x", "m"])
def test_schema_pattern_agrees_with_parser(text: str) -> None:
    """Editors (schema) and the bot (parser) accept exactly the same duration strings."""
    try:
        parse_duration(text)
        parsed = True
    except ValueError:
        parsed = False
    assert bool(re.search(DURATION_PATTERN, text)) is parsed


@pytest.mark.parametrize("name", ["full.yml", "justification-mapping.yml", "empty.yml"])
def test_schema_accepts_valid_configs(name: str) -> None:
    """Nothing the loader accepts is rejected by the schema."""
    schema = config_schema()
    assert _schema_errors(_yaml(name), schema, schema, "$") == []


def test_schema_checker_catches_mistakes() -> None:
    """The little checker above really checks (so the previous test means something)."""
    schema = config_schema()
    assert _schema_errors({"checks": {"helth": []}}, schema, schema, "$")
    assert _schema_errors({"deploy": {"command": "x", "timeout": "30"}}, schema, schema, "$")


def test_schema_with_jsonschema_when_available() -> None:
    """If jsonschema is installed, it agrees: the schema is valid and accepts the example."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(_yaml("full.yml"))
