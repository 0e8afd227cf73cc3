"""Pydantic's validation errors → one line per problem, in the config file's own words.

Why this module works so hard: the config file is written by people who are not reading this
code, often from a failing workflow log. Every problem is reported at once, one per line, as
``<dotted.key.path>: <problem> — <fix>`` (with ``file:line:`` in front when the YAML position is
known), and pydantic's own wording never reaches them.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel

from bot.config.errors import ConfigError, Loc, Problem
from bot.config.errors import show as _show
from bot.config.models import SECRET_KEYS, Config

_MAX_SHOWN_PROBLEMS = 20


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` so the walker sees the type that holds the keys."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _type_at(loc: Loc) -> Any:
    """The declared type at a key path (``None`` when the path leaves the models)."""
    tp: Any = Config
    for part in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = _field(tp, part) if isinstance(part, str) else None
            if info is None:
                return None
            tp = info.annotation
        elif origin is list and isinstance(part, int):
            tp = typing.get_args(tp)[0]
        elif origin is tuple and isinstance(part, int):
            args = typing.get_args(tp)
            tp = args[part] if part < len(args) else None
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return _unwrap(tp)


def _model_at(loc: Loc) -> type[BaseModel] | None:
    tp = _type_at(loc)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _yaml_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += ("." if out else "") + part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out or "(top level)"


def _unknown_key(loc: Loc) -> str:
    model = _model_at(loc[:-1])
    if model is None:
        return "unknown key"
    key = str(loc[-1])
    names = {key_name: key_name for key_name in _yaml_keys(model)}
    names.update({name: info.alias or name for name, info in model.model_fields.items()})
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(key.lower(), list(names), n=1, cutoff=0.6)
    if close:
        return f"unknown key — did you mean {names[close[0]]}?"
    return f"unknown key — valid keys: {', '.join(_yaml_keys(model))}"


def _literal(loc: Loc, value: Any, ctx: Mapping[str, Any]) -> str:
    tp = _type_at(loc)
    if typing.get_origin(tp) is Literal:
        choices = [str(choice) for choice in typing.get_args(tp)]
    else:
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
    message = f"expected one of {', '.join(choices)}, got {_show(value)}"
    if isinstance(value, str):
        lowered = {choice.lower(): choice for choice in choices}
        close = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
        if close:
            message += f" — did you mean {lowered[close[0]]}?"
    return message


def translate(error: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """One pydantic error → our wording, from its ``type``, ``loc``, ``input`` and ``ctx``."""
    loc: Loc = tuple(error["loc"])
    kind: str = error["type"]
    value = error.get("input")
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    scalar = isinstance(value, str | int | float | bool) or value is None

    if kind == "value_error":
        exc = ctx.get("error")
        if isinstance(exc, Problem):
            return [(loc + at, message) for at, message in exc.items]
        return [(loc, str(exc))]
    if kind == "extra_forbidden":
        return [(loc, _unknown_key(loc))]
    if kind == "missing":
        return [(loc, "missing — this key is required")]
    if kind in ("int_type", "int_parsing", "int_from_float"):
        message = f"expected an integer, got {_show(value)}"
        if isinstance(value, str) and value.strip().isdigit():
            message += " — remove the quotes"
        return [(loc, message)]
    if kind in ("float_type", "float_parsing"):
        return [(loc, f"expected a number, got {_show(value)}")]
    if kind in ("bool_type", "bool_parsing"):
        return [(loc, f"expected true or false, got {_show(value)}")]
    if kind == "string_type":
        message = f"expected text, got {_show(value)}"
        if scalar and value is not None:
            message += f' — quote it: "{_show(value)}"'
        return [(loc, message)]
    if kind == "string_too_short":
        return [(loc, "must not be empty")]
    if kind == "list_type":
        message = f"expected a list, got {_show(value)}"
        if scalar and value is not None:
            message += f" — write [{value if not isinstance(value, bool) else _show(value)}]"
        return [(loc, message)]
    if kind == "tuple_type":
        return [(loc, f"expected a pair [first, second], got {_show(value)}")]
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return [(loc, f"expected a mapping (key: value lines), got {_show(value)}")]
    if kind in ("too_short", "too_long"):
        actual = ctx.get("actual_length")
        if str(ctx.get("field_type", "")).lower() == "tuple":
            return [(loc, f"expected a pair [first, second], got {actual} item(s)")]
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return [(loc, f"needs {word} {bound} item(s), got {actual}")]
    if kind == "literal_error":
        return [(loc, _literal(loc, value, ctx))]
    bounds = {
        "greater_than_equal": ("ge", "must be at least"),
        "greater_than": ("gt", "must be more than"),
        "less_than_equal": ("le", "must be at most"),
        "less_than": ("lt", "must be less than"),
    }
    if kind in bounds:
        key, words = bounds[kind]
        return [(loc, f"{words} {ctx.get(key)}, got {_show(value)}")]
    if kind == "string_pattern_mismatch":
        return [(loc, f"{_show(value)} does not match {ctx.get('pattern')}")]
    return [(loc, f"invalid value {_show(value)} — see the config schema for this key")]


def _secret_fix(loc: Loc, key: str) -> str:
    """Point at the ``*_env`` key that fits the place the secret was written."""
    env_key = key.lower().replace("-", "_") + "_env"
    model = _model_at(loc)
    if model is not None and env_key in model.model_fields:
        default = model.model_fields[env_key].default
        if isinstance(default, str) and default:
            name = default
        else:
            name = "_".join([*(str(p).upper() for p in loc if isinstance(p, str)), key.upper()])
        return f"put the value in an environment variable and name it: {env_key}: {name}"
    if loc[:1] == ("deploy",):
        return (
            "put the value in an environment variable of the workflow step; the deploy command "
            "inherits it"
        )
    return (
        "put the value in an environment variable and name it in auth: "
        "(jwt.secret_env or token_env)"
    )


def prepare(value: Any, loc: Loc, problems: list[tuple[Loc, str]]) -> Any:
    """Copy the raw data with keys as text, dropping (and reporting) inline secrets.

    Done before validation so a secret is reported once, for what it is, and its value never
    appears in any message.
    """
    if isinstance(value, Mapping):
        clean: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, bool) or key is None:
                problems.append(
                    (
                        loc,
                        f"key {_show(key)} is not a name — quote it (YAML reads on/off/yes/no as "
                        "true/false)",
                    )
                )
                continue
            name = key if isinstance(key, str) else str(key)
            if name.lower().replace("-", "_") in SECRET_KEYS:
                problems.append(
                    (
                        (*loc, name),
                        f"secrets never go in the config file — {_secret_fix(loc, name)}",
                    )
                )
                continue
            clean[name] = prepare(item, (*loc, name), problems)
        return clean
    if isinstance(value, list | tuple):
        return [prepare(item, (*loc, index), problems) for index, item in enumerate(value)]
    return value


def _line_of(loc: Loc, positions: Mapping[Loc, int] | None) -> int | None:
    if not positions:
        return None
    for size in range(len(loc), -1, -1):
        line = positions.get(loc[:size])
        if line is not None:
            return line
    return None


def raise_problems(
    source: str, found: list[tuple[Loc, str]], positions: Mapping[Loc, int] | None
) -> None:
    entries: list[tuple[int | None, str]] = []
    for loc, message in found:
        entry = (_line_of(loc, positions), f"{_dotted(loc)}: {message}")
        if entry not in entries:
            entries.append(entry)
    entries.sort(key=lambda entry: entry[0] or 0)
    count = len(entries)
    lines = [f"{source} is not a valid golden-path config ({count} problem{'s' * (count != 1)}):"]
    for line, problem in entries[:_MAX_SHOWN_PROBLEMS]:
        lines.append(f"  {source}:{line}: {problem}" if line else f"  {problem}")
    if count > _MAX_SHOWN_PROBLEMS:
        lines.append(f"  … and {count - _MAX_SHOWN_PROBLEMS} more")
    raise ConfigError(
        "\n".join(lines),
        [problem for _, problem in entries],
        source=source,
        lines=[line for line, _ in entries],
    )
