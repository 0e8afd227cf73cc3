"""The config file's models: one frozen pydantic model per section, defaults and docs included.

Why frozen: one :class:`Config` is shared by every stage (deploy, checks, render, publish) and by
many concurrent sessions; nobody may change it under the others' feet. Attribute docstrings are
the documentation: they become the JSON Schema's descriptions and the README's reference.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from bot import frame_shapes
from bot.config.errors import ConfigError, Loc, Problem
from bot.config.errors import show as _show
from bot.duration import Duration, format_duration

_ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ENVIRONMENT_PATTERN = r"^[A-Za-z0-9._-]+$"
SECRET_KEYS = frozenset({"secret", "token", "password", "api_key", "private_key"})


class _Model(BaseModel):
    """Shared settings: unknown keys are errors (typos must not be ignored), instances are frozen,
    and attribute docstrings become descriptions in the JSON Schema.

    The docstrings are read only when the schema is asked for (``bot.config.schema``):
    reading them takes pydantic a tenth of a second of source parsing on every start.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --------------------------------------------------------------------------- small validators


def _is_absolute(url: str, schemes: Sequence[str]) -> bool:
    parts = urlsplit(url)
    return parts.scheme in schemes and bool(parts.netloc)


def _absolute_url(value: str, schemes: Sequence[str] = ("http", "https")) -> str:
    if not _is_absolute(value, schemes):
        example = f"{schemes[-1]}://backend.staging.example.com"
        raise ValueError(
            f"{_show(value)} is not an absolute {'/'.join(schemes)} URL — write e.g. {example}"
        )
    return value


def _url_or_path(value: str, schemes: Sequence[str] = ("http", "https")) -> str:
    """Checks may name a path (joined to the target's base URL) or a full URL of their own."""
    if value.startswith("/") or _is_absolute(value, schemes):
        return value
    example = "/" + value.lstrip("./") if value and "://" not in value else "/health"
    raise ValueError(
        f"{_show(value)} is neither a path nor an absolute URL — write e.g. {example} "
        f"or {schemes[-1]}://host{example}"
    )


def _env_name(value: str) -> str:
    if not re.fullmatch(_ENV_NAME_PATTERN, value):
        raise ValueError(
            f"{_show(value)} is not an environment variable name — use letters, digits and _, "
            "not starting with a digit (e.g. JWT_SECRET_KEY)"
        )
    return value


def _dotted_path(value: str) -> str:
    if not value or any(not part for part in value.split(".")):
        raise ValueError(f"{_show(value)} is not a dotted key path — write e.g. type or data.event")
    return value


# RFC 9110 token characters: what a header name or a subprotocol may consist of
_TOKEN_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"


def _http_token(value: str, what: str) -> str:
    if not re.fullmatch(_TOKEN_PATTERN, value):
        raise ValueError(
            f"{_show(value)} is not a valid {what} — use letters, digits and !#$%&'*+.^_`|~- "
            "(no spaces, commas or quotes)"
        )
    return value


def _numbers_to_text(value: Any) -> Any:
    """YAML reads ``- 4`` or ``PORT: 8080`` as numbers; for argv and env they are plainly text."""

    def convert(item: Any) -> Any:
        if isinstance(item, int | float) and not isinstance(item, bool):
            return str(item)
        return item

    if isinstance(value, list):
        return [convert(item) for item in value]
    if isinstance(value, Mapping):
        return {key: convert(item) for key, item in value.items()}
    return value


def _claim_value(value: Any) -> Any:
    """One clear message instead of pydantic's one-per-union-member."""
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise ValueError(
        f"a claim must be text, a number, true/false or a list of text, got {_show(value)}"
    )


def _workers(value: Any) -> Any:
    if value is None or value == "auto":
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(f'expected a number of workers (1 or more) or "auto", got {_show(value)}')


def _pairs(value: Any) -> Any:
    """Justification reads naturally as a mapping (label: text); keep it an ordered list."""
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, list):
        return [
            next(iter(item.items())) if isinstance(item, Mapping) and len(item) == 1 else item
            for item in value
        ]
    return value


ClaimValue = Annotated[str | int | float | bool | list[str], BeforeValidator(_claim_value)]


# --------------------------------------------------------------------------------- the models


class Deploy(_Model):
    """How to get a fresh deployment before checking it (skipped with ``--no-deploy``)."""

    command: str | None = None
    """Shell command run from the repository; output is streamed to the log, redacted."""
    url: str | None = None
    """URL of the deployment when it is known up front (or when there is no command)."""
    url_from_output: str | None = None
    """Regex that finds the deployed URL in the command's output (first match wins): group 1
    if the pattern has groups, else the whole match."""
    timeout: Duration = 900.0
    """The command is killed after this long: a hung deploy must not hold the runner."""
    health_path: str = "/health"
    """Polled on the deployed URL until it answers 2xx, so checks do not race the rollout."""
    health_timeout: Duration = 120.0
    """Give up waiting for health after this long."""
    health_interval: Duration = 2.0
    """Pause between health polls."""
    env: Annotated[dict[str, str], BeforeValidator(_numbers_to_text)] = {}
    """Extra (non-secret) environment for the command; it already inherits the step's."""
    cwd: str | None = None
    """Working directory for the command (default: the current one)."""
    revision_from_output: str | None = None
    r"""Regex that finds the deployed revision in the command's output (group 1 if the
    pattern has one), e.g. ``'revision \[(\S+?)\]'`` for Cloud Run; shown with each iteration."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else _absolute_url(value)

    @field_validator("url_from_output", "revision_from_output")
    @classmethod
    def _check_regex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            re.compile(value)
        except re.error as exc:
            where = f" at position {exc.pos}" if exc.pos is not None else ""
            raise ValueError(
                f"not a valid regular expression ({exc.msg}{where}) — fix the pattern, and "
                "single-quote it in YAML so backslashes survive"
            ) from None
        return value

    @field_validator("health_path")
    @classmethod
    def _check_health_path(cls, value: str) -> str:
        return _url_or_path(value)

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        problems = [
            ((key,), f"{_show(key)} is not an environment variable name — use letters, digits, _")
            for key in value
            if not re.fullmatch(_ENV_NAME_PATTERN, key)
        ]
        if problems:
            raise Problem(*problems)
        return value

    @model_validator(mode="after")
    def _command_or_url(self) -> Deploy:
        if self.command is None and self.url is None:
            raise ValueError(
                "needs command or url — set command: to deploy, or url: for a target that is "
                "already deployed (or remove deploy: to check target.base_url only)"
            )
        if self.url_from_output is not None and self.command is None:
            raise Problem(
                (
                    ("url_from_output",),
                    "only applies to the output of command — add command:, or remove it",
                )
            )
        return self


class Target(_Model):
    """What the checks talk to."""

    base_url: str | None = None
    """Base URL for paths in checks; default: the deployed URL, else deploy.url."""

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        return None if value is None else _absolute_url(value, ("http", "https", "ws", "wss"))


class Jwt(_Model):
    """Mint a test JWT with a shared secret, the way the auth service would."""

    secret_env: str = Field(
        default="JWT_SECRET_KEY", json_schema_extra={"pattern": _ENV_NAME_PATTERN}
    )
    """Name of the environment variable holding the signing secret (never the secret itself)."""
    algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    """HMAC algorithm the backend expects."""
    ttl: Duration = 900.0
    """Token lifetime: long enough for the slowest session, short enough to be harmless."""
    claims: dict[str, ClaimValue] = {"sub": "golden-path-e2e"}
    """Claims to put in the token (``iat``/``exp`` are added from ttl)."""

    @field_validator("secret_env")
    @classmethod
    def _check_secret_env(cls, value: str) -> str:
        return _env_name(value)

    def secret(self, env: Mapping[str, str]) -> str:
        """The signing secret from the bot's settings' environment.

        Raised here rather than at load time: a config is valid without the secret, and
        ``--dry-run`` or a run without the agent flow must not need it.
        """
        value = env.get(self.secret_env, "")
        if not value:
            raise ConfigError(
                f"auth.jwt.secret_env: environment variable {self.secret_env} is not set — "
                "export it, or pass it to the step with env:"
            )
        return value


class Verify(_Model):
    """How to ask the auth service whether it accepts our token: its contract, not a guess."""

    url: str
    """Absolute URL of the auth service's token-validation endpoint."""
    method: Literal["GET", "POST"] = "POST"
    """HTTP method of the validation request."""
    token_in: Literal["header", "json"] = "header"
    """Where the token goes: `Authorization: Bearer` header, or a field of a JSON body."""
    json_field: str = "token"
    """With token_in: json, the body field (dotted path) that carries the token."""
    valid_path: str | None = "valid"
    """Dotted path to a true/false verdict in the JSON answer; when present it decides (a 200
    with `valid: false` means invalid), otherwise the status does. null: status only."""
    invalid_status: list[Annotated[StrictInt, Field(ge=400, le=499)]] = [401, 403]
    """Statuses that mean "token invalid"; 5xx means the service is failing, and any other
    answer means this contract does not fit the service (no verdict, nobody blamed)."""
    timeout: Duration = 10.0
    """No answer after this long counts as the auth service being unreachable."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _absolute_url(value)

    @field_validator("json_field", "valid_path")
    @classmethod
    def _check_paths(cls, value: str | None) -> str | None:
        return None if value is None else _dotted_path(value)

    @model_validator(mode="after")
    def _consistent(self) -> Verify:
        if self.token_in == "json" and self.method == "GET":
            raise Problem(
                (
                    ("token_in",),
                    "a GET request carries no JSON body — use method: POST, or token_in: header",
                )
            )
        if self.token_in == "header" and self.json_field != "token":
            raise Problem(
                (
                    ("json_field",),
                    "only applies with token_in: json — set token_in: json, or remove it",
                )
            )
        return self


class Auth(_Model):
    """Where the test token comes from: minted (jwt) or ready-made (token_env)."""

    jwt: Jwt | None = None
    """Mint tokens locally with a shared secret."""
    token_env: str | None = Field(default=None, json_schema_extra={"pattern": _ENV_NAME_PATTERN})
    """Name of an environment variable holding a ready token (e.g. from an OIDC exchange)."""
    verify_url: str | None = None
    """Optional endpoint that validates a token; lets the diagnosis tell 'bad token' apart.
    Shorthand for `verify: {url: …}` (POST, `Authorization: Bearer`)."""
    verify: Verify | None = None
    """The auth service's validation contract, for services that want something else than
    verify_url's POST with a Bearer header (e.g. a JSON body `{"token": …}`)."""

    @field_validator("token_env")
    @classmethod
    def _check_token_env(cls, value: str | None) -> str | None:
        return None if value is None else _env_name(value)

    @field_validator("verify_url")
    @classmethod
    def _check_verify_url(cls, value: str | None) -> str | None:
        return None if value is None else _absolute_url(value)

    @model_validator(mode="after")
    def _one_verify(self) -> Auth:
        if self.verify_url is not None and self.verify is not None:
            raise Problem(
                (
                    ("verify_url",),
                    "set either verify_url or verify, not both — verify_url is the shorthand "
                    "for verify: {url: …}; move the URL into verify.url",
                )
            )
        return self

    def verification(self) -> Verify | None:
        """The validation contract in one shape, whichever way the file spelled it."""
        if self.verify is not None:
            return self.verify
        return Verify(url=self.verify_url) if self.verify_url is not None else None


class HealthCheck(_Model):
    """One infrastructure probe: is it up, and fast enough?"""

    name: str = Field(min_length=1)
    """Shown in the report, e.g. 'Auth Service Health'."""
    url: str
    """A path on the target (``/health``) or an absolute URL (another service)."""
    expect_status: StrictInt = Field(default=200, ge=100, le=599)
    """HTTP status that counts as healthy."""
    max_latency: Duration | None = None
    """Slower than this is reported as SLOW."""
    timeout: Duration = 10.0
    """No answer after this long counts as unreachable."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _url_or_path(value)


class Endpoint(_Model):
    """One API call that the golden path depends on."""

    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(min_length=1)
    """Shown in the report."""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    """HTTP method."""
    url: str
    """A path on the target or an absolute URL."""
    auth: StrictBool = False
    """Send the test token as ``Authorization: Bearer``."""
    expect_status: StrictInt = Field(default=200, ge=100, le=599)
    """HTTP status that counts as passing."""
    json_body: Any = Field(default=None, alias="json")
    """Request body, sent as JSON (key ``json`` in the file)."""
    timeout: Duration = 10.0
    """No answer after this long fails the check."""
    max_latency: Duration | None = None
    """Slower than this is reported as SLOW."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _url_or_path(value)


_DEFAULT_ORDER = [
    ("agent_started", "agent_completed"),
    ("agent_started", "tool_executing"),
    ("tool_executing", "tool_completed"),
    ("tool_completed", "agent_completed"),
]


class EventRule(_Model):
    """How often one event may arrive in a run, and which event must close each arrival."""

    min: StrictInt = Field(default=1, ge=0)
    """Fewest arrivals that pass; 0 makes the event optional."""
    max: StrictInt | None = Field(default=None, ge=1)
    """Most arrivals that pass; null: no limit (repeats are healthy by default)."""
    exactly_once: StrictBool = False
    """Shorthand for min: 1, max: 1."""
    pair: str | None = None
    """An event that must close every arrival of this one (tool_executing → tool_completed)."""
    by: str | None = None
    """Dotted path to the id matching an event with its pair (e.g. data.call_id); unset:
    matched in arrival order."""

    @field_validator("by")
    @classmethod
    def _check_by(cls, value: str | None) -> str | None:
        return None if value is None else _dotted_path(value)

    @model_validator(mode="after")
    def _consistent(self) -> EventRule:
        problems: list[tuple[Loc, str]] = []
        if self.exactly_once and {"min", "max"} & self.model_fields_set:
            problems.append(
                (
                    ("exactly_once",),
                    "means min: 1, max: 1 — remove min/max, or remove exactly_once",
                )
            )
        elif self.max is not None and self.min > self.max:
            problems.append(
                (
                    ("min",),
                    f"min ({self.min}) is more than max ({self.max}) — lower min or raise max",
                )
            )
        if self.by is not None and self.pair is None:
            problems.append(
                (("by",), "only applies with pair: — name the closing event in pair:, or remove by")
            )
        if problems:
            raise Problem(*problems)
        return self

    def bounds(self) -> tuple[int, int | None]:
        """(min, max) with exactly_once applied."""
        return (1, 1) if self.exactly_once else (self.min, self.max)


class TokenTransport(_Model):
    """How the token rides on the WebSocket upgrade; token_in picks which of these is used."""

    header: str = "Authorization"
    """With token_in: header, the header carrying the token."""
    scheme: str = "Bearer"
    """Put before the token in the header, with a space; empty: the token alone."""
    query_param: str | None = None
    """With token_in: query, the query parameter (default: checks.agent_flow.query_param)."""
    subprotocol: str | None = None
    """With token_in: subprotocol, the subprotocol offered, `{token}` marking the token, e.g.
    `jwt.{token}` (default: checks.agent_flow.subprotocol_prefix + `{token}`)."""
    encoding: Literal["raw", "base64url"] = "raw"
    """How the token is written into the subprotocol: as is, or base64url without padding."""
    extra_subprotocols: list[str] = []
    """More subprotocols to offer, before the token's (e.g. [jwt-auth]). Whenever any is
    offered the server must select one (browsers fail the socket otherwise)."""
    expect_selected: str | None = None
    """The subprotocol the server must select: one of extra_subprotocols, or the token's
    template; another offered one fails as subprotocol_unexpected. Unset: any offered one."""

    @field_validator("header")
    @classmethod
    def _check_header(cls, value: str) -> str:
        return _http_token(value, "header name")

    @field_validator("scheme")
    @classmethod
    def _check_scheme(cls, value: str) -> str:
        return value if value == "" else _http_token(value, "auth scheme")

    @field_validator("query_param")
    @classmethod
    def _check_query_param(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("must not be empty — write e.g. token")
        return value

    @field_validator("subprotocol")
    @classmethod
    def _check_template(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value.count("{token}") != 1:
            raise ValueError(
                f"{_show(value)} must contain {{token}} exactly once — write e.g. jwt.{{token}}"
            )
        rest = value.replace("{token}", "")
        if rest and not re.fullmatch(_TOKEN_PATTERN, rest):
            raise ValueError(
                f"{_show(value)} is not a valid subprotocol around {{token}} — use letters, "
                "digits and !#$%&'*+.^_`|~- (no spaces, commas or quotes)"
            )
        return value

    @field_validator("extra_subprotocols")
    @classmethod
    def _check_extras(cls, value: list[str]) -> list[str]:
        problems: list[tuple[Loc, str]] = []
        for index, name in enumerate(value):
            try:
                _http_token(name, "subprotocol")
            except ValueError as exc:
                problems.append(((index,), str(exc)))
            if name in value[:index]:
                problems.append(((index,), f"{_show(name)} is listed twice — list it once"))
        if problems:
            raise Problem(*problems)
        return value


class ErrorFrames(_Model):
    """How the backend's error frames look, so their code and text reach the report."""

    types: list[Annotated[str, Field(min_length=1)]] = list(frame_shapes.ERROR_TYPES)
    """Values of type_key that mark an error frame. A frame with no type at all that carries
    text at a message path (FastAPI's `{"detail": …}`) counts too."""
    type_key: str = "type"
    """Dotted path to a frame's type."""
    code_paths: list[str] = list(frame_shapes.ERROR_CODE_PATHS)
    """Dotted paths tried in order for the error code."""
    message_paths: list[str] = list(frame_shapes.ERROR_MESSAGE_PATHS)
    """Dotted paths tried in order for the error text (the whole frame when none has text)."""

    @field_validator("type_key")
    @classmethod
    def _check_type_key(cls, value: str) -> str:
        return _dotted_path(value)

    @field_validator("code_paths", "message_paths")
    @classmethod
    def _check_paths(cls, value: list[str]) -> list[str]:
        problems: list[tuple[Loc, str]] = []
        for index, path in enumerate(value):
            try:
                _dotted_path(path)
            except ValueError as exc:
                problems.append(((index,), str(exc)))
        if problems:
            raise Problem(*problems)
        return value


class AgentFlow(_Model):
    """The golden path itself: send a chat message over WebSocket, expect every agent event."""

    url: str = "/ws"
    """WebSocket path on the target, or an absolute ws(s):// URL."""
    token_in: Literal["header", "subprotocol", "query", "none"] = "header"
    """How the token travels: Authorization header, ``Sec-WebSocket-Protocol``, or query.
    Unset, it follows token_transport: subprotocol when that sets subprotocol or encoding,
    query when it sets query_param."""
    subprotocol_prefix: str = "jwt."
    """With token_in: subprotocol, the subprotocol offered is this prefix + the token."""
    query_param: str = Field(default="token", min_length=1)
    """With token_in: query, the query parameter carrying the token."""
    token_transport: TokenTransport = TokenTransport()
    """Header name and scheme, query parameter, subprotocol template and encoding, extra
    subprotocols, and which one the server must select."""
    message: dict[str, Any] = {"type": "user_message", "payload": {"content": "What is 2 + 2?"}}
    """The JSON message sent once connected."""
    events: list[str] = Field(
        default=list(frame_shapes.EVENTS), json_schema_extra={"minItems": 1, "uniqueItems": True}
    )
    """Every one of these must arrive for a session to pass; each is a business promise."""
    event_key: str = "type"
    """Dotted path to the event name inside each JSON frame, e.g. ``data.event``."""
    run_key: str | None = "data.run_id"
    """Dotted path to the run id; events of other runs on the connection are ignored
    (null: every matching frame counts)."""
    order: list[tuple[str, str]] = list(_DEFAULT_ORDER)
    """Pairs [before, after]: the first event must arrive before the second."""
    strict_order: StrictBool = False
    """Also require events to arrive exactly in the order listed in events."""
    rules: dict[str, EventRule] = Field(
        default={}, json_schema_extra={"propertyNames": {"title": "event"}}
    )
    """Per event: `{min, max, exactly_once, pair, by}`. Unlisted events must arrive at least
    once, repeats allowed. `pair` names the event that must close each arrival, matched by the
    id at the dotted path `by` (e.g. `tool_executing: {pair: tool_completed, by: data.call_id}`)."""
    agent_key: str | None = None
    """Dotted path to the agent's name. Without parent_key, frames of the first and last
    events naming another agent than the run's first are a sub-agent's."""
    parent_key: str | None = None
    """Dotted path to a frame's parent agent: set, the run ends at the last event of the frame
    whose parent is absent or null (the top-level agent); sub-agents' first and last events
    neither end the run nor count toward rules and order."""
    error_frames: ErrorFrames = ErrorFrames()
    """How error frames look, so the server's own words reach the report."""
    timeout: Duration = 30.0
    """A whole session (connect → last event) must finish within this."""
    connect_timeout: Duration = 10.0
    """The WebSocket handshake must finish within this."""
    sessions: StrictInt = Field(default=1, ge=1, le=1_000_000)
    """How many golden-path sessions to run (the count of golden-path tests)."""
    concurrency: StrictInt = Field(default=200, ge=1)
    """At most this many sessions in flight at once."""
    runs_per_connection: StrictInt = Field(default=1, ge=1)
    """Sessions run one after another on each connection (tests reconnect-free reuse)."""
    compression: StrictBool = False
    """Offer permessage-deflate; off by default because it costs client CPU at scale."""
    max_latency: Duration | None = None
    """A passing session slower than this is reported as SLOW."""

    @model_validator(mode="before")
    @classmethod
    def _default_order_follows_events(cls, data: Any) -> Any:
        """With custom events and no explicit order, keep only the default pairs that apply:
        the user never wrote those names, so they must not be blamed for them."""
        if isinstance(data, Mapping) and "order" not in data:
            events = data.get("events")
            if isinstance(events, list) and all(isinstance(e, str) for e in events):
                data = dict(data)
                data["order"] = [
                    pair for pair in _DEFAULT_ORDER if pair[0] in events and pair[1] in events
                ]
        return data

    @field_validator("events")
    @classmethod
    def _check_events(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must list at least one event — e.g. [agent_started, agent_completed]")
        problems: list[tuple[Loc, str]] = []
        seen: set[str] = set()
        for index, name in enumerate(value):
            if not name.strip():
                problems.append(((index,), "must not be empty"))
            elif name in seen:
                problems.append(((index,), f"{_show(name)} is listed twice — list it once"))
            seen.add(name)
        if problems:
            raise Problem(*problems)
        return value

    @model_validator(mode="before")
    @classmethod
    def _token_in_follows_transport(cls, data: Any) -> Any:
        """token_transport.subprotocol without token_in means the subprotocol, plainly."""
        if not isinstance(data, Mapping) or "token_in" in data:
            return data
        transport = data.get("token_transport")
        if not isinstance(transport, Mapping):
            return data
        sub = transport.get("subprotocol") is not None or transport.get("encoding", "raw") != "raw"
        query = transport.get("query_param") is not None
        if sub != query:
            data = dict(data)
            data["token_in"] = "subprotocol" if sub else "query"
        return data

    @field_validator("event_key", "run_key", "agent_key", "parent_key")
    @classmethod
    def _check_event_key(cls, value: str | None) -> str | None:
        return None if value is None else _dotted_path(value)

    @model_validator(mode="after")
    def _consistent(self) -> AgentFlow:
        problems: list[tuple[Loc, str]] = []
        if self.connect_timeout > self.timeout:
            connect, whole = format_duration(self.connect_timeout), format_duration(self.timeout)
            problems.append(
                (
                    (),
                    f"impossible timeouts: connect_timeout ({connect}) is longer than timeout "
                    f"({whole}), which covers the whole session — lower connect_timeout to at "
                    f"most {whole}, or raise timeout",
                )
            )
        for index, pair in enumerate(self.order):
            for name in pair:
                if name not in self.events:
                    close = difflib.get_close_matches(name, self.events, n=1)
                    fix = f"did you mean {close[0]}?" if close else "add it to events, or fix it"
                    problems.append(
                        (
                            ("order", index),
                            f"{_show(name)} is not one of events ({', '.join(self.events)}) — "
                            + fix,
                        )
                    )
        problems += self._rule_problems()
        problems += self._transport_problems()
        if problems:
            raise Problem(*problems)
        return self

    def _unknown_event(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.events, n=1)
        fix = f"did you mean {close[0]}?" if close else "add it to events, or fix it"
        return f"{_show(name)} is not one of events ({', '.join(self.events)}) — {fix}"

    def _rule_problems(self) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []
        for name, rule in self.rules.items():
            if name not in self.events:
                problems.append((("rules", name), self._unknown_event(name)))
            if rule.pair is None:
                continue
            if rule.pair == name:
                problems.append(
                    (("rules", name, "pair"), "an event cannot close itself — name another event")
                )
            elif rule.pair not in self.events:
                problems.append((("rules", name, "pair"), self._unknown_event(rule.pair)))
        return problems

    def _transport_problems(self) -> list[tuple[Loc, str]]:
        t = self.token_transport
        at = "token_transport"
        problems: list[tuple[Loc, str]] = []
        if t.subprotocol is not None and "subprotocol_prefix" in self.model_fields_set:
            problems.append(
                (
                    ("subprotocol_prefix",),
                    "set either subprotocol_prefix or token_transport.subprotocol, not both — "
                    "subprotocol_prefix: jwt. is the older spelling of subprotocol: jwt.{token}",
                )
            )
        if t.query_param is not None and "query_param" in self.model_fields_set:
            problems.append(
                (
                    ("query_param",),
                    "set either query_param or token_transport.query_param, not both",
                )
            )
        misplaced = {
            "subprotocol": t.subprotocol is not None,
            "encoding": t.encoding != "raw",
        }
        for key, set_ in misplaced.items():
            if set_ and self.token_in != "subprotocol":
                problems.append(
                    (
                        (at, key),
                        f"only applies with token_in: subprotocol (token_in is {self.token_in}) "
                        "— set token_in: subprotocol, or remove it",
                    )
                )
        if t.query_param is not None and self.token_in != "query":
            problems.append(
                (
                    (at, "query_param"),
                    f"only applies with token_in: query (token_in is {self.token_in}) — set "
                    "token_in: query, or remove it",
                )
            )
        if t.expect_selected is not None:
            offered = list(t.extra_subprotocols)
            if self.token_in == "subprotocol":
                offered.append(self.token_subprotocol())
            if t.expect_selected not in offered:
                choices = f"use one of: {', '.join(offered)}, or " if offered else ""
                problems.append(
                    (
                        (at, "expect_selected"),
                        f"{_show(t.expect_selected)} is not offered — {choices}add it to "
                        "extra_subprotocols",
                    )
                )
        return problems

    def token_subprotocol(self) -> str:
        """The token's subprotocol template, whichever key spelled it."""
        t = self.token_transport
        return t.subprotocol if t.subprotocol is not None else self.subprotocol_prefix + "{token}"

    def event_rules(self) -> dict[str, EventRule]:
        """A rule for every event: the configured one, or the default (at least once)."""
        return {name: self.rules.get(name, EventRule()) for name in self.events}


class PytestSuite(_Model):
    """A user pytest suite run as part of the golden path (``--suite NAME`` selects it)."""

    name: str = Field(min_length=1)
    """Shown in the report and used by ``--suite``."""
    args: Annotated[list[str], BeforeValidator(_numbers_to_text)] = []
    """Arguments for pytest, e.g. [tests/e2e, -m, golden_path]."""
    cwd: str | None = None
    """Working directory (default: the current one)."""
    workers: Annotated[int | Literal["auto"] | None, BeforeValidator(_workers)] = None
    """pytest-xdist workers (``-n``); unset runs without xdist."""
    timeout: Duration = 1800.0
    """The suite is stopped after this long."""


class Checks(_Model):
    """Everything that is checked, cheapest first."""

    health: list[HealthCheck] = [HealthCheck(name="Infrastructure Health", url="/health")]
    """Infrastructure probes; a failure here explains every later failure."""
    endpoints: list[Endpoint] = []
    """API calls the golden path depends on."""
    agent_flow: AgentFlow | None = AgentFlow()
    """The WebSocket golden path (null disables it)."""
    pytest: list[PytestSuite] = []
    """User pytest suites."""

    @field_validator("pytest")
    @classmethod
    def _unique_suites(cls, value: list[PytestSuite]) -> list[PytestSuite]:
        """Suites are selected by name, so a name must pick exactly one."""
        seen: set[str] = set()
        problems: list[tuple[Loc, str]] = []
        for index, suite in enumerate(value):
            if suite.name in seen:
                problems.append(
                    ((index, "name"), f"{_show(suite.name)} is used twice — names must differ")
                )
            seen.add(suite.name)
        if problems:
            raise Problem(*problems)
        return value


class Retries(_Model):
    """Retrying failures finds flaky tests; a pass on retry is flagged, never hidden."""

    failed: StrictInt = Field(default=0, ge=0, le=10)
    """How many times failed tests are retried."""


class Impact(_Model):
    """Business impact shown next to a blocker: why a missing event matters."""

    at_risk: str = "$500K+ ARR"
    """What is at risk while the golden path is broken; fills ``{at_risk}``."""
    events: dict[str, str] = {
        "agent_started": "Users don't know AI processing began",
        "agent_thinking": "No real-time reasoning visibility",
        "tool_executing": "No tool usage transparency",
        "tool_completed": "No results delivery notifications",
        "agent_completed": "No completion notifications",
    }
    """Per agent event: what users lose when it is missing."""
    justification: Annotated[
        list[tuple[str, str]],
        BeforeValidator(_pairs),
        WithJsonSchema(
            {
                "anyOf": [
                    {
                        "type": "array",
                        "items": {
                            "type": "array",
                            "prefixItems": [{"type": "string"}, {"type": "string"}],
                            "minItems": 2,
                            "maxItems": 2,
                        },
                    },
                    {"type": "object", "additionalProperties": {"type": "string"}},
                ]
            }
        ),
    ] = [
        ("Revenue Impact", "Core chat functionality representing {at_risk} completely broken"),
        ("User Experience", "No real-time progress notifications = poor AI interaction quality"),
        ("Competitive Risk", "Users cannot see AI working = appears broken/unresponsive"),
        ("Platform Reliability", "WebSocket events are core differentiator for chat experience"),
    ]
    """Business justification lines (label, text); a mapping label: text also works."""

    def justification_items(self) -> list[tuple[str, str]]:
        """Justification with ``{at_risk}`` filled in (plain replace: text is never a template)."""
        return [
            (label, text.replace("{at_risk}", self.at_risk)) for label, text in self.justification
        ]


class Tracking(_Model):
    """The tracking issue that carries a session from first run to all green."""

    title: str = Field(default="Golden Path: {environment}", min_length=1)
    """Issue title; ``{environment}`` is replaced. Also how the issue is found again."""
    labels: list[Annotated[str, Field(min_length=1)]] = ["golden-path"]
    """Labels put on the issue (and used to find it)."""
    close_on_green: StrictBool = True
    """Close the issue when every golden-path test passes."""
    templates: str | None = None
    """Directory with template overrides (same names as the packaged templates)."""
    issue: StrictInt | None = Field(default=None, ge=1)
    """Pin an existing issue number instead of searching by title and label."""
    log_limit: StrictInt = Field(default=30, ge=1)
    """Session log entries kept in the body; older ones move to comments."""


class Logs(_Model):
    """A command that prints the backend's logs around a failure (its output is evidence)."""

    command: str = Field(min_length=1)
    """Shell command; ``{start}``, ``{end}`` (ISO times around the failure), ``{minutes}``,
    ``{revision}``, ``{sha}`` and ``{environment}`` are replaced, shell-quoted."""
    timeout: Duration = 30.0
    """A logs command that takes longer is stopped; its failure is noted, never fatal."""
    patterns: list[str] = ["ERROR", "Traceback", "1008", "1011", "JWT"]
    """Regexes of interesting lines: the excerpt is taken around the first match."""
    lines: StrictInt = Field(default=40, ge=1, le=200)
    """Lines kept in the excerpt."""

    @field_validator("patterns")
    @classmethod
    def _check_patterns(cls, value: list[str]) -> list[str]:
        problems: list[tuple[Loc, str]] = []
        for index, pattern in enumerate(value):
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(((index,), f"not a valid regular expression ({exc.msg})"))
        if problems:
            raise Problem(*problems)
        return value


class Evidence(_Model):
    """Root-cause evidence gathered when a blocker appears."""

    paths: list[str] = []
    """Paths of interest (globs such as ``auth/**``, ``**/websocket/**``): commits in the
    regression window that change them are highlighted."""
    commits: StrictInt = Field(default=20, ge=1, le=100)
    """Commits listed from the regression window (newest first)."""
    logs: Logs | None = None
    """Fetch the backend's logs around the first failure (omit: no logs)."""


class Analysis(_Model):
    """Proposed answers for WHY 2–5, marked as proposals until a person accepts one."""

    builtin: StrictBool = True
    """Rules over the evidence (e.g. backend refuses what the auth service accepts + a commit
    touching auth in the window → that commit)."""
    command: str | None = None
    """Command that reads the evidence as JSON on stdin and prints proposals as JSON
    (see the README's "Plugging in an analyzer")."""
    name: str | None = None
    """Shown as "Proposed by <name>" (default: the command's first word)."""
    timeout: Duration = 60.0
    """An analyzer that takes longer is stopped and noted."""


class Commands(_Model):
    """Slash commands in issue comments (``/retest``, ``/why N``)."""

    min_permission: Literal["read", "triage", "write", "maintain", "admin"] = "write"
    """Least repository permission a commenter needs: any commenter can trigger the workflow,
    so this check is the only gate."""


class Config(_Model):
    """``.github/golden-path.yml``: every key is optional; an empty file is a working config."""

    environment: str = Field(default="staging", json_schema_extra={"pattern": _ENVIRONMENT_PATTERN})
    """Name of the environment under test; used in the mission and the issue title."""
    mission: str = (
        "Execute comprehensive golden path e2e tests on {environment} until ALL {target_tests} "
        "tests pass"
    )
    """Shown in the session header; ``{environment}`` and ``{target_tests}`` are replaced."""
    target_tests: StrictInt = Field(default=1000, ge=1)
    """How many golden-path tests must pass for the session to be done."""
    deploy: Deploy | None = None
    """Deploy before checking (omit to check an existing target)."""
    target: Target = Target()
    """What the checks talk to."""
    auth: Auth = Auth()
    """Where the test token comes from."""
    checks: Checks = Checks()
    """What is checked."""
    retries: Retries = Retries()
    """Retry policy for failed tests."""
    impact: Impact = Impact()
    """Business impact wording for the report."""
    tracking: Tracking = Tracking()
    """The tracking issue."""
    commands: Commands = Commands()
    """Slash-command policy."""
    evidence: Evidence = Evidence()
    """What is gathered when a blocker appears."""
    analysis: Analysis = Analysis()
    """Proposed answers for the Five Whys."""

    @field_validator("environment")
    @classmethod
    def _check_environment(cls, value: str) -> str:
        if not re.fullmatch(_ENVIRONMENT_PATTERN, value):
            raise ValueError(
                f"{_show(value)} is not an environment name — use letters, digits, '.', '_' and "
                "'-' (e.g. staging)"
            )
        return value

    @model_validator(mode="after")
    def _endpoints_have_a_token(self) -> Config:
        """An endpoint asking for auth with no token source would fail for the wrong reason."""
        if self.auth.jwt is None and self.auth.token_env is None:
            problems = [
                (
                    ("checks", "endpoints", index, "auth"),
                    "needs a token, but auth: sets neither jwt: nor token_env: — configure one "
                    "of them, or set auth: false",
                )
                for index, endpoint in enumerate(self.checks.endpoints)
                if endpoint.auth
            ]
            if problems:
                raise Problem(*problems)
        return self

    # ----------------------------------------------------------------------------- helpers

    def mission_text(self) -> str:
        """The mission with ``{environment}``/``{target_tests}`` filled in.

        Plain ``str.replace``: the text comes from a file anyone with write access can edit, and
        ``str.format`` would let ``{0.__class__}``-style fields reach into Python objects.
        """
        return self.mission.replace("{environment}", self.environment).replace(
            "{target_tests}", str(self.target_tests)
        )

    def title(self) -> str:
        """The tracking issue title with ``{environment}`` filled in (``str.replace`` only)."""
        return self.tracking.title.replace("{environment}", self.environment)

    def base_url(self, deployed_url: str | None = None) -> str | None:
        """Where paths point: target.base_url, else the URL the deploy found, else deploy.url."""
        if self.target.base_url:
            return self.target.base_url
        if deployed_url:
            return deployed_url
        return self.deploy.url if self.deploy is not None else None

    def resolve_url(
        self, url_or_path: str, base: str | None, *, websocket: bool | None = None
    ) -> str:
        """An absolute URL for a check: absolute URLs unchanged, paths appended to ``base``.

        The base's own path is kept as a prefix (``https://h/api`` + ``/health`` →
        ``https://h/api/health``), because targets behind a path prefix are common. The scheme
        follows the kind of request: WebSocket → ws/wss, HTTP → http/https. ``websocket=None``
        means "this is the agent flow's URL" when it equals ``checks.agent_flow.url``.
        """
        if _is_absolute(url_or_path, ("http", "https", "ws", "wss")):
            return url_or_path
        if websocket is None:
            flow = self.checks.agent_flow
            websocket = flow is not None and url_or_path == flow.url
        if not base:
            raise ConfigError(
                f"{_show(url_or_path)} is a path, but there is no base URL to put it under — set "
                "target.base_url, or deploy.url (or deploy.url_from_output)"
            )
        parts = urlsplit(base)
        if websocket:
            scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        else:
            scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        path = url_or_path if url_or_path.startswith("/") else "/" + url_or_path
        return urlunsplit((scheme, parts.netloc, "", "", "")) + parts.path.rstrip("/") + path
