"""Durations as people write them in the config file: ``500ms``, ``30s``, ``15m``, ``1h30m``.

A unit is mandatory on purpose: a bare ``30`` could mean seconds, minutes or milliseconds, and the
wrong guess silently turns a 30-minute deploy timeout into 30 seconds. So the config file refuses
it and says what to write instead (``"30" is not a duration — write 30s``).

Python code that builds models directly may still pass plain numbers (seconds): only validation
that carries :data:`FILE_CONTEXT` (what :func:`bot.config.parse_config` uses) insists on units.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema

__all__ = [
    "DURATION_EXAMPLES",
    "DURATION_PATTERN",
    "FILE_CONTEXT",
    "Duration",
    "format_duration",
    "parse_duration",
]

#: One regex for both the parser and the JSON Schema, so editors and the bot agree on what is
#: valid. Units in descending order, each at most once; ``m`` must not swallow the ``m`` of ``ms``.
#: Only constructs that mean the same in Python and ECMA-262 regexes (JSON Schema's dialect).
DURATION_PATTERN = (
    r"^(?=[0-9])"
    r"(?:([0-9]+(?:\.[0-9]+)?)h *)?"
    r"(?:([0-9]+(?:\.[0-9]+)?)m(?!s) *)?"
    r"(?:([0-9]+(?:\.[0-9]+)?)s *)?"
    r"(?:([0-9]+(?:\.[0-9]+)?)ms *)?$"
)
DURATION_EXAMPLES = ["500ms", "30s", "15m", "1h30m", "1.5s"]

#: Validation context that makes plain numbers an error (they are in a config file, where the
#: reader cannot tell the unit). Pass it as ``model_validate(..., context=FILE_CONTEXT)``.
FILE_CONTEXT: dict[str, Any] = {"durations_need_units": True}

_DURATION_RE = re.compile(DURATION_PATTERN)
_BARE_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_UNIT_SECONDS = (3600.0, 60.0, 1.0, 0.001)
_HINT = "write e.g. 30s, 500ms, 15m or 1h30m"


def parse_duration(text: str | float) -> float:
    """Parse ``"1h30m"``-style text into seconds (``>= 0``).

    Numbers are refused, as are numeric strings: the unit is the whole point. Zero is allowed
    here; whether a zero makes sense is the caller's business (the :data:`Duration` type refuses
    it).
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"expected a duration like 30s, got {_show(text)}")
    if not isinstance(text, str):
        raise ValueError(f'"{text}" is not a duration — write {text}s')
    raw = text.strip()
    if _BARE_NUMBER_RE.fullmatch(raw):
        if raw.startswith("-"):
            raise ValueError(f'"{text}" is negative — durations must be positive, e.g. 30s')
        raise ValueError(f'"{text}" is not a duration — write {raw.lstrip("+")}s')
    if raw.startswith("-"):
        raise ValueError(f'"{text}" is negative — durations must be positive, e.g. 30s')
    match = _DURATION_RE.match(raw)
    if match is None:
        raise ValueError(f'"{text}" is not a duration — {_HINT}')
    return sum(
        float(amount) * unit
        for amount, unit in zip(match.groups(), _UNIT_SECONDS, strict=True)
        if amount is not None
    )


def format_duration(seconds: float) -> str:
    """Render seconds the way people read them: ``0.166s``, ``3.5s``, ``2m05s``, ``1h30m``.

    Under a minute: up to millisecond precision, trailing zeros dropped. From a minute on:
    whole seconds, with zero components at the end left out. The output parses back with
    :func:`parse_duration` (to the precision shown).
    """
    if not math.isfinite(seconds):
        raise ValueError(f"cannot format {seconds!r} as a duration")
    sign = "-" if seconds < 0 else ""
    value = abs(seconds)
    rounded = round(value, 3)
    if rounded < 60:
        text = f"{rounded:.3f}".rstrip("0").rstrip(".")
        return f"{sign}{text}s"
    hours, rest = divmod(round(value), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = f"{hours}h"
        if minutes or secs:
            text += f"{minutes:02d}m"
        if secs:
            text += f"{secs:02d}s"
    else:
        text = f"{minutes}m" + (f"{secs:02d}s" if secs else "")
    return sign + text


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _validate(value: Any, info: ValidationInfo) -> float:
    """Accept duration text everywhere, and plain seconds only outside config files."""
    strict = bool(info.context and info.context.get("durations_need_units"))
    if isinstance(value, int | float) and not isinstance(value, bool) and not strict:
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"{value!r} is not a duration — {_HINT}")
    else:
        seconds = parse_duration(value)
    if seconds <= 0:
        shown = f'"{value}"' if isinstance(value, str) else format_duration(seconds)
        raise ValueError(f"{shown} is not a positive duration — {_HINT}")
    return seconds


def _serialize(seconds: float) -> str:
    """JSON output stays valid config: readable when exact, else precise to the microsecond."""
    text = format_duration(seconds)
    if parse_duration(text) == seconds:
        return text
    return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"


#: Seconds as ``float`` in Python; a string such as ``"30s"`` in the file and the JSON Schema.
Duration = Annotated[
    float,
    PlainValidator(_validate),
    PlainSerializer(_serialize, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "examples": DURATION_EXAMPLES,
            "description": "A duration with units: h, m, s, ms (e.g. 30s, 500ms, 1h30m).",
        }
    ),
]
